/**
 * The kernels of the LSTM body: embedding lookup (`shaders/lstm_gather.wgsl`), the
 * recurrence forward and backward, one dispatch per layer with one workgroup per 4
 * sequences looping over time (`shaders/lstm_forward.wgsl`, `shaders/lstm_backward.wgsl`,
 * with `shaders/lstm_transpose.wgsl`), and the embedding gradient without atomics
 * (`shaders/lstm_embed_grad.wgsl`). The recurrent products read U as vec4 with one
 * accumulator per sequence of the workgroup, so each load of U feeds 4 sequences.
 *
 * Sequences use a padded row layout `[B, T+1, ·]`: row `b·(T+1)` holds the initial
 * state (zeros) and row `b·(T+1)+1+t` position `t`, so that `h_{t−1}` and `x_t` line up
 * row by row with `dz_t` and the weight gradients are single matmuls over all rows.
 *
 * @module
 */

import gatherCode from "../../shaders/lstm_gather.wgsl" with { type: "text" };
import forwardCode from "../../shaders/lstm_forward.wgsl" with { type: "text" };
import backwardCode from "../../shaders/lstm_backward.wgsl" with { type: "text" };
import transposeCode from "../../shaders/lstm_transpose.wgsl" with { type: "text" };
import embedGradCode from "../../shaders/lstm_embed_grad.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";

/** The embedding-lookup kernel. */
export const LSTM_GATHER: KernelSpec = {
  name: "lstm_gather",
  code: gatherCode,
  entryPoint: "main",
};
/** The recurrence kernel, forward. */
export const LSTM_FORWARD: KernelSpec = {
  name: "lstm_forward",
  code: forwardCode,
  entryPoint: "main",
};
/** The recurrence kernel, backward through time. */
export const LSTM_BACKWARD: KernelSpec = {
  name: "lstm_backward",
  code: backwardCode,
  entryPoint: "main",
};
/** The transpose of the recurrent kernel for the backward. */
export const LSTM_TRANSPOSE: KernelSpec = {
  name: "lstm_transpose",
  code: transposeCode,
  entryPoint: "main",
};
/** The embedding-gradient kernel. */
export const LSTM_EMBED_GRAD: KernelSpec = {
  name: "lstm_embed_grad",
  code: embedGradCode,
  entryPoint: "main",
};

/** Sequences per workgroup of the recurrence kernels. */
const SEQS_PER_GROUP = 4;

/** Workgroups `[x, y]` covering `count` invocations of 64, and x. */
function flatGroups(rec: Recorder, count: number): [number, number] {
  const groups = Math.max(1, Math.ceil(count / 64));
  const x = Math.min(groups, rec.ctx.maxWorkgroups);
  return [x, Math.ceil(groups / x)];
}

/** Workgroups `[x, y]` with one per group of 4 sequences, and x. */
function sequenceGroups(rec: Recorder, batch: number): [number, number] {
  const groups = Math.ceil(batch / SEQS_PER_GROUP);
  const x = Math.max(1, Math.min(groups, rec.ctx.maxWorkgroups));
  return [x, Math.ceil(groups / x)];
}

/**
 * Records `x[r, :] = embedding[tokens[p(r)], :]` for `[rows, width]` x. With `padded`
 * (`rows = batch·(time+1)`), row `b·(time+1)` is zeroed and row `b·(time+1)+1+t` takes
 * position `b·time + t`; otherwise row `r` takes position `r`. Ids must be in range.
 *
 * @example
 * ```ts ignore
 * lstmGather(rec, { tokens, embedding, x, rows: B * (T + 1), width: E, time: T, padded: true });
 * ```
 */
export function lstmGather(
  rec: Recorder,
  o: {
    tokens: Binding;
    embedding: Binding;
    x: Binding;
    rows: number;
    width: number;
    time: number;
    padded: boolean;
  },
): void {
  const [gx, gy] = flatGroups(rec, o.rows * o.width);
  rec.dispatch(
    LSTM_GATHER,
    [o.tokens, o.embedding, o.x],
    packUniforms({
      rows: o.rows,
      width: o.width,
      time: o.time,
      flags: o.padded ? 1 : 0,
      groups_x: gx,
    }),
    [gx, gy, 1],
  );
}

