/**
 * Parameter names, shapes and deterministic initialization of the causal transformer
 * body. Shared by the GPU body ({@linkcode TransformerBody}) and the float64 reference.
 *
 * @module
 */

import { initByRule } from "../params/init.ts";

/** The sizes that fix every parameter shape of a transformer body. */
export interface TransformerDims {
  /** Vocabulary size `V`. */
  vocabSize: number;
  /** Width `D` of the residual stream and of the hidden states handed to the head. */
  hiddenSize: number;
  /** Number of transformer blocks. */
  layers: number;
  /** Attention heads per block (`hiddenSize % heads === 0`). */
  heads: number;
  /** Width of each block's MLP (default `4·hiddenSize`). */
  mlpSize: number;
  /** The longest sequence (learned positions, key/value cache length). */
  maxLength: number;
}

/** Layer-norm epsilon of every layer norm of the body. */
export const TRANSFORMER_EPSILON = 1e-5;

/** The names of the parameters of one block, after its `layer_{l}/` prefix, in order. */
export const TRANSFORMER_BLOCK_PARAMS = [
  "layer_norm_1/scale",
  "layer_norm_1/bias",
  "attention/qkv/kernel",
  "attention/qkv/bias",
  "attention/out/kernel",
  "attention/out/bias",
  "layer_norm_2/scale",
  "layer_norm_2/bias",
  "mlp/dense_0/kernel",
  "mlp/dense_0/bias",
  "mlp/dense_1/kernel",
  "mlp/dense_1/bias",
] as const;

/** One parameter of a block (without its `layer_{l}/` prefix). */
export type TransformerBlockParam = typeof TRANSFORMER_BLOCK_PARAMS[number];

/** The full name of a block parameter: `layer_{l}/{name}`. */
export function blockParamName(layer: number, name: TransformerBlockParam): string {
  return `layer_${layer}/${name}`;
}

/**
 * Every parameter name and shape, in a fixed order: the token and position embeddings,
 * each block's parameters, then the final layer norm. Kernels are `[in, out]`; the
 * attention's `qkv` kernel holds the query, key and value projections side by side
 * (columns `[0, D)`, `[D, 2D)`, `[2D, 3D)`; head `h` owns columns `h·D/heads …` of each).
 */
export function transformerParamShapes(dims: TransformerDims): Map<string, number[]> {
  const { vocabSize: V, hiddenSize: D, mlpSize: M, maxLength: L } = dims;
  const shapes = new Map<string, number[]>();
  shapes.set("embedding/tokens", [V, D]);
  shapes.set("embedding/positions", [L, D]);
  const block: Record<TransformerBlockParam, number[]> = {
    "layer_norm_1/scale": [D],
    "layer_norm_1/bias": [D],
    "attention/qkv/kernel": [D, 3 * D],
    "attention/qkv/bias": [3 * D],
    "attention/out/kernel": [D, D],
    "attention/out/bias": [D],
    "layer_norm_2/scale": [D],
    "layer_norm_2/bias": [D],
    "mlp/dense_0/kernel": [D, M],
    "mlp/dense_0/bias": [M],
    "mlp/dense_1/kernel": [M, D],
    "mlp/dense_1/bias": [D],
  };
  for (let l = 0; l < dims.layers; l++) {
    for (const name of TRANSFORMER_BLOCK_PARAMS) {
      shapes.set(blockParamName(l, name), block[name]);
    }
  }
  shapes.set("final_layer_norm/scale", [D]);
  shapes.set("final_layer_norm/bias", [D]);
  return shapes;
}

/**
 * Deterministic initialization from `seed`: embeddings N(0, 0.1²); kernels
 * N(0, 1/fan_in), the two that write into the residual stream (`attention/out`,
 * `mlp/dense_1`) further scaled by `1/√(2·layers)`; biases 0; layer-norm scales 1.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initTransformerParams } from "./transformer_params.ts";
 * const dims = { vocabSize: 11, hiddenSize: 8, layers: 1, heads: 2, mlpSize: 32, maxLength: 16 };
 * const p = initTransformerParams(dims, 0);
 * assertEquals(p["final_layer_norm/scale"], new Float32Array(8).fill(1));
 * assertEquals(p["layer_0/mlp/dense_0/bias"], new Float32Array(32));
 * assertEquals(initTransformerParams(dims, 0), p); // deterministic
 * ```
 */
export function initTransformerParams(
  dims: TransformerDims,
  seed = 0,
): Record<string, Float32Array> {
  const residualScale = 1 / Math.sqrt(2 * dims.layers);
  return initByRule(transformerParamShapes(dims), seed, (name, shape) => {
    if (name.startsWith("embedding/")) return { normal: 0.1 };
    if (name.endsWith("/kernel")) {
      let sd = 1 / Math.sqrt(shape[0]);
      if (name.endsWith("attention/out/kernel") || name.endsWith("mlp/dense_1/kernel")) {
        sd *= residualScale;
      }
      return { normal: sd };
    }
    if (name.endsWith("/scale")) return { fill: 1 };
  });
}
