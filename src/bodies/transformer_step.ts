/**
 * The one-position recording of a `TransformerBody` for generation: `B` sequences at
 * their state's next position, attending to the key/value cache (which it extends).
 *
 * @module
 */

import type { Recorder } from "../gpu/recorder.ts";
import { matmul, matmulNN } from "../kernels/matmul.ts";
import { causalAttention, gelu } from "../kernels/transformer.ts";
import type { ParamStore } from "../params/store.ts";
import { blockBuffers, normRows, recordEmbedding } from "./transformer_forward.ts";
import type { TransformerDims } from "./transformer_params.ts";
import type { StateInternals } from "./transformer_state.ts";

/**
 * Records one position of `B` sequences at the state's next position: token ids `[B]`
 * (int32, valid) from `idsBuffer`, hidden states `[B, hiddenSize]` to `out`; each
 * block's key and value go straight into the cache. Advances the state's length now
 * (the caller checked there is room).
 */
export function recordTransformerStep(
  rec: Recorder,
  dims: TransformerDims,
  params: ParamStore,
  st: StateInternals,
  B: number,
  idsBuffer: GPUBuffer,
  out: GPUBuffer,
): void {
  const pos = st.length;
  const D = dims.hiddenSize, H = dims.heads, M = dims.mlpSize, dh = D / H, L = dims.maxLength;
  const x = rec.scratch(B * D * 4);
  const ln = rec.scratch(B * D * 4);
  const nhat = rec.scratch(B * D * 4);
  const rstd = rec.scratch(B * 4);
  const q = rec.scratch(B * D * 4);
  const lse = rec.scratch(B * H * 4);
  const attn = rec.scratch(B * D * 4);
  const pre = rec.scratch(B * M * 4);
  const act = rec.scratch(B * M * 4);
  const param = (name: string) => params.buffer(name);
  recordEmbedding(rec, dims, params, { ids: idsBuffer, out: x, rows: B, time: 1, posBase: pos });
  const norm = (scale: GPUBuffer, bias: GPUBuffer, out: GPUBuffer) =>
    normRows(rec, x, scale, bias, { out, nhat, rstd, rows: B, width: D });
  for (let l = 0; l < dims.layers; l++) {
    const p = blockBuffers(params, l);
    norm(p("layer_norm_1/scale"), p("layer_norm_1/bias"), ln);
    // q, k, v of this position; k and v go straight into the cache at `pos`
    const project = (part: number, c: { buffer: GPUBuffer; base: number; row: number }) =>
      matmul(rec, {
        m: B,
        n: D,
        k: D,
        a: { buffer: ln, row: D, col: 1 },
        b: { buffer: p("attention/qkv/kernel"), base: part * D, row: 3 * D, col: 1 },
        c: { ...c, col: 1 },
        bias: { buffer: p("attention/qkv/bias"), base: part * D },
      });
    project(0, { buffer: q, base: 0, row: D });
    project(1, { buffer: st.keys[l], base: pos * D, row: L * D });
    project(2, { buffer: st.values[l], base: pos * D, row: L * D });
    // this position's query against the cache's keys 0 … pos
    const cache = (buffer: GPUBuffer) => ({ buffer, base: 0, batch: L * D, row: D });
    causalAttention(rec, {
      q: { buffer: q, base: 0, batch: D, row: D },
      k: cache(st.keys[l]),
      v: cache(st.values[l]),
      out: { buffer: attn, base: 0, batch: D, row: D },
      lse,
      sequences: B,
      heads: H,
      headWidth: dh,
      queries: 1,
      offset: pos,
    });
    matmulNN(rec, attn, p("attention/out/kernel"), x, B, D, D, {
      bias: { buffer: p("attention/out/bias") },
      beta: 1,
    });
    norm(p("layer_norm_2/scale"), p("layer_norm_2/bias"), ln);
    matmulNN(rec, ln, p("mlp/dense_0/kernel"), pre, B, D, M, {
      bias: { buffer: p("mlp/dense_0/bias") },
    });
    gelu(rec, { x: pre, g: act, count: B * M, mode: "forward" });
    matmulNN(rec, act, p("mlp/dense_1/kernel"), x, B, M, D, {
      bias: { buffer: p("mlp/dense_1/bias") },
      beta: 1,
    });
  }
  norm(param("final_layer_norm/scale"), param("final_layer_norm/bias"), out);
  st.length = pos + 1;
}
