/**
 * The parallel forward of the FWL block (docs/definition.md §2) as a composition of the stages:
 * slow forward, inner backward, fast pass, then a consumer of the fast logits. The same
 * composition serves `FWLBlock.forward`/`score` ({@linkcode runForward}) and the
 * training forward ({@linkcode recordHeadForward} with `keep`, whose activations the
 * outer backward reads).
 *
 * @module
 */

import { FWLError } from "../../errors.ts";
import type { GPUContext } from "../../gpu/context.ts";
import { Recorder } from "../../gpu/recorder.ts";
import { normalizer } from "../../kernels/softmax_xent.ts";
import { trainAttentionBytes } from "../../kernels/chunk_attention_backward.ts";
import { type DecayRef, queryScale } from "../../kernels/running_count.ts";
import { type LogitTiling, planLogitTiles } from "./logit_tile_plan.ts";
import { type Head, headDecay, type ParamBuffers } from "../head.ts";
import type { HeadInputs } from "../inputs.ts";
import { isMean, type Normalizer } from "../normalizer.ts";
import { type FastPass, recordFastPass } from "./fast_pass.ts";
import { advanceFastState, type FastStateBuffers } from "./fast_step.ts";
import { type InnerGrads, recordInnerBackward } from "./inner_backward.ts";
import { crossEntropyRows, type Logits, type Targets, writeLogits } from "./logits_tiles.ts";
import { recordSlowForward, type SlowForward } from "./slow_forward.ts";

/** Everything the forward of a batch reads. */
export interface HeadForwardArgs {
  batch: number;
  time: number;
  inputSize: number;
  size: number;
  vocabSize: number;
  attnChunks: number;
  epsilon: number;
  /** The inner normalizer (docs/definition.md §1, §6). */
  normalizer: Normalizer;
  /** The running mean's decay λ, when it decays. */
  decay?: DecayRef;
  x: GPUBuffer;
  labels: GPUBuffer;
  labelsAreIds: boolean;
  weights: GPUBuffer;
  params: ParamBuffers;
  /**
   * The state the earlier windows left (a fixed normalizer or the running mean): read by
   * the fast pass; the forward advances it by this window's terms, the training forward
   * leaves that to its caller (after the backward, which reads it).
   */
  state?: FastStateBuffers;
}

/**
 * The activations of the forward, `[B·T, width]` scratch of the recorder (the outer
 * backward hands each back with `Recorder.reuse` after its last use).
 */
export interface HeadActivations extends SlowForward, InnerGrads, FastPass {
  /** Outer normalizer `max(Σw, 1e-8)` (one float; training only). */
  normOut: GPUBuffer;
  /**
   * The inner normalizer folded into `g_z` (the same buffer as `normOut` when both are
   * the batch one; 1 for the running mean).
   */
  normIn: GPUBuffer;
  /** The running mean's per-query factors `1/N[b,t]` `[B·T]` (docs/definition.md §6). */
  rowScale?: GPUBuffer;
}

/** Scratch budget for one slow-logits tile of the forward (the rest is O(B·T·H)). */
const LOGIT_TILE_BYTES = 32 * 2 ** 20;

/**
 * Default byte budget of one `[rows, V]` tile of logits in training (the second-order
 * pass holds two such tiles at once). At the paper-like shape, 32 MiB (256 rows of a
 * 32000-word vocabulary) measured 9 % faster per step than 16 MiB (each `dKu` product
 * then sums over twice the rows) and 48 MiB slower; the peak stays under 512 MiB.
 */
export const TRAIN_TILE_BYTES: number = 32 * 2 ** 20;

/** The forward arguments of a built head for checked, uploaded inputs. */
export function headForwardArgs(head: Head, inp: HeadInputs): HeadForwardArgs {
  return {
    batch: inp.batch,
    time: inp.time,
    inputSize: head.inputSize!,
    size: head.size,
    vocabSize: head.vocabSize,
    attnChunks: head.attnChunks,
    epsilon: head.epsilon,
    normalizer: head.normalizer,
    decay: headDecay(head),
    x: inp.x,
    labels: inp.labels,
    labelsAreIds: inp.labelsAreIds,
    weights: inp.weights,
    params: head.buffers,
  };
}

/** The logits `x·Ku + bu` of the batch under `tiling`. */
export function headLogits(f: HeadForwardArgs, tiling: LogitTiling): Logits {
  const { ku, bu } = f.params;
  return { rows: f.batch * f.time, size: f.size, vocab: f.vocabSize, tiling, ku, bu };
}

/** The targets of the batch with the normalizer `norm`. */
export function headTargets(f: HeadForwardArgs, norm: GPUBuffer): Targets {
  return { labels: f.labels, labelsAreIds: f.labelsAreIds, weights: f.weights, norm };
}

/** Throws unless the widest `[B·T, ·]` activation fits one binding. */
function checkActivations(ctx: GPUContext, f: HeadForwardArgs): void {
  const widest = f.batch * f.time * Math.max(4 * f.size, f.inputSize) * 4;
  if (widest > ctx.maxBindingBytes) {
    throw new FWLError(
      `a batch of ${f.batch}×${f.time} positions needs ${widest}-byte activations, over ` +
        `the device's ${ctx.maxBindingBytes}-byte binding limit; split the batch or the document`,
    );
  }
}

/** The normalizer `N` of `weights` `[rows]` into one float of scratch. */
function recordNormalizer(
  rec: Recorder,
  weights: GPUBuffer,
  rows: number,
  fixed: number | undefined,
): GPUBuffer {
  const norm = rec.scratch(4);
  normalizer(rec, { weights, norm, count: rows, fixed });
  return norm;
}

