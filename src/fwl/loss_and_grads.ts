/**
 * The outer loss of an FWL block and its exact gradients (docs/definition.md §4) on the GPU:
 * `L = Σ w·CE(fast_logits, y) / max(Σw, 1e-8)`, differentiated with respect to all 14
 * parameters and the hidden states `x`, through the fast-weight update (the
 * second-order path) — "training through the update".
 *
 * One command encoder holds the whole forward and backward; logits are streamed in row
 * tiles, so no `[B, T, V]` tensor is ever formed.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { Recorder } from "../gpu/recorder.ts";
import { ownedGPUTensor, type Tensor } from "../tensor.ts";
import { checkBoolean, checkNumber } from "../util/validate.ts";
import {
  headForwardArgs,
  recordAdvance,
  recordHeadForward,
  TRAIN_TILE_BYTES,
} from "./pipeline/forward.ts";
import { FWLState } from "./state.ts";
import type { FastStateBuffers } from "./pipeline/fast_step.ts";
import { type LogitTiling, planLogitTiles } from "./pipeline/logit_tile_plan.ts";
import {
  checkGradBuffers,
  createGradBuffers,
  type GradBuffers,
  readGradBuffers,
  releaseGradBuffers,
} from "./grad_buffers.ts";
import type { Head } from "./head.ts";
import { checkOptions, prepareHeadInputs } from "./inputs.ts";
import { recordOuterBackward } from "./pipeline/outer_backward.ts";
import { describeValue } from "../util/describe.ts";

/** Options of {@linkcode lossAndGrads}. */
export interface LossAndGradsOptions {
  /**
   * Drop the second-order path (first-order meta-learning): the inner gradients and the
   * attention keys they pair with are treated as constants (and so is the running mean's
   * decayed, normalized sum: λ gets no gradient). Default `false`.
   */
  firstOrderOnly?: boolean;
  /**
   * Train on a window of longer documents (docs/definition.md §3, §6): the fast weights start from
   * this state (from `block.state(B)`, the earlier windows of the same sequences) and it
   * is advanced by the window, as `block.score(…, { state })` does. The earlier windows
   * are constants: the gradients are those of this window's loss, through this window's
   * updates and the carried sums as they read them (truncated backpropagation).
   */
  state?: FWLState;
}

/** Options of {@linkcode lossAndGradsGPU}. */
export interface LossAndGradsGPUOptions extends LossAndGradsOptions {
  /**
   * Where the parameter gradients go (see `createGradBuffers`); default: fresh buffers,
   * returned in the result (give them back with `releaseGradBuffers`).
   */
  gradBuffers?: GradBuffers;
  /** Add to `gradBuffers` instead of overwriting them (gradient accumulation). */
  accumulate?: boolean;
  /**
   * `dL/dlogits` `[B, T, V]` of a loss the caller defines on the fast logits; replaces
   * the built-in cross-entropy (the result then has no `loss`). The labels and weights
   * still drive the inner (fast-weight) loss.
   */
  upstream?: Tensor;
  /**
   * Check the values of the inputs (finite, weights ≥ 0, ids in range), reading
   * GPU-resident inputs back for it. Default `true`; shapes and dtypes are always checked.
   */
  checkValues?: boolean;
  /**
   * Byte budget of one tile of logits (default 32 MiB; at most two tiles live at once).
   * Tiles hold full rows of the vocabulary when 64 rows fit; otherwise the loss streams
   * over vocabulary tiles of up to 64 rows (a running log-sum-exp, two sweeps), so any
   * vocabulary works. Smaller saves memory; tests shrink it to exercise the tiling.
   */
  tileBytes?: number;
}

/** What {@linkcode lossAndGradsGPU} returns; everything stays on the GPU. */
export interface LossAndGradsGPUResult {
  /** The outer loss, a GPU tensor of shape `[1]`; `undefined` with `upstream`. */
  loss: Tensor<"float32"> | undefined;
  /** `dL/dx` `[B, T, D]`, a GPU tensor (dispose it when done). */
  dx: Tensor<"float32">;
  /** The parameter gradients (`options.gradBuffers`, or fresh buffers). */
  grads: GradBuffers;
}

