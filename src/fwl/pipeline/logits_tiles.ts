/**
 * The logits tile engine: how the `[rows, V]` logits `z = x·Ku + bu` of the head are
 * tiled, and every consumer of them (returned logits, the per-position cross-entropy,
 * the inner softmax gradient, the outer cross-entropy and its gradient, the second-order
 * step through the inner softmax, an upstream `dL/dlogits`). No `[rows, V]` tensor is
 * formed unless it is the output.
 *
 * A tiling (`LogitTiling`, planned by `logit_tile_plan.ts`) is either full rows of the vocabulary (`cols === vocab`: one
 * tile when everything fits, else row tiles of a multiple of 64 rows) or vocabulary
 * tiles of up to 64 rows. Full rows take the single-pass row kernel of the consumer.
 * Vocabulary tiles are swept twice per row tile: once to fold every tile into running
 * per-row statistics (log-sum-exp, as in cut cross-entropy), once to recompute each tile
 * and form its gradient from them. Either way a tile's gradient then goes to its sink
 * (`Ku`, `bu` and the unembedding input).
 *
 * @module
 */

import type { Binding, Recorder } from "../../gpu/recorder.ts";
import {
  innerSoftmaxVJP,
  outerXent,
  softmaxXentGrad,
  xentLoss,
} from "../../kernels/softmax_xent.ts";
import { colsum } from "../../kernels/reductions.ts";
import {
  backpropTile,
  kernelGradTile,
  logitsTile,
  type VocabTile,
  vocabTileApply,
  vocabTileColsum,
  type VocabTileLabels,
  vocabTileStats,
} from "../../kernels/vocab_tiles.ts";
import { type LogitTiling, matrixSpan, outputTiling } from "./logit_tile_plan.ts";

/** The logits `x·Ku + bu` of `rows` positions and how they are tiled. */
export interface Logits {
  /** Rows of the logits (`B·T`). */
  rows: number;
  /** Width of the unembedding input. */
  size: number;
  vocab: number;
  tiling: LogitTiling;
  /** `Ku` `[size, vocab]`. */
  ku: Binding;
  /** `bu` `[vocab]`. */
  bu: Binding;
}

/** The targets of a loss on the logits. */
export interface Targets {
  /** Ids `[rows]` int32, or one-hot rows `[rows, vocab]` float32. */
  labels: GPUBuffer;
  labelsAreIds: boolean;
  /** Loss weights `[rows]`. */
  weights: Binding;
  /** The normalizer `N` (one float; unused by the cross-entropy alone). */
  norm: Binding;
}

/** Where a tile's gradient goes: `Ku` and `bu` (accumulated). */
export interface UnembedGrads {
  /** `dKu` `[size, vocab]`. */
  gku: Binding;
  /** `dbu` `[vocab]`. */
  gbu: Binding;
}

/** Calls `each` for the column tiles of rows `r0 .. r0+rows`, in order (`t.v0 === 0` first). */
function forEachColTile(
  vocab: number,
  cols: number,
  r0: number,
  rows: number,
  each: (t: VocabTile) => void,
): void {
  for (let v0 = 0; v0 < vocab; v0 += cols) {
    each({ rows, cols: Math.min(cols, vocab - v0), v0, vocab, rowOffset: r0 });
  }
}

/** Calls `each` for every tile of `[rows, vocab]` under `tiling`, row tiles outermost. */
function forEachTile(
  rows: number,
  vocab: number,
  tiling: LogitTiling,
  each: (t: VocabTile) => void,
): void {
  for (let r0 = 0; r0 < rows; r0 += tiling.rows) {
    forEachColTile(vocab, tiling.cols, r0, Math.min(tiling.rows, rows - r0), each);
  }
}

/**
 * The labels of one tile as the row and tile kernels take them: ids bound whole; one-hot
 * rows whole when they fit one binding, else the tile's aligned byte range.
 */
function tileLabels(rec: Recorder, s: Logits & Targets, t: VocabTile): VocabTileLabels {
  const common = { labelsAreIds: s.labelsAreIds, weights: s.weights, norm: s.norm };
  if (s.labelsAreIds) return { ...common, labels: s.labels, labelBase: 0 };
  const max = rec.ctx.maxBindingBytes;
  const fits = s.rows * s.vocab * 4 <= max;
  const span = matrixSpan(s.labels, fits, t.rowOffset, t.rows, t.v0, t.cols, t.vocab, max);
  return { ...common, labels: span.binding, labelBase: span.base };
}

/** One tile, its labels and its logits scratch, as a consumer's kernels take them. */
type Tile = VocabTile & VocabTileLabels & { z: Binding };

