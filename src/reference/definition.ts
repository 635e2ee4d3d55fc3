/**
 * The fast logits computed literally from the definition of docs/definition.md §1 (and §6): one SGD
 * step per position on the inner loss of the earlier positions, by plain per-position
 * backprop. O(T²) per sequence; it exists only to check the efficient form.
 *
 * @module
 */

import { referenceMean, referenceNormalizer } from "./inner_backward.ts";
import { referenceCheckCase } from "./slow_forward.ts";
import type { ReferenceCase } from "./types.ts";

/** The six fast parameters (or their gradients), as float64 copies. */
interface Fast {
  K0: Float64Array;
  b0: Float64Array;
  K1: Float64Array;
  b1: Float64Array;
  scale: Float64Array;
  bias: Float64Array;
}

/** The intermediates of the slow forward at one position. */
interface Position {
  x: Float64Array;
  h1: Float64Array;
  a: Float64Array;
  h2: Float64Array;
  mu: number;
  variance: number;
  nhat: Float64Array;
  logits: Float64Array;
}

/**
 * The fast logits `[B*T*V]` straight from the definition (docs/definition.md §1): for each sequence
 * `b` and position `t`, the gradient of `Σ_{s<t} w·CE/N` with respect to every fast
 * parameter is accumulated by backprop through each earlier position separately, every
 * parameter takes one SGD step with its own step size, and the slow forward runs at
 * `x[b,t]` with the stepped parameters. With the running mean (docs/definition.md §6) the inner loss
 * at `t` is `Σ_{s<t} λ^(t−1−s)·w·CE / N[b,t]`, `N[b,t] = max(n0 + Σ_{s<t} λ^(t−1−s)·w, 1e-8)`
 * counted from a carried state's count; a carried state's sums (the raw gradients of the
 * earlier windows) join the sum weighted `λ^t`. The cross-entropy is taken literally
 * (`∂CE/∂z = softmax(z)·Σy − y`), so it agrees with the efficient form whenever each
 * weighted label row sums to 1.
 */
export function referenceDefinition(c: ReferenceCase): Float64Array {
  referenceCheckCase(c);
  const { B, T, D, size: S, vocabSize: V } = c;
  const eps = c.epsilon ?? 1e-6;
  const mean = referenceMean(c);
  // The batch or fixed N; a running mean's is per position (below).
  const fixedN = mean ? 1 : referenceNormalizer(c);
  const lambda = mean?.decay ?? 1;
  const prm = c.params;
  const slow: Fast = {
    K0: Float64Array.from(prm["dense_0/kernel"]),
    b0: Float64Array.from(prm["dense_0/bias"]),
    K1: Float64Array.from(prm["dense_1/kernel"]),
    b1: Float64Array.from(prm["dense_1/bias"]),
    scale: Float64Array.from(prm["layer_norm/scale"]),
    bias: Float64Array.from(prm["layer_norm/bias"]),
  };
  const steps: Record<keyof Fast, number> = {
    K0: prm["dense_0/kernel_step"][0],
    b0: prm["dense_0/bias_step"][0],
    K1: prm["dense_1/kernel_step"][0],
    b1: prm["dense_1/bias_step"][0],
    scale: prm["layer_norm/scale_step"][0],
    bias: prm["layer_norm/bias_step"][0],
  };
  const Ku = Float64Array.from(prm["unembed/kernel"]);
  const bu = Float64Array.from(prm["unembed/bias"]);
  const dims = { D, S, V, eps, Ku, bu };
  const out = new Float64Array(B * T * V);

  const H = 4 * S;
  const st = c.carried;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      // ∂/∂P Σ_{s<t} λ^(t−1−s)·w[b,s]·CE(f(θ, x[b,s]), y[b,s]) / N, at the slow parameters,
      // the earlier windows' raw gradients (weighted λ^t) included
      let count = (st?.count[b] ?? 0) * lambda ** t;
      for (let s = 0; s < t; s++) count += lambda ** (t - 1 - s) * c.weights[b * T + s];
      const N = mean ? Math.max(mean.prior + count, 1e-8) : fixedN;
      const grad = zerosLike(slow);
      if (st) {
        const old = lambda ** t / N;
        const slice = (u: Float64Array, n: number) => u.subarray(b * n, (b + 1) * n);
        addScaled(grad.K0, slice(st.s0, D * H), old);
        addScaled(grad.b0, slice(st.sumH1, H), old);
        addScaled(grad.K1, slice(st.s1, H * S), old);
        addScaled(grad.b1, slice(st.sumH2, S), old);
        addScaled(grad.scale, slice(st.sumGnNhat, S), old);
        addScaled(grad.bias, slice(st.sumGn, S), old);
      }
      for (let s = 0; s < t; s++) {
        const p = b * T + s;
        const w = c.weights[p];
        if (w === 0) continue; // no loss term, whatever the label
        const pos = forwardAt(slow, xRow(c, p), dims);
        backwardAt(slow, pos, labelRow(c, p), lambda ** (t - 1 - s) * w / N, dims, grad);
      }
      // P[b,t] = P − step_P · grad_P
      const fast = zerosLike(slow);
      for (const key of Object.keys(slow) as (keyof Fast)[]) {
        for (let i = 0; i < slow[key].length; i++) {
          fast[key][i] = slow[key][i] - steps[key] * grad[key][i];
        }
      }
      // fast_logits[b,t] = f(θ with every P replaced by P[b,t], x[b,t])
      const pos = forwardAt(fast, xRow(c, b * T + t), dims);
      out.set(pos.logits, (b * T + t) * V);
    }
  }
  return out;
}

