/**
 * The kernels of logits streamed over vocabulary tiles: when 64 rows of the whole
 * vocabulary do not fit a tile budget, a `[rows, cols]` tile holds vocabulary columns
 * `v0 .. v0+cols`, the softmax statistics of each row are accumulated across the tiles
 * with a running log-sum-exp (`shaders/vocab_tile_stats.wgsl`, as in cut cross-entropy), and a second
 * sweep recomputes each tile to form its gradient (`shaders/vocab_tile_apply.wgsl`).
 * Column tiles of `Ku` `[size, V]` are plain strided matmul operands (base `v0`, row
 * stride `V`). How many rows and columns a tile has, and which range of a buffer it binds,
 * is the plan of the tile engine (`fwl/pipeline/logit_tile_plan.ts`).
 *
 * @module
 */

import { MIN_WORKGROUPS_PER_DIMENSION } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import { matmul, matmulTN } from "./matmul.ts";

/** Where a tile lies and where its labels are. */
const TILE_FIELDS = ["rows", "cols", "col0", "row_offset", "label_base", "label_stride"] as const;

/** Running softmax statistics over vocabulary tiles. */
const VOCAB_TILE_STATS = program({
  name: "vocab_tile_stats",
  body: shaders.vocabTileStats,
  storage: ["z", "dg", "labels: u32", "weights", "norm", "stats: rw vec4<f32>", "out: rw"],
  uniforms: [...TILE_FIELDS, "flags"],
  constants: { FIRST: 1, DG: 2, LABELS: 4, ONE_HOT: 8, FINISH_NLL: 16, FINISH_LOSS: 32 },
});
/** Per-element gradients of a vocabulary tile from the row statistics. */
const VOCAB_TILE_APPLY = program({
  name: "vocab_tile_apply",
  body: shaders.vocabTileApply,
  storage: ["z: rw", "dg: rw", "labels: u32", "weights", "norm", "stats: vec4<f32>"],
  uniforms: [...TILE_FIELDS, "mode", "one_hot"],
  constants: { INNER: 0, OUTER: 1, VJP: 2 },
});
/** Column sums of a strided tile into a range of a vector. */
const VOCAB_TILE_COLSUM = program({
  name: "vocab_tile_colsum",
  body: shaders.vocabTileColsum,
  storage: ["a", "out: rw"],
  uniforms: ["rows", "cols", "a_base", "a_row", "out_base"],
});

/**
 * The widest tile the tile kernels dispatch: one workgroup per group of columns along x,
 * at most the workgroups per dimension every WebGPU device allows.
 */
export const MAX_TILE_COLS: number = MIN_WORKGROUPS_PER_DIMENSION *
  VOCAB_TILE_APPLY.workgroupSize[0];

/** The labels of one tile (ids `[allRows]`, or the one-hot rows of the tile's span). */
export interface VocabTileLabels {
  /** Ids (bound whole) or a binding holding this tile's one-hot rows. */
  labels: Binding;
  /** Whether `labels` holds ids. */
  labelsAreIds: boolean;
  /** One-hot: element offset of `(tile row 0, v0)` in `labels` (row stride `vocab`). */
  labelBase: number;
  /** Loss weights `[allRows]`. */
  weights: Binding;
  /** The normalizer `N` (one float). */
  norm: Binding;
}

/** One `[rows, cols]` tile at global row `rowOffset`, columns `v0 ..` of `vocab`. */
export interface VocabTile {
  /** Rows of the tile. */
  rows: number;
  /** Columns of the tile. */
  cols: number;
  /** The first vocabulary column. */
  v0: number;
  /** The vocabulary size. */
  vocab: number;
  /** Global index of the tile's first row. */
  rowOffset: number;
}

/** The uniforms of {@linkcode TILE_FIELDS} for a tile and its labels. */
function tileFields(
  o: VocabTile & VocabTileLabels,
): Record<typeof TILE_FIELDS[number], number> {
  return {
    rows: o.rows,
    cols: o.cols,
    col0: o.v0,
    row_offset: o.rowOffset,
    label_base: o.labelBase,
    label_stride: o.vocab,
  };
}

/**
 * Folds the tile `z` (`[rows, cols]`, compact) into the running statistics
 * `stats[rowOffset + r]` (`vec4` per row). `first` restarts them; with `dg` (a tile of
 * the same shape) they track `Σ exp(z − m)·dg` instead of the labels; `finish` (on the
 * last tile) writes the per-row cross-entropy `Σy·lse − Σy·z` (`"nll"`), or that times
 * `w/N` (`"loss"`), to `out[rowOffset + r]` (0 where the weight is 0).
 */
export function vocabTileStats(
  rec: Recorder,
  o: VocabTile & VocabTileLabels & {
    z: Binding;
    stats: Binding;
    first: boolean;
    dg?: Binding;
    finish?: { kind: "nll" | "loss"; out: Binding };
  },
): void {
  const ctx = rec.ctx;
  const f = VOCAB_TILE_STATS.constants;
  const flags = (o.first ? f.FIRST : 0) | (o.dg ? f.DG : f.LABELS) |
    (!o.dg && !o.labelsAreIds ? f.ONE_HOT : 0) |
    (o.finish?.kind === "nll" ? f.FINISH_NLL : 0) |
    (o.finish?.kind === "loss" ? f.FINISH_LOSS : 0);
  rec.dispatch(
    VOCAB_TILE_STATS,
    [
      o.z,
      o.dg ?? ctx.dummy(0),
      o.labels,
      o.weights,
      o.norm,
      o.stats,
      o.finish?.out ?? ctx.dummy(1),
    ],
    VOCAB_TILE_STATS.uniforms({ ...tileFields(o), flags }),
    [o.rows, 1, 1],
  );
}

