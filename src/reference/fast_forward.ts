/**
 * The fast logits by the efficient form of docs/definition.md §2 (slow forward, one backward, causal
 * linear attention by mixed chunks), in float64, with the running-mean normalizer's
 * decayed sums and per-query normalization (docs/definition.md §6) and a carried state (docs/definition.md §3).
 *
 * @module
 */

import { referenceInnerBackward, referenceMean } from "./inner_backward.ts";
import { referenceSlowForward } from "./slow_forward.ts";
import type { ReferenceCase, ReferenceFastState } from "./types.ts";

/**
 * Decayed exclusive cumulative sum over time within each sequence, from a carried sum:
 * `out[b,t] = λ^t·carried[b] + Σ_{s<t} λ^(t−1−s)·u[b,s]` for rows of `width` values (`u`
 * is `[B,T,width]`, `carried` `[B,width]`; λ = `decay`, default 1: the plain cumsum).
 */
export function referenceExclusiveCumsum(
  u: ArrayLike<number>,
  B: number,
  T: number,
  width: number,
  decay = 1,
  carried?: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(B * T * width);
  for (let b = 0; b < B; b++) {
    // λ-weighted Σ over the positions already passed
    const run = Float64Array.from({ length: width }, (_, j) => carried?.[b * width + j] ?? 0);
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * width;
      for (let j = 0; j < width; j++) {
        out[row + j] = run[j];
        run[j] = decay * run[j] + u[row + j];
      }
    }
  }
  return out;
}

/**
 * Decayed causal linear attention `A_λ(q,k,v)[t] = λ^t·q_t·S + Σ_{s<t} λ^(t−1−s)·(q_t·k_s)·v_s`
 * per sequence (`S` the carried `Σ k⊗v` `[B, dq, dv]`, default 0; λ = `decay`, default 1),
 * computed by mixed chunks as the kernels do: `L = ceil(T / chunks)`, chunk `c` is
 * `[c·L, min(T, (c+1)·L))` (so `chunks > T` and `T % chunks != 0` are fine). Inside a chunk:
 * quadratic attention with the mask `λ^(t−1−s)` for `s < t`; across chunks: the running
 * state, decayed by `λ^(chunk length)` before each chunk adds its
 * `Σ λ^(end−1−s)·k_s⊗v_s`, applied to a query `t` of a chunk starting at `c0` scaled by
 * `λ^(t−c0)`. `q`, `k` are `[B,T,dq]`, `v` is `[B,T,dv]`; the result is `[B,T,dv]`.
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
  decay = 1,
  carried?: ArrayLike<number>,
): Float64Array {
  if (!Number.isInteger(chunks) || chunks < 1) {
    throw new RangeError(`chunks must be a positive integer, got ${chunks}`);
  }
  const out = new Float64Array(B * T * dv);
  const L = Math.ceil(T / chunks);
  for (let b = 0; b < B; b++) {
    // λ-weighted Σ k_s ⊗ v_s over every position before the chunk
    const state = Float64Array.from(
      { length: dq * dv },
      (_, i) => carried?.[b * dq * dv + i] ?? 0,
    );
    for (let ck = 0; ck < chunks; ck++) {
      const start = ck * L, end = Math.min(T, (ck + 1) * L);
      if (start >= end) continue; // trailing empty chunks when chunks > T
      for (let t = start; t < end; t++) {
        const qt = (b * T + t) * dq, ot = (b * T + t) * dv;
        // inter-chunk: λ^(t−start)·q_t·state
        const age = decay ** (t - start);
        for (let i = 0; i < dq; i++) {
          const qi = age * q[qt + i];
          for (let j = 0; j < dv; j++) out[ot + j] += qi * state[i * dv + j];
        }
        // intra-chunk: strictly earlier positions of this chunk, masked λ^(t−1−s)
        for (let s = start; s < t; s++) {
          const ks = (b * T + s) * dq, vs = (b * T + s) * dv;
          let dot = 0;
          for (let i = 0; i < dq; i++) dot += q[qt + i] * k[ks + i];
          dot *= decay ** (t - 1 - s);
          for (let j = 0; j < dv; j++) out[ot + j] += dot * v[vs + j];
        }
      }
      // decay the state by the chunk's length, then fold the chunk in
      const fade = decay ** (end - start);
      for (let i = 0; i < dq * dv; i++) state[i] *= fade;
      for (let s = start; s < end; s++) {
        const ks = (b * T + s) * dq, vs = (b * T + s) * dv;
        const w = decay ** (end - 1 - s);
        for (let i = 0; i < dq; i++) {
          for (let j = 0; j < dv; j++) {
            state[i * dv + j] += w * k[ks + i] * v[vs + j];
          }
        }
      }
    }
  }
  return out;
}

/**
 * What each query's update is divided by besides the `N` folded into `g_z` (`N[b,t]` for
 * the running mean, else 1), as factors `[P]`.
 */
function queryFactors(P: number, queryN: Float64Array | undefined): Float64Array {
  return queryN ? queryN.map((n) => 1 / n) : new Float64Array(P).fill(1);
}

/** A float64 or float32 vector. */
type Vec = ArrayLike<number>;

/** `carried[key]` scaled by `factor`, or undefined. */
function scaled(
  st: ReferenceFastState | undefined,
  key: keyof ReferenceFastState,
  factor: number,
): Float64Array | undefined {
  return st?.[key].map((v) => v * factor);
}

