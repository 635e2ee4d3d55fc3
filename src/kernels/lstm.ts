/**
 * The kernels of the LSTM body: embedding lookup (`shaders/lstm_gather.wgsl`), the
 * recurrence forward and backward, one dispatch per layer with one workgroup per 4
 * sequences looping over time (`shaders/lstm_forward.wgsl`, `shaders/lstm_backward.wgsl`,
 * with `shaders/lstm_transpose.wgsl`); the embedding gradient is a segment sum
 * (`segment_sum.ts`). The recurrent products read U as vec4 with one
 * accumulator per sequence of the workgroup, so each load of U feeds 4 sequences.
 *
 * Sequences use a padded row layout `[B, T+1, ·]`: row `b·(T+1)` holds the initial
 * state (zeros) and row `b·(T+1)+1+t` position `t`, so that `h_{t−1}` and `x_t` line up
 * row by row with `dz_t` and the weight gradients are single matmuls over all rows.
 *
 * @module
 */

import { spreadGroups, spreadInvocations } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";

/** The embedding-lookup kernel. */
const LSTM_GATHER = program({
  name: "lstm_gather",
  body: shaders.lstmGather,
  storage: ["tokens: i32", "embedding", "x: rw"],
  uniforms: ["rows", "width", "time", "flags", "groups_x"],
  constants: { PADDED: 1 },
  snippets: [GRID],
});
/** The uniforms both recurrence kernels start with. */
const RECURRENCE_FIELDS = ["time", "hidden", "batch", "flags", "groups_x"] as const;
/** The uniforms of operands addressed by a base and a stride per sequence: `p_base`, `p_seq`. */
function perSequence<const P extends string>(...operands: P[]): (`${P}_base` | `${P}_seq`)[] {
  return operands.flatMap((p) => [`${p}_base` as const, `${p}_seq` as const]);
}
/** The recurrence kernel, forward. */
const LSTM_FORWARD = program({
  name: "lstm_forward",
  body: shaders.lstmForward,
  storage: ["g: rw", "u: vec4<f32>", "hbuf: rw", "cbuf: rw", "out: rw", "zbuf: rw vec4<f32>"],
  uniforms: [...RECURRENCE_FIELDS, ...perSequence("g", "h", "s", "out")],
  constants: { S: 4, ZERO_INIT: 1, WRITE_OUT: 2 },
  snippets: [GRID],
});
/** The recurrence kernel, backward through time. */
const LSTM_BACKWARD = program({
  name: "lstm_backward",
  body: shaders.lstmBackward,
  storage: ["a", "cbuf", "ut: vec4<f32>", "dh_ext", "dz: rw", "carry: rw"],
  uniforms: [...RECURRENCE_FIELDS, ...perSequence("a", "c", "dh", "z"), "quads"],
  constants: { S: 4, ZERO_ROW: 1 },
  snippets: [GRID],
});
/** The transpose of the recurrent kernel for the backward. */
const LSTM_TRANSPOSE = program({
  name: "lstm_transpose",
  body: shaders.lstmTranspose,
  storage: ["u", "ut: rw"],
  uniforms: ["hidden", "padded", "groups_x"],
  snippets: [GRID],
});

/**
 * Records `x[r, :] = embedding[tokens[p(r)], :]` for `[rows, width]` x. With `padded`
 * (`rows = batch·(time+1)`), row `b·(time+1)` is zeroed and row `b·(time+1)+1+t` takes
 * position `b·time + t`; otherwise row `r` takes position `r`. Ids must be in range.
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
  const { workgroups, groupsX: gx } = spreadInvocations(rec.ctx, o.rows * o.width, LSTM_GATHER);
  rec.dispatch(
    LSTM_GATHER,
    [o.tokens, o.embedding, o.x],
    LSTM_GATHER.uniforms({
      rows: o.rows,
      width: o.width,
      time: o.time,
      flags: o.padded ? LSTM_GATHER.constants.PADDED : 0,
      groups_x: gx,
    }),
    workgroups,
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
 */
export function lstmForward(rec: Recorder, s: LSTMForwardSpec): void {
  const { workgroups, groupsX: gx } = spreadGroups(
    rec.ctx,
    Math.ceil(s.batch / LSTM_FORWARD.constants.S),
  );
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
    LSTM_FORWARD.uniforms({
      time: s.time,
      hidden: s.hidden,
      batch: s.batch,
      flags: (s.zeroInit ? LSTM_FORWARD.constants.ZERO_INIT : 0) |
        (s.out ? LSTM_FORWARD.constants.WRITE_OUT : 0),
      groups_x: gx,
      g_base: s.gatesLayout.base,
      g_seq: s.gatesLayout.seq,
      h_base: s.stateLayout.base,
      h_seq: s.stateLayout.seq,
      s_base: s.initLayout.base,
      s_seq: s.initLayout.seq,
      out_base: s.out?.layout.base ?? 0,
      out_seq: s.out?.layout.seq ?? 0,
    }),
    workgroups,
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
 */
export function lstmBackward(rec: Recorder, s: LSTMBackwardSpec): void {
  const H = s.hidden;
  const padded = Math.ceil(H / 4) * 4;
  const ut = rec.scratch(4 * H * padded * 4);
  const transpose = spreadInvocations(rec.ctx, 4 * H * padded, LSTM_TRANSPOSE);
  rec.dispatch(
    LSTM_TRANSPOSE,
    [s.recurrent, ut],
    LSTM_TRANSPOSE.uniforms({ hidden: H, padded, groups_x: transpose.groupsX }),
    transpose.workgroups,
  );
  const { workgroups, groupsX: gx } = spreadGroups(
    rec.ctx,
    Math.ceil(s.batch / LSTM_BACKWARD.constants.S),
  );
  rec.dispatch(
    LSTM_BACKWARD,
    [s.gates, s.c, ut, s.dh, s.dz, rec.scratch(s.batch * 2 * H * 4)],
    LSTM_BACKWARD.uniforms({
      time: s.time,
      hidden: s.hidden,
      batch: s.batch,
      flags: s.zeroRow ? LSTM_BACKWARD.constants.ZERO_ROW : 0,
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
    }),
    workgroups,
  );
}
