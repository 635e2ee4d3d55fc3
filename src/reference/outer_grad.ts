/**
 * The float64 CPU reference of the FWL outer loss and its gradients (docs/definition.md §4): the
 * oracle the GPU gradient kernels are checked against.
 *
 * - {@linkcode referenceLossAndGrads} records the efficient form (docs/definition.md §2) on an
 *   autodiff {@linkcode Tape}, with the inner backward written in differentiable ops, so
 *   the gradient includes the second-order path through `g_h1`, `g_h2`, `g_n`, `g_n⊙n̂`.
 * - {@linkcode referenceOuterLoss} is plain float64 code with no tape, written from the
 *   definition of docs/definition.md §1 (explicit per-position fast parameters), for finite
 *   differences and as an independent check of the efficient form.
 *
 * Neither uses `attnChunks`: the result is mathematically independent of the chunking.
 * Both take docs/definition.md §6's running mean (its decay λ gets a gradient, `"normalizer/decay"`)
 * and a carried state (a constant: the earlier windows get no gradient).
 *
 * @module
 */

import { FAST_PARAM_NAMES, PARAM_NAMES, STEP_NAMES } from "../fwl/params.ts";
import { DECAY_NAME } from "../fwl/normalizer.ts";
import { referenceMean } from "./inner_backward.ts";
import { referenceCheckNormalizer } from "./slow_forward.ts";
import type { ReferenceCase, ReferenceFastState, ReferenceMean } from "./types.ts";
import { Tape, type Tensor } from "./autodiff.ts";
import { layerNormParts, weightedCrossEntropy } from "./tape_layers.ts";

/** The outer loss and its gradient for every parameter name and for `"x"`. */
export interface ReferenceLossAndGrads {
  /** `Σ w·CE(fast_logits, y) / max(Σ w, 1e-8)`. */
  loss: number;
  /**
   * Gradient of `loss` by name: the 14 names of docs/definition.md §1 (same layout as the parameter;
   * step sizes as length-1 arrays), `"x"` (`[B,T,D]`), and for the running mean the
   * decay λ, `"normalizer/decay"` (length 1).
   */
  grads: Record<string, Float64Array>;
}

/** Options of {@linkcode referenceLossAndGrads}. */
export interface ReferenceGradOptions {
  /**
   * Stop the gradient through every inner gradient (first-order meta-learning): each
   * fast parameter becomes `P − step·stop_gradient(∇P)`, i.e. `g_h1`, `g_h2`, `g_n⊙n̂`,
   * `g_n` and the slow activations `x`, `a` they are paired with in the kernel updates
   * are constants, and so is the running mean's decayed, normalized sum (λ gets no
   * gradient). Default `false` (the exact, second-order gradient).
   */
  firstOrderOnly?: boolean;
}

/** Sizes and float64 copies of everything in a case, validated. */
interface Prepared {
  B: number;
  T: number;
  D: number;
  H: number;
  S: number;
  V: number;
  eps: number;
  /** Inner normalizer `N` folded into `g_z` (1 for the running mean). */
  innerN: number;
  /** The running mean's λ and n0, if it is the normalizer. */
  mean: Required<ReferenceMean> | undefined;
  /** The carried state, if any. */
  carried: ReferenceFastState | undefined;
  /** Outer normalizer `max(Σw, 1e-8)`. */
  outerN: number;
  x: Float64Array;
  w: Float64Array;
  /** Targets `[B*T, V]`; rows of weight-0 positions given by id are all zero. */
  y: Float64Array;
  p: Record<string, Float64Array>;
}

