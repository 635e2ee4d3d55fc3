/**
 * The hand-written backward of the inner loss `L_in` (docs/definition.md §2), in float64, and the
 * normalizers it is divided by (docs/definition.md §1, §6).
 *
 * @module
 */

import type {
  ReferenceCase,
  ReferenceInnerBackward,
  ReferenceMean,
  ReferenceSlowForward,
} from "./types.ts";

/**
 * The normalizer `N` folded into `g_z`: `max(Σ w, 1e-8)` over the whole batch for
 * `"batch"` (the default), the fixed number the caller asked for, or 1 for the running
 * mean (whose `N` is per query: {@linkcode referenceQueryNormalizers}).
 */
export function referenceNormalizer(
  c: Pick<ReferenceCase, "weights" | "normalizer">,
): number {
  const mode = c.normalizer ?? "batch";
  if (typeof mode === "object") return 1;
  if (mode !== "batch") return mode;
  let sum = 0;
  for (let i = 0; i < c.weights.length; i++) sum += c.weights[i];
  return Math.max(sum, 1e-8);
}

/** The running mean's `λ` and `n0` with defaults, or `undefined` for the other normalizers. */
export function referenceMean(
  c: Pick<ReferenceCase, "normalizer">,
): Required<ReferenceMean> | undefined {
  const n = c.normalizer;
  if (typeof n !== "object") return undefined;
  return { decay: n.decay ?? 1, prior: n.prior ?? 0 };
}

/**
 * `N[b,t] = max(n0 + λ^t·count_b + Σ_{s<t} λ^(t−1−s)·w[b,s], 1e-8)` for every position
 * of a case with the running-mean normalizer (docs/definition.md §6), `count_b` the carried count
 * (0 without a carried state); `[B*T]`.
 */
export function referenceQueryNormalizers(
  c: Pick<ReferenceCase, "B" | "T" | "weights" | "normalizer" | "carried">,
): Float64Array {
  const mean = referenceMean(c);
  if (!mean) throw new RangeError("query normalizers need the running-mean normalizer");
  const { B, T } = c;
  const out = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    let count = c.carried?.count[b] ?? 0;
    for (let t = 0; t < T; t++) {
      out[b * T + t] = Math.max(mean.prior + count, 1e-8);
      count = mean.decay * count + c.weights[b * T + t];
    }
  }
  return out;
}

/**
 * Runs the backward of `L_in` for all positions at once, line by line as docs/definition.md §2 (with
 * the running mean, `g_z = (softmax − y)·w` and each query divides by its own `N`,
 * docs/definition.md §6).
 * A position of weight 0 contributes exactly nothing, whatever its label (so its id may
 * be -1 or out of range); a weighted position with an id outside `[0, V)` throws.
 */
export function referenceInnerBackward(
  c: ReferenceCase,
  slow: ReferenceSlowForward,
): ReferenceInnerBackward {
  const { B, T, size: S, vocabSize: V } = c;
  const H = 4 * S;
  const P = B * T;
  const K1 = c.params["dense_1/kernel"];
  const scale = c.params["layer_norm/scale"];
  const Ku = c.params["unembed/kernel"];
  const N = referenceNormalizer(c);
  const gz = new Float64Array(P * V), gn = new Float64Array(P * S);
  const gh2 = new Float64Array(P * S), gh1 = new Float64Array(P * H);
  const gnNhat = new Float64Array(P * S);
  const gnh = new Float64Array(S); // g_n̂ of one position
  for (let p = 0; p < P; p++) {
    const w = c.weights[p];
    if (w === 0) continue; // contributes nothing; its label may be anything
    // g_z = (softmax(logits) − y)·w/N
    let max = -Infinity;
    for (let u = 0; u < V; u++) max = Math.max(max, slow.logits[p * V + u]);
    let sum = 0;
    for (let u = 0; u < V; u++) sum += Math.exp(slow.logits[p * V + u] - max);
    for (let u = 0; u < V; u++) {
      gz[p * V + u] = Math.exp(slow.logits[p * V + u] - max) / sum;
    }
    if ("ids" in c.labels) {
      const id = c.labels.ids[p];
      if (!(id >= 0 && id < V)) {
        throw new RangeError(`label id ${id} at weighted position ${p}`);
      }
      gz[p * V + id] -= 1;
    } else {
      for (let u = 0; u < V; u++) gz[p * V + u] -= c.labels.oneHot[p * V + u];
    }
    for (let u = 0; u < V; u++) gz[p * V + u] *= w / N;
    // g_n = g_z·Kuᵀ ; g_n̂ = g_n ⊙ scale
    for (let j = 0; j < S; j++) {
      let acc = 0;
      for (let u = 0; u < V; u++) acc += gz[p * V + u] * Ku[j * V + u];
      gn[p * S + j] = acc;
      gnNhat[p * S + j] = acc * slow.nhat[p * S + j];
      gnh[j] = acc * scale[j];
    }
    // g_h2 = (g_n̂ − mean(g_n̂) − n̂·mean(g_n̂ ⊙ n̂)) / σ
    let m1 = 0, m2 = 0;
    for (let j = 0; j < S; j++) {
      m1 += gnh[j];
      m2 += gnh[j] * slow.nhat[p * S + j];
    }
    m1 /= S;
    m2 /= S;
    for (let j = 0; j < S; j++) {
      gh2[p * S + j] = (gnh[j] - m1 - slow.nhat[p * S + j] * m2) *
        slow.rstd[p];
    }
    // g_a = g_h2·K1ᵀ ; g_h1 = g_a ⊙ 2·relu(h1)
    for (let i = 0; i < H; i++) {
      let ga = 0;
      for (let j = 0; j < S; j++) ga += gh2[p * S + j] * K1[i * S + j];
      gh1[p * H + i] = ga * 2 * Math.max(slow.h1[p * H + i], 0);
    }
  }
  const queryN = referenceMean(c) ? referenceQueryNormalizers(c) : undefined;
  return { N, ...(queryN ? { queryN } : {}), gz, gn, gh2, gh1, gnNhat };
}