/**
 * The inner normalization of a batch: the `N` folded into `g_z` (the batch one, the
 * fixed one, or 1 for the running mean) and, for the running mean, each query's `1/N`
 * (docs/definition.md §6), counted from the carried state's count.
 */
export function recordInnerNormalization(
  rec: Recorder,
  f: HeadForwardArgs,
): { normIn: GPUBuffer; rowScale?: GPUBuffer } {
  const M = f.batch * f.time, n = f.normalizer;
  if (!isMean(n)) {
    return { normIn: recordNormalizer(rec, f.weights, M, n === "batch" ? undefined : n) };
  }
  const rowScale = rec.scratch(M * 4);
  queryScale(rec, {
    weights: f.weights,
    batch: f.batch,
    time: f.time,
    decay: f.decay,
    prior: n.prior,
    count: f.state?.count,
    out: rowScale,
  });
  return { normIn: recordNormalizer(rec, f.weights, M, 1), rowScale };
}

/**
 * Records slow forward, inner backward and fast pass of the batch into `rec`. With
 * `keep` (training) every activation stays live for the outer backward, the outer
 * (batch) normalizer is formed too and attention runs within `trainAttentionBytes`;
 * without, the fast layer norm writes over the slow one's dead `nhat` and `rstd`.
 *
 * @throws {FWLError} If the activations of the call exceed the device's binding limit.
 */
export function recordHeadForward(
  rec: Recorder,
  f: HeadForwardArgs,
  tiling: LogitTiling,
  keep: boolean,
): HeadActivations {
  const ctx = rec.ctx;
  checkActivations(ctx, f);
  const M = f.batch * f.time;
  const { normIn, rowScale } = recordInnerNormalization(rec, f);
  const normOut = !keep || f.normalizer === "batch"
    ? normIn
    : recordNormalizer(rec, f.weights, M, undefined);
  const slow = recordSlowForward(rec, f.params, { ...f, rows: M }, f.x);
  const targets = { ...headLogits(f, tiling), ...headTargets(f, normIn) };
  const inner = recordInnerBackward(rec, f.params, targets, slow);
  const fast = recordFastPass(rec, {
    ...f,
    ...slow,
    ...inner,
    attentionBytes: keep
      ? (dq, dv) => trainAttentionBytes(ctx, f.time, f.attnChunks, dq, dv)
      : () => ctx.maxBindingBytes,
    nhat: keep ? undefined : slow.nhat,
    rstd: keep ? undefined : slow.rstd,
    carried: f.state,
    ...(rowScale ? { rowScale } : {}),
  });
  if (f.state && !keep) recordAdvance(rec, f, slow, inner);
  return { normOut, normIn, ...(rowScale ? { rowScale } : {}), ...slow, ...inner, ...fast };
}

/** Adds the batch's terms to its carried state (the window's activations still live). */
export function recordAdvance(
  rec: Recorder,
  f: HeadForwardArgs,
  slow: Pick<SlowForward, "a">,
  inner: InnerGrads,
): void {
  advanceFastState(rec, f, f.state!, { x: f.x, a: slow.a }, inner, {
    weights: f.weights,
    decay: f.decay,
  });
}

/** Everything one forward needs. */
export interface ForwardArgs extends HeadForwardArgs {
  /**
   * What to produce: the fast logits `[batch·time, vocab]`, or the per-position
   * cross-entropy `[batch·time]` of the fast logits (tile by tile: no `[B, T, V]` buffer).
   */
  output: { kind: "logits"; buffer: GPUBuffer } | { kind: "nll"; buffer: GPUBuffer };
  /** The plain head: the slow forward only (dense, squared ReLU, dense, layer norm, unembedding). */
  plain?: boolean;
  /** Byte budgets of the slow-logit tile and of one output-logit tile (tests shrink them). */
  tileBytes?: { slow: number; output: number };
}

/**
 * Records and submits the whole forward: the composition above, then the fast logits
 * (or the slow ones, for the plain head) written out or scored.
 *
 * @throws {FWLError} If the activations or the logits exceed the device's binding limit.
 */
export async function runForward(ctx: GPUContext, f: ForwardArgs): Promise<void> {
  const M = f.batch * f.time, V = f.vocabSize;
  checkActivations(ctx, f);
  if (f.output.kind === "logits" && M * V * 4 > ctx.device.limits.maxBufferSize) {
    throw new FWLError(
      `the logits of ${f.batch}×${f.time} positions over a vocabulary of ${V} need ` +
        `${M * V * 4} bytes, over the device's ${ctx.device.limits.maxBufferSize}-byte ` +
        `buffer limit; score them (loss only) or split the batch`,
    );
  }
  const rec = new Recorder(ctx);
  const tileBytes = f.tileBytes?.slow ?? LOGIT_TILE_BYTES;
  const tiling = planLogitTiles(ctx, M, V, tileBytes, !f.labelsAreIds);
  let head: GPUBuffer, norm: GPUBuffer;
  if (f.plain) {
    norm = recordNormalizer(rec, f.weights, M, 1); // unused by the outer cross-entropy
    head = recordSlowForward(rec, f.params, { ...f, rows: M }, f.x).n;
  } else {
    const acts = recordHeadForward(rec, f, tiling, false);
    head = acts.nf;
    norm = acts.normIn;
  }
  const logits = headLogits(f, tiling);
  if (f.output.kind === "logits") {
    writeLogits(rec, logits, head, f.output.buffer, f.tileBytes?.output ?? ctx.maxBindingBytes);
  } else {
    crossEntropyRows(rec, { ...logits, ...headTargets(f, norm) }, head, f.output.buffer);
  }
  await rec.submit("FWLBlock.forward");
}
