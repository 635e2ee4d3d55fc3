/**
 * The parallel forward recording of a `TransformerBody`: embeddings, every block
 * (pre-layer-norm attention and MLP, updating the residual stream in place), the final
 * layer norm, keeping what the backward needs; and the helpers the step and the
 * backward share (the body's layer norm, a block's parameter buffers).
 *
 * @module
 */

import type { Recorder } from "../gpu/recorder.ts";
import { matmulNN } from "../kernels/matmul.ts";
import { layerNorm } from "../kernels/layer_norm.ts";
import { causalAttention, embed, gelu } from "../kernels/transformer.ts";
import type { ParamStore } from "../params/store.ts";
import {
  blockParamName,
  TRANSFORMER_EPSILON,
  type TransformerBlockParam,
  type TransformerDims,
} from "./transformer_params.ts";

/** What one block's forward keeps for the backward. */
export interface SavedBlock {
  nhat1: GPUBuffer;
  rstd1: GPUBuffer;
  ln1: GPUBuffer;
  qkv: GPUBuffer;
  /** Log-sum-exp of every query's attention scores `[B·heads, T]`. */
  lse: GPUBuffer;
  attn: GPUBuffer;
  nhat2: GPUBuffer;
  rstd2: GPUBuffer;
  ln2: GPUBuffer;
  pre: GPUBuffer;
  act: GPUBuffer;
}

/** What a forward keeps for the backward. */
export interface TransformerSaved {
  batch: number;
  time: number;
  ids: Int32Array;
  blocks: SavedBlock[];
  nhatF: GPUBuffer;
  rstdF: GPUBuffer;
  /** Every saved buffer, released together. */
  buffers: GPUBuffer[];
}

/** Block `l`'s parameter buffers, by name without the `layer_{l}/` prefix. */
export function blockBuffers(
  params: ParamStore,
  l: number,
): (name: TransformerBlockParam) => GPUBuffer {
  return (name) => params.buffer(blockParamName(l, name));
}

/**
 * `x = E_tok[id] + E_pos[posBase + t]` for `rows` rows (sequence-major, `time` positions
 * per sequence).
 */
export function recordEmbedding(
  rec: Recorder,
  dims: TransformerDims,
  params: ParamStore,
  o: { ids: GPUBuffer; out: GPUBuffer; rows: number; time: number; posBase: number },
): void {
  embed(rec, {
    ...o,
    tokens: params.buffer("embedding/tokens"),
    positions: params.buffer("embedding/positions"),
    width: dims.hiddenSize,
    vocab: dims.vocabSize,
  });
}

/** The buffers and sizes of one parallel forward. */
export interface TransformerForwardArgs {
  /** Token ids `[B, T]` (int32, valid) on the host (uploaded, and kept for the backward). */
  ids: Int32Array;
  batch: number;
  time: number;
  /** The hidden states `[B, T, hiddenSize]`. */
  out: GPUBuffer;
  /** Takes `floats` float32s from the pool for the saved activations (the caller releases them on failure). */
  acquire: (floats: number) => GPUBuffer;
}

/**
 * Records the forward of every position into `rec` and returns what the backward needs
 * (valid once `rec` is submitted; `buffers` left empty for the caller, who owns them).
 */
export function recordTransformerForward(
  rec: Recorder,
  dims: TransformerDims,
  params: ParamStore,
  args: TransformerForwardArgs,
): Omit<TransformerSaved, "buffers"> {
  const { batch: B, time: T, out, acquire: get } = args;
  const D = dims.hiddenSize, H = dims.heads, M = dims.mlpSize, N = B * T;
  const blocks: SavedBlock[] = [];
  for (let l = 0; l < dims.layers; l++) {
    blocks.push({
      nhat1: get(N * D),
      rstd1: get(N),
      ln1: get(N * D),
      qkv: get(N * 3 * D),
      lse: get(B * H * T),
      attn: get(N * D),
      nhat2: get(N * D),
      rstd2: get(N),
      ln2: get(N * D),
      pre: get(N * M),
      act: get(N * M),
    });
  }
  const nhatF = get(N * D), rstdF = get(N);
  const idsBuffer = rec.upload(args.ids);
  const x = rec.scratch(N * D * 4);
  const p = (name: string) => params.buffer(name);
  recordEmbedding(rec, dims, params, { ids: idsBuffer, out: x, rows: N, time: T, posBase: 0 });
  blocks.forEach((s, l) => recordBlock(rec, dims, params, l, x, s, B, T));
  normRows(rec, x, p("final_layer_norm/scale"), p("final_layer_norm/bias"), {
    out,
    nhat: nhatF,
    rstd: rstdF,
    rows: N,
    width: D,
  });
  return { batch: B, time: T, ids: args.ids, blocks, nhatF, rstdF };
}

/** Records one block of the parallel forward, updating the residual stream `x` in place. */
function recordBlock(
  rec: Recorder,
  dims: TransformerDims,
  params: ParamStore,
  l: number,
  x: GPUBuffer,
  s: SavedBlock,
  B: number,
  T: number,
): void {
  const D = dims.hiddenSize, H = dims.heads, M = dims.mlpSize, N = B * T, dh = D / H;
  const p = blockBuffers(params, l);
  normRows(rec, x, p("layer_norm_1/scale"), p("layer_norm_1/bias"), {
    out: s.ln1,
    nhat: s.nhat1,
    rstd: s.rstd1,
    rows: N,
    width: D,
  });
  matmulNN(rec, s.ln1, p("attention/qkv/kernel"), s.qkv, N, D, 3 * D, {
    bias: { buffer: p("attention/qkv/bias") },
  });
  // attn = causal softmax(Q Kᵀ / √dh) V per head, heads side by side
  const packed = (base: number) => ({ buffer: s.qkv, base, batch: T * 3 * D, row: 3 * D });
  causalAttention(rec, {
    q: packed(0),
    k: packed(D),
    v: packed(2 * D),
    out: { buffer: s.attn, base: 0, batch: T * D, row: D },
    lse: s.lse,
    sequences: B,
    heads: H,
    headWidth: dh,
    queries: T,
    offset: 0,
  });
  matmulNN(rec, s.attn, p("attention/out/kernel"), x, N, D, D, {
    bias: { buffer: p("attention/out/bias") },
    beta: 1,
  });
  normRows(rec, x, p("layer_norm_2/scale"), p("layer_norm_2/bias"), {
    out: s.ln2,
    nhat: s.nhat2,
    rstd: s.rstd2,
    rows: N,
    width: D,
  });
  matmulNN(rec, s.ln2, p("mlp/dense_0/kernel"), s.pre, N, D, M, {
    bias: { buffer: p("mlp/dense_0/bias") },
  });
  gelu(rec, { x: s.pre, g: s.act, count: N * M, mode: "forward" });
  matmulNN(rec, s.act, p("mlp/dense_1/kernel"), x, N, M, D, {
    bias: { buffer: p("mlp/dense_1/bias") },
    beta: 1,
  });
}

/** The body's layer norm of the `[rows, width]` residual stream `x` (per-column affine). */
export function normRows(
  rec: Recorder,
  x: GPUBuffer,
  scale: GPUBuffer,
  bias: GPUBuffer,
  o: { out: GPUBuffer; nhat: GPUBuffer; rstd: GPUBuffer; rows: number; width: number },
): void {
  layerNorm(rec, { x, scale, bias, ...o, perRowAffine: false, eps: TRANSFORMER_EPSILON });
}