/**
 * The fast logits `[B*T*V]` by the efficient form of docs/definition.md §2, with mixed chunk
 * attention of `c.attnChunks` chunks (and docs/definition.md §6's decayed sums and per-query
 * normalization for the running mean; a carried state adds the earlier windows).
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
  const lambda = referenceMean(c)?.decay ?? 1;
  const st = c.carried;
  const inv = queryFactors(P, g.queryN);
  // A carried state's sums are raw: a fixed N (folded into g_z) divides them too.
  const carry = 1 / g.N;
  // The two terms of a fast layer's update, each starting from the carried state's sum:
  // the kernel's A(q, k, u) (mixed chunk attention) and a bias's excl_cumsum(u).
  type Key = keyof ReferenceFastState;
  const attention = (q: Vec, k: Vec, u: Vec, dk: number, du: number, key: Key) =>
    referenceChunkAttention(q, k, u, B, T, dk, du, C, lambda, scaled(st, key, carry));
  const cumsum = (u: Vec, width: number, key: Key) =>
    referenceExclusiveCumsum(u, B, T, width, lambda, scaled(st, key, carry));

  // f1 = x·K0 + b0 − (step(K0)·A(x, x, g_h1) + step(b0)·excl_cumsum(g_h1)) / N[t]
  const attn0 = attention(c.x, c.x, g.gh1, D, H, "s0");
  const cum0 = cumsum(g.gh1, H, "sumH1");
  const sK0 = step("dense_0/kernel_step"), sb0 = step("dense_0/bias_step");
  const fa = new Float64Array(P * H);
  for (let i = 0; i < P * H; i++) {
    const f1 = slow.h1[i] - (sK0 * attn0[i] + sb0 * cum0[i]) * inv[Math.floor(i / H)];
    const r = Math.max(f1, 0);
    fa[i] = r * r; // fa = relu(f1)²
  }

  // f2 = fa·K1 + b1 − (step(K1)·A(fa, a, g_h2) + step(b1)·excl_cumsum(g_h2)) / N[t]
  // (the query is the fast activation fa, the keys are the slow activation a)
  const attn1 = attention(fa, slow.a, g.gh2, H, S, "s1");
  const cum1 = cumsum(g.gh2, S, "sumH2");
  const sK1 = step("dense_1/kernel_step"), sb1 = step("dense_1/bias_step");
  const f2 = new Float64Array(P * S);
  for (let p = 0; p < P; p++) {
    for (let j = 0; j < S; j++) {
      let acc = b1[j];
      for (let i = 0; i < H; i++) acc += fa[p * H + i] * K1[i * S + j];
      f2[p * S + j] = acc - (sK1 * attn1[p * S + j] + sb1 * cum1[p * S + j]) * inv[p];
    }
  }

  // scale_t = scale − step(scale)·excl_cumsum(g_n ⊙ n̂) / N[t] ; bias_t likewise with g_n
  const cumScale = cumsum(g.gnNhat, S, "sumGnNhat");
  const cumBias = cumsum(g.gn, S, "sumGn");
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
      const scaleT = scale[j] - sScale * cumScale[p * S + j] * inv[p];
      const biasT = bias[j] - sBias * cumBias[p * S + j] * inv[p];
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

/**
 * The state after the case's positions (docs/definition.md §3, §6): the carried state (zero without
 * one) decayed by `λ^T`, plus each position's raw inner-loss gradient (`g_z = (softmax −
 * y)·w`, no `N`) weighted `λ^(T−1−s)`, and the count likewise. Feeding it as `carried` to
 * the next window of the same sequences gives the logits of one long case.
 */
export function referenceAdvanceState(c: ReferenceCase): ReferenceFastState {
  const slow = referenceSlowForward(c); // also checks the case
  if ((c.normalizer ?? "batch") === "batch") {
    throw new RangeError("the batch normalizer can't be carried");
  }
  const g = referenceInnerBackward(c, slow);
  const { B, T, D, size: S } = c, H = 4 * S;
  const lambda = referenceMean(c)?.decay ?? 1;
  const raw = g.N; // undo a fixed N folded into g_z: the state's sums are raw
  const st = c.carried;
  const keep = (key: keyof ReferenceFastState, n: number) =>
    Float64Array.from({ length: n }, (_, i) => (st?.[key][i] ?? 0) * lambda ** T);
  const out: ReferenceFastState = {
    s0: keep("s0", B * D * H),
    s1: keep("s1", B * H * S),
    sumH1: keep("sumH1", B * H),
    sumH2: keep("sumH2", B * S),
    sumGnNhat: keep("sumGnNhat", B * S),
    sumGn: keep("sumGn", B * S),
    count: keep("count", B),
  };
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const p = b * T + t, w = lambda ** (T - 1 - t) * raw;
      out.count[b] += lambda ** (T - 1 - t) * c.weights[p];
      for (let i = 0; i < D; i++) {
        const xi = w * c.x[p * D + i];
        for (let j = 0; j < H; j++) out.s0[(b * D + i) * H + j] += xi * g.gh1[p * H + j];
      }
      for (let i = 0; i < H; i++) {
        const ai = w * slow.a[p * H + i];
        for (let j = 0; j < S; j++) out.s1[(b * H + i) * S + j] += ai * g.gh2[p * S + j];
      }
      for (let j = 0; j < H; j++) out.sumH1[b * H + j] += w * g.gh1[p * H + j];
      for (let j = 0; j < S; j++) {
        out.sumH2[b * S + j] += w * g.gh2[p * S + j];
        out.sumGnNhat[b * S + j] += w * g.gnNhat[p * S + j];
        out.sumGn[b * S + j] += w * g.gn[p * S + j];
      }
    }
  }
  return out;
}