const WHERE = "lossAndGradsGPU";

/**
 * The outer loss and the gradients of every parameter and of `x`, left on the GPU.
 *
 * @param block a built block
 * @param x hidden states `[B, T, D]` float32
 * @param labels ids `[B, T]` int32 or one-hot `[B, T, V]` float32
 * @param weights loss weights `[B, T]` float32
 * @param options gradient buffers, accumulation, an upstream gradient, first order only
 *
 * @throws {FWLInputError} If an input or option is invalid (see the block's `score`).
 * @throws {FWLStateError} If `options.state` belongs to another block or was disposed.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { FWLBlock, tensor } from "@x/fwl";
 * import { createGradBuffers, lossAndGradsGPU, releaseGradBuffers } from "@x/fwl/gpu";
 * using block = new FWLBlock(4, 10, 2);
 * await block.build(8);
 * const grads = createGradBuffers(block);
 * for (let i = 0; i < 2; i++) { // two micro-batches, their gradients summed
 *   const x = tensor(new Float32Array(6 * 8).map((_, j) => Math.sin(i + j)), [1, 6, 8]);
 *   const ids = tensor(new Int32Array(6).map((_, j) => (i + j) % 10), [1, 6]);
 *   const w = tensor(new Float32Array(6).fill(1), [1, 6]);
 *   const { loss, dx } = await lossAndGradsGPU(block, x, ids, w, {
 *     gradBuffers: grads,
 *     accumulate: i > 0,
 *   });
 *   assert((await loss!.read())[0] > 0); // a cross-entropy
 *   assertEquals(dx.shape, [1, 6, 8]);
 *   loss?.dispose();
 *   dx.dispose();
 * }
 * releaseGradBuffers(block, grads);
 * ```
 */
export async function lossAndGradsGPU(
  block: Head,
  x: Tensor,
  labels: Tensor,
  weights: Tensor,
  options: LossAndGradsGPUOptions = {},
): Promise<LossAndGradsGPUResult> {
  checkOptions(WHERE, options);
  const {
    firstOrderOnly = false,
    accumulate = false,
    upstream,
    checkValues = true,
    tileBytes = TRAIN_TILE_BYTES,
    state,
  } = options;
  if (state !== undefined && !(state instanceof FWLState)) {
    throw new FWLInputError(WHERE, "options.state", "an FWLState", describeValue(state));
  }
  checkNumber(WHERE, "options.tileBytes", tileBytes, (v) => v > 0, "a positive number");
  for (const [name, value] of Object.entries({ firstOrderOnly, accumulate, checkValues })) {
    checkBoolean(WHERE, `options.${name}`, value);
  }
  const ctx = block.context;
  if (accumulate && options.gradBuffers === undefined) {
    const why = "accumulate without gradBuffers";
    throw new FWLInputError(WHERE, "options.accumulate", "gradBuffers to accumulate into", why);
  }
  const given = options.gradBuffers === undefined
    ? undefined
    : checkGradBuffers(WHERE, block, options.gradBuffers);
  const D = block.inputSize!;
  const V = block.vocabSize;
  const inp = await prepareHeadInputs(WHERE, ctx, D, V, x, labels, weights, upstream, checkValues);
  const M = inp.batch * inp.time;
  let tiling: LogitTiling;
  try {
    const rangeBound = !inp.labelsAreIds || inp.upstream !== undefined;
    tiling = planLogitTiles(ctx, M, V, tileBytes, rangeBound);
  } catch (e) {
    for (const b of inp.uploads) ctx.pool.release(b);
    throw e;
  }
  let carried: FastStateBuffers | undefined;
  try {
    carried = state?.use(WHERE, block, inp.batch, 0);
  } catch (e) {
    for (const b of inp.uploads) ctx.pool.release(b);
    throw e;
  }
  const grads = given ?? createGradBuffers(block);
  const dx = ctx.pool.acquire(M * D * 4);
  const loss = upstream ? undefined : ctx.pool.acquire(4);
  try {
    const rec = new Recorder(ctx);
    const args = {
      ...headForwardArgs(block, inp),
      ...(state && carried ? { ...state.normalization, state: carried } : {}),
    };
    const kept = recordHeadForward(rec, args, tiling, true);
    // The backward reads the state as the forward did: a snapshot, then the window joins it.
    const before = carried && snapshot(rec, carried);
    if (carried) recordAdvance(rec, args, kept, kept);
    recordOuterBackward(rec, {
      ...args,
      ...(before ? { state: before } : {}),
      kept,
      grads,
      accumulate,
      dx,
      loss,
      upstream: inp.upstream,
      firstOrderOnly,
      tiling,
    });
    await rec.submit(WHERE);
    state?.use(WHERE, block, inp.batch, inp.time);
  } catch (e) {
    ctx.pool.release(dx);
    if (loss) ctx.pool.release(loss);
    if (!given) releaseGradBuffers(block, grads);
    throw e;
  } finally {
    for (const b of inp.uploads) ctx.pool.release(b);
  }
  return {
    loss: loss ? ownedGPUTensor(ctx, loss, [1], "float32") : undefined,
    dx: ownedGPUTensor(ctx, dx, [inp.batch, inp.time, D], "float32"),
    grads,
  };
}

