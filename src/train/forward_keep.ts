/**
 * The parallel forward of FWL.md §2 recorded for training: the same kernels as
 * `runForward`, but every activation the outer backward needs is kept in scratch
 * (released when the recorder submits), and the fast logits are not formed (the outer
 * loss streams them tile by tile). Scratch is taken right before its first use and
 * temporaries are handed back to the recorder (`Recorder.reuse`) after their last use,
 * so the outer backward reuses them; attention runs within `trainAttentionBytes`.
 *
 * @module
 */

import { FWLError } from "../errors.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import { trainAttentionBytes } from "../kernels/chunk_attention_backward.ts";
import { matmulNN, matmulNT } from "../kernels/matmul.ts";
import { recordFastPass } from "../fwl/fast_pass.ts";
import { linearLayerNorm } from "../kernels/linear_layer_norm.ts";
import { layerNormBackward } from "../kernels/layer_norm.ts";
import { normalizer, softmaxXentGrad } from "../kernels/softmax_xent.ts";
import type { ParamBuffers } from "../fwl/forward.ts";
import { type LogitTiling, logitTiling } from "../kernels/vocab_tiles.ts";
import { streamInnerGrad } from "../fwl/vocab_stream.ts";

/**
 * Default byte budget of one `[rows, V]` tile of logits (the second-order pass holds
 * two such tiles at once).
 */
export const TRAIN_TILE_BYTES: number = 16 * 2 ** 20;

/** Everything {@linkcode recordKeptForward} needs. */
export interface KeptForwardArgs {
  batch: number;
  time: number;
  inputSize: number;
  size: number;
  vocabSize: number;
  attnChunks: number;
  epsilon: number;
  /** A fixed inner normalizer, or undefined for the batch normalizer. */
  fixedNormalizer: number | undefined;
  x: GPUBuffer;
  labels: GPUBuffer;
  labelsAreIds: boolean;
  weights: GPUBuffer;
  params: ParamBuffers;
  /** The logits tiles (see {@linkcode trainTiling}). */
  tiling: LogitTiling;
}

/**
 * The activations of the forward, `[B·T, width]` row-major scratch buffers of the
 * recorder; the outer backward hands each back (`Recorder.reuse`) after its last use.
 * (`g_a = g_h2·K1ᵀ` is not kept: the second-order path recomputes it, bit for bit.)
 */
export interface KeptForward {
  /** Outer normalizer `max(Σw, 1e-8)` (one float). */
  normOut: GPUBuffer;
  /** Inner normalizer (the same buffer as `normOut` for the batch normalizer). */
  normIn: GPUBuffer;
  h1: GPUBuffer;
  a: GPUBuffer;
  nhat: GPUBuffer;
  rstd: GPUBuffer;
  n: GPUBuffer;
  gn: GPUBuffer;
  gh2: GPUBuffer;
  gnNhat: GPUBuffer;
  gh1: GPUBuffer;
  f1: GPUBuffer;
  fa: GPUBuffer;
  scaleT: GPUBuffer;
  /** Normalized `f2` of the fast layer norm. */
  fhat: GPUBuffer;
  /** `rstd` of the fast layer norm, `[B·T]`. */
  frstd: GPUBuffer;
  /** The fast layer norm's output (input of the unembedding). */
  nf: GPUBuffer;
}

/**
 * The `[rows, vocab]` logits tiles for a byte budget (capped by the binding limit): all
 * rows, or a multiple of 64 rows, of the whole vocabulary when 64 rows fit; else up to
 * 64 rows of vocabulary tiles (the loss streamed with a running log-sum-exp). With
 * `rangeBound` (one-hot labels or an upstream gradient too large for one binding) the
 * rows are also capped so that each tile's range of them fits one binding.
 *
 * @example
 * ```ts ignore
 * const tiling = trainTiling(B * T, V, TRAIN_TILE_BYTES, ctx.maxBindingBytes, false);
 * ```
 */
export function trainTiling(
  rows: number,
  vocab: number,
  tileBytes: number,
  maxBinding: number,
  rangeBound: boolean,
): LogitTiling {
  return logitTiling(
    rows,
    vocab,
    Math.min(tileBytes, maxBinding),
    rangeBound ? maxBinding : undefined,
  );
}

/**
 * The labels of rows `r0 .. r0+rows` as the row kernels take them: ids are always bound
 * whole; one-hot rows whole when they fit one binding, else this tile's byte range.
 *
 * @example
 * ```ts ignore
 * const { labels, labelBase } = labelTile(labelsBuffer, false, M, V, r0, rows, ctx.maxBindingBytes);
 * ```
 */
export function labelTile(
  labels: GPUBuffer,
  labelsAreIds: boolean,
  allRows: number,
  vocab: number,
  r0: number,
  rows: number,
  maxBinding: number,
): { labels: Binding; labelBase: number } {
  if (labelsAreIds) return { labels, labelBase: 0 };
  if (allRows * vocab * 4 <= maxBinding) {
    return { labels, labelBase: r0 * vocab };
  }
  return {
    labels: { buffer: labels, offset: r0 * vocab * 4, size: rows * vocab * 4 },
    labelBase: 0,
  };
}

