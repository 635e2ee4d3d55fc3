/**
 * The helpers that test files share, kept once here: random FWL cases (one builder with
 * options) and their slices, comparisons, GPU uploads and reads, the reference's per-position
 * cross-entropy and loss gradient, chunk-attention scratch limits, and a context-free body.
 *
 * @module
 */

import type { GPUContext } from "../src/gpu/context.ts";
import { readBytes } from "../src/gpu/readback.ts";
import { chunkLayout } from "../src/kernels/chunk_attention.ts";
import { SeededRandom } from "../src/util/random.ts";
import { initParams, type ParamName } from "../src/fwl/params.ts";
import type { ReferenceCase } from "../src/reference/types.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { type ForwardArgs, runForward } from "../src/fwl/pipeline/forward.ts";
import { DECAY_NAME, type MeanNormalizerOptions } from "../src/fwl/normalizer.ts";
import type { ModelBody } from "../src/bodies/model_body.ts";
import { type Tensor, tensor } from "../src/tensor.ts";

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

/** ‖a‖₂. */
export function l2Norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

/** Cross-entropy of each position's logits `[B·T, V]` against `ids` (0 where the weight is 0). */
export function positionNll(
  logits: Float32Array | Float64Array,
  ids: Int32Array,
  weights: ArrayLike<number>,
  V: number,
): Float64Array {
  const out = new Float64Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    if (weights[i] === 0) continue;
    const row = logits.subarray(i * V, (i + 1) * V);
    const max = Math.max(...row);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    out[i] = max + Math.log(sum) - row[ids[i]];
  }
  return out;
}

/**
 * `dL/dlogits` of the built-in loss (Σ w·cross-entropy / max(Σw, 1e-8)) at `logits`
 * `[B·T, V]`, against the case's ids, or its one-hot rows when `oneHot` is set.
 */
export function lossGradient(
  logits: Float32Array | Float64Array,
  c: { ids: Int32Array; oneHot: Float32Array; weights: Float32Array },
  V: number,
  oneHot = false,
): Float32Array {
  let sumW = 0;
  for (const w of c.weights) sumW += w;
  const N = Math.max(sumW, 1e-8);
  const u = new Float32Array(logits.length);
  for (let r = 0; r < c.weights.length; r++) {
    const w = c.weights[r];
    if (w === 0) continue;
    const row = logits.subarray(r * V, (r + 1) * V);
    const max = Math.max(...row);
    let e = 0;
    for (const v of row) e += Math.exp(v - max);
    for (let j = 0; j < V; j++) {
      const y = oneHot ? c.oneHot[r * V + j] : (j === c.ids[r] ? 1 : 0);
      u[r * V + j] = w / N * (Math.exp(row[j] - max) / e - y);
    }
  }
  return u;
}

/**
 * Positions `[t0, t1)` of sequences `[b0, b1)` (default: every sequence) of a
 * `[B, T, width]` array, as a `[b1 − b0, t1 − t0, width]` array of the same type.
 */
export function positions<A extends Float32Array | Float64Array | Int32Array>(
  a: A,
  T: number,
  width: number,
  t0: number,
  t1: number,
  b0 = 0,
  b1 = a.length / (T * width),
): A {
  const n = (t1 - t0) * width;
  const out = new (a.constructor as new (n: number) => A)((b1 - b0) * n);
  for (let b = b0; b < b1; b++) {
    out.set(a.subarray((b * T + t0) * width, (b * T + t1) * width), (b - b0) * n);
  }
  return out;
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
  const labels = "ids" in c.labels
    ? { ids: positions(c.labels.ids, T, 1, t0, t1, b0, b1) }
    : { oneHot: positions(c.labels.oneHot, T, V, t0, t1, b0, b1) };
  const { carried: _, ...rest } = c;
  return {
    ...rest,
    B: b1 - b0,
    T: t1 - t0,
    x: positions(c.x, T, D, t0, t1, b0, b1),
    labels,
    weights: positions(c.weights, T, 1, t0, t1, b0, b1),
  };
}