/** How one consumer uses the logits `x·Ku + bu`. */
interface Consumer {
  /** The unembedding input `[rows, size]`. */
  x: Binding;
  /** A second tile of scratch the consumer fills per tile (`prepare`) and reads. */
  dg?: Binding;
  /** Runs after `z` of a tile is formed (e.g. fills `dg`). */
  prepare?: (t: VocabTile) => void;
  /** Full rows: the single-pass row kernel on the tile. */
  fullRows: (t: Tile) => void;
  /** Vocabulary tiles: what the last tile's statistics write (a loss per row). */
  finish?: { kind: "nll" | "loss"; out: Binding };
  /** Vocabulary tiles: the gradient the second sweep forms (none for a loss only). */
  apply?: "inner" | "outer" | "vjp";
  /** After the tile holds its gradient (both paths). */
  sink?: (t: Tile) => void;
}

/** Runs `c` over every tile of `s` (see the module doc), with its own scratch. */
function consume(rec: Recorder, s: Logits & Targets, c: Consumer): void {
  const { tiling } = s;
  const z = rec.scratch(tiling.rows * tiling.cols * 4);
  const tileOf = (t: VocabTile): Tile => {
    logitsTile(rec, {
      ...t,
      size: s.size,
      x: c.x,
      xBase: t.rowOffset * s.size,
      ku: s.ku,
      bias: s.bu,
      out: z,
    });
    c.prepare?.(t);
    return { ...t, ...tileLabels(rec, s, t), z };
  };
  if (tiling.cols === s.vocab) {
    forEachTile(s.rows, s.vocab, tiling, (t) => {
      const tile = tileOf(t);
      c.fullRows(tile);
      c.sink?.(tile);
    });
    rec.reuse(z);
    return;
  }
  const stats = rec.scratch(s.rows * 16);
  for (let r0 = 0; r0 < s.rows; r0 += tiling.rows) {
    const rows = Math.min(tiling.rows, s.rows - r0);
    const sweep = (each: (t: VocabTile) => void) =>
      forEachColTile(s.vocab, tiling.cols, r0, rows, each);
    sweep((t) =>
      vocabTileStats(rec, {
        ...tileOf(t),
        stats,
        dg: c.dg,
        first: t.v0 === 0,
        finish: t.v0 + t.cols === s.vocab ? c.finish : undefined,
      })
    );
    const mode = c.apply;
    if (mode === undefined) continue;
    sweep((t) => {
      const tile = tileOf(t);
      vocabTileApply(rec, { ...tile, stats, mode, dg: c.dg });
      c.sink?.(tile);
    });
  }
  rec.reuse(z);
  rec.reuse(stats);
}

/**
 * A tile's gradient `g` (element `base`, row stride `row`) into the unembedding:
 * `gku[:, tile] += xᵀ·g`, `gbu[tile] += Σ_r g`, `out (+)= g·Ku[:, tile]ᵀ`. Full rows take
 * the plain column sum (`g` is then compact at base 0).
 */
function sinkTile(
  rec: Recorder,
  s: Logits & UnembedGrads,
  t: VocabTile,
  g: { binding: Binding; base: number; row: number },
  x: Binding,
  out: Binding,
): void {
  const shape = { ...t, size: s.size, g: g.binding, gBase: g.base, gRow: g.row };
  kernelGradTile(rec, { ...shape, x, xBase: t.rowOffset * s.size, gku: s.gku });
  if (t.cols === t.vocab) {
    colsum(rec, { a: g.binding, rows: t.rows, width: t.cols, out: s.gbu, accumulate: true });
  } else {
    const a = { a: g.binding, aBase: g.base, aRow: g.row };
    vocabTileColsum(rec, { ...a, rows: t.rows, cols: t.cols, out: s.gbu, outBase: t.v0 });
  }
  backpropTile(rec, {
    ...shape,
    ku: s.ku,
    out,
    outBase: t.rowOffset * s.size,
    accumulate: t.v0 > 0,
  });
}

/** The compact gradient held in a tile's logits scratch. */
const inZ = (t: Tile) => ({ binding: t.z, base: 0, row: t.cols });

/**
 * The inner softmax gradient pushed into the unembedding input:
 * `gn = (w/N·(softmax(n·Ku + bu) − y))·Kuᵀ` `[rows, size]`.
 */
export function innerSoftmaxGrad(
  rec: Recorder,
  s: Logits & Targets,
  n: Binding,
  gn: Binding,
): void {
  consume(rec, s, {
    x: n,
    fullRows: (t) => softmaxXentGrad(rec, t),
    apply: "inner",
    sink: (t) =>
      backpropTile(rec, {
        ...t,
        size: s.size,
        g: t.z,
        ku: s.ku,
        out: gn,
        outBase: t.rowOffset * s.size,
        accumulate: t.v0 > 0,
      }),
  });
}

/**
 * The per-position cross-entropy `nll[r] = lse(z_r)·Σy − Σ y·z_r` of `z = x·Ku + bu`
 * (0 where the weight is 0).
 */
