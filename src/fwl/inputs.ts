/**
 * Validation and upload of the inputs of the FWL head (forward, score, gradients):
 * shapes, dtypes, finite values, weights ≥ 0, ids in range where the weight is non-zero,
 * and the optional upstream gradient of the logits.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { checkDType, checkShape, checkTensor, type Tensor } from "../tensor.ts";
import { type GPUCheck, runGPUChecks } from "../kernels/validate.ts";
import { checkFinite, checkIds, checkWeights } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";

/**
 * Throws an {@linkcode FWLInputError} unless the options bag of a head call is an object.
 *
 * @throws {FWLInputError} If `options` is not an object.
 */
export function checkOptions(where: string, options: unknown): void {
  if (options === null || typeof options !== "object") {
    throw new FWLInputError(where, "options", "an object", describeValue(options));
  }
}

/**
 * `t`'s buffer when it is resident on `ctx`, else its host data written into a buffer
 * from `acquire` (the caller releases it).
 */
export function tensorBuffer(
  ctx: GPUContext,
  t: Tensor,
  acquire: (bytes: number) => GPUBuffer,
): GPUBuffer {
  const resident = t.gpuBuffer(ctx);
  if (resident) return resident;
  const data = t.hostData!;
  const b = acquire(data.byteLength);
  ctx.device.queue.writeBuffer(b, 0, data as ArrayBufferView<ArrayBuffer>);
  return b;
}

/** Acquires from the pool of `ctx`, listing each buffer in `uploads` for release. */
function pooled(ctx: GPUContext, uploads: GPUBuffer[]): (bytes: number) => GPUBuffer {
  return (bytes) => {
    const b = ctx.pool.acquire(bytes);
    uploads.push(b);
    return b;
  };
}

/**
 * Checks the targets of `lead` positions (`[B, T]` or a stream's `[B]`, named `names`):
 * `labels` ids `[...lead]` int32 or one-hot `[...lead, V]` float32, `weights` `[...lead]`
 * float32. Returns whether the labels are ids.
 *
 * @throws {FWLInputError} If the labels or weights are not tensors of the expected dtype and shape.
 */
export function checkTargets(
  where: string,
  labels: Tensor,
  weights: Tensor,
  lead: number[],
  names: string,
  V: number,
): boolean {
  checkTensor(where, "labels", labels);
  checkTensor(where, "weights", weights);
  const labelsAreIds = labels.dtype === "int32";
  if (labelsAreIds) checkShape(where, "labels", labels, lead, `token ids [${names}]`);
  else {
    const what = `one-hot labels [${names}, V] float32, or int32 ids [${names}]`;
    checkShape(where, "labels", labels, [...lead, V], what);
  }
  checkDType(where, "weights", weights, "float32");
  checkShape(where, "weights", weights, lead, `[${names}]`);
  return labelsAreIds;
}

/** Checked inputs of the head, as GPU buffers. */
export interface HeadInputs {
  batch: number;
  time: number;
  x: GPUBuffer;
  labels: GPUBuffer;
  labelsAreIds: boolean;
  weights: GPUBuffer;
  /** `dL/dlogits` `[B,T,V]`, when given. */
  upstream: GPUBuffer | undefined;
  /** Buffers uploaded for this call (release them after it). */
  uploads: GPUBuffer[];
}

/**
 * Checks `x [B,T,D]`, `labels` (ids `[B,T]` int32 or one-hot `[B,T,V]` float32),
 * `weights [B,T]` and `upstream [B,T,V]`, then uploads host tensors into pooled
 * buffers (listed in `uploads`). With `checkValues`, values are checked too: host data
 * on the host, GPU-resident tensors on the GPU (only a first offending index comes back).
 *
 * @throws {FWLInputError} If `x`, the labels, the weights or `upstream` have the wrong dtype
 * or shape, or (with checking on) hold non-finite values, negative weights or ids
 * outside the vocabulary.
 */
