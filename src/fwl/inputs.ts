/**
 * Validation and upload of the inputs of the FWL head (forward, score, gradients):
 * shapes, dtypes, finite values, weights ≥ 0, ids in range where the weight is non-zero,
 * and the optional upstream gradient of the logits.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { describeValue, type Tensor } from "../tensor.ts";
import { type GPUCheck, runGPUChecks } from "../kernels/validate.ts";
import {
  checkDType,
  checkFinite,
  checkIds,
  checkShape,
  checkTensor,
  checkWeights,
} from "../util/validate.ts";

/**
 * Throws an {@linkcode FWLInputError} unless the options bag of a head call is an object.
 *
 * @example
 * ```ts
 * import { checkOptions } from "./inputs.ts";
 * checkOptions("FWLStream", {}); // fine
 * try {
 *   checkOptions("FWLStream", 3);
 * } catch (e) {
 *   console.log((e as Error).message); // FWLStream: options: expected an object, got number 3
 * }
 * ```
 */
export function checkOptions(where: string, options: unknown): void {
  if (options === null || typeof options !== "object") {
    throw new FWLInputError(where, "options", "an object", describeValue(options));
  }
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
  checkTensor(where, "labels", labels);
  checkTensor(where, "weights", weights);
  checkDType(where, "x", x, "float32");
  if (x.shape.length !== 3 || x.shape[0] < 1 || x.shape[1] < 1) {
    throw new FWLInputError(
      where,
      "x",
      "shape [B, T, D] with B ≥ 1 and T ≥ 1",
      `[${x.shape.join(", ")}]`,
    );
  }
  const [B, T] = x.shape;
  if (x.shape[2] !== D) {
    throw new FWLInputError(
      where,
      "x",
      `last dimension D = inputSize = ${D}`,
      `${x.shape[2]}`,
    );
  }
  const labelsAreIds = labels.dtype === "int32";
  if (labelsAreIds) {
    checkShape(where, "labels", labels, [B, T], "token ids [B, T]");
  } else {
    checkShape(where, "labels", labels, [B, T, V], "one-hot labels [B, T, V], or int32 ids [B, T]");
  }
  checkDType(where, "weights", weights, "float32");
  checkShape(where, "weights", weights, [B, T], "[B, T]");
  if (upstream !== undefined) {
    checkTensor(where, "upstream", upstream);
    checkDType(where, "upstream", upstream, "float32");
    checkShape(where, "upstream", upstream, [B, T, V], "dL/dlogits [B, T, V]");
  }
  if (checkValues) {
    await checkInputValues(where, ctx, V, x, labels, weights, upstream);
  }
  const uploads: GPUBuffer[] = [];
  const bufferOf = (t: Tensor): GPUBuffer => {
    const resident = t.gpuBuffer(ctx);
    if (resident) return resident;
    const data = t.hostData!;
    const b = ctx.pool.acquire(data.byteLength);
    ctx.device.queue.writeBuffer(b, 0, data as ArrayBufferView<ArrayBuffer>);
    uploads.push(b);
    return b;
  };
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
      const bufferOf = (t: Tensor): GPUBuffer => {
        const resident = t.gpuBuffer(ctx);
        if (resident) return resident;
        const b = ctx.pool.acquire(t.size * 4);
        ctx.device.queue.writeBuffer(b, 0, t.hostData as ArrayBufferView<ArrayBuffer>);
        uploads.push(b);
        return b;
      };
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
        throw new FWLInputError(
          where,
          c.name,
          c.expected,
          `a violation at flat index ${index}`,
        );
      }
    });
  } finally {
    for (const b of uploads) ctx.pool.release(b);
  }
}
