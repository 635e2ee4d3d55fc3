/**
 * Row-wise kernels of the outer backward: the outer cross-entropy and its gradient,
 * the second-order step through the inner softmax, the layer-norm backward (shared,
 * per-row or no scale), and the backward through the inner layer-norm backward.
 *
 * @module
 */

import outerXentCode from "../../shaders/train_outer_xent.wgsl" with {
  type: "text",
};
import innerSoftmaxVjpCode from "../../shaders/train_inner_softmax_vjp.wgsl" with {
  type: "text",
};
import layerNormBackwardCode from "../../shaders/train_layer_norm_backward.wgsl" with {
  type: "text",
};
import layerNormInnerVjpCode from "../../shaders/train_layer_norm_inner_vjp.wgsl" with {
  type: "text",
};
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";

/** Outer cross-entropy: per-row loss and in-place gradient. */
export const TRAIN_OUTER_XENT: KernelSpec = {
  name: "train_outer_xent",
  code: outerXentCode,
  entryPoint: "main",
};
/** Second-order step through the inner softmax cross-entropy. */
export const TRAIN_INNER_SOFTMAX_VJP: KernelSpec = {
  name: "train_inner_softmax_vjp",
  code: innerSoftmaxVjpCode,
  entryPoint: "main",
};
/** Layer-norm backward with respect to its input. */
export const TRAIN_LAYER_NORM_BACKWARD: KernelSpec = {
  name: "train_layer_norm_backward",
  code: layerNormBackwardCode,
  entryPoint: "main",
};
/** Backward through the inner layer-norm backward. */
export const TRAIN_LAYER_NORM_INNER_VJP: KernelSpec = {
  name: "train_layer_norm_inner_vjp",
  code: layerNormInnerVjpCode,
  entryPoint: "main",
};

/** Workgroup grid for one workgroup per row, past the 65535-per-dimension limit. */
function rowGrid(
  rows: number,
  max: number,
): { grid: [number, number, number]; perY: number } {
  const perY = Math.max(1, Math.min(rows, max));
  return { grid: [perY, Math.ceil(rows / perY), 1], perY };
}

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
  const { grid, perY } = rowGrid(o.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(
    TRAIN_OUTER_XENT,
    [o.z, o.labels, o.weights, o.norm, o.lossRows],
    tileUniforms(o, perY),
    grid,
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
  const { grid, perY } = rowGrid(o.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(
    TRAIN_INNER_SOFTMAX_VJP,
    [o.z, o.dg, o.labels, o.weights, o.norm],
    tileUniforms(o, perY),
    grid,
  );
}

function tileUniforms(o: TileLabels, perY: number): ArrayBuffer {
  return packUniforms({
    rows: o.rows,
    vocab: o.vocab,
    label_mode: o.labelsAreIds ? 0 : 1,
    rows_per_y: perY,
    row_offset: o.rowOffset,
    label_base: o.labelBase,
    pad0: 0,
    pad1: 0,
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
  const { grid, perY } = rowGrid(o.rows, rec.ctx.maxWorkgroups);
  const flags = (o.scale && !o.perRowScale ? 1 : 0) |
    (o.scale && o.perRowScale ? 2 : 0) | (o.accumulate ? 4 : 0);
  rec.dispatch(
    TRAIN_LAYER_NORM_BACKWARD,
    [o.g, o.scale ?? rec.ctx.dummy(0), o.nhat, o.rstd, o.out],
    packUniforms({ rows: o.rows, width: o.width, rows_per_y: perY, flags }),
    grid,
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
  const { grid, perY } = rowGrid(o.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(
    TRAIN_LAYER_NORM_INNER_VJP,
    [o.gam, o.gN, o.scale, o.nhat, o.rstd, o.du, o.dnhat, o.dh2],
    packUniforms({ rows: o.rows, width: o.width, rows_per_y: perY, pad0: 0 }),
    grid,
  );
}
