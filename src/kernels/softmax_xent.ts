/**
 * Softmax cross-entropy on tiles of logits, one workgroup per row: the gradient of the
 * (inner) loss, the outer loss with its gradient, the second-order step through the
 * inner softmax, the per-position cross-entropy (scoring) and the loss normalizer.
 *
 * @module
 */

import { spreadGroups } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import {
  LABELS,
  ROW_KERNEL,
  WORKGROUP_MAX,
  WORKGROUP_SUM,
  WORKGROUP_SUM2,
  WORKGROUP_SUM4,
} from "./snippets.ts";

/** How a tile's labels are given (the `label_mode` uniform). */
const LABEL_MODES = { IDS: 0, ONE_HOT: 1 } as const;

const TILE_UNIFORMS = [
  "rows",
  "vocab",
  "label_mode",
  "groups_x",
  "row_offset",
  "label_base",
] as const;

/** What `shaders/softmax_xent.wgsl` computes; each mode is its own pipeline. */
const MODES = { GRAD: 0, LOSS_GRAD: 1, VJP: 2 } as const;

/** The softmax cross-entropy kernel specialized to `mode` (a constant: no per-element branch). */
function softmaxXentKernel(name: string, mode: keyof typeof MODES) {
  return program({
    name,
    body: shaders.softmaxXent,
    storage: ["z: rw", "dg: rw", "labels: u32", "weights", "norm", "loss_rows: rw"],
    uniforms: TILE_UNIFORMS,
    constants: { ...LABEL_MODES, ...MODES, MODE: MODES[mode] },
    snippets: [ROW_KERNEL, LABELS, WORKGROUP_MAX, WORKGROUP_SUM, WORKGROUP_SUM4],
  });
}
const SOFTMAX_XENT = {
  GRAD: softmaxXentKernel("softmax_xent", "GRAD"),
  LOSS_GRAD: softmaxXentKernel("softmax_xent_loss", "LOSS_GRAD"),
  VJP: softmaxXentKernel("softmax_xent_vjp", "VJP"),
};
/** Per-position cross-entropy of a logits tile. */
const XENT_LOSS = program({
  name: "xent_loss",
  body: shaders.xentLoss,
  storage: ["z", "labels: u32", "weights", "nll: rw"],
  uniforms: TILE_UNIFORMS,
  constants: LABEL_MODES,
  snippets: [ROW_KERNEL, LABELS, WORKGROUP_SUM2],
});
/** The inner-loss normalizer. */
const NORMALIZER = program({
  name: "normalizer",
  body: shaders.normalizer,
  workgroupSize: [256],
  storage: ["weights", "norm: rw"],
  uniforms: ["count", "fixed", "value: f32"],
  snippets: [WORKGROUP_SUM],
});

/** Labels of one tile of rows (see {@linkcode outerXent}). */
export interface TileLabels {
  /** Ids `[allRows]` (i32), or one-hot rows (f32) holding this tile's rows. */
  labels: Binding;
  /** Whether `labels` holds ids. */
  labelsAreIds: boolean;
  /** Loss weights `[allRows]`. */
  weights: Binding;
  /** The normalizer `N` (one float). */
  norm: Binding;
  /** Rows in the tile. */
  rows: number;
  /** Row length: the vocabulary size. */
  vocab: number;
  /** Global index of the tile's first row. */
  rowOffset: number;
  /** Element offset of the tile's first one-hot row in `labels`. */
  labelBase: number;
}

/** The uniforms of `tile` (one workgroup per row). */
function tileUniforms(rec: Recorder, o: Omit<TileLabels, "norm">) {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  const uniforms = {
    rows: o.rows,
    vocab: o.vocab,
    label_mode: o.labelsAreIds ? LABEL_MODES.IDS : LABEL_MODES.ONE_HOT,
    groups_x: groupsX,
    row_offset: o.rowOffset,
    label_base: o.labelBase,
  };
  return { workgroups, uniforms };
}

/** One dispatch of the softmax cross-entropy kernel of `mode`. */
function softmaxXent(
  rec: Recorder,
  o: TileLabels & { z: Binding; dg?: Binding; lossRows?: Binding },
  mode: keyof typeof MODES,
): void {
  const { workgroups, uniforms } = tileUniforms(rec, o);
  const ctx = rec.ctx;
  const kernel = SOFTMAX_XENT[mode];
  rec.dispatch(
    kernel,
    [o.z, o.dg ?? ctx.dummy(0), o.labels, o.weights, o.norm, o.lossRows ?? ctx.dummy(1)],
    kernel.uniforms(uniforms),
    workgroups,
  );
}

/**
 * In place on `z` (`rows × vocab` logits starting at global row `rowOffset`):
 * `z ← (softmax(z) − y) · w / N`. Labels are ids (`[allRows]` i32) or one-hot rows
 * (`labelBase` is the element offset of this tile's first label row).
 */
export function softmaxXentGrad(rec: Recorder, o: TileLabels & { z: Binding }): void {
  softmaxXent(rec, o, "GRAD");
}

/**
 * On a tile of fast logits `z` (`rows × vocab`): `lossRows[rowOffset + r] = w/N·CE` and,
 * in place, `z ← w/N·(softmax(z)·Σy − y)`.
 */
export function outerXent(
  rec: Recorder,
  o: TileLabels & { z: Binding; lossRows: Binding },
): void {
  softmaxXent(rec, o, "LOSS_GRAD");
}

/**
 * On a tile of slow logits `z` and the cotangent `dg` of the inner gradient `g_z`:
 * in place, `z ← g_z = w/N·(p − y)` and `dg ← w/N·p ⊙ (dg − ⟨p, dg⟩)` with `p = softmax(z)`.
 */
export function innerSoftmaxVJP(
  rec: Recorder,
  o: TileLabels & { z: Binding; dg: Binding },
): void {
  softmaxXent(rec, o, "VJP");
}

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
  const { workgroups, uniforms } = tileUniforms(rec, o);
  rec.dispatch(
    XENT_LOSS,
    [o.z, o.labels, o.weights, o.nll],
    XENT_LOSS.uniforms(uniforms),
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
