/**
 * Row-wise and column-scan kernels: layer norm and its backward, the softmax
 * cross-entropy gradient, the loss normalizer, and the exclusive-cumsum update.
 *
 * @module
 */

import { spreadGroups } from "../gpu/grid.ts";
import { program, read, readWrite } from "../gpu/program.ts";
import * as shaders from "./shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";

/** Layer norm forward. */
const LAYER_NORM = program({
  name: "layer_norm",
  body: shaders.layerNorm,
  workgroupSize: [64],
  storage: [
    read("x"),
    read("scale"),
    read("bias"),
    readWrite("out"),
    readWrite("nhat"),
    readWrite("rstd"),
  ],
  uniforms: { rows: "u32", width: "u32", per_row_affine: "u32", groups_x: "u32", eps: "f32" },
  snippets: [GRID],
});
/** Layer norm backward of the inner loss. */
const LAYER_NORM_BACKWARD = program({
  name: "layer_norm_backward",
  body: shaders.layerNormBackward,
  workgroupSize: [64],
  storage: [
    read("g_n"),
    read("nhat"),
    read("rstd"),
    read("scale"),
    readWrite("g_x"),
    readWrite("g_scale"),
  ],
  uniforms: { rows: "u32", width: "u32", groups_x: "u32" },
  snippets: [GRID],
});
/** Softmax cross-entropy gradient. */
const SOFTMAX_XENT = program({
  name: "softmax_xent",
  body: shaders.softmaxXent,
  workgroupSize: [64],
  storage: [readWrite("z"), read("labels", "u32"), read("weights"), read("norm")],
  uniforms: {
    rows: "u32",
    vocab: "u32",
    label_mode: "u32",
    groups_x: "u32",
    row_offset: "u32",
    label_base: "u32",
  },
  constants: { IDS: 0, ONE_HOT: 1 },
  snippets: [GRID],
});
/** The inner-loss normalizer. */
const NORMALIZER = program({
  name: "normalizer",
  body: shaders.normalizer,
  workgroupSize: [256],
  storage: [read("weights"), readWrite("norm")],
  uniforms: { count: "u32", fixed: "u32", value: "f32" },
});
/** Exclusive cumsum update. */
const CUMSUM_UPDATE = program({
  name: "cumsum_update",
  body: shaders.cumsumUpdate,
  workgroupSize: [64],
  storage: [read("u"), read("base"), read("steps"), readWrite("out"), readWrite("aux")],
  uniforms: { batch: "u32", time: "u32", width: "u32", flags: "u32", step_index: "u32" },
  constants: { BROADCAST: 1, SQRELU_AUX: 2 },
});

/** Per-position cross-entropy of a logits tile. */
const XENT_LOSS = program({
  name: "xent_loss",
  body: shaders.xentLoss,
  workgroupSize: [64],
  storage: [read("z"), read("labels", "u32"), read("weights"), readWrite("nll")],
  uniforms: {
    rows: "u32",
    vocab: "u32",
    label_mode: "u32",
    groups_x: "u32",
    row_offset: "u32",
    label_base: "u32",
  },
  constants: { IDS: 0, ONE_HOT: 1 },
  snippets: [GRID],
});

/**
 * `nll[rowOffset + r] = logsumexp(z[r]) − Σ_v y_v·z[r, v]` for the `rows × vocab` tile
 * `z` (0 where the weight is 0). Labels as in {@linkcode softmaxXentGrad}.
 */
export function xentLoss(
  rec: Recorder,
  o: {
    z: Binding;
    labels: Binding;
    labelsAreIds: boolean;
    weights: Binding;
    nll: Binding;
    rows: number;
    vocab: number;
    rowOffset: number;
    labelBase: number;
  },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    XENT_LOSS,
    [o.z, o.labels, o.weights, o.nll],
    XENT_LOSS.uniforms({
      rows: o.rows,
      vocab: o.vocab,
      label_mode: o.labelsAreIds ? XENT_LOSS.constants.IDS : XENT_LOSS.constants.ONE_HOT,
      groups_x: groupsX,
      row_offset: o.rowOffset,
      label_base: o.labelBase,
    }),
    workgroups,
  );
}