/** An element layout `base + b·seq + t·rowWidth + j` (row width implied by the buffer). */
export interface SeqLayout {
  /** Element offset of sequence 0, position 0. */
  base: number;
  /** Stride between sequences. */
  seq: number;
}

/** One recurrence-forward dispatch. */
export interface LSTMForwardSpec {
  /** Number of sequences (a workgroup takes 4). */
  batch: number;
  /** Positions to run. */
  time: number;
  /** Hidden size H. */
  hidden: number;
  /** Gate pre-activations `x·W + b` `[·, 4H]` in, activations out (in place). */
  gates: Binding;
  /** Where row `t` of sequence `b` of `gates` starts: `base + b·seq + t·4H`. */
  gatesLayout: SeqLayout;
  /** The recurrent kernel `[H, 4H]`. */
  recurrent: Binding;
  /** Hidden states out (and the initial state in). */
  h: Binding;
  /** Cell states out (and the initial state in), same layout as `h`. */
  c: Binding;
  /** Where `h_t` (and `c_t`) of sequence `b` starts: `base + b·seq + t·H`. */
  stateLayout: SeqLayout;
  /** Where the initial state sits in `h`/`c`. */
  initLayout: SeqLayout;
  /** The initial state is zero (and is written at `initLayout`). */
  zeroInit: boolean;
  /** Also writes each h here. */
  out?: { buffer: Binding; layout: SeqLayout };
}

/**
 * Records the recurrence of one LSTM layer over `time` positions for `batch` sequences:
 * one dispatch, one workgroup per 4 sequences (plus a `[batch, 4H]` scratch).
 *
 * @example
 * ```ts ignore
 * lstmForward(rec, {
 *   batch: B, time: T, hidden: H, gates: P, gatesLayout: { base: 4 * H, seq: (T + 1) * 4 * H },
 *   recurrent: U, h: hs, c: cs, stateLayout: { base: H, seq: (T + 1) * H },
 *   initLayout: { base: 0, seq: (T + 1) * H }, zeroInit: true,
 * });
 * ```
 */
export function lstmForward(rec: Recorder, s: LSTMForwardSpec): void {
  const [gx, gy] = sequenceGroups(rec, s.batch);
  rec.dispatch(
    LSTM_FORWARD,
    [
      s.gates,
      s.recurrent,
      s.h,
      s.c,
      s.out?.buffer ?? rec.ctx.dummy(1),
      rec.scratch(s.batch * 4 * s.hidden * 4),
    ],
    packUniforms({
      time: s.time,
      hidden: s.hidden,
      batch: s.batch,
      flags: (s.zeroInit ? 1 : 0) | (s.out ? 2 : 0),
      groups_x: gx,
      g_base: s.gatesLayout.base,
      g_seq: s.gatesLayout.seq,
      h_base: s.stateLayout.base,
      h_seq: s.stateLayout.seq,
      s_base: s.initLayout.base,
      s_seq: s.initLayout.seq,
      out_base: s.out?.layout.base ?? 0,
      out_seq: s.out?.layout.seq ?? 0,
      pad0: 0,
      pad1: 0,
      pad2: 0,
    }),
    [gx, gy, 1],
  );
}

/** One recurrence-backward dispatch. */
export interface LSTMBackwardSpec {
  /** Number of sequences (a workgroup takes 4). */
  batch: number;
  /** Positions to run back through. */
  time: number;
  /** Hidden size H. */
  hidden: number;
  /** Gate activations `[·, 4H]` from the forward. */
  gates: Binding;
  /** Where row `t` of sequence `b` of `gates` starts: `base + b·seq + t·4H`. */
  gatesLayout: SeqLayout;
  /** Cell states `[·, H]`; the row before each sequence's first (c_{−1}) must exist. */
  c: Binding;
  /** Where `c_t` of sequence `b` starts: `base + b·seq + t·H`. */
  cLayout: SeqLayout;
  /** The recurrent kernel `[H, 4H]`. */
  recurrent: Binding;
  /** dLoss/dh from outside the recurrence (above, or the body's caller) `[·, H]`. */
  dh: Binding;
  /** Where `dh_t` of sequence `b` starts: `base + b·seq + t·H`. */
  dhLayout: SeqLayout;
  /** dLoss/dz out `[·, 4H]`. */
  dz: Binding;
  /** Where `dz_t` of sequence `b` starts: `base + b·seq + t·4H`. */
  dzLayout: SeqLayout;
  /** Also zeroes the dz row before each sequence's first (needs `dzLayout.base ≥ 4H`). */
  zeroRow: boolean;
}