/**
 * Records the forward of FWL.md §2 into `rec`, keeping its activations.
 *
 * @example
 * ```ts ignore
 * const kept = recordKeptForward(rec, { batch: B, time: T, ...dims, x, labels, weights,
 *   labelsAreIds: true, params: block.buffers, fixedNormalizer: undefined });
 * ```
 */
export function recordKeptForward(
  rec: Recorder,
  f: KeptForwardArgs,
): KeptForward {
  const ctx = rec.ctx;
  const M = f.batch * f.time;
  const D = f.inputSize;
  const S = f.size;
  const H = 4 * S;
  const V = f.vocabSize;
  const maxBinding = ctx.maxBindingBytes;
  const widest = M * Math.max(H, D) * 4;
  if (widest > maxBinding) {
    throw new FWLError(
      `a batch of ${f.batch}×${f.time} positions needs ${widest}-byte activations, over ` +
        `the device's ${maxBinding}-byte binding limit; split the batch or the document`,
    );
  }
  const p = f.params;
  const buf = (elements: number) => rec.scratch(elements * 4);

  // Normalizers: the outer one is always the batch one.
  const normOut = buf(1);
  normalizer(rec, {
    weights: f.weights,
    norm: normOut,
    count: M,
    fixed: undefined,
  });
  let normIn = normOut;
  if (f.fixedNormalizer !== undefined) {
    normIn = buf(1);
    normalizer(rec, {
      weights: f.weights,
      norm: normIn,
      count: M,
      fixed: f.fixedNormalizer,
    });
  }

  // Slow forward.
  const h1 = buf(M * H), a = buf(M * H);
  matmulNN(rec, f.x, p.k0, h1, M, D, H, {
    bias: { buffer: p.b0 },
    sqreluAux: a,
  });
  const nhat = buf(M * S), rstd = buf(M), n = buf(M * S);
  // Dense layer, bias and layer norm, fused when the width allows: h2 never reaches memory.
  linearLayerNorm(rec, {
    x: a,
    w: p.k1,
    bias: p.b1,
    scale: p.scale,
    lnBias: p.bias,
    out: n,
    nhat,
    rstd,
    rows: M,
    k: H,
    n: S,
    eps: f.epsilon,
  });

  // Inner backward, the slow logits streamed in row tiles (and vocabulary tiles when 64
  // full rows exceed the budget).
  const gn = buf(M * S);
  const tiling = f.tiling;
  const tileRows = tiling.rows;
  const z = buf(tileRows * tiling.cols);
  if (tiling.cols < V) {
    const stats = buf(M * 4);
    streamInnerGrad(rec, {
      rows: M,
      size: S,
      vocab: V,
      tiling,
      ku: p.ku,
      bu: p.bu,
      labels: f.labels,
      labelsAreIds: f.labelsAreIds,
      weights: f.weights,
      norm: normIn,
      stats,
      z,
      n,
      gn,
    });
    rec.reuse(stats);
  } else {
    for (let r0 = 0; r0 < M; r0 += tileRows) {
      const rows = Math.min(tileRows, M - r0);
      matmulNN(rec, n, p.ku, z, rows, S, V, { bias: { buffer: p.bu } }, r0 * S);
      softmaxXentGrad(rec, {
        z,
        ...labelTile(f.labels, f.labelsAreIds, M, V, r0, rows, maxBinding),
        labelsAreIds: f.labelsAreIds,
        weights: f.weights,
        norm: normIn,
        rows,
        vocab: V,
        rowOffset: r0,
      });
      matmulNT(rec, z, p.ku, gn, rows, V, S, {}, 0, r0 * S);
    }
  }
  rec.reuse(z);
  const gh2 = buf(M * S), gnNhat = buf(M * S);
  layerNormBackward(rec, {
    gN: gn,
    nhat,
    rstd,
    scale: p.scale,
    gX: gh2,
    gScale: gnNhat,
    rows: M,
    width: S,
  });
  // g_h1 = (g_h2·K1ᵀ) ⊙ 2relu(h1), in one matmul.
  const gh1 = buf(M * H);
  matmulNT(rec, gh2, p.k1, gh1, M, S, H, { gateAux: h1 });

  // Fast forward.
  const { f1, fa, scaleT, fhat, frstd, nf } = recordFastPass(rec, {
    batch: f.batch,
    time: f.time,
    inputSize: D,
    size: S,
    attnChunks: f.attnChunks,
    epsilon: f.epsilon,
    params: p,
    x: f.x,
    h1,
    a,
    gh1,
    gh2,
    gnNhat,
    gn,
    attentionBytes: (dq, dv) => trainAttentionBytes(ctx, f.time, f.attnChunks, dq, dv),
  });
  return {
    normOut,
    normIn,
    h1,
    a,
    nhat,
    rstd,
    n,
    gn,
    gh2,
    gnNhat,
    gh1,
    f1,
    fa,
    scaleT,
    fhat,
    frstd,
    nf,
  };
}