export async function prepareHeadInputs(
  where: string,
  ctx: GPUContext,
  inputSize: number,
  vocabSize: number,
  x: Tensor,
  labels: Tensor,
  weights: Tensor,
  upstream: Tensor | undefined,
  checkValues: boolean,
): Promise<HeadInputs> {
  const D = inputSize;
  const V = vocabSize;
  checkTensor(where, "x", x);
  checkDType(where, "x", x, "float32");
  if (x.shape.length !== 3 || x.shape[0] < 1 || x.shape[1] < 1) {
    const got = `[${x.shape.join(", ")}]`;
    throw new FWLInputError(where, "x", "shape [B, T, D] with B ≥ 1 and T ≥ 1", got);
  }
  const [B, T] = x.shape;
  if (x.shape[2] !== D) {
    throw new FWLInputError(where, "x", `last dimension D = inputSize = ${D}`, `${x.shape[2]}`);
  }
  const labelsAreIds = checkTargets(where, labels, weights, [B, T], "B, T", V);
  if (upstream !== undefined) {
    checkTensor(where, "upstream", upstream);
    checkDType(where, "upstream", upstream, "float32");
    checkShape(where, "upstream", upstream, [B, T, V], "dL/dlogits [B, T, V]");
  }
  if (checkValues) {
    await checkInputValues(where, ctx, V, x, labels, weights, upstream);
  }
  const uploads: GPUBuffer[] = [];
  const bufferOf = (t: Tensor) => tensorBuffer(ctx, t, pooled(ctx, uploads));
  return {
    batch: B,
    time: T,
    x: bufferOf(x),
    labels: bufferOf(labels),
    labelsAreIds,
    weights: bufferOf(weights),
    upstream: upstream ? bufferOf(upstream) : undefined,
    uploads,
  };
}

/**
 * The value checks of `FWLBlock.forward` (x and weights finite, weights ≥ 0, ids in
 * `[0, V)` where the weight is non-zero, one-hot labels finite) and `upstream` finite:
 * host data on the host, GPU-resident tensors on the GPU.
 */
async function checkInputValues(
  where: string,
  ctx: GPUContext,
  vocabSize: number,
  x: Tensor,
  labels: Tensor,
  weights: Tensor,
  upstream: Tensor | undefined,
): Promise<void> {
  const w = weights.hostData;
  const l = labels.hostData;
  if (w) checkWeights(where, "weights", w);
  const finite: [string, Tensor][] = [["x", x], ["upstream", upstream!]];
  if (labels.dtype === "float32") finite.push(["labels", labels]);
  const checks: { name: string; expected: string; check: GPUCheck }[] = [];
  for (const [name, t] of finite) {
    if (t === undefined) continue;
    if (t.hostData) checkFinite(where, name, t.hostData);
    else {
      checks.push({
        name,
        expected: "finite values",
        check: { kind: "finite", data: t.gpuBuffer(ctx)!, count: t.size },
      });
    }
  }
  if (!w) {
    checks.push({
      name: "weights",
      expected: "finite weights ≥ 0",
      check: { kind: "weights", data: weights.gpuBuffer(ctx)!, count: weights.size },
    });
  }
  const uploads: GPUBuffer[] = [];
  if (labels.dtype === "int32") {
    if (l && w) checkIds(where, "labels", l, w, vocabSize);
    else {
      // The partner of a GPU-resident tensor is uploaded for the check.
      const bufferOf = (t: Tensor) => tensorBuffer(ctx, t, pooled(ctx, uploads));
      checks.push({
        name: "labels",
        expected: `token ids in [0, ${vocabSize}) where the weight is non-zero`,
        check: {
          kind: "ids",
          data: bufferOf(labels),
          count: labels.size,
          weights: bufferOf(weights),
          vocab: vocabSize,
        },
      });
    }
  }
  try {
    const found = await runGPUChecks(ctx, checks.map((c) => c.check));
    found.forEach((index, i) => {
      if (index !== undefined) {
        const c = checks[i];
        throw new FWLInputError(where, c.name, c.expected, `a violation at flat index ${index}`);
      }
    });
  } finally {
    for (const b of uploads) ctx.pool.release(b);
  }
}