function prepare(c: ReferenceCase): Prepared {
  const { B, T, D, size: S, vocabSize: V } = c;
  const H = 4 * S;
  const BT = B * T;
  const expect = (what: string, got: number, want: number): void => {
    if (got !== want) {
      throw new RangeError(`${what}: length ${got}, expected ${want}`);
    }
  };
  expect("x", c.x.length, BT * D);
  expect("weights", c.weights.length, BT);
  const sizes: Record<string, number> = {
    "dense_0/kernel": D * H,
    "dense_0/bias": H,
    "dense_1/kernel": H * S,
    "dense_1/bias": S,
    "layer_norm/scale": S,
    "layer_norm/bias": S,
    "unembed/kernel": S * V,
    "unembed/bias": V,
  };
  const p: Record<string, Float64Array> = {};
  for (const name of PARAM_NAMES) {
    const v = c.params[name];
    if (v === undefined) throw new RangeError(`missing parameter ${name}`);
    expect(name, v.length, sizes[name] ?? 1);
    p[name] = Float64Array.from(v);
  }
  referenceCheckNormalizer(c);
  const w = Float64Array.from(c.weights);
  let sumW = 0;
  for (const v of w) sumW += v;
  const outerN = Math.max(sumW, 1e-8);
  const norm = c.normalizer ?? "batch";
  const mean = referenceMean(c);
  const innerN = norm === "batch" ? outerN : typeof norm === "number" ? norm : 1;
  const y = new Float64Array(BT * V);
  if ("ids" in c.labels) {
    const ids = c.labels.ids;
    expect("ids", ids.length, BT);
    for (let r = 0; r < BT; r++) {
      if (w[r] === 0) continue; // any id (e.g. -1) is allowed where the weight is 0
      const id = ids[r];
      if (!(id >= 0 && id < V)) {
        throw new RangeError(
          `label id ${id} at position ${r} is outside [0, ${V})`,
        );
      }
      y[r * V + id] = 1;
    }
  } else {
    expect("oneHot", c.labels.oneHot.length, BT * V);
    y.set(c.labels.oneHot);
  }
  return {
    B,
    T,
    D,
    H,
    S,
    V,
    eps: c.epsilon ?? 1e-6,
    innerN,
    mean,
    carried: c.carried,
    outerN,
    x: Float64Array.from(c.x),
    w,
    y,
    p,
  };
}

/**
 * The outer loss and its exact gradients (second-order path included) for every
 * parameter and for `x`, by reverse-mode autodiff of the efficient form (docs/definition.md §2).
 */
export function referenceLossAndGrads(
  c: ReferenceCase,
  opts: ReferenceGradOptions = {},
): ReferenceLossAndGrads {
  const q = prepare(c);
  const { B, T, D, H, S, V } = q;
  const BT = B * T;
  const tape = new Tape();
  const stop = (
    t: Tensor,
  ): Tensor => (opts.firstOrderOnly ? tape.detach(t) : t);

  const shapes: Record<string, [number, number]> = {
    "dense_0/kernel": [D, H],
    "dense_0/bias": [1, H],
    "dense_1/kernel": [H, S],
    "dense_1/bias": [1, S],
    "layer_norm/scale": [1, S],
    "layer_norm/bias": [1, S],
    "unembed/kernel": [S, V],
    "unembed/bias": [1, V],
  };
  const P: Record<string, Tensor> = {};
  for (const name of PARAM_NAMES) {
    P[name] = tape.leaf(q.p[name], shapes[name] ?? [1, 1]);
  }
  const x = tape.leaf(q.x, [BT, D]);
  const y = tape.constant(q.y, [BT, V]);
  const innerW = tape.constant(q.w.map((v) => v / q.innerN), [BT, 1]);
  const outerW = tape.constant(q.w.map((v) => v / q.outerN), [BT, 1]);
  const K0 = P["dense_0/kernel"], b0 = P["dense_0/bias"];
  const K1 = P["dense_1/kernel"], b1 = P["dense_1/bias"];
  const scale = P["layer_norm/scale"], bias = P["layer_norm/bias"];
  const Ku = P["unembed/kernel"], bu = P["unembed/bias"];
  const [sK0, sb0, sK1, sb1, sScale, sBias] = STEP_NAMES.map((n) => P[n]);
  // The running mean: λ (a leaf; constant in the update with firstOrderOnly) and N[b,t].
  const lambda = q.mean ? tape.leaf([q.mean.decay], [1, 1]) : undefined;
  const decay = lambda && stop(lambda);
  const queryN = q.mean
    ? tape.queryNormalizer(q.w, B, T, { decay, prior: q.mean.prior, count: q.carried?.count })
    : undefined;
  /** An update's summed terms over its query's `N` (the running mean's; else as they are). */
  const perQuery = (u: Tensor): Tensor => (queryN ? tape.div(u, queryN) : u);
  /** Decay and a carried sum (raw, so over a fixed `N` like `g_z`) for a sum over time. */
  const over = (key: keyof ReferenceFastState) => ({
    decay,
    carried: q.carried?.[key].map((v) => v / q.innerN),
  });

  // Slow forward, all positions.
  const h1 = tape.add(tape.matmul(x, K0), b0);
  const a = tape.square(tape.relu(h1));
  const h2 = tape.add(tape.matmul(a, K1), b1);
  const { nhat, sigma } = layerNormParts(tape, h2, q.eps);
  const n = tape.add(tape.mul(nhat, scale), bias);
  const z = tape.add(tape.matmul(n, Ku), bu);

  // Inner backward (docs/definition.md §2), in differentiable ops.
  const gz = tape.mul(tape.sub(tape.softmax(z), y), innerW);
  const gn = tape.matmulTransB(gz, Ku);
  const gnh = tape.mul(gn, scale);
  const gh2 = tape.div(
    tape.sub(
      tape.sub(gnh, tape.rowMean(gnh)),
      tape.mul(nhat, tape.rowMean(tape.mul(gnh, nhat))),
    ),
    sigma,
  );
  const ga = tape.matmulTransB(gh2, K1);
  const gh1 = tape.mul(ga, tape.mul(tape.relu(h1), tape.scalar(2)));
  const gnNhat = tape.mul(gn, nhat);

  // Fast forward (docs/definition.md §2, §6).
  const f1 = tape.sub(
    h1,
    perQuery(tape.add(
      tape.mul(tape.causalLinearAttention(x, stop(x), stop(gh1), B, T, over("s0")), sK0),
      tape.mul(tape.exclCumsum(stop(gh1), B, T, over("sumH1")), sb0),
    )),
  );
  const fa = tape.square(tape.relu(f1));
  const f2 = tape.sub(
    tape.add(tape.matmul(fa, K1), b1),
    perQuery(tape.add(
      tape.mul(tape.causalLinearAttention(fa, stop(a), stop(gh2), B, T, over("s1")), sK1),
      tape.mul(tape.exclCumsum(stop(gh2), B, T, over("sumH2")), sb1),
    )),
  );
  const scaleT = tape.sub(
    scale,
    perQuery(tape.mul(tape.exclCumsum(stop(gnNhat), B, T, over("sumGnNhat")), sScale)),
  );
  const biasT = tape.sub(
    bias,
    perQuery(tape.mul(tape.exclCumsum(stop(gn), B, T, over("sumGn")), sBias)),
  );
  const fastN = tape.add(
    tape.mul(layerNormParts(tape, f2, q.eps).nhat, scaleT),
    biasT,
  );
  const fastZ = tape.add(tape.matmul(fastN, Ku), bu);
  const loss = weightedCrossEntropy(tape, fastZ, y, outerW);

  tape.backward(loss);
  const grads: Record<string, Float64Array> = {};
  const gradOf = (t: Tensor): Float64Array => t.grad ?? new Float64Array(t.value.length);
  for (const name of PARAM_NAMES) grads[name] = gradOf(P[name]);
  grads["x"] = gradOf(x);
  if (lambda) grads[DECAY_NAME] = gradOf(lambda);
  return { loss: loss.value[0], grads };
}

