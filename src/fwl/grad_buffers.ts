/**
 * GPU buffers that hold the gradients of an FWL block's parameters, laid out like the
 * parameters themselves (`block.buffers`), so that an optimizer can pair them.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { type Head, headDecay, type ParamBuffers } from "./head.ts";
import { BUFFER_KEYS, DECAY_INDEX, PARAM_NAMES, paramShapes, STEP_NAMES } from "./params.ts";
import { DECAY_NAME } from "./normalizer.ts";
import { shapeSize } from "../util/shape.ts";
import type { GPUContext } from "../gpu/context.ts";
import { readBuffers } from "../gpu/readback.ts";
import { describeValue } from "../util/describe.ts";

/**
 * Gradient buffers, one per parameter buffer of the block (`block.buffers` has the same
 * keys and layouts), all float32 row-major.
 *
 * See {@linkcode createGradBuffers} for an example.
 */
export type GradBuffers = ParamBuffers;

/** Floats each gradient buffer holds, for a built block. */
function gradBufferLengths(block: Head): Record<keyof GradBuffers, number> {
  const dims = { inputSize: block.inputSize!, size: block.size, vocabSize: block.vocabSize };
  const shapes = paramShapes(dims);
  // The decay λ's gradient follows the six step sizes' when the block has λ.
  const steps = STEP_NAMES.length + (headDecay(block) ? 1 : 0);
  const out = { steps } as Record<keyof GradBuffers, number>;
  for (const [name, key] of Object.entries(BUFFER_KEYS)) {
    out[key] = shapeSize(shapes[name as keyof typeof shapes]);
  }
  return out;
}

/**
 * Allocates gradient buffers for a built block from its context's pool (contents
 * undefined until a gradient call writes them). Give them back with
 * {@linkcode releaseGradBuffers}.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { FWLBlock, makeLabels, tensor } from "@x/fwl";
 * import { createGradBuffers, lossAndGradsGPU, readGradBuffers, releaseGradBuffers } from "@x/fwl/gpu";
 * using block = new FWLBlock(2, 5, 1);
 * await block.build(3);
 * const { labels, weights } = makeLabels(tensor(new Int32Array([1, 2, 1, 2]), [1, 4]), 5);
 * const x = tensor(new Float32Array(12).map((_, i) => Math.sin(i)), [1, 4, 3]);
 * const grads = createGradBuffers(block);
 * const first = await lossAndGradsGPU(block, x, labels, weights, { gradBuffers: grads });
 * const once = (await readGradBuffers(block, grads))["unembed/bias"];
 * const again = await lossAndGradsGPU(block, x, labels, weights, {
 *   gradBuffers: grads,
 *   accumulate: true, // adds to the gradients already there
 * });
 * for (const r of [first, again]) r.loss?.dispose(), r.dx.dispose();
 * const twice = (await readGradBuffers(block, grads))["unembed/bias"];
 * once.forEach((g, i) => assertAlmostEquals(twice[i], 2 * g, 1e-6));
 * releaseGradBuffers(block, grads);
 * ```
 */
export function createGradBuffers(block: Head): GradBuffers {
  const ctx = block.context;
  const lengths = gradBufferLengths(block);
  const out = {} as GradBuffers;
  for (const key of Object.keys(lengths) as (keyof GradBuffers)[]) {
    out[key] = ctx.pool.acquire(lengths[key] * 4);
  }
  return out;
}

/**
 * Returns gradient buffers made by {@linkcode createGradBuffers} to the pool.
 *
 * See {@linkcode createGradBuffers} for an example.
 */
export function releaseGradBuffers(block: Head, grads: GradBuffers): void {
  const ctx = block.context;
  for (const b of Object.values(grads)) ctx.pool.release(b);
}

/**
 * Throws an {@linkcode FWLInputError} unless `grads` holds the nine gradient buffers,
 * each large enough for the block.
 *
 * @throws {FWLInputError} If `grads` is not a set of gradient buffers of this block.
 */