export function crossEntropyRows(
  rec: Recorder,
  s: Logits & Targets,
  x: Binding,
  nll: Binding,
): void {
  consume(rec, s, {
    x,
    fullRows: (t) => xentLoss(rec, { ...t, nll }),
    finish: { kind: "nll", out: nll },
  });
}

/**
 * The outer loss on the fast logits `z = nf·Ku + bu`: `lossRows[r] = w/N·CE(z_r)` (`norm`
 * the outer normalizer) and its gradient `dz = w/N·(softmax(z)·Σy − y)` into
 * `gku += nfᵀdz`, `gbu += Σ dz`, `dnf = dz·Kuᵀ`.
 */
export function outerCrossEntropy(
  rec: Recorder,
  s: Logits & Targets & UnembedGrads,
  nf: Binding,
  lossRows: Binding,
  dnf: Binding,
): void {
  consume(rec, s, {
    x: nf,
    fullRows: (t) => outerXent(rec, { ...t, lossRows }),
    finish: { kind: "loss", out: lossRows },
    apply: "outer",
    sink: (t) => sinkTile(rec, s, t, inZ(t), nf, dnf),
  });
}

/**
 * The second-order step through the inner softmax cross-entropy: with `z = n·Ku + bu`,
 * `dg = gGn·Ku` (the cotangent of the inner gradient `g_z`), `p = softmax(z)` and
 * `c = w/N` (`norm` the inner normalizer), `g_z = c·(p − y)` and
 * `dz = c·p ⊙ (dg − ⟨p, dg⟩)`, then `gku += gGnᵀg_z + nᵀdz`, `gbu += Σ dz`, `dn = dz·Kuᵀ`.
 */
export function innerSoftmaxVJPTiles(
  rec: Recorder,
  s: Logits & Targets & UnembedGrads,
  n: Binding,
  gGn: Binding,
  dn: Binding,
): void {
  const dg = rec.scratch(s.tiling.rows * s.tiling.cols * 4);
  const operand = (t: VocabTile) => ({ ...t, size: s.size, x: gGn, xBase: t.rowOffset * s.size });
  consume(rec, s, {
    x: n,
    dg,
    prepare: (t) => logitsTile(rec, { ...operand(t), ku: s.ku, out: dg }),
    fullRows: (t) => innerSoftmaxVJP(rec, { ...t, dg }),
    apply: "vjp",
    sink: (t) => {
      kernelGradTile(rec, { ...operand(t), g: t.z, gku: s.gku });
      sinkTile(rec, s, t, { binding: dg, base: 0, row: t.cols }, n, dn);
    },
  });
  rec.reuse(dg);
}

/**
 * An upstream `dL/dlogits` `[rows, vocab]` taken tile by tile: `gku += nfᵀu`,
 * `gbu += Σ u`, `dnf = u·Kuᵀ`. Full-row tiles bind their rows; vocabulary tiles bind
 * the whole when it fits, else the tile's aligned range.
 */
export function upstreamGrad(
  rec: Recorder,
  s: Logits & UnembedGrads,
  upstream: GPUBuffer,
  nf: Binding,
  dnf: Binding,
): void {
  const max = rec.ctx.maxBindingBytes;
  const whole = s.tiling.cols === s.vocab ? s.tiling.rows >= s.rows : s.rows * s.vocab * 4 <= max;
  forEachTile(s.rows, s.vocab, s.tiling, (t) => {
    const span = matrixSpan(upstream, whole, t.rowOffset, t.rows, t.v0, t.cols, s.vocab, max);
    sinkTile(rec, s, t, { ...span, row: s.vocab }, nf, dnf);
  });
}

/**
 * Writes the logits `out = x·Ku + bu` `[rows, vocab]`, each tile's output bound as one
 * aligned range of at most `budget` bytes: the output buffer itself may exceed one
 * binding.
 */
export function writeLogits(
  rec: Recorder,
  s: Omit<Logits, "tiling">,
  x: Binding,
  out: GPUBuffer,
  budget: number,
): void {
  const tiling = outputTiling(s.rows, s.vocab, budget);
  const whole = tiling.rows >= s.rows && tiling.cols === s.vocab;
  const max = Math.min(budget, rec.ctx.maxBindingBytes);
  forEachTile(s.rows, s.vocab, tiling, (t) => {
    const span = matrixSpan(out, whole, t.rowOffset, t.rows, t.v0, t.cols, s.vocab, max);
    const dest = { out: span.binding, outBase: span.base, outRow: s.vocab };
    logitsTile(rec, {
      ...t,
      ...dest,
      x,
      xBase: t.rowOffset * s.size,
      ku: s.ku,
      bias: s.bu,
      size: s.size,
    });
  });
}
