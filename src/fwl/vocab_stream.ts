/**
 * The forward's loss-mode logits streamed over vocabulary tiles (for vocabularies where
 * even 64 full rows of logits exceed the tile budget): the inner softmax gradient, the
 * per-position cross-entropy, and fast logits written tile by tile into an output that
 * may exceed one binding. Each row tile is swept twice: once to accumulate the running
 * log-sum-exp of every row, once to recompute each logits tile and form its gradient.
 *
 * @module
 */

import { FWLError } from "../errors.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import {
  backpropTile,
  logitsTile,
  type LogitTiling,
  matrixSpan,
  type VocabTile,
  vocabTileApply,
  type VocabTileLabels,
  vocabTileStats,
} from "../kernels/vocab_tiles.ts";

/** What every vocabulary-streamed pass over `[rows, vocab]` logits shares. */
export interface VocabStream {
  /** Rows of the logits (`B·T`). */
  rows: number;
  /** Width of the unembedding input. */
  size: number;
  vocab: number;
  /** The tiling, with `cols < vocab`. */
  tiling: LogitTiling;
  /** `Ku` `[size, vocab]`. */
  ku: Binding;
  /** `bu` `[vocab]`. */
  bu: Binding;
  labels: GPUBuffer;
  labelsAreIds: boolean;
  weights: Binding;
  /** The normalizer `N` (one float; unused by the cross-entropy alone). */
  norm: Binding;
  /** Running statistics, 4 floats per row (`rows·16` bytes of scratch). */
  stats: Binding;
  /** One logits tile, `tiling.rows·tiling.cols` floats of scratch. */
  z: Binding;
}

/**
 * Calls `each(rowTile0, tile)` for every tile of rows `r0 ..` and columns `v0 ..`,
 * rows outermost; `sweep` runs once per row tile over all of its column tiles.
 *
 * @example
 * ```ts ignore
 * forEachRowTile(s, (r0, rows) => forEachColTile(s, r0, rows, (t) => { ... }));
 * ```
 */
export function forEachRowTile(
  s: Pick<VocabStream, "rows" | "tiling">,
  sweep: (r0: number, rows: number) => void,
): void {
  for (let r0 = 0; r0 < s.rows; r0 += s.tiling.rows) {
    sweep(r0, Math.min(s.tiling.rows, s.rows - r0));
  }
}

/**
 * The column tiles of rows `r0 .. r0+rows`, in order (`t.v0 === 0` first).
 *
 * @example
 * ```ts ignore
 * forEachColTile(s, r0, rows, (t) => logitsTile(rec, { ...t, x, xBase: r0 * S, ku, out: z, size: S }));
 * ```
 */
export function forEachColTile(
  s: Pick<VocabStream, "vocab" | "tiling">,
  r0: number,
  rows: number,
  each: (t: VocabTile) => void,
): void {
  for (let v0 = 0; v0 < s.vocab; v0 += s.tiling.cols) {
    each({
      rows,
      cols: Math.min(s.tiling.cols, s.vocab - v0),
      v0,
      vocab: s.vocab,
      rowOffset: r0,
    });
  }
}

/**
 * The labels of one tile: ids bound whole; one-hot rows whole when they fit one
 * binding, else the tile's aligned byte range.
 *
 * @example
 * ```ts ignore
 * vocabTileStats(rec, { ...t, ...tileLabels(rec, s, t), z, stats, first: t.v0 === 0 });
 * ```
 */
export function tileLabels(
  rec: Recorder,
  s: Pick<VocabStream, "rows" | "labels" | "labelsAreIds" | "weights" | "norm">,
  t: VocabTile,
): VocabTileLabels {
  const common = {
    labelsAreIds: s.labelsAreIds,
    weights: s.weights,
    norm: s.norm,
  };
  if (s.labelsAreIds) return { ...common, labels: s.labels, labelBase: 0 };
  const maxBinding = rec.ctx.maxBindingBytes;
  const { binding, base } = matrixSpan(
    s.labels,
    s.rows * t.vocab * 4 <= maxBinding,
    t.rowOffset,
    t.rows,
    t.v0,
    t.cols,
    t.vocab,
    maxBinding,
  );
  return { ...common, labels: binding, labelBase: base };
}

/**
 * One tile of logits `x·Ku + bu` (rows from `t.rowOffset`, columns from `t.v0`) into the
 * scratch `s.z`.
 *
 * @example
 * ```ts ignore
 * forEachColTile(s, r0, rows, (t) => zTile(rec, s, nf, t));
 * ```
 */
export function zTile(
  rec: Recorder,
  s: Pick<VocabStream, "size" | "vocab" | "ku" | "bu" | "z">,
  x: Binding,
  t: VocabTile,
): void {
  logitsTile(rec, {
    x,
    xBase: t.rowOffset * s.size,
    ku: s.ku,
    bias: s.bu,
    out: s.z,
    rows: t.rows,
    cols: t.cols,
    size: s.size,
    vocab: s.vocab,
    v0: t.v0,
  });
}