export function checkGradBuffers(where: string, block: Head, grads: unknown): GradBuffers {
  if (grads === null || typeof grads !== "object") {
    const what = "an object of GPUBuffers (see createGradBuffers)";
    throw new FWLInputError(where, "gradBuffers", what, describeValue(grads));
  }
  const lengths = gradBufferLengths(block);
  const g = grads as Record<string, unknown>;
  for (const key of Object.keys(lengths) as (keyof GradBuffers)[]) {
    const b = g[key];
    if (!(b instanceof GPUBuffer) || b.size < lengths[key] * 4) {
      throw new FWLInputError(
        where,
        `gradBuffers.${key}`,
        `a GPUBuffer of at least ${lengths[key] * 4} bytes`,
        b instanceof GPUBuffer ? `${b.size} bytes` : describeValue(b),
      );
    }
  }
  return grads as GradBuffers;
}

/**
 * Reads gradient buffers back by docs/definition.md §1 parameter name (step sizes as length-1
 * arrays; the decay λ as `normalizer/decay` when the block has it).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FWLBlock, makeLabels, tensor } from "@x/fwl";
 * import { lossAndGradsGPU, readGradBuffers, releaseGradBuffers } from "@x/fwl/gpu";
 * using block = new FWLBlock(2, 5, 1);
 * await block.build(3);
 * const { labels, weights } = makeLabels(tensor(new Int32Array([1, 2, 1, 2]), [1, 4]), 5);
 * const x = tensor(new Float32Array(12).fill(0.5), [1, 4, 3]);
 * const { loss, dx, grads } = await lossAndGradsGPU(block, x, labels, weights);
 * loss?.dispose(), dx.dispose();
 * const host = await readGradBuffers(block, grads);
 * assertEquals(host["dense_0/kernel_step"].length, 1);
 * assertEquals(host["unembed/kernel"].length, 10); // [size, V] = [2, 5]
 * releaseGradBuffers(block, grads);
 * ```
 */
export async function readGradBuffers(
  block: Head,
  grads: GradBuffers,
): Promise<Record<string, Float32Array>> {
  const ctx: GPUContext = block.context;
  const lengths = gradBufferLengths(block);
  // One round trip for every buffer.
  const keys = Object.keys(lengths) as (keyof GradBuffers)[];
  const bytes = await readBuffers(
    ctx,
    keys.map((key) => ({ buffer: grads[key], bytes: lengths[key] * 4 })),
    "readGradBuffers",
  );
  const read = (key: keyof GradBuffers) => new Float32Array(bytes[keys.indexOf(key)]);
  const steps = read("steps");
  const out: Record<string, Float32Array> = {};
  for (const name of PARAM_NAMES) {
    const i = (STEP_NAMES as readonly string[]).indexOf(name);
    out[name] = i >= 0
      ? steps.slice(i, i + 1)
      : read(BUFFER_KEYS[name as keyof typeof BUFFER_KEYS]);
  }
  if (steps.length > DECAY_INDEX) out[DECAY_NAME] = steps.slice(DECAY_INDEX, DECAY_INDEX + 1);
  return out;
}

/**
 * The gradient buffers under the names `blockParams` gives the optimizer (the eight
 * tensors by docs/definition.md §1 name, the six step sizes packed as `"steps"`), for `opt.step`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { blockParams, FWLBlock, makeLabels, SGD, tensor } from "@x/fwl";
 * import { lossAndGradsGPU, namedGrads, releaseGradBuffers } from "@x/fwl/gpu";
 * using block = new FWLBlock(2, 5, 1);
 * await block.build(3);
 * const opt = new SGD(block.context, blockParams(block), { lr: 0.1 });
 * const { labels, weights } = makeLabels(tensor(new Int32Array([1, 2, 1, 2]), [1, 4]), 5);
 * const x = tensor(new Float32Array(12).fill(0.5), [1, 4, 3]);
 * const { loss, dx, grads } = await lossAndGradsGPU(block, x, labels, weights);
 * loss?.dispose(), dx.dispose();
 * await opt.step(namedGrads(grads)); // one optimizer step, all on the GPU
 * assertEquals(Object.keys(namedGrads(grads)).length, 9); // 8 tensors and "steps"
 * releaseGradBuffers(block, grads);
 * opt.dispose();
 * ```
 */
export function namedGrads(grads: GradBuffers): Record<string, GPUBuffer> {
  const out: Record<string, GPUBuffer> = { steps: grads.steps };
  for (const [name, key] of Object.entries(BUFFER_KEYS)) out[name] = grads[key];
  return out;
}
