/**
 * The parallel forward of the FWL block on the GPU, recorded into one command encoder:
 * slow forward, inner backward, fast forward (FWL.md §2).
 *
 * @module
 */

import { FWLError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { type Binding, Recorder } from "../gpu/recorder.ts";
import { recordFastPass } from "./fast_pass.ts";
import { linearLayerNorm } from "../kernels/linear_layer_norm.ts";
import { matmulNN, matmulNT } from "../kernels/matmul.ts";
import { layerNormBackward } from "../kernels/layer_norm.ts";
import { normalizer, softmaxXentGrad, xentLoss } from "../kernels/softmax_xent.ts";
import { logitTiling } from "../kernels/vocab_tiles.ts";
import {
  fullRowTiles,
  streamInnerGrad,
  streamLogits,
  streamNll,
  type VocabStream,
} from "./vocab_stream.ts";

/** GPU buffers of the block's parameters. */
export interface ParamBuffers {
  /** `dense_0/kernel` [D, H]. */
  k0: GPUBuffer;
  /** `dense_0/bias` [H]. */
  b0: GPUBuffer;
  /** `dense_1/kernel` [H, size]. */
  k1: GPUBuffer;
  /** `dense_1/bias` [size]. */
  b1: GPUBuffer;
  /** `layer_norm/scale` [size]. */
  scale: GPUBuffer;
  /** `layer_norm/bias` [size]. */
  bias: GPUBuffer;
  /** `unembed/kernel` [size, V]. */
  ku: GPUBuffer;
  /** `unembed/bias` [V]. */
  bu: GPUBuffer;
  /** The six step sizes, in STEP_NAMES order. */
  steps: GPUBuffer;
}

/** Everything one forward needs. */
export interface ForwardArgs {
  batch: number;
  time: number;
  inputSize: number;
  size: number;
  vocabSize: number;
  attnChunks: number;
  epsilon: number;
  /** A fixed normalizer, or undefined for the batch normalizer. */
  fixedNormalizer: number | undefined;
  x: GPUBuffer;
  labels: GPUBuffer;
  labelsAreIds: boolean;
  weights: GPUBuffer;
  params: ParamBuffers;
  /**
   * What to produce: the fast logits `[batch·time, vocab]`, or the per-position
   * cross-entropy `[batch·time]` of the fast logits (tile by tile: no `[B, T, V]` buffer).
   */
  output: { kind: "logits"; buffer: GPUBuffer } | { kind: "nll"; buffer: GPUBuffer };
  /** The plain head: the slow forward only (dense, squared ReLU, dense, layer norm, unembedding). */
  plain?: boolean;
  /** Byte budgets of the slow-logit tile and of one output-logit tile (tests shrink them). */
  tileBytes?: { slow: number; output: number };
}

/** Scratch budget for one slow-logits tile (the rest of the head is O(B·T·H)). */
const LOGIT_TILE_BYTES = 32 * 2 ** 20;

/**
 * Rows per tile for a `[rows, vocab]` matrix so that one tile fits in `bytes`; below
 * `rows` it is a multiple of 64, so tile offsets (`r0·vocab·4` bytes) stay 256-aligned.
 */
export function rowsPerTile(
  rows: number,
  vocab: number,
  bytes: number,
): number {
  const fit = Math.floor(bytes / (vocab * 4));
  if (fit >= rows) return rows;
  const aligned = Math.floor(fit / 64) * 64;
  if (aligned < 1) {
    throw new FWLError(
      `a vocabulary of ${vocab} is too large: 64 rows of logits exceed ${bytes} bytes`,
    );
  }
  return aligned;
}

/** A byte range of `buffer` holding rows `r0 .. r0+rows` of a `[*, width]` f32 matrix. */
function rowRange(
  buffer: GPUBuffer,
  r0: number,
  rows: number,
  width: number,
): Binding {
  return { buffer, offset: r0 * width * 4, size: rows * width * 4 };
}

/** Records and submits the whole forward. */
export async function runForward(
  ctx: GPUContext,
  f: ForwardArgs,
): Promise<void> {
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
  if (f.output.kind === "logits" && M * V * 4 > ctx.device.limits.maxBufferSize) {
    throw new FWLError(
      `the logits of ${f.batch}×${f.time} positions over a vocabulary of ${V} need ` +
        `${M * V * 4} bytes, over the device's ${ctx.device.limits.maxBufferSize}-byte ` +
        `buffer limit; score them (loss only) or split the batch`,
    );
  }
  const rec = new Recorder(ctx);
  const p = f.params;
  const buf = (elements: number) => rec.scratch(elements * 4);
  const norm = buf(1);
  const h1 = buf(M * H), a = buf(M * H);
  const nhat = buf(M * S), rstd = buf(M), n = buf(M * S);
  const gn = buf(M * S),
    gh2 = buf(M * S),
    gnNhat = buf(M * S),
    gh1 = buf(M * H);

  // Slow forward.
  normalizer(rec, {
    weights: f.weights,
    norm,
    count: M,
    fixed: f.fixedNormalizer,
  });
  matmulNN(rec, f.x, p.k0, h1, M, D, H, {
    bias: { buffer: p.b0 },
    sqreluAux: a,
  });
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

  // Inner backward, the logits streamed in row tiles: z → g_z (in place) → g_n. When
  // 64 full rows exceed the budget, over vocabulary tiles too (running log-sum-exp).
  const labelsWhole = f.labelsAreIds || M * V * 4 <= maxBinding;
  const tiling = logitTiling(
    M,
    V,
    f.tileBytes?.slow ?? Math.min(LOGIT_TILE_BYTES, maxBinding),
    labelsWhole ? undefined : maxBinding,
  );
  const slowRows = tiling.rows;
  const z = buf(slowRows * tiling.cols);
  const stream: VocabStream | undefined = tiling.cols < V
    ? {
      rows: M,
      size: S,
      vocab: V,
      tiling,
      ku: p.ku,
      bu: p.bu,
      labels: f.labels,
      labelsAreIds: f.labelsAreIds,
      weights: f.weights,
      norm,
      stats: buf(M * 4),
      z,
    }
    : undefined;
  // The plain head (fast weights off) stops at the slow layer norm.
  let head = n;
  if (!f.plain) {
    if (stream) {
      streamInnerGrad(rec, { ...stream, n, gn });
    } else {
      for (let r0 = 0; r0 < M; r0 += slowRows) {
        const rows = Math.min(slowRows, M - r0);
        matmulNN(rec, n, p.ku, z, rows, S, V, { bias: { buffer: p.bu } }, r0 * S);
        softmaxXentGrad(rec, {
          z,
          labels: labelsWhole ? f.labels : rowRange(f.labels, r0, rows, V),
          labelsAreIds: f.labelsAreIds,
          weights: f.weights,
          norm,
          rows,
          vocab: V,
          rowOffset: r0,
          labelBase: labelsWhole && !f.labelsAreIds ? r0 * V : 0,
        });
        matmulNT(rec, z, p.ku, gn, rows, V, S, {}, 0, r0 * S);
      }
    }
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
    matmulNT(rec, gh2, p.k1, gh1, M, S, H, { gateAux: h1 });

    // Fast forward: each layer's slow output minus its step times the update. The
    // slow nhat and rstd are dead by now: the fast layer norm writes over them.
    head = recordFastPass(rec, {
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
      attentionBytes: () => maxBinding,
      nhat,
      rstd,
    }).nf;
  }
  if (f.output.kind === "logits") {
    // Fast logits, in row tiles when they exceed one binding.
    const logits = f.output.buffer;
    const budget = f.tileBytes?.output ?? maxBinding;
    if (fullRowTiles(M, V, budget)) {
      const outRows = rowsPerTile(M, V, budget);
      for (let r0 = 0; r0 < M; r0 += outRows) {
        const rows = Math.min(outRows, M - r0);
        const out = outRows === M ? logits : rowRange(logits, r0, rows, V);
        matmulNN(rec, head, p.ku, out, rows, S, V, { bias: { buffer: p.bu } }, r0 * S);
      }
    } else {
      // Not even 64 rows fit one binding: tiles of fewer rows, or of one row's columns.
      streamLogits(rec, {
        x: head,
        ku: p.ku,
        bu: p.bu,
        out: logits,
        rows: M,
        size: S,
        vocab: V,
        budget,
      });
    }
  } else {
    // Loss only: the fast logits go through the slow-logit tile, never all at once.
    if (stream) {
      streamNll(rec, { ...stream, x: head, nll: f.output.buffer });
    } else {
      for (let r0 = 0; r0 < M; r0 += slowRows) {
        const rows = Math.min(slowRows, M - r0);
        matmulNN(rec, head, p.ku, z, rows, S, V, { bias: { buffer: p.bu } }, r0 * S);
        xentLoss(rec, {
          z,
          labels: labelsWhole ? f.labels : rowRange(f.labels, r0, rows, V),
          labelsAreIds: f.labelsAreIds,
          weights: f.weights,
          nll: f.output.buffer,
          rows,
          vocab: V,
          rowOffset: r0,
          labelBase: labelsWhole && !f.labelsAreIds ? r0 * V : 0,
        });
      }
    }
  }
  await rec.submit("FWLBlock.forward");
}
