/**
 * The training passes over the logits streamed over vocabulary tiles (see
 * `src/fwl/vocab_stream.ts`): the outer cross-entropy and its gradient, the second-order
 * step through the inner softmax (which needs `⟨p, dg⟩` over the whole vocabulary per
 * row, accumulated across tiles with the running log-sum-exp), and an upstream
 * `dL/dlogits` bound tile by tile. Each also accumulates its tiles' shares of the
 * unembedding gradients (`Ku` columns `v0 ..`, `bu[v0 ..]`) and back-propagates into
 * the unembedding input.
 *
 * @module
 */

import type { Binding, Recorder } from "../gpu/recorder.ts";
import {
  backpropTile,
  kernelGradTile,
  logitsTile,
  type LogitTiling,
  matrixSpan,
  type VocabTile,
  vocabTileApply,
  vocabTileColsum,
  vocabTileStats,
} from "../kernels/vocab_tiles.ts";
import {
  forEachColTile,
  forEachRowTile,
  tileLabels,
  type VocabStream,
  zTile,
} from "../fwl/vocab_stream.ts";

/** Where a tile's gradient `g` goes: `Ku`, `bu` and the unembedding input. */
interface TileSinks {
  /** `dKu` `[size, vocab]` (accumulated). */
  gku: Binding;
  /** `dbu` `[vocab]` (accumulated). */
  gbu: Binding;
}

/** `gku[:, tile] += xᵀ·g`, `gbu[tile] += Σ_r g`, `out (+)= g·Ku[:, tile]ᵀ` for one tile. */
function sinkTile(
  rec: Recorder,
  s: Pick<VocabStream, "size" | "vocab" | "ku"> & TileSinks,
  t: VocabTile,
  g: { binding: Binding; base: number; row: number },
  x: Binding,
  out: Binding,
): void {
  const shape = { rows: t.rows, cols: t.cols, size: s.size, vocab: s.vocab, v0: t.v0 };
  kernelGradTile(rec, {
    ...shape,
    x,
    xBase: t.rowOffset * s.size,
    g: g.binding,
    gBase: g.base,
    gRow: g.row,
    gku: s.gku,
  });
  vocabTileColsum(rec, {
    a: g.binding,
    aBase: g.base,
    aRow: g.row,
    rows: t.rows,
    cols: t.cols,
    out: s.gbu,
    outBase: t.v0,
  });
  backpropTile(rec, {
    ...shape,
    g: g.binding,
    gBase: g.base,
    gRow: g.row,
    ku: s.ku,
    out,
    outBase: t.rowOffset * s.size,
    accumulate: t.v0 > 0,
  });
}

/**
 * The outer loss on the fast logits `z = nf·Ku + bu`, streamed over vocabulary tiles:
 * `lossRows[r] = w/N·CE(z_r)` (`s.norm` the outer normalizer), and with the gradient
 * `dz = w/N·(softmax(z)·Σy − y)`: `gku += nfᵀdz`, `gbu += Σ dz`, `dnf = dz·Kuᵀ`.
 *
 * @example
 * ```ts ignore
 * streamOuterXent(rec, { ...stream, nf, lossRows, gku: g.ku, gbu: g.bu, dnf });
 * ```
 */
export function streamOuterXent(
  rec: Recorder,
  s: VocabStream & TileSinks & { nf: Binding; lossRows: Binding; dnf: Binding },
): void {
  forEachRowTile(s, (r0, rows) => {
    forEachColTile(s, r0, rows, (t) => {
      zTile(rec, s, s.nf, t);
      vocabTileStats(rec, {
        ...t,
        ...tileLabels(rec, s, t),
        z: s.z,
        stats: s.stats,
        first: t.v0 === 0,
        finish: t.v0 + t.cols === s.vocab ? { kind: "loss", out: s.lossRows } : undefined,
      });
    });
    forEachColTile(s, r0, rows, (t) => {
      zTile(rec, s, s.nf, t);
      vocabTileApply(rec, {
        ...t,
        ...tileLabels(rec, s, t),
        z: s.z,
        stats: s.stats,
        mode: "outer",
      });
      sinkTile(rec, s, t, { binding: s.z, base: 0, row: t.cols }, s.nf, s.dnf);
    });
  });
}