/** A reference case with id labels as the block's inputs: x, ids and weights tensors (float32). */
export function caseInputs(r: ReferenceCase) {
  return [
    tensor(Float32Array.from(r.x), [r.B, r.T, r.D]),
    tensor((r.labels as { ids: Int32Array }).ids, [r.B, r.T]),
    tensor(Float32Array.from(r.weights), [r.B, r.T]),
  ] as const;
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
export function uploadExact(ctx: GPUContext, data: Float32Array | Int32Array): GPUBuffer {
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

/**
 * A scratch limit that makes chunk attention take each of its schedules, by chunk count:
 * odd counts get one sequence's worth (one group per sequence), 2 and 4 so little that
 * the chunks are scanned with a running state, other counts room for all at once.
 */
export function scratchLimit(time: number, chunks: number, dq: number, dv: number): number {
  const { length, count } = chunkLayout(time, chunks);
  const perSeq = Math.max(count * dq * dv * 4, count * length * length * 4, 4);
  return chunks % 2 ? perSeq : chunks <= 4 ? Math.max(dq * dv * 4, length * length * 4) : 1 << 26;
}

/** The `[cols, rows]` transpose of a row-major `[rows, cols]` matrix. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  }
  return t;
}

/**
 * A body without context, `h_t = E[x_t]` over host data: windows can't change it and it
 * carries no state. `E` is a `[vocabSize, width]` table of normals; `rows` looks ids up.
 */
export function embeddingBody(
  seed: number,
  vocabSize: number,
  width: number,
): ModelBody & { rows(ids: Int32Array): Float32Array } {
  const rng = new SeededRandom(seed);
  const table = new Float32Array(vocabSize * width).map(() => rng.normal());
  const rows = (ids: Int32Array) => {
    const out = new Float32Array(ids.length * width);
    ids.forEach((id, i) => out.set(table.subarray(id * width, (id + 1) * width), i * width));
    return out;
  };
  return {
    hiddenSize: width,
    rows,
    forward: (tokens: Tensor<"int32">) =>
      Promise.resolve(tensor(rows(tokens.hostData as Int32Array), [...tokens.shape, width])),
  };
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

/** What a random FWL case varies beyond its shape (every field optional). */
export interface CaseOptions {
  /** The reference's normalizer (default `"batch"`). */
  normalizer?: ReferenceCase["normalizer"];
  /** The reference's layer-norm ε (default: the reference's own). */
  epsilon?: number;
  /** Which labels the reference case carries (default `"ids"`); both are always made. */
  labels?: "ids" | "oneHot";
  /**
   * Labels at weight-0 positions: `"minusOne"` (default) gives id -1 and a zero one-hot
   * row; `"junk"` alternates -1 with the out-of-range V + 3 and fills the one-hot row with
   * normals, so that a test sees that ignored positions accept any label.
   */
  ignored?: "minusOne" | "junk";
  /** Keep position 0 of every sequence weighted, so that every T ≥ 2 case has an update. */
  firstWeighted?: boolean;
  /** The reference case in float64 copies (so finite differences see every digit). */
  float64?: boolean;
}

/** A random FWL case: the block's float32 inputs and the same case for the reference. */
export interface RandomCase {
  params: Record<ParamName, Float32Array>;
  x: Float32Array;
  ids: Int32Array;
  oneHot: Float32Array;
  weights: Float32Array;
  ref: ReferenceCase;
}

/**
 * A random case: params with step sizes in [0.4, 0.6] (so that skipping the fast update
 * fails by far), slow kernels 6× the default init, weights about a quarter exactly 0 and
 * otherwise in [0.5, 1.5), and labels at weight 0 as `options.ignored` says.
 */
export function randomCase(
  shape: CaseShape,
  seed: number,
  options: CaseOptions = {},
): RandomCase {
  const { B, T, D, size, V, C } = shape;
  const junk = options.ignored === "junk";
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
  // Without `firstWeighted` and `junk` the draws are the ones the older tests were tuned on.
  const weights = new Float32Array(B * T).map((_, p) =>
    !(options.firstWeighted && p % T === 0) && rng.uniform() < 0.25 ? 0 : 0.5 + rng.uniform()
  );
  const ids = new Int32Array(B * T).map((_, i) =>
    weights[i] === 0 ? (junk && i % 2 ? V + 3 : -1) : Math.floor(rng.uniform() * V)
  );
  const oneHot = new Float32Array(B * T * V);
  ids.forEach((id, i) => {
    if (weights[i] !== 0) oneHot[i * V + id] = 1;
    else if (junk) oneHot.set(randomNormal(rng, V), i * V);
  });
  const wide = <A extends Float32Array>(a: A) => options.float64 ? Float64Array.from(a) : a;
  const refParams = options.float64
    ? Object.fromEntries(Object.entries(params).map(([k, v]) => [k, Float64Array.from(v)]))
    : params;
  const ref: ReferenceCase = {
    B,
    T,
    D,
    size,
    vocabSize: V,
    attnChunks: C,
    x: wide(x),
    labels: options.labels === "oneHot" ? { oneHot: wide(oneHot) } : { ids },
    weights: wide(weights),
    params: refParams,
    normalizer: options.normalizer ?? "batch",
    ...(options.epsilon === undefined ? {} : { epsilon: options.epsilon }),
  };
  return { params, x, ids, oneHot, weights, ref };
}

/**
 * A block built for a random case's shape with its parameters, under `normalizer` (a
 * running mean's λ, when the block has one, set to the option's `decay`) and `epsilon`
 * (default: the block's).
 */
export async function caseBlock(
  c: { params: Record<string, Float32Array> },
  s: CaseShape,
  normalizer: MeanNormalizerOptions | number | "batch",
  epsilon?: number,
): Promise<FWLBlock> {
  const block = new FWLBlock(s.size, s.V, s.C, { normalizer, epsilon });
  await block.build(s.D);
  const params: Record<string, Float32Array> = { ...c.params };
  if (typeof normalizer === "object" && (normalizer.learnDecay || (normalizer.decay ?? 1) < 1)) {
    params[DECAY_NAME] = new Float32Array([normalizer.decay!]);
  }
  await block.setParams(params);
  return block;
}

/**
 * `block`'s forward over inputs already in buffers of its device, into `output`, with the
 * tile budgets shrunk to `tileBytes` (normalizer and ε the block's defaults: batch, 1e-6).
 */
export async function tiledForward(
  block: FWLBlock,
  s: CaseShape,
  input: { x: GPUBuffer; labels: GPUBuffer; labelsAreIds: boolean; weights: GPUBuffer },
  output: ForwardArgs["output"],
  tileBytes: { slow: number; output: number },
): Promise<void> {
  await runForward(block.context, {
    batch: s.B,
    time: s.T,
    inputSize: s.D,
    size: s.size,
    vocabSize: s.V,
    attnChunks: s.C,
    epsilon: 1e-6,
    normalizer: "batch",
    ...input,
    params: block.buffers,
    output,
    tileBytes,
  });
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
