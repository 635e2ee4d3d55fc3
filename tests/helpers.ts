// Shared helpers of the GPU tests: random cases and comparisons against the reference.

import type { GPUContext } from "../src/gpu/context.ts";
import { readBytes } from "../src/gpu/readback.ts";
import { SeededRandom } from "../src/util/random.ts";
import { initParams, type ParamName } from "../src/fwl/params.ts";
import type { ReferenceCase } from "../src/reference/types.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { DECAY_NAME, type MeanNormalizerOptions } from "../src/fwl/normalizer.ts";

/** Throws unless |actual − expected| ≤ tol·(1 + |expected|) everywhere; returns the worst ratio. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): number {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} ≠ ${expected.length}`);
  }
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const r = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(r <= worst)) {
      worst = r;
      at = i;
    }
  }
  if (!(worst <= tol)) {
    throw new Error(
      `${what}: max |Δ|/(1+|ref|) = ${worst} at ${at} (got ${actual[at]}, want ${
        expected[at]
      }), tolerance ${tol}`,
    );
  }
  return worst;
}

/** Largest |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a − b| relative to max |b| (absolute when b is ~0). */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let diff = 0, scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

/** ‖a − b‖₂ / max(‖b‖₂, 1e-6): a whole gradient's error, relative to its size. */
export function relativeNormError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let diff = 0, size = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    size += b[i] ** 2;
  }
  return Math.sqrt(diff) / Math.max(Math.sqrt(size), 1e-6);
}

/**
 * Positions `[t0, t1)` of sequences `[b0, b1)` of a reference case (default: every
 * sequence), as a case of its own (its carried state left out).
 */
export function sliceCase(
  c: ReferenceCase,
  t0: number,
  t1: number,
  b0 = 0,
  b1 = c.B,
): ReferenceCase {
  const { T, D, vocabSize: V } = c;
  const rows = <A extends Float32Array | Float64Array | Int32Array>(a: A, width: number): A => {
    const n = (t1 - t0) * width;
    const out = new (a.constructor as new (n: number) => A)((b1 - b0) * n);
    for (let b = b0; b < b1; b++) {
      out.set(a.subarray((b * T + t0) * width, (b * T + t1) * width), (b - b0) * n);
    }
    return out;
  };
  const labels = "ids" in c.labels
    ? { ids: rows(c.labels.ids, 1) }
    : { oneHot: rows(c.labels.oneHot, V) };
  const { carried: _, ...rest } = c;
  return {
    ...rest,
    B: b1 - b0,
    T: t1 - t0,
    x: rows(c.x, D),
    labels,
    weights: rows(c.weights, 1),
  };
}

/** `data` in a buffer from `ctx`'s pool (give it back with `ctx.pool.release`). */
export function uploadTo(ctx: GPUContext, data: Float32Array | Int32Array): GPUBuffer {
  const b = ctx.pool.acquire(Math.max(16, data.byteLength)); // vec4 kernels read 16 bytes
  ctx.device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
  return b;
}

/**
 * `data` in a new buffer of exactly its size (at least 16 bytes), for tests of size checks
 * that a pooled, rounded-up buffer would pass; destroy it when done.
 */
export function uploadExact(ctx: GPUContext, data: Float32Array): GPUBuffer {
  const b = ctx.device.createBuffer({
    size: Math.max(16, data.byteLength),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
  });
  ctx.device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
  return b;
}

/** The first `n` floats of a buffer. */
export async function readFloats(
  ctx: GPUContext,
  buffer: GPUBuffer,
  n: number,
): Promise<Float32Array> {
  return new Float32Array(await readBytes(ctx, buffer, n * 4));
}

/** A random array of normals. */
export function randomNormal(
  rng: SeededRandom,
  n: number,
  scale = 1,
): Float32Array {
  return new Float32Array(n).map(() => scale * rng.normal());
}

/** Shape of a random FWL case. */
export interface CaseShape {
  B: number;
  T: number;
  D: number;
  size: number;
  V: number;
  C: number;
}