type Dims = {
  D: number;
  S: number;
  V: number;
  eps: number;
  Ku: Float64Array;
  bu: Float64Array;
};

/** `acc += factor · u`. */
function addScaled(acc: Float64Array, u: ArrayLike<number>, factor: number): void {
  for (let i = 0; i < acc.length; i++) acc[i] += factor * u[i];
}

function zerosLike(f: Fast): Fast {
  return {
    K0: new Float64Array(f.K0.length),
    b0: new Float64Array(f.b0.length),
    K1: new Float64Array(f.K1.length),
    b1: new Float64Array(f.b1.length),
    scale: new Float64Array(f.scale.length),
    bias: new Float64Array(f.bias.length),
  };
}

function xRow(c: ReferenceCase, p: number): Float64Array {
  return Float64Array.from(c.x.subarray(p * c.D, (p + 1) * c.D));
}

/** The label distribution `y` of position `p` as a dense row. */
function labelRow(c: ReferenceCase, p: number): Float64Array {
  const V = c.vocabSize;
  if ("oneHot" in c.labels) {
    return Float64Array.from(c.labels.oneHot.subarray(p * V, (p + 1) * V));
  }
  const id = c.labels.ids[p];
  if (!(id >= 0 && id < V)) {
    throw new RangeError(`label id ${id} at weighted position ${p}`);
  }
  const y = new Float64Array(V);
  y[id] = 1;
  return y;
}

/** The slow forward `f(θ, x)` of docs/definition.md §1 at one position. */
function forwardAt(f: Fast, x: Float64Array, d: Dims): Position {
  const { D, S, V, eps, Ku, bu } = d;
  const H = 4 * S;
  const h1 = new Float64Array(H), a = new Float64Array(H);
  for (let j = 0; j < H; j++) {
    h1[j] = f.b0[j];
    for (let i = 0; i < D; i++) h1[j] += x[i] * f.K0[i * H + j];
    a[j] = Math.max(h1[j], 0) ** 2;
  }
  const h2 = new Float64Array(S);
  for (let j = 0; j < S; j++) {
    h2[j] = f.b1[j];
    for (let i = 0; i < H; i++) h2[j] += a[i] * f.K1[i * S + j];
  }
  let mu = 0;
  for (let j = 0; j < S; j++) mu += h2[j] / S;
  let variance = 0;
  for (let j = 0; j < S; j++) variance += (h2[j] - mu) ** 2 / S;
  const nhat = new Float64Array(S), n = new Float64Array(S);
  for (let j = 0; j < S; j++) {
    nhat[j] = (h2[j] - mu) / Math.sqrt(variance + eps);
    n[j] = nhat[j] * f.scale[j] + f.bias[j];
  }
  const logits = new Float64Array(V);
  for (let u = 0; u < V; u++) {
    logits[u] = bu[u];
    for (let j = 0; j < S; j++) logits[u] += n[j] * Ku[j * V + u];
  }
  return { x, h1, a, h2, mu, variance, nhat, logits };
}