/** Fast-parameter values of one position (docs/definition.md §1 names, float64). */
type ParamSet = Record<string, Float64Array>;

/** Everything one position's forward keeps. */
interface PositionForward {
  h1: Float64Array;
  a: Float64Array;
  nhat: Float64Array;
  sigma: number;
  z: Float64Array;
}

/** The slow forward `f(θ, x)` of one position (docs/definition.md §1), parameters `p`. */
function forwardOne(
  q: Prepared,
  p: ParamSet,
  xr: Float64Array,
): PositionForward {
  const { D, H, S, V } = q;
  const K0 = p["dense_0/kernel"], b0 = p["dense_0/bias"];
  const K1 = p["dense_1/kernel"], b1 = p["dense_1/bias"];
  const scale = p["layer_norm/scale"], bias = p["layer_norm/bias"];
  const Ku = q.p["unembed/kernel"], bu = q.p["unembed/bias"];
  const h1 = Float64Array.from(b0);
  for (let i = 0; i < D; i++) {
    for (let j = 0; j < H; j++) h1[j] += xr[i] * K0[i * H + j];
  }
  const a = h1.map((v) => (v > 0 ? v * v : 0));
  const h2 = Float64Array.from(b1);
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < S; j++) h2[j] += a[i] * K1[i * S + j];
  }
  let mu = 0;
  for (const v of h2) mu += v / S;
  let variance = 0;
  for (const v of h2) variance += (v - mu) * (v - mu) / S;
  const sigma = Math.sqrt(variance + q.eps);
  const nhat = h2.map((v) => (v - mu) / sigma);
  const z = Float64Array.from(bu);
  for (let i = 0; i < S; i++) {
    const ni = nhat[i] * scale[i] + bias[i];
    for (let j = 0; j < V; j++) z[j] += ni * Ku[i * V + j];
  }
  return { h1, a, nhat, sigma, z };
}

/** Softmax of a vector. */
function softmaxOf(z: Float64Array): Float64Array {
  const mx = Math.max(...z);
  const e = z.map((v) => Math.exp(v - mx));
  let s = 0;
  for (const v of e) s += v;
  return e.map((v) => v / s);
}