/**
 * In place on the tile `z` (and `dg`), from the row statistics: `"inner"` the inner
 * gradient `w/N·(p − y)`, `"outer"` the outer-loss gradient `w/N·(p·Σy − y)`, `"vjp"`
 * the inner gradient and `dg ← w/N·p ⊙ (dg − ⟨p, dg⟩)` (see the shader).
 */
export function vocabTileApply(
  rec: Recorder,
  o: VocabTile & VocabTileLabels & {
    z: Binding;
    stats: Binding;
    mode: "inner" | "outer" | "vjp";
    dg?: Binding;
  },
): void {
  if ((o.mode === "vjp") !== (o.dg !== undefined)) {
    throw new Error("vocabTileApply: dg goes with mode vjp only");
  }
  rec.dispatch(
    VOCAB_TILE_APPLY,
    [o.z, o.dg ?? rec.ctx.dummy(1), o.labels, o.weights, o.norm, o.stats],
    VOCAB_TILE_APPLY.uniforms({
      ...tileFields(o),
      mode: VOCAB_TILE_APPLY
        .constants[o.mode === "inner" ? "INNER" : o.mode === "outer" ? "OUTER" : "VJP"],
      one_hot: o.labelsAreIds ? 0 : 1,
    }),
    [Math.ceil(o.cols / VOCAB_TILE_APPLY.workgroupSize[0]), o.rows, 1],
  );
}

/**
 * `out[outBase + j] += Σ_r a[aBase + r·aRow + j]` for `j < cols`: a bias gradient
 * accumulated tile by tile.
 */
export function vocabTileColsum(
  rec: Recorder,
  o: {
    a: Binding;
    aBase: number;
    aRow: number;
    rows: number;
    cols: number;
    out: Binding;
    outBase: number;
  },
): void {
  rec.dispatch(
    VOCAB_TILE_COLSUM,
    [o.a, o.out],
    VOCAB_TILE_COLSUM.uniforms({
      rows: o.rows,
      cols: o.cols,
      a_base: o.aBase,
      a_row: o.aRow,
      out_base: o.outBase,
    }),
    [Math.ceil(o.cols / VOCAB_TILE_COLSUM.workgroupSize[0]), 1, 1],
  );
}

/** Where a tile lies in `Ku` `[size, vocab]`: columns `v0 .. v0+cols`, for `rows` rows. */
export interface KuTile {
  /** Rows of the tile (positions). */
  rows: number;
  /** Columns of the tile. */
  cols: number;
  /** Width of the unembedding input (rows of `Ku`). */
  size: number;
  /** The vocabulary size (columns of `Ku`). */
  vocab: number;
  /** The first vocabulary column. */
  v0: number;
}

/**
 * `out[rows, cols] = x[xBase.., size] · Ku[:, v0..v0+cols] (+ bu[v0..])`: one tile of
 * logits (`out` at element `outBase`, row stride `outRow`, default compact).
 */
export function logitsTile(
  rec: Recorder,
  o: {
    x: Binding;
    xBase: number;
    ku: Binding;
    bias?: Binding;
    out: Binding;
    outBase?: number;
    outRow?: number;
  } & KuTile,
): void {
  matmul(rec, {
    m: o.rows,
    n: o.cols,
    k: o.size,
    a: { buffer: o.x, base: o.xBase, row: o.size, col: 1 },
    b: { buffer: o.ku, base: o.v0, row: o.vocab, col: 1 },
    c: { buffer: o.out, base: o.outBase ?? 0, row: o.outRow ?? o.cols, col: 1 },
    bias: o.bias ? { buffer: o.bias, base: o.v0 } : undefined,
  });
}

/**
 * `out[outBase.., size] (+)= g[rows, cols] · Ku[:, v0..v0+cols]ᵀ` (`g` at element
 * `gBase`, row stride `gRow`, default compact): a tile's share of `dL/dx`.
 */
export function backpropTile(
  rec: Recorder,
  o: {
    g: Binding;
    gBase?: number;
    gRow?: number;
    ku: Binding;
    out: Binding;
    outBase: number;
    accumulate: boolean;
  } & KuTile,
): void {
  matmul(rec, {
    m: o.rows,
    n: o.size,
    k: o.cols,
    a: { buffer: o.g, base: o.gBase ?? 0, row: o.gRow ?? o.cols, col: 1 },
    b: { buffer: o.ku, base: o.v0, row: 1, col: o.vocab },
    c: { buffer: o.out, base: o.outBase, row: o.size, col: 1 },
    beta: o.accumulate ? 1 : undefined,
  });
}

/**
 * `gKu[:, v0..v0+cols] += x[xBase.., size]ᵀ · g[rows, cols]`: a tile's share of the
 * unembedding gradient (`g` at element `gBase`, row stride `gRow`, default compact).
 */
export function kernelGradTile(
  rec: Recorder,
  o: {
    x: Binding;
    xBase: number;
    g: Binding;
    gBase?: number;
    gRow?: number;
    gku: Binding;
  } & KuTile,
): void {
  matmulTN(rec, {
    x: o.x,
    g: o.g,
    out: o.gku,
    rows: o.rows,
    m: o.size,
    n: o.cols,
    xBase: o.xBase,
    gBase: o.gBase,
    gRow: o.gRow,
    outBase: o.v0,
    outRow: o.vocab,
    beta: 1,
  });
}
