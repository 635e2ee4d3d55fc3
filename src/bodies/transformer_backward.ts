/**
 * The backward recording of a `TransformerBody`: from dLoss/dHidden back through the
 * final layer norm and every block (MLP, then attention, recomputing the attention
 * scores from each query's saved log-sum-exp) to the embeddings, writing (overwriting)
 * every parameter's gradient.
 *
 * @module
 */

import type { GPUContext } from "../gpu/context.ts";
import { Recorder } from "../gpu/recorder.ts";
import { matmulNT, matmulTN } from "../kernels/matmul.ts";
import { layerNormBackwardInput } from "../kernels/layer_norm.ts";
import { colsum } from "../kernels/reductions.ts";
import { segmentsByKey, segmentSum } from "../kernels/segment_sum.ts";
import { causalAttentionBackward, gelu } from "../kernels/transformer.ts";
import type { ParamStore } from "../params/store.ts";
import type { Tensor } from "../tensor.ts";
import { blockBuffers, type TransformerSaved } from "./transformer_forward.ts";
import {
  blockParamName,
  type TransformerBlockParam,
  type TransformerDims,
} from "./transformer_params.ts";

/**
 * Runs the backward of the forward that `saved` kept, for dLoss/dHidden
 * `[B, T, hiddenSize]` (checked by the caller). The embedding gradients are
 * deterministic per-row sums grouped by token id and by position (no atomics).
 */
export async function runTransformerBackward(
  where: string,
  ctx: GPUContext,
  dims: TransformerDims,
  params: ParamStore,
  saved: TransformerSaved,
  dHidden: Tensor<"float32">,
): Promise<void> {
  const { batch: B, time: T } = saved;
  const D = dims.hiddenSize, H = dims.heads, M = dims.mlpSize, N = B * T, dh = D / H;
  const V = dims.vocabSize, L = dims.maxLength;
  const rec = new Recorder(ctx);
  const dh0 = dHidden.gpuBuffer(ctx) ?? rec.upload(dHidden.hostData!);
  // Segments of the embedding gradients: rows of dx grouped by token id and by position.
  const tokenSegments = segmentsByKey(saved.ids, V);
  const positionOffsets = new Uint32Array(L + 1).map((_, t) => Math.min(t, T) * B);
  const positionIndex = new Uint32Array(N).map((_, k) => (k % B) * T + Math.floor(k / B));

  const dx = rec.scratch(N * D * 4);
  const dLn = rec.scratch(N * D * 4);
  const dAct = rec.scratch(N * M * 4);
  const dAttn = rec.scratch(N * D * 4);
  const deltas = rec.scratch(B * H * T * 4);
  const dQkv = rec.scratch(N * 3 * D * 4);
  const grad = (name: string) => params.get(name).grad;
  const param = (name: string) => params.buffer(name);

  colsum(rec, { a: dh0, b: saved.nhatF, rows: N, width: D, out: grad("final_layer_norm/scale") });
  colsum(rec, { a: dh0, rows: N, width: D, out: grad("final_layer_norm/bias") });
  layerNormBackwardInput(rec, {
    g: dh0,
    scale: param("final_layer_norm/scale"),
    nhat: saved.nhatF,
    rstd: saved.rstdF,
    out: dx,
    rows: N,
    width: D,
  });
  for (let l = dims.layers - 1; l >= 0; l--) {
    const s = saved.blocks[l];
    const p = blockBuffers(params, l);
    const g = (name: TransformerBlockParam) => grad(blockParamName(l, name));
    // MLP: x += GELU(LN2(x)·W1 + b1)·W2 + b2
    colsum(rec, { a: dx, rows: N, width: D, out: g("mlp/dense_1/bias") });
    matmulTN(rec, { x: s.act, g: dx, out: g("mlp/dense_1/kernel"), rows: N, m: M, n: D });
    matmulNT(rec, dx, p("mlp/dense_1/kernel"), dAct, N, D, M);
    gelu(rec, { x: s.pre, g: dAct, count: N * M, mode: "backward" });
    colsum(rec, { a: dAct, rows: N, width: M, out: g("mlp/dense_0/bias") });
    matmulTN(rec, { x: s.ln2, g: dAct, out: g("mlp/dense_0/kernel"), rows: N, m: D, n: M });
    matmulNT(rec, dAct, p("mlp/dense_0/kernel"), dLn, N, M, D);
    layerNormBackward(rec, D, dLn, dx, s.nhat2, s.rstd2, p("layer_norm_2/scale"), {
      scale: g("layer_norm_2/scale"),
      bias: g("layer_norm_2/bias"),
    }, N);
    // attention: x += Attn(LN1(x))·Wo + bo
    colsum(rec, { a: dx, rows: N, width: D, out: g("attention/out/bias") });
    matmulTN(rec, { x: s.attn, g: dx, out: g("attention/out/kernel"), rows: N, m: D, n: D });
    matmulNT(rec, dx, p("attention/out/kernel"), dAttn, N, D, D);
    causalAttentionBackward(rec, {
      qkv: s.qkv,
      out: s.attn,
      lse: s.lse,
      dOut: dAttn,
      deltas,
      dqkv: dQkv,
      sequences: B,
      time: T,
      heads: H,
      headWidth: dh,
    });
    colsum(rec, { a: dQkv, rows: N, width: 3 * D, out: g("attention/qkv/bias") });
    matmulTN(rec, { x: s.ln1, g: dQkv, out: g("attention/qkv/kernel"), rows: N, m: D, n: 3 * D });
    matmulNT(rec, dQkv, p("attention/qkv/kernel"), dLn, N, 3 * D, D);
    layerNormBackward(rec, D, dLn, dx, s.nhat1, s.rstd1, p("layer_norm_1/scale"), {
      scale: g("layer_norm_1/scale"),
      bias: g("layer_norm_1/bias"),
    }, N);
  }
  segmentSum(rec, {
    offsets: rec.upload(tokenSegments.offsets),
    index: rec.upload(tokenSegments.index),
    src: dx,
    out: grad("embedding/tokens"),
    segments: V,
    width: D,
  });
  segmentSum(rec, {
    offsets: rec.upload(positionOffsets),
    index: rec.upload(positionIndex),
    src: dx,
    out: grad("embedding/positions"),
    segments: L,
    width: D,
  });
  await rec.submit(where);
}

/** Scale and bias gradients of a layer norm, and `dx += LNᵀ(g ⊙ scale)`. */
function layerNormBackward(
  rec: Recorder,
  D: number,
  g: GPUBuffer,
  dx: GPUBuffer,
  nhat: GPUBuffer,
  rstd: GPUBuffer,
  scale: GPUBuffer,
  grads: { scale: GPUBuffer; bias: GPUBuffer },
  rows: number,
): void {
  colsum(rec, { a: g, b: nhat, rows, width: D, out: grads.scale });
  colsum(rec, { a: g, rows, width: D, out: grads.bias });
  layerNormBackwardInput(rec, {
    g,
    scale,
    nhat,
    rstd,
    out: dx,
    rows,
    width: D,
    accumulate: true,
  });
}
