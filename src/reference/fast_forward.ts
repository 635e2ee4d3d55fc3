/**
 * The fast logits by the efficient form of FWL.md §2 (slow forward, one backward, causal
 * linear attention by mixed chunks), in float64.
 *
 * @module
 */

import { referenceInnerBackward } from "./inner_backward.ts";
import { referenceSlowForward } from "./slow_forward.ts";
import type { ReferenceCase } from "./types.ts";

/**
 * Exclusive cumulative sum over time within each sequence:
 * `out[b,t] = Σ_{s<t} u[b,s]` for rows of `width` values (`u` is `[B,T,width]`).
 */
export function referenceExclusiveCumsum(
  u: ArrayLike<number>,
  B: number,
  T: number,
  width: number,
): Float64Array {
  const out = new Float64Array(B * T * width);
  for (let b = 0; b < B; b++) {
    const run = new Float64Array(width); // Σ over the positions already passed
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * width;
      for (let j = 0; j < width; j++) {
        out[row + j] = run[j];
        run[j] += u[row + j];
      }
    }
  }
  return out;
}

/**
 * Causal linear attention `A(q,k,v)[t] = Σ_{s<t} (q_t·k_s) v_s` per sequence, computed
 * by mixed chunks: `L = ceil(T / chunks)`, chunk `k` is `[k·L, min(T, (k+1)·L))` (so
 * `chunks > T` and `T % chunks != 0` are fine). Inside a chunk: quadratic attention with
 * a strictly-lower-triangular mask; across chunks: the running `Σ k_sᵀ v_s` of the earlier
 * chunks applied to the chunk's queries. `q`, `k` are `[B,T,dq]`, `v` is `[B,T,dv]`;
 * the result is `[B,T,dv]`.
 */
export function referenceChunkAttention(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  B: number,
  T: number,
  dq: number,
  dv: number,
  chunks: number,
): Float64Array {
  if (!Number.isInteger(chunks) || chunks < 1) {
    throw new RangeError(`chunks must be a positive integer, got ${chunks}`);
  }
  const out = new Float64Array(B * T * dv);
  const L = Math.ceil(T / chunks);
  for (let b = 0; b < B; b++) {
    const state = new Float64Array(dq * dv); // Σ k_s ⊗ v_s over earlier chunks
    for (let ck = 0; ck < chunks; ck++) {
      const start = ck * L, end = Math.min(T, (ck + 1) * L);
      if (start >= end) continue; // trailing empty chunks when chunks > T
      for (let t = start; t < end; t++) {
        const qt = (b * T + t) * dq, ot = (b * T + t) * dv;
        // inter-chunk: q_t · state
        for (let i = 0; i < dq; i++) {
          const qi = q[qt + i];
          for (let j = 0; j < dv; j++) out[ot + j] += qi * state[i * dv + j];
        }
        // intra-chunk: strictly earlier positions of this chunk
        for (let s = start; s < t; s++) {
          const ks = (b * T + s) * dq, vs = (b * T + s) * dv;
          let dot = 0;
          for (let i = 0; i < dq; i++) dot += q[qt + i] * k[ks + i];
          for (let j = 0; j < dv; j++) out[ot + j] += dot * v[vs + j];
        }
      }
      // fold this chunk into the state for the chunks after it
      for (let s = start; s < end; s++) {
        const ks = (b * T + s) * dq, vs = (b * T + s) * dv;
        for (let i = 0; i < dq; i++) {
          for (let j = 0; j < dv; j++) {
            state[i * dv + j] += k[ks + i] * v[vs + j];
          }
        }
      }
    }
  }
  return out;
}

/**
 * The fast logits `[B*T*V]` by the efficient form of FWL.md §2, with mixed chunk
 * attention of `c.attnChunks` chunks.
 */
export function referenceFastForward(c: ReferenceCase): Float64Array {
  const slow = referenceSlowForward(c); // also checks the case
  const g = referenceInnerBackward(c, slow);
  const { B, T, D, size: S, vocabSize: V, attnChunks: C } = c;
  const H = 4 * S;
  const P = B * T;
  const eps = c.epsilon ?? 1e-6;
  const prm = c.params;
  const step = (name: string): number => prm[name][0];
  const K1 = prm["dense_1/kernel"], b1 = prm["dense_1/bias"];
  const scale = prm["layer_norm/scale"], bias = prm["layer_norm/bias"];
  const Ku = prm["unembed/kernel"], bu = prm["unembed/bias"];

  // f1 = x·K0 + b0 − step(K0)·A(x, x, g_h1) − step(b0)·excl_cumsum(g_h1)
  const attn0 = referenceChunkAttention(c.x, c.x, g.gh1, B, T, D, H, C);
  const cum0 = referenceExclusiveCumsum(g.gh1, B, T, H);
  const sK0 = step("dense_0/kernel_step"), sb0 = step("dense_0/bias_step");
  const fa = new Float64Array(P * H);
  for (let i = 0; i < P * H; i++) {
    const f1 = slow.h1[i] - sK0 * attn0[i] - sb0 * cum0[i];
    const r = Math.max(f1, 0);
    fa[i] = r * r; // fa = relu(f1)²
  }

  // f2 = fa·K1 + b1 − step(K1)·A(fa, a, g_h2) − step(b1)·excl_cumsum(g_h2)
  // (the query is the fast activation fa, the keys are the slow activation a)
  const attn1 = referenceChunkAttention(fa, slow.a, g.gh2, B, T, H, S, C);
  const cum1 = referenceExclusiveCumsum(g.gh2, B, T, S);
  const sK1 = step("dense_1/kernel_step"), sb1 = step("dense_1/bias_step");
  const f2 = new Float64Array(P * S);
  for (let p = 0; p < P; p++) {
    for (let j = 0; j < S; j++) {
      let acc = b1[j];
      for (let i = 0; i < H; i++) acc += fa[p * H + i] * K1[i * S + j];
      f2[p * S + j] = acc - sK1 * attn1[p * S + j] - sb1 * cum1[p * S + j];
    }
  }

  // scale_t = scale − step(scale)·excl_cumsum(g_n ⊙ n̂) ; bias_t = bias − step(bias)·excl_cumsum(g_n)
  const cumScale = referenceExclusiveCumsum(g.gnNhat, B, T, S);
  const cumBias = referenceExclusiveCumsum(g.gn, B, T, S);
  const sScale = step("layer_norm/scale_step");
  const sBias = step("layer_norm/bias_step");

  // fast_logits = ((f2 − μ(f2)) / σ(f2)) ⊙ scale_t + bias_t, then ·Ku + bu
  const logits = new Float64Array(P * V);
  const n = new Float64Array(S);
  for (let p = 0; p < P; p++) {
    let mu = 0;
    for (let j = 0; j < S; j++) mu += f2[p * S + j];
    mu /= S;
    let v = 0;
    for (let j = 0; j < S; j++) v += (f2[p * S + j] - mu) ** 2;
    v /= S;
    const rstd = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < S; j++) {
      const scaleT = scale[j] - sScale * cumScale[p * S + j];
      const biasT = bias[j] - sBias * cumBias[p * S + j];
      n[j] = (f2[p * S + j] - mu) * rstd * scaleT + biasT;
    }
    for (let u = 0; u < V; u++) {
      let acc = bu[u];
      for (let j = 0; j < S; j++) acc += n[j] * Ku[j * V + u];
      logits[p * V + u] = acc;
    }
  }
  return logits;
}
