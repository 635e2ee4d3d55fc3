/**
 * Row-wise kernels of the outer backward: the outer cross-entropy and its gradient,
 * the second-order step through the inner softmax, the layer-norm backward (shared,
 * per-row or no scale), and the backward through the inner layer-norm backward.
 *
 * @module
 */

import { spreadGroups } from "../gpu/grid.ts";
import { program, read, readWrite } from "../gpu/program.ts";
import * as shaders from "./shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";

/** Outer cross-entropy: per-row loss and in-place gradient. */
const TRAIN_OUTER_XENT = program({
  name: "train_outer_xent",
  body: shaders.trainOuterXent,
  workgroupSize: [64],
  storage: [
    readWrite("z"),
    read("labels", "u32"),
    read("weights"),
    read("norm"),
    readWrite("loss_rows"),
  ],
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
/** Second-order step through the inner softmax cross-entropy. */
const TRAIN_INNER_SOFTMAX_VJP = program({
  name: "train_inner_softmax_vjp",
  body: shaders.trainInnerSoftmaxVjp,
  workgroupSize: [64],
  storage: [readWrite("z"), readWrite("dg"), read("labels", "u32"), read("weights"), read("norm")],
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
/** Layer-norm backward with respect to its input. */
const TRAIN_LAYER_NORM_BACKWARD = program({
  name: "train_layer_norm_backward",
  body: shaders.trainLayerNormBackward,
  workgroupSize: [64],
  storage: [read("g"), read("scale"), read("nhat"), read("rstd"), readWrite("out")],
  uniforms: { rows: "u32", width: "u32", groups_x: "u32", flags: "u32" },
  constants: { SCALE_SHARED: 1, SCALE_PER_ROW: 2, ACCUMULATE: 4 },
  snippets: [GRID],
});
/** Backward through the inner layer-norm backward. */
const TRAIN_LAYER_NORM_INNER_VJP = program({
  name: "train_layer_norm_inner_vjp",
  body: shaders.trainLayerNormInnerVjp,
  workgroupSize: [64],
  storage: [
    read("gam"),
    read("g_n"),
    read("scale"),
    read("nhat"),
    read("rstd"),
    readWrite("du"),
    readWrite("dnhat"),
    readWrite("dh2"),
  ],
  uniforms: { rows: "u32", width: "u32", groups_x: "u32" },
  snippets: [GRID],
});

/** Labels of one tile of rows (see {@linkcode outerXent}). */
export interface TileLabels {
  /** Ids `[allRows]` (i32), or one-hot rows (f32) holding this tile's rows. */
  labels: Binding;
  labelsAreIds: boolean;
  /** Loss weights `[allRows]`. */
  weights: Binding;
  /** The normalizer `N` (one float). */
  norm: Binding;
  /** Rows in the tile. */
  rows: number;
  vocab: number;
  /** Global index of the tile's first row. */
  rowOffset: number;
  /** Element offset of the tile's first one-hot row in `labels`. */
  labelBase: number;
}

/**
 * On a tile of fast logits `z` (`rows × vocab`): `lossRows[rowOffset + r] = w/N·CE` and,
 * in place, `z ← w/N·(softmax(z)·Σy − y)`.
 *
 * @example
 * ```ts ignore
 * outerXent(rec, { z, lossRows, labels, labelsAreIds: true, weights, norm, rows, vocab, rowOffset: r0, labelBase: 0 });
 * ```
 */
export function outerXent(
  rec: Recorder,
  o: TileLabels & { z: Binding; lossRows: Binding },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    TRAIN_OUTER_XENT,
    [o.z, o.labels, o.weights, o.norm, o.lossRows],
    tileUniforms(o, groupsX),
    workgroups,
  );
}

/**
 * On a tile of slow logits `z` and the cotangent `dg` of the inner gradient `g_z`:
 * in place, `z ← g_z = w/N·(p − y)` and `dg ← w/N·p ⊙ (dg − ⟨p, dg⟩)` with `p = softmax(z)`.
 *
 * @example
 * ```ts ignore
 * innerSoftmaxVJP(rec, { z, dg, labels, labelsAreIds: true, weights, norm, rows, vocab, rowOffset: r0, labelBase: 0 });
 * ```
 */
export function innerSoftmaxVJP(
  rec: Recorder,
  o: TileLabels & { z: Binding; dg: Binding },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    TRAIN_INNER_SOFTMAX_VJP,
    [o.z, o.dg, o.labels, o.weights, o.norm],
    tileUniforms(o, groupsX),
    workgroups,
  );
}

function tileUniforms(o: TileLabels, groupsX: number): ArrayBuffer {
  return TRAIN_OUTER_XENT.uniforms({
    rows: o.rows,
    vocab: o.vocab,
    label_mode: o.labelsAreIds
      ? TRAIN_OUTER_XENT.constants.IDS
      : TRAIN_OUTER_XENT.constants.ONE_HOT,
    groups_x: groupsX,
    row_offset: o.rowOffset,
    label_base: o.labelBase,
  });
}

/**
 * Layer-norm backward: `out (+)= rstd·(g' − mean(g') − nhat·mean(g'⊙nhat))` per row,
 * `g' = g ⊙ scale` with `scale` absent, shared `[width]` or per row `[rows, width]`.
 *
 * @example
 * ```ts ignore
 * layerNormBackwardInput(rec, { g: dnf, scale: scaleT, perRowScale: true, nhat, rstd, out: df2, rows, width });
 * ```
 */
export function layerNormBackwardInput(
  rec: Recorder,
  o: {
    g: Binding;
    scale?: Binding;
    perRowScale?: boolean;
    nhat: Binding;
    rstd: Binding;
    out: Binding;
    rows: number;
    width: number;
    accumulate?: boolean;
  },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  const f = TRAIN_LAYER_NORM_BACKWARD.constants;
  const flags = (o.scale && !o.perRowScale ? f.SCALE_SHARED : 0) |
    (o.scale && o.perRowScale ? f.SCALE_PER_ROW : 0) | (o.accumulate ? f.ACCUMULATE : 0);
  rec.dispatch(
    TRAIN_LAYER_NORM_BACKWARD,
    [o.g, o.scale ?? rec.ctx.dummy(0), o.nhat, o.rstd, o.out],
    TRAIN_LAYER_NORM_BACKWARD.uniforms({ rows: o.rows, width: o.width, groups_x: groupsX, flags }),
    workgroups,
  );
}

/**
 * Backward through the inner layer-norm backward `g_h2 = LNᵀ(g_n ⊙ scale)`: from
 * `gam = dL/dg_h2` writes `du = dL/d(g_n⊙scale)`, `dnhat` (this path's part of
 * `dL/dnhat`) and `dh2` (the part of `dL/dh2` through `rstd`).
 *
 * @example
 * ```ts ignore
 * layerNormInnerVJP(rec, { gam, gN, scale, nhat, rstd, du, dnhat, dh2, rows, width });
 * ```
 */
export function layerNormInnerVJP(
  rec: Recorder,
  o: {
    gam: Binding;
    gN: Binding;
    scale: Binding;
    nhat: Binding;
    rstd: Binding;
    du: Binding;
    dnhat: Binding;
    dh2: Binding;
    rows: number;
    width: number;
  },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    TRAIN_LAYER_NORM_INNER_VJP,
    [o.gam, o.gN, o.scale, o.nhat, o.rstd, o.du, o.dnhat, o.dh2],
    TRAIN_LAYER_NORM_INNER_VJP.uniforms({ rows: o.rows, width: o.width, groups_x: groupsX }),
    workgroups,
  );
}