/**
 * The inner backward's softmax streamed over vocabulary tiles:
 * `gn = (w/N·(softmax(n·Ku + bu) − y))·Kuᵀ` `[rows, size]`, never more than one
 * `[tiling.rows, tiling.cols]` tile of logits at a time.
 *
 * @example
 * ```ts ignore
 * streamInnerGrad(rec, { ...stream, n, gn });
 * ```
 */
export function streamInnerGrad(
  rec: Recorder,
  s: VocabStream & { n: Binding; gn: Binding },
): void {
  forEachRowTile(s, (r0, rows) => {
    forEachColTile(s, r0, rows, (t) => {
      zTile(rec, s, s.n, t);
      vocabTileStats(rec, {
        ...t,
        ...tileLabels(rec, s, t),
        z: s.z,
        stats: s.stats,
        first: t.v0 === 0,
      });
    });
    forEachColTile(s, r0, rows, (t) => {
      zTile(rec, s, s.n, t);
      vocabTileApply(rec, {
        ...t,
        ...tileLabels(rec, s, t),
        z: s.z,
        stats: s.stats,
        mode: "inner",
      });
      backpropTile(rec, {
        g: s.z,
        ku: s.ku,
        out: s.gn,
        outBase: r0 * s.size,
        rows,
        cols: t.cols,
        size: s.size,
        vocab: s.vocab,
        v0: t.v0,
        accumulate: t.v0 > 0,
      });
    });
  });
}

/**
 * The per-position cross-entropy `nll[r] = lse(z_r)·Σy − Σ y·z_r` of `z = x·Ku + bu`
 * (0 where the weight is 0), streamed over vocabulary tiles.
 *
 * @example
 * ```ts ignore
 * streamNll(rec, { ...stream, x: nf, nll });
 * ```
 */
export function streamNll(
  rec: Recorder,
  s: VocabStream & { x: Binding; nll: Binding },
): void {
  forEachRowTile(s, (r0, rows) => {
    forEachColTile(s, r0, rows, (t) => {
      zTile(rec, s, s.x, t);
      vocabTileStats(rec, {
        ...t,
        ...tileLabels(rec, s, t),
        z: s.z,
        stats: s.stats,
        first: t.v0 === 0,
        finish: t.v0 + t.cols === s.vocab ? { kind: "nll", out: s.nll } : undefined,
      });
    });
  });
}

/**
 * Whether `[rows, vocab]` logits can be written in tiles of 64 full rows (or all rows)
 * within `budget` bytes per binding.
 *
 * @example
 * ```ts ignore
 * if (!fullRowTiles(M, V, ctx.maxBindingBytes)) streamLogits(rec, { ... });
 * ```
 */
export function fullRowTiles(rows: number, vocab: number, budget: number): boolean {
  const fit = Math.floor(budget / (vocab * 4));
  return fit >= rows || fit >= 64;
}

/**
 * Writes `out = x·Ku + bu` `[rows, vocab]` tile by tile, each tile's output bound as one
 * aligned range of at most `budget` bytes (rows of the whole vocabulary when some fit,
 * else column tiles of one row): the output buffer itself may exceed one binding.
 *
 * @example
 * ```ts ignore
 * streamLogits(rec, { x: nf, ku, bu, out: logits, rows: M, size: S, vocab: V, budget: ctx.maxBindingBytes });
 * ```
 */
export function streamLogits(
  rec: Recorder,
  o: {
    x: Binding;
    ku: Binding;
    bu: Binding;
    out: GPUBuffer;
    rows: number;
    size: number;
    vocab: number;
    budget: number;
  },
): void {
  const V = o.vocab;
  const usable = o.budget - 256;
  const tileRows = Math.min(o.rows, Math.floor(usable / (V * 4)));
  const rowsPer = Math.max(1, tileRows);
  const cols = tileRows >= 1 ? V : Math.floor(usable / 4);
  if (cols < 1) {
    throw new FWLError(`a logits tile budget of ${o.budget} bytes is too small`);
  }
  const maxBinding = Math.min(o.budget, rec.ctx.maxBindingBytes);
  for (let r0 = 0; r0 < o.rows; r0 += rowsPer) {
    const rows = Math.min(rowsPer, o.rows - r0);
    for (let v0 = 0; v0 < V; v0 += cols) {
      const width = Math.min(cols, V - v0);
      const { binding, base } = matrixSpan(o.out, false, r0, rows, v0, width, V, maxBinding);
      logitsTile(rec, {
        x: o.x,
        xBase: r0 * o.size,
        ku: o.ku,
        bias: o.bu,
        out: binding,
        outBase: base,
        outRow: V,
        rows,
        cols: width,
        size: o.size,
        vocab: V,
        v0,
      });
    }
  }
}
