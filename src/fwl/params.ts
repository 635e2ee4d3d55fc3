/**
 * Parameter names, shapes and deterministic initialization of an FWL block
 * (docs/definition.md §1). Shared by the GPU block and the float64 reference.
 *
 * @module
 */

import type { ParamSpec } from "../params/store.ts";
import { initByRule } from "../params/init.ts";
import { DECAY_NAME } from "./normalizer.ts";

/** The names of the parameters that are fast (take one inner SGD step), in a fixed order. */
export const FAST_PARAM_NAMES = [
  "dense_0/kernel",
  "dense_0/bias",
  "dense_1/kernel",
  "dense_1/bias",
  "layer_norm/scale",
  "layer_norm/bias",
] as const;

/** The learned step size of each fast parameter, in the order of {@linkcode FAST_PARAM_NAMES}. */
export const STEP_NAMES = [
  "dense_0/kernel_step",
  "dense_0/bias_step",
  "dense_1/kernel_step",
  "dense_1/bias_step",
  "layer_norm/scale_step",
  "layer_norm/bias_step",
] as const;

/**
 * Where a block with a decaying running mean (docs/definition.md §6) keeps its decay λ
 * (`normalizer/decay`): right after the six step sizes, in the same buffer, so every
 * kernel that reads a step size can read λ too.
 */
export const DECAY_INDEX: number = 6;

/** Every parameter name of an FWL block, in a fixed order. */
export const PARAM_NAMES = [
  ...FAST_PARAM_NAMES,
  "unembed/kernel",
  "unembed/bias",
  ...STEP_NAMES,
] as const;

/**
 * The key under which the compute code sees each parameter tensor's buffer (in
 * `block.buffers` and in gradient buffers); the six step sizes share the buffer `steps`.
 */
export const BUFFER_KEYS = {
  "dense_0/kernel": "k0",
  "dense_0/bias": "b0",
  "dense_1/kernel": "k1",
  "dense_1/bias": "b1",
  "layer_norm/scale": "scale",
  "layer_norm/bias": "bias",
  "unembed/kernel": "ku",
  "unembed/bias": "bu",
} as const;

/** One of the fourteen parameter names of an FWL block. */
export type ParamName = typeof PARAM_NAMES[number];

/** The sizes that fix every parameter shape of an FWL block. */
export interface BlockDims {
  /** Width `D` of the hidden states handed in by the model body. */
  inputSize: number;
  /** Width of the fast weight layers (`H = 4·size`). */
  size: number;
  /** Vocabulary size `V`. */
  vocabSize: number;
  /**
   * The initial decay λ of a block whose running-mean normalizer decays (docs/definition.md §6):
   * the block then has the parameter `normalizer/decay` too. Default: none.
   */
  decay?: number;
}

/**
 * The shape of every parameter (kernels are `[in, out]`; step sizes are scalars `[]`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { paramShapes } from "./params.ts";
 * const shapes = paramShapes({ inputSize: 8, size: 4, vocabSize: 11 });
 * assertEquals(shapes["dense_0/kernel"], [8, 16]);
 * assertEquals(shapes["dense_0/kernel_step"], []);
 * ```
 */
export function paramShapes(
  dims: BlockDims,
): Record<ParamName, number[]> & Record<string, number[]> {
  const { inputSize: d, size: s, vocabSize: v } = dims;
  const h = 4 * s;
  const shapes = {
    "dense_0/kernel": [d, h],
    "dense_0/bias": [h],
    "dense_1/kernel": [h, s],
    "dense_1/bias": [s],
    "layer_norm/scale": [s],
    "layer_norm/bias": [s],
    "unembed/kernel": [s, v],
    "unembed/bias": [v],
  } as Record<ParamName, number[]>;
  for (const name of STEP_NAMES) shapes[name] = [];
  if (dims.decay !== undefined) (shapes as Record<string, number[]>)[DECAY_NAME] = [];
  return shapes;
}

/** The names packed in the buffer `"steps"`: the six step sizes, then λ if the block has it. */
export function stepsElementNames(dims: Pick<BlockDims, "decay">): readonly string[] {
  return dims.decay === undefined ? STEP_NAMES : [...STEP_NAMES, DECAY_NAME];
}

/**
 * The block's parameter buffers for a `ParamStore`: the eight tensors under
 * their names, then the six step sizes (and the decay λ, if any) packed in one buffer
 * `"steps"`.
 */
export function blockParamSpecs(dims: BlockDims): ParamSpec[] {
  const shapes = paramShapes(dims);
  const elementNames = stepsElementNames(dims);
  return [
    ...Object.keys(BUFFER_KEYS).map((name) => ({ name, shape: shapes[name as ParamName] })),
    { name: "steps", shape: [elementNames.length], elementNames },
  ];
}

/**
 * Deterministic initialization as docs/definition.md §1: dense kernels N(0, 0.05²), unembedding
 * N(0, 1/size), biases 0, layer-norm scale 1, every step size 0.01 (and the decay λ, if
 * the block has one, at `dims.decay`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initParams } from "./params.ts";
 * const p = initParams({ inputSize: 8, size: 4, vocabSize: 11 }, 0);
 * assertEquals(p["layer_norm/scale"][0], 1);
 * assertEquals(p["dense_0/kernel_step"], new Float32Array([0.01]));
 * assertEquals(p["dense_0/kernel"], initParams({ inputSize: 8, size: 4, vocabSize: 11 }, 0)["dense_0/kernel"]);
 * ```
 */
export function initParams(
  dims: BlockDims,
  seed = 0,
): Record<ParamName, Float32Array> & Record<string, Float32Array> {
  const shapes = paramShapes(dims);
  const out = initByRule(PARAM_NAMES.map((n) => [n, shapes[n]]), seed, (name) => {
    if (name === "dense_0/kernel" || name === "dense_1/kernel") return { normal: 0.05 };
    if (name === "unembed/kernel") return { normal: 1 / Math.sqrt(dims.size) };
    if (name === "layer_norm/scale") return { fill: 1 };
    if (name.endsWith("_step")) return { fill: 0.01 };
  }) as Record<ParamName, Float32Array> & Record<string, Float32Array>;
  if (dims.decay !== undefined) out[DECAY_NAME] = new Float32Array([dims.decay]);
  return out;
}