/**
 * Records backpropagation through time for one LSTM layer: dz at every position. Two
 * dispatches: the recurrent kernel transposed (into a `[4H, H]` scratch, H rounded up to
 * 4), then the recurrence, one workgroup per 4 sequences (plus a `[batch, 2H]` scratch).
 *
 * @example
 * ```ts ignore
 * lstmBackward(rec, { batch: B, time: T, hidden: H, gates: A, gatesLayout, c: cs, cLayout,
 *   recurrent: U, dh: dHidden, dhLayout: { base: 0, seq: T * H }, dz, dzLayout, zeroRow: true });
 * ```
 */
export function lstmBackward(rec: Recorder, s: LSTMBackwardSpec): void {
  const H = s.hidden;
  const padded = Math.ceil(H / 4) * 4;
  const ut = rec.scratch(4 * H * padded * 4);
  const [tx, ty] = flatGroups(rec, 4 * H * padded);
  rec.dispatch(
    LSTM_TRANSPOSE,
    [s.recurrent, ut],
    packUniforms({ hidden: H, padded, groups_x: tx, pad0: 0 }),
    [tx, ty, 1],
  );
  const [gx, gy] = sequenceGroups(rec, s.batch);
  rec.dispatch(
    LSTM_BACKWARD,
    [s.gates, s.c, ut, s.dh, s.dz, rec.scratch(s.batch * 2 * H * 4)],
    packUniforms({
      time: s.time,
      hidden: s.hidden,
      batch: s.batch,
      flags: s.zeroRow ? 1 : 0,
      groups_x: gx,
      a_base: s.gatesLayout.base,
      a_seq: s.gatesLayout.seq,
      c_base: s.cLayout.base,
      c_seq: s.cLayout.seq,
      dh_base: s.dhLayout.base,
      dh_seq: s.dhLayout.seq,
      z_base: s.dzLayout.base,
      z_seq: s.dzLayout.seq,
      quads: padded / 4,
      pad1: 0,
      pad2: 0,
    }),
    [gx, gy, 1],
  );
}

/**
 * Records `out[v, :] = Σ_q dx[rows[q], :]` over `q ∈ [offsets[v], offsets[v+1])` for
 * every token v: the embedding gradient, deterministic and without atomics.
 *
 * @example
 * ```ts ignore
 * lstmEmbeddingGrad(rec, { offsets, rows, dx, out: gradEmbedding, vocab: V, width: E });
 * ```
 */
export function lstmEmbeddingGrad(
  rec: Recorder,
  o: {
    offsets: Binding;
    rows: Binding;
    dx: Binding;
    out: Binding;
    vocab: number;
    width: number;
  },
): void {
  const [gx, gy] = flatGroups(rec, o.vocab * o.width);
  rec.dispatch(
    LSTM_EMBED_GRAD,
    [o.offsets, o.rows, o.dx, o.out],
    packUniforms({ vocab: o.vocab, width: o.width, groups_x: gx, pad0: 0 }),
    [gx, gy, 1],
  );
}

/**
 * Groups positions by token for {@linkcode lstmEmbeddingGrad}: `offsets [V+1]` and
 * `rows [B·T]` (the padded row of each position, ascending within a token).
 *
 * @example
 * ```ts
 * import { tokenRows } from "./lstm.ts";
 * const { offsets, rows } = tokenRows(new Int32Array([2, 0, 2]), 1, 3, 3);
 * console.log(Array.from(offsets), Array.from(rows)); // [0, 1, 1, 3] [2, 1, 3]
 * ```
 */
export function tokenRows(
  tokens: Int32Array,
  batch: number,
  time: number,
  vocab: number,
): { offsets: Uint32Array; rows: Uint32Array } {
  const offsets = new Uint32Array(vocab + 1);
  for (const id of tokens) offsets[id + 1]++;
  for (let v = 0; v < vocab; v++) offsets[v + 1] += offsets[v];
  const next = offsets.slice(0, vocab);
  const rows = new Uint32Array(tokens.length);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < time; t++) {
      rows[next[tokens[b * time + t]]++] = b * (time + 1) + 1 + t;
    }
  }
  return { offsets, rows };
}