/** `out = layerNorm(x) ⊙ scale + bias` per row; also writes `nhat` and `rstd`. */
export function layerNorm(
  rec: Recorder,
  o: {
    x: Binding;
    scale: Binding;
    bias: Binding;
    out: Binding;
    nhat: Binding;
    rstd: Binding;
    rows: number;
    width: number;
    perRowAffine: boolean;
    eps: number;
  },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    LAYER_NORM,
    [o.x, o.scale, o.bias, o.out, o.nhat, o.rstd],
    LAYER_NORM.uniforms({
      rows: o.rows,
      width: o.width,
      per_row_affine: o.perRowAffine ? 1 : 0,
      groups_x: groupsX,
      eps: o.eps,
    }),
    workgroups,
  );
}

/** Inner-loss layer norm backward: `g_x` and `g_n ⊙ nhat` from `g_n`. */
export function layerNormBackward(
  rec: Recorder,
  o: {
    gN: Binding;
    nhat: Binding;
    rstd: Binding;
    scale: Binding;
    gX: Binding;
    gScale: Binding;
    rows: number;
    width: number;
  },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    LAYER_NORM_BACKWARD,
    [o.gN, o.nhat, o.rstd, o.scale, o.gX, o.gScale],
    LAYER_NORM_BACKWARD.uniforms({ rows: o.rows, width: o.width, groups_x: groupsX }),
    workgroups,
  );
}

/**
 * In place on `z` (`rows × vocab` logits starting at global row `rowOffset`):
 * `z ← (softmax(z) − y) · w / N`. Labels are ids (`[allRows]` i32) or one-hot rows
 * (`labelBase` is the element offset of this tile's first label row).
 */
export function softmaxXentGrad(
  rec: Recorder,
  o: {
    z: Binding;
    labels: Binding;
    labelsAreIds: boolean;
    weights: Binding;
    norm: Binding;
    rows: number;
    vocab: number;
    rowOffset: number;
    labelBase: number;
  },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    SOFTMAX_XENT,
    [o.z, o.labels, o.weights, o.norm],
    SOFTMAX_XENT.uniforms({
      rows: o.rows,
      vocab: o.vocab,
      label_mode: o.labelsAreIds ? SOFTMAX_XENT.constants.IDS : SOFTMAX_XENT.constants.ONE_HOT,
      groups_x: groupsX,
      row_offset: o.rowOffset,
      label_base: o.labelBase,
    }),
    workgroups,
  );
}

/** Writes the normalizer N (batch: `max(Σ w, 1e-8)`, or the fixed number) to `norm[0]`. */
export function normalizer(
  rec: Recorder,
  o: {
    weights: Binding;
    norm: Binding;
    count: number;
    fixed: number | undefined;
  },
): void {
  rec.dispatch(
    NORMALIZER,
    [o.weights, o.norm],
    NORMALIZER.uniforms({
      count: o.count,
      fixed: o.fixed === undefined ? 0 : 1,
      value: o.fixed ?? 0,
    }),
    [1, 1, 1],
  );
}

/**
 * `out[b,t,j] = (broadcast ? base[j] : out[b,t,j]) − steps[stepIndex] · Σ_{s<t} u[b,s,j]`,
 * optionally writing `aux = relu(out)²`.
 */
export function cumsumUpdate(
  rec: Recorder,
  o: {
    u: Binding;
    out: Binding;
    steps: GPUBuffer;
    stepIndex: number;
    batch: number;
    time: number;
    width: number;
    broadcastBase?: Binding;
    sqreluAux?: Binding;
  },
): void {
  const ctx = rec.ctx;
  rec.dispatch(
    CUMSUM_UPDATE,
    [
      o.u,
      o.broadcastBase ?? ctx.dummy(0),
      o.steps,
      o.out,
      o.sqreluAux ?? ctx.dummy(1),
    ],
    CUMSUM_UPDATE.uniforms({
      batch: o.batch,
      time: o.time,
      width: o.width,
      flags: (o.broadcastBase ? CUMSUM_UPDATE.constants.BROADCAST : 0) |
        (o.sqreluAux ? CUMSUM_UPDATE.constants.SQRELU_AUX : 0),
      step_index: o.stepIndex,
    }),
    [Math.ceil(o.width / CUMSUM_UPDATE.workgroupSize[0]), o.batch, 1],
  );
}
