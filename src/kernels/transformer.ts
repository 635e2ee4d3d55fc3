/**
 * Kernels of the transformer body that the shared ones don't cover: the embedding
 * gather, the causal row softmax and its backward, the GELU of the MLP and its backward,
 * and a deterministic segment sum for the embedding gradients (no float atomics).
 *
 * @module
 */

import embedCode from "../../shaders/transformer_embed.wgsl" with { type: "text" };
import softmaxCode from "../../shaders/transformer_softmax.wgsl" with { type: "text" };
import softmaxBackwardCode from "../../shaders/transformer_softmax_backward.wgsl" with {
  type: "text",
};
import geluCode from "../../shaders/transformer_gelu.wgsl" with { type: "text" };
import segmentSumCode from "../../shaders/transformer_segment_sum.wgsl" with {
  type: "text",
};
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";

/** Token + position embedding gather. */
export const TRANSFORMER_EMBED: KernelSpec = {
  name: "transformer_embed",
  code: embedCode,
  entryPoint: "main",
};
/** Causal row softmax, in place. */
export const TRANSFORMER_SOFTMAX: KernelSpec = {
  name: "transformer_softmax",
  code: softmaxCode,
  entryPoint: "main",
};
/** Backward of the causal row softmax, in place on the gradient. */
export const TRANSFORMER_SOFTMAX_BACKWARD: KernelSpec = {
  name: "transformer_softmax_backward",
  code: softmaxBackwardCode,
  entryPoint: "main",
};
/** GELU forward (mode 0) and backward (mode 1). */
export const TRANSFORMER_GELU: KernelSpec = {
  name: "transformer_gelu",
  code: geluCode,
  entryPoint: "main",
};
/** Deterministic segment sum (embedding gradients). */
export const TRANSFORMER_SEGMENT_SUM: KernelSpec = {
  name: "transformer_segment_sum",
  code: segmentSumCode,
  entryPoint: "main",
};

/** A grid of 64-wide workgroups covering `count` invocations, past 65535 per dimension. */
function grid(count: number, max: number): { groups: [number, number, number]; perY: number } {
  const total = Math.ceil(count / 64);
  const x = Math.max(1, Math.min(total, max));
  return { groups: [x, Math.ceil(total / x), 1], perY: x * 64 };
}

/**
 * `out[n, d] = tokens[ids[n], d] + positions[posBase + n % time, d]` for `rows`
 * positions of width `width` (ids must lie in `[0, vocab)`; they are clamped, never read
 * out of bounds).
 *
 * @example
 * ```ts ignore
 * embed(rec, { ids, tokens, positions, out: x, rows: B * T, width: D, time: T, posBase: 0, vocab: V });
 * ```
 */
export function embed(
  rec: Recorder,
  o: {
    ids: Binding;
    tokens: Binding;
    positions: Binding;
    out: Binding;
    rows: number;
    width: number;
    time: number;
    posBase: number;
    vocab: number;
  },
): void {
  const count = o.rows * o.width;
  const { groups, perY } = grid(count, rec.ctx.maxWorkgroups);
  rec.dispatch(
    TRANSFORMER_EMBED,
    [o.ids, o.tokens, o.positions, o.out],
    packUniforms({
      count,
      width: o.width,
      time: o.time,
      pos_base: o.posBase,
      vocab: o.vocab,
      per_y: perY,
      pad0: 0,
      pad1: 0,
    }),
    groups,
  );
}

/** Which entries of a row of attention scores are visible (see {@linkcode causalSoftmax}). */
export interface CausalRows {
  /** Number of rows. */
  rows: number;
  /** Row length (and stride): the number of keys. */
  width: number;
  /** Query positions per block of rows (`T` for a `[T, T]` score matrix, 1 for a step). */
  block: number;
  /** Position of a block's first query (0, or the step's position). */
  offset: number;
}

/**
 * In place on `s` (`rows × width`): the softmax of each row over the keys `j ≤
 * r % block + offset`, 0 past them.
 *
 * @example
 * ```ts ignore
 * // scores [B, H, T, T]
 * causalSoftmax(rec, scores, { rows: B * H * T, width: T, block: T, offset: 0 });
 * ```
 */
export function causalSoftmax(rec: Recorder, s: Binding, r: CausalRows): void {
  const { groups, perY } = grid(r.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(TRANSFORMER_SOFTMAX, [s], rowUniforms(r, perY), groups);
}

/**
 * In place on `g` (the gradient of the probabilities `prob`, `rows × width`): the
 * gradient of the scores, `prob ⊙ (g − ⟨prob, g⟩)` per row, 0 past the visible keys.
 *
 * @example
 * ```ts ignore
 * causalSoftmaxBackward(rec, probs, dProbs, { rows: B * H * T, width: T, block: T, offset: 0 });
 * ```
 */
export function causalSoftmaxBackward(
  rec: Recorder,
  prob: Binding,
  g: Binding,
  r: CausalRows,
): void {
  const { groups, perY } = grid(r.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(TRANSFORMER_SOFTMAX_BACKWARD, [prob, g], rowUniforms(r, perY), groups);
}

function rowUniforms(r: CausalRows, perY: number): ArrayBuffer {
  return packUniforms({
    rows: r.rows,
    width: r.width,
    block: r.block,
    offset: r.offset,
    per_y: perY,
    pad0: 0,
    pad1: 0,
    pad2: 0,
  });
}

/**
 * GELU (tanh form) of the MLP: `"forward"` writes `g = gelu(x)`; `"backward"` multiplies
 * `g` in place by `gelu'(x)`. `g` must not alias `x`.
 *
 * @example
 * ```ts ignore
 * gelu(rec, { x: pre, g: act, count: N * M, mode: "forward" });
 * gelu(rec, { x: pre, g: dAct, count: N * M, mode: "backward" });
 * ```
 */
export function gelu(
  rec: Recorder,
  o: { x: Binding; g: Binding; count: number; mode: "forward" | "backward" },
): void {
  const { groups, perY } = grid(o.count, rec.ctx.maxWorkgroups);
  rec.dispatch(
    TRANSFORMER_GELU,
    [o.x, o.g],
    packUniforms({ count: o.count, mode: o.mode === "forward" ? 0 : 1, per_y: perY }),
    groups,
  );
}

/**
 * `out[s, d] = Σ_{k ∈ [offsets[s], offsets[s+1])} src[index[k], d]` for `segments`
 * segments of width `width`, summed in the order of `index`: a deterministic
 * scatter-add (u32 `offsets [segments + 1]`, u32 `index`).
 *
 * @example
 * ```ts ignore
 * // the token-embedding gradient: rows of dx grouped by their token id
 * segmentSum(rec, { offsets, index, src: dx, out: gradTokens, segments: V, width: D });
 * ```
 */
export function segmentSum(
  rec: Recorder,
  o: {
    offsets: Binding;
    index: Binding;
    src: Binding;
    out: Binding;
    segments: number;
    width: number;
  },
): void {
  const count = o.segments * o.width;
  const { groups, perY } = grid(count, rec.ctx.maxWorkgroups);
  rec.dispatch(
    TRANSFORMER_SEGMENT_SUM,
    [o.offsets, o.index, o.src, o.out],
    packUniforms({ count, width: o.width, per_y: perY, pad0: 0 }),
    groups,
  );
}