/**
 * The second-order step through the inner softmax cross-entropy, streamed over
 * vocabulary tiles: with `z = n·Ku + bu`, `dg = gGn·Ku` (the cotangent of the inner
 * gradient `g_z`), `p = softmax(z)` and `c = w/N` (`s.norm` the inner normalizer),
 * `g_z = c·(p − y)` and `dz = c·p ⊙ (dg − ⟨p, dg⟩)`, then `gku += gGnᵀg_z + nᵀdz`,
 * `gbu += Σ dz`, `dn = dz·Kuᵀ`. `dg` is a second tile of scratch.
 *
 * @example
 * ```ts ignore
 * streamInnerVJP(rec, { ...stream, n, gGn, dg, gku: g.ku, gbu: g.bu, dn });
 * ```
 */
export function streamInnerVJP(
  rec: Recorder,
  s: VocabStream & TileSinks & { n: Binding; gGn: Binding; dg: Binding; dn: Binding },
): void {
  const dgTile = (t: VocabTile) =>
    logitsTile(rec, {
      x: s.gGn,
      xBase: t.rowOffset * s.size,
      ku: s.ku,
      out: s.dg,
      rows: t.rows,
      cols: t.cols,
      size: s.size,
      vocab: s.vocab,
      v0: t.v0,
    });
  forEachRowTile(s, (r0, rows) => {
    forEachColTile(s, r0, rows, (t) => {
      zTile(rec, s, s.n, t);
      dgTile(t);
      vocabTileStats(rec, {
        ...t,
        ...tileLabels(rec, s, t),
        z: s.z,
        dg: s.dg,
        stats: s.stats,
        first: t.v0 === 0,
      });
    });
    forEachColTile(s, r0, rows, (t) => {
      zTile(rec, s, s.n, t);
      dgTile(t);
      vocabTileApply(rec, {
        ...t,
        ...tileLabels(rec, s, t),
        z: s.z,
        dg: s.dg,
        stats: s.stats,
        mode: "vjp",
      });
      kernelGradTile(rec, {
        x: s.gGn,
        xBase: r0 * s.size,
        g: s.z,
        gku: s.gku,
        rows,
        cols: t.cols,
        size: s.size,
        vocab: s.vocab,
        v0: t.v0,
      });
      sinkTile(rec, s, t, { binding: s.dg, base: 0, row: t.cols }, s.n, s.dn);
    });
  });
}

/**
 * An upstream `dL/dlogits` `[rows, vocab]` taken tile by tile (each tile bound as one
 * aligned range when the whole does not fit one binding): `gku += nfᵀu`, `gbu += Σ u`,
 * `dnf = u·Kuᵀ`.
 *
 * @example
 * ```ts ignore
 * streamUpstream(rec, { rows: M, size: S, vocab: V, tiling, ku, upstream, nf, gku, gbu, dnf });
 * ```
 */
export function streamUpstream(
  rec: Recorder,
  s: Pick<VocabStream, "rows" | "size" | "vocab" | "ku"> & TileSinks & {
    tiling: LogitTiling;
    upstream: GPUBuffer;
    nf: Binding;
    dnf: Binding;
  },
): void {
  const maxBinding = rec.ctx.maxBindingBytes;
  const whole = s.rows * s.vocab * 4 <= maxBinding;
  forEachRowTile(s, (r0, rows) => {
    forEachColTile(s, r0, rows, (t) => {
      const { binding, base } = matrixSpan(
        s.upstream,
        whole,
        r0,
        rows,
        t.v0,
        t.cols,
        s.vocab,
        maxBinding,
      );
      sinkTile(rec, s, t, { binding, base, row: s.vocab }, s.nf, s.dnf);
    });
  });
}