/** A random case: params with step sizes near 0.5, random weights (some 0, id -1 there). */
export function randomCase(
  shape: CaseShape,
  seed: number,
  normalizer: ReferenceCase["normalizer"] = "batch",
): {
  params: Record<ParamName, Float32Array>;
  x: Float32Array;
  ids: Int32Array;
  oneHot: Float32Array;
  weights: Float32Array;
  ref: ReferenceCase;
} {
  const { B, T, D, size, V, C } = shape;
  const rng = new SeededRandom(seed);
  const params = initParams({ inputSize: D, size, vocabSize: V }, seed + 1);
  // Larger slow weights than the default init so the fast update is large.
  for (const k of ["dense_0/kernel", "dense_1/kernel"] as const) {
    params[k] = params[k].map((v) => v * 6);
  }
  for (
    const k of [
      "dense_0/bias",
      "dense_1/bias",
      "layer_norm/bias",
      "unembed/bias",
    ] as const
  ) {
    params[k] = randomNormal(rng, params[k].length, 0.1);
  }
  params["layer_norm/scale"] = params["layer_norm/scale"].map(() => 1 + 0.2 * rng.normal());
  for (const k of Object.keys(params) as ParamName[]) {
    if (k.endsWith("_step")) {
      params[k] = new Float32Array([0.4 + 0.2 * rng.uniform()]);
    }
  }
  const x = randomNormal(rng, B * T * D);
  const weights = new Float32Array(B * T).map(() => rng.uniform() < 0.25 ? 0 : 0.5 + rng.uniform());
  const ids = new Int32Array(B * T).map((_, i) =>
    weights[i] === 0 ? -1 : Math.floor(rng.uniform() * V)
  );
  const oneHot = new Float32Array(B * T * V);
  ids.forEach((id, i) => {
    if (id >= 0) oneHot[i * V + id] = 1;
  });
  const ref: ReferenceCase = {
    B,
    T,
    D,
    size,
    vocabSize: V,
    attnChunks: C,
    x,
    labels: { ids },
    weights,
    params,
    normalizer,
  };
  return { params, x, ids, oneHot, weights, ref };
}

/**
 * A block built for a random case's shape with its parameters, under `normalizer` (a
 * running mean's λ, when the block has one, set to the option's `decay`).
 */
export async function caseBlock(
  c: { params: Record<string, Float32Array> },
  s: CaseShape,
  normalizer: MeanNormalizerOptions | number,
): Promise<FWLBlock> {
  const block = new FWLBlock(s.size, s.V, s.C, { normalizer });
  await block.build(s.D);
  const params: Record<string, Float32Array> = { ...c.params };
  if (typeof normalizer === "object" && (normalizer.learnDecay || (normalizer.decay ?? 1) < 1)) {
    params[DECAY_NAME] = new Float32Array([normalizer.decay!]);
  }
  await block.setParams(params);
  return block;
}

/** The reference's normalizer for a block's option (λ and n0; learning λ is the block's). */
export function referenceNormalizerOf(
  normalizer: MeanNormalizerOptions | number,
): ReferenceCase["normalizer"] {
  return typeof normalizer === "number"
    ? normalizer
    : { decay: normalizer.decay ?? 1, prior: normalizer.prior ?? 0 };
}

/** The chi-square critical value at p = 0.001 for `df` degrees of freedom (Wilson–Hilferty). */
export function chiSquareCritical(df: number): number {
  const z = 3.0902323; // the standard normal's 0.999 quantile
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

/**
 * Pearson's statistic of `counts` against `probs` (bins expecting fewer than 5 pooled),
 * after checking that no draw fell on a token of probability 0.
 */
export function chiSquare(
  counts: Float64Array,
  probs: Float64Array,
  what: string,
): { stat: number; df: number } {
  const n = counts.reduce((a, b) => a + b, 0);
  const bins: [number, number][] = [];
  let rest: [number, number] = [0, 0];
  probs.forEach((p, i) => {
    if (p === 0) {
      if (counts[i] !== 0) throw new Error(`${what}: token ${i} was cut but drawn ${counts[i]}×`);
    } else if (p * n < 5) rest = [rest[0] + counts[i], rest[1] + p * n];
    else bins.push([counts[i], p * n]);
  });
  if (rest[1] >= 5) bins.push(rest);
  else if (rest[1] > 0) {
    bins.sort((a, b) => a[1] - b[1]);
    bins[0] = [bins[0][0] + rest[0], bins[0][1] + rest[1]];
  }
  const stat = bins.reduce((s, [o, e]) => s + (o - e) ** 2 / e, 0);
  return { stat, df: bins.length - 1 };
}