/** A copy of a carried state in scratch of `rec` (copied when the recording runs). */
function snapshot(rec: Recorder, st: FastStateBuffers): FastStateBuffers {
  const out = {} as FastStateBuffers;
  for (const [key, buffer] of Object.entries(st) as [keyof FastStateBuffers, GPUBuffer][]) {
    const copy = rec.scratch(buffer.size);
    rec.copy(buffer, 0, copy, 0, buffer.size);
    out[key] = copy;
  }
  return out;
}

/**
 * The outer loss `Σ w·CE(fast_logits, y) / max(Σw, 1e-8)` and its gradient for each of
 * the 14 parameters (by docs/definition.md §1 name, same layout; step sizes as length-1 arrays) and
 * for `"x"` (`[B, T, D]` flattened), read back to the host.
 *
 * @param block a built block
 * @param x hidden states `[B, T, D]` float32
 * @param labels ids `[B, T]` int32 or one-hot `[B, T, V]` float32
 * @param weights loss weights `[B, T]` float32
 * @param options `firstOrderOnly` drops the second-order path
 *
 * @throws {FWLInputError} If an input or option is invalid (see the block's `score`).
 * @throws {FWLStateError} If `options.state` belongs to another block or was disposed.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { FWLBlock, tensor } from "@x/fwl";
 * import { lossAndGrads } from "@x/fwl/gpu";
 * using block = new FWLBlock(4, 10, 2);
 * await block.build(8);
 * const x = tensor(new Float32Array(2 * 6 * 8).fill(0.1), [2, 6, 8]);
 * const ids = tensor(new Int32Array(12).fill(3), [2, 6]);
 * const w = tensor(new Float32Array(12).fill(1), [2, 6]);
 * const { loss, grads } = await lossAndGrads(block, x, ids, w, { firstOrderOnly: true });
 * assert(loss > 0);
 * assertEquals(grads["dense_0/kernel_step"].length, 1);
 * assertEquals(grads["x"].length, 2 * 6 * 8);
 * ```
 */
export async function lossAndGrads(
  block: Head,
  x: Tensor,
  labels: Tensor,
  weights: Tensor,
  options: LossAndGradsOptions = {},
): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  checkOptions("lossAndGrads", options);
  const result = await lossAndGradsGPU(block, x, labels, weights, {
    firstOrderOnly: options.firstOrderOnly ?? false,
    ...(options.state ? { state: options.state } : {}),
  });
  try {
    // The three readbacks overlap.
    const [grads, dx, loss] = await Promise.all([
      readGradBuffers(block, result.grads),
      result.dx.read(),
      result.loss!.read(),
    ]);
    grads["x"] = dx;
    return { loss: loss[0], grads };
  } finally {
    result.loss?.dispose();
    result.dx.dispose();
    releaseGradBuffers(block, result.grads);
  }
}