/**
 * The outer loss `Σ w·CE(fast_logits, y) / max(Σw, 1e-8)` in plain float64 code (no
 * tape), straight from docs/definition.md §1 and §6: for each sequence, each position's fast
 * parameters are the slow ones minus `step ×` the summed inner-loss gradient of the
 * earlier positions (each weighted `λ^(t−1−s)` and the sum divided by `N[b,t]` for the
 * running mean; a carried state's raw sums start the sum).
 */
export function referenceOuterLoss(c: ReferenceCase): number {
  const q = prepare(c);
  const { B, T, D, H, S, V } = q;
  const K1 = q.p["dense_1/kernel"], scale = q.p["layer_norm/scale"];
  const Ku = q.p["unembed/kernel"];
  const lambda = q.mean?.decay ?? 1;
  const carriedKey: Record<string, keyof ReferenceFastState> = {
    "dense_0/kernel": "s0",
    "dense_0/bias": "sumH1",
    "dense_1/kernel": "s1",
    "dense_1/bias": "sumH2",
    "layer_norm/scale": "sumGnNhat",
    "layer_norm/bias": "sumGn",
  };
  let loss = 0;
  for (let b = 0; b < B; b++) {
    // Decayed sum of the inner-loss gradients of positions s < t of this sequence (over
    // a fixed N like g_z; raw for the running mean), per fast parameter, and their count.
    const G: ParamSet = {};
    for (const name of FAST_PARAM_NAMES) {
      const n = q.p[name].length;
      const carried = q.carried?.[carriedKey[name]];
      G[name] = Float64Array.from({ length: n }, (_, i) => (carried?.[b * n + i] ?? 0) / q.innerN);
    }
    let count = q.carried?.count[b] ?? 0;
    for (let t = 0; t < T; t++) {
      const r = b * T + t;
      const xr = q.x.subarray(r * D, (r + 1) * D);
      const w = q.w[r];
      const N = q.mean ? Math.max(q.mean.prior + count, 1e-8) : 1;
      const yr = q.y.subarray(r * V, (r + 1) * V);

      // Outer loss at t with the fast parameters.
      if (w !== 0) {
        const fast: ParamSet = {};
        FAST_PARAM_NAMES.forEach((name, i) => {
          const step = q.p[STEP_NAMES[i]][0];
          fast[name] = q.p[name].map((v, j) => v - step * G[name][j] / N);
        });
        const fz = forwardOne(q, fast, xr).z;
        const mx = Math.max(...fz);
        let s = 0;
        for (const v of fz) s += Math.exp(v - mx);
        const lse = mx + Math.log(s);
        let ce = 0;
        for (let v = 0; v < V; v++) ce -= yr[v] * (fz[v] - lse);
        loss += w * ce / q.outerN;
      }

      // The earlier terms fade; position t's inner-loss gradient at the slow parameters joins.
      for (const name of FAST_PARAM_NAMES) G[name] = G[name].map((v) => lambda * v);
      count = lambda * count + w;
      if (w === 0) continue;
      const f = forwardOne(q, q.p, xr);
      const pz = softmaxOf(f.z);
      const gz = pz.map((v, j) => (v - yr[j]) * w / q.innerN);
      const gn = new Float64Array(S);
      for (let i = 0; i < S; i++) {
        for (let j = 0; j < V; j++) gn[i] += gz[j] * Ku[i * V + j];
      }
      const gnh = gn.map((v, i) => v * scale[i]);
      let m1 = 0, m2 = 0;
      for (let i = 0; i < S; i++) {
        m1 += gnh[i] / S;
        m2 += gnh[i] * f.nhat[i] / S;
      }
      const gh2 = gnh.map((v, i) => (v - m1 - f.nhat[i] * m2) / f.sigma);
      const gh1 = new Float64Array(H);
      for (let i = 0; i < H; i++) {
        let ga = 0;
        for (let j = 0; j < S; j++) ga += gh2[j] * K1[i * S + j];
        gh1[i] = ga * 2 * Math.max(f.h1[i], 0);
      }
      for (let i = 0; i < D; i++) {
        for (let j = 0; j < H; j++) {
          G["dense_0/kernel"][i * H + j] += xr[i] * gh1[j];
        }
      }
      for (let j = 0; j < H; j++) G["dense_0/bias"][j] += gh1[j];
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < S; j++) {
          G["dense_1/kernel"][i * S + j] += f.a[i] * gh2[j];
        }
      }
      for (let j = 0; j < S; j++) {
        G["dense_1/bias"][j] += gh2[j];
        G["layer_norm/scale"][j] += gn[j] * f.nhat[j];
        G["layer_norm/bias"][j] += gn[j];
      }
    }
  }
  return loss;
}