/**
 * Adds `coef · ∂CE(f(θ, x), y)/∂P` for every fast parameter `P` to `grad`, by the chain
 * rule through each forward operation in reverse (the layer norm through μ and the
 * variance explicitly, not the closed form the efficient path uses).
 */
function backwardAt(
  f: Fast,
  pos: Position,
  y: Float64Array,
  coef: number,
  d: Dims,
  grad: Fast,
): void {
  const { D, S, V, eps, Ku } = d;
  const H = 4 * S;
  // CE(z, y) = −Σ_v y_v·log softmax(z)_v  ⇒  ∂CE/∂z = softmax(z)·Σy − y
  let max = -Infinity;
  for (let u = 0; u < V; u++) max = Math.max(max, pos.logits[u]);
  let z = 0, ySum = 0;
  for (let u = 0; u < V; u++) {
    z += Math.exp(pos.logits[u] - max);
    ySum += y[u];
  }
  const dz = new Float64Array(V);
  for (let u = 0; u < V; u++) {
    dz[u] = coef * (Math.exp(pos.logits[u] - max) / z * ySum - y[u]);
  }
  // logits = n·Ku + bu
  const dn = new Float64Array(S);
  for (let j = 0; j < S; j++) {
    for (let u = 0; u < V; u++) dn[j] += dz[u] * Ku[j * V + u];
  }
  // n = nhat ⊙ scale + bias
  const dnhat = new Float64Array(S);
  for (let j = 0; j < S; j++) {
    grad.scale[j] += dn[j] * pos.nhat[j];
    grad.bias[j] += dn[j];
    dnhat[j] = dn[j] * f.scale[j];
  }
  // nhat_j = (h2_j − μ)·r,  r = (var + ε)^(−1/2),  var = Σ_j (h2_j − μ)² / S,  μ = Σ_j h2_j / S
  const r = 1 / Math.sqrt(pos.variance + eps);
  let dr = 0;
  for (let j = 0; j < S; j++) dr += dnhat[j] * (pos.h2[j] - pos.mu);
  const dvar = dr * -0.5 * r * r * r;
  const dcent = new Float64Array(S); // gradient w.r.t. the centered h2_j − μ
  for (let j = 0; j < S; j++) {
    dcent[j] = dnhat[j] * r + dvar * 2 * (pos.h2[j] - pos.mu) / S;
  }
  let dmu = 0;
  for (let j = 0; j < S; j++) dmu -= dcent[j];
  const dh2 = new Float64Array(S);
  for (let j = 0; j < S; j++) dh2[j] = dcent[j] + dmu / S;
  // h2 = a·K1 + b1
  const da = new Float64Array(H);
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < S; j++) {
      grad.K1[i * S + j] += pos.a[i] * dh2[j];
      da[i] += dh2[j] * f.K1[i * S + j];
    }
  }
  for (let j = 0; j < S; j++) grad.b1[j] += dh2[j];
  // a = relu(h1)²  ⇒  ∂a/∂h1 = 2·relu(h1)
  const dh1 = new Float64Array(H);
  for (let i = 0; i < H; i++) dh1[i] = da[i] * 2 * Math.max(pos.h1[i], 0);
  // h1 = x·K0 + b0
  for (let i = 0; i < D; i++) {
    for (let j = 0; j < H; j++) grad.K0[i * H + j] += pos.x[i] * dh1[j];
  }
  for (let j = 0; j < H; j++) grad.b0[j] += dh1[j];
}
