/**
 * GPU buffers that hold the gradients of an FWL block's parameters, laid out like the
 * parameters themselves (`block.buffers`), so that an optimizer can pair them.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { Head, ParamBuffers } from "./head.ts";
import { BUFFER_KEYS, PARAM_NAMES, paramShapes, STEP_NAMES } from "./params.ts";
import { shapeSize } from "../util/shape.ts";
import type { GPUContext } from "../gpu/context.ts";
import { readBytes } from "../gpu/readback.ts";
import { describeValue } from "../tensor.ts";

/**
 * Gradient buffers, one per parameter buffer of the block (`block.buffers` has the same
 * keys and layouts), all float32 row-major.
 *
 * @example
 * ```ts ignore
 * const grads: GradBuffers = createGradBuffers(block);
 * console.log(grads.k0.size >= 4 * block.inputSize! * 4 * block.size); // true
 * ```
 */
export type GradBuffers = ParamBuffers;

/**
 * Floats each gradient buffer holds, for a built block.
 *
 * @example
 * ```ts ignore
 * console.log(gradBufferLengths(block).steps); // 6
 * ```
 */
export function gradBufferLengths(block: Head): Record<keyof GradBuffers, number> {
  const shapes = paramShapes({
    inputSize: block.inputSize!,
    size: block.size,
    vocabSize: block.vocabSize,
  });
  const out = { steps: STEP_NAMES.length } as Record<keyof GradBuffers, number>;
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
 * ```ts ignore
 * const grads = createGradBuffers(block);
 * await lossAndGradsGPU(block, x, ids, w, { gradBuffers: grads });
 * await lossAndGradsGPU(block, x2, ids2, w2, { gradBuffers: grads, accumulate: true });
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
 * @example
 * ```ts ignore
 * releaseGradBuffers(block, grads);
 * ```
 */
export function releaseGradBuffers(block: Head, grads: GradBuffers): void {
  const ctx = block.context;
  for (const b of Object.values(grads)) ctx.pool.release(b);
}

/**
 * Throws an {@linkcode FWLInputError} unless `grads` holds the nine gradient buffers,
 * each large enough for the block.
 *
 * @example
 * ```ts ignore
 * const grads = checkGradBuffers("train", block, options.gradBuffers);
 * ```
 */
export function checkGradBuffers(where: string, block: Head, grads: unknown): GradBuffers {
  if (grads === null || typeof grads !== "object") {
    throw new FWLInputError(
      where,
      "gradBuffers",
      "an object of GPUBuffers (see createGradBuffers)",
      describeValue(grads),
    );
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
 * Reads gradient buffers back by FWL.md §1 parameter name (step sizes as length-1
 * arrays).
 *
 * @example
 * ```ts ignore
 * const host = await readGradBuffers(block, grads);
 * console.log(host["dense_0/kernel_step"][0]);
 * ```
 */
export async function readGradBuffers(
  block: Head,
  grads: GradBuffers,
): Promise<Record<string, Float32Array>> {
  const ctx: GPUContext = block.context;
  const lengths = gradBufferLengths(block);
  const read = async (key: keyof GradBuffers) =>
    new Float32Array(await readBytes(ctx, grads[key], lengths[key] * 4, "readGradBuffers"));
  const steps = await read("steps");
  const out: Record<string, Float32Array> = {};
  for (const name of PARAM_NAMES) {
    const i = (STEP_NAMES as readonly string[]).indexOf(name);
    out[name] = i >= 0
      ? steps.slice(i, i + 1)
      : await read(BUFFER_KEYS[name as keyof typeof BUFFER_KEYS]);
  }
  return out;
}

/**
 * The gradient buffers under the names `blockParams` gives the optimizer (the eight
 * tensors by FWL.md §1 name, the six step sizes packed as `"steps"`), for `opt.step`.
 *
 * @example
 * ```ts ignore
 * await lossAndGradsGPU(block, x, ids, w, { gradBuffers: grads });
 * await opt.step(namedGrads(grads));
 * ```
 */
export function namedGrads(grads: GradBuffers): Record<string, GPUBuffer> {
  const out: Record<string, GPUBuffer> = { steps: grads.steps };
  for (const [name, key] of Object.entries(BUFFER_KEYS)) out[name] = grads[key];
  return out;
}
