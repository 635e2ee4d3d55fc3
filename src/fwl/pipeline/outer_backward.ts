/**
 * The hand-written backward of the FWL outer loss (docs/definition.md §4) through the efficient
 * form (docs/definition.md §2), second-order path included, recorded into one command encoder.
 *
 * Forward (per position; `C` = exclusive cumsum over time, `A(q,k,v)[t] = Σ_{s<t} (q_t·k_s) v_s`):
 *
 * ```
 * f1 = h1 − s0·A(x, x, g_h1) − s1·C(g_h1)        fa = relu(f1)²
 * f2 = fa·K1 + b1 − s2·A(fa, a, g_h2) − s3·C(g_h2)
 * scale_t = scale − s4·C(g_n⊙n̂)     bias_t = bias − s5·C(g_n)
 * nf = LN(f2) ⊙ scale_t + bias_t     Z = nf·Ku + bu     L = Σ w·CE(Z, y) / max(Σw, 1e-8)
 * ```
 *
 * Backward, with `Cʳ` the reverse exclusive cumsum (`Σ_{t>s}`) and `Aʳ` anti-causal
 * attention (see `train_attention.ts`), in the order recorded:
 *
 * 1. `dZ` per row tile (never `[B,T,V]` at once) → `dKu += nfᵀdZ`, `dbu += Σ dZ`, `dnf = dZ·Kuᵀ`.
 * 2. Fast layer norm: `d scale_t = dnf⊙f̂`, `d bias_t = dnf`, `df2 = LNᵀ(dnf⊙scale_t)`.
 * 3. `dK1 += faᵀdf2`, `dfa = df2·K1ᵀ − s2·A(df2, g_h2, a)`, `df1 = dfa ⊙ 2relu(f1)`,
 *    `dx = −s0·A(df1, g_h1, x)`; step sizes `ds_i = −⟨update_i, cotangent⟩`, e.g.
 *    `ds2 = −⟨fa, A(df2, g_h2, a)⟩`, `ds3 = −⟨g_h2, Cʳ(df2)⟩`.
 * 4. Second order (skipped by `firstOrderOnly`): cotangents of the inner gradients,
 *    `G_h1 = −s0·Aʳ(x, x, df1) − s1·Cʳ(df1)`, `G_h2 = −s2·Aʳ(a, fa, df2) − s3·Cʳ(df2)`,
 *    `G_gn⊙n̂ = −s4·Cʳ(d scale_t)`, `G_gn = −s5·Cʳ(dnf)`, and of the attention keys
 *    (`dx += −s0·Aʳ(g_h1, df1, x)`, `da = −s2·Aʳ(g_h2, df2, fa)`), pushed back through
 *    the inner backward (`g_h1 = g_a⊙2relu(h1)`, `g_a = g_h2·K1ᵀ`, the layer-norm
 *    backward, `g_n = g_z·Kuᵀ`, `g_z = w/N·(softmax(z) − y)` whose Jacobian is
 *    `w/N·(diag p − p pᵀ)`, per row tile again) and the slow forward into θ and `x`.
 * 5. `dK0 += xᵀdh1`, `db0 += Σ dh1`, `dx += dh1·K0ᵀ`.
 *
 * With the running mean of docs/definition.md §6 each update is divided by its query's `N[b,t]`
 * (`r = 1/N`, kept by the forward) and its sums decay by λ: every update's cotangent is
 * taken over its query's `N` first (`ĝ = r⊙df1`, …), every `A`, `Aʳ`, `C`, `Cʳ` above is
 * the decayed one, and a carried state (a constant) adds its terms: `λ^t·ĝ·Sᵀ` into the
 * queries' cotangents and `⟨sum, Σ_t λ^t ĝ_t⟩` into the bias-like step sizes. The decay's
 * own gradient (when the block has λ) uses `∂λ^(t−1−s)/∂λ = (t − (s+1))·λ^(t−2−s)`: every
 * update term gives per query the dot of what it read with its cotangent (`ε_t`, weighted
 * by `t` and, through `N`, by the count) and per earlier position the dot of its value
 * with the value's cotangent (weighted by `s+1`), which the second-order path has; see
 * `shaders/decay_grad.wgsl`.
 *
 * Memory: scratch is taken right before its first use and handed back to the recorder
 * (`Recorder.reuse`) right after the last op that reads it, kept activations included;
 * cheap intermediates (`Cʳ(df1)`, `Cʳ(df2)`, `g_a`) are recomputed where the second-order
 * path needs them rather than held across it.
 *
 * @module
 */

import type { Binding, Recorder } from "../../gpu/recorder.ts";
import { matmul, matmulNN, matmulNT, matmulTN } from "../../kernels/matmul.ts";
import { seqAttention } from "../../kernels/chunk_attention_backward.ts";
import { elementwise } from "../../kernels/elementwise.ts";
import { fill } from "../../kernels/elementwise.ts";
import { colsum } from "../../kernels/reductions.ts";
import { dot, rowDot } from "../../kernels/reductions.ts";
import { cumsumUpdate, reverseCumsum } from "../../kernels/cumsum.ts";
import { decayGrad } from "../../kernels/running_count.ts";
import { layerNormBackwardInput, layerNormInnerVJP } from "../../kernels/layer_norm.ts";
import type { LogitTiling } from "./logit_tile_plan.ts";
import type { GradBuffers } from "../grad_buffers.ts";
import { isMean } from "../normalizer.ts";
import { DECAY_INDEX } from "../params.ts";
import { type HeadActivations, type HeadForwardArgs, headLogits, headTargets } from "./forward.ts";
import { innerSoftmaxVJPTiles, outerCrossEntropy, upstreamGrad } from "./logits_tiles.ts";

/** Everything {@linkcode recordOuterBackward} needs. */
export interface OuterBackwardArgs extends HeadForwardArgs {
  /** The activations of `recordHeadForward(…, keep = true)`. */
  kept: HeadActivations;
  /** Receives (or, with `accumulate`, adds) the parameter gradients. */
  grads: GradBuffers;
  accumulate: boolean;
  /** Receives `dL/dx` `[B·T·D]` (always overwritten). */
  dx: GPUBuffer;
  /** Receives the loss (one float); unused with `upstream`. */
  loss: GPUBuffer | undefined;
  /** `dL/dlogits` `[B·T·V]` replacing the built-in cross-entropy. */
  upstream: GPUBuffer | undefined;
  firstOrderOnly: boolean;
  /** The logits tiles (as given to the forward). */
  tiling: LogitTiling;
}

/** Sizes, buffers and small helpers both halves of the backward share. */
function kit(rec: Recorder, o: OuterBackwardArgs) {
  const M = o.batch * o.time, S = o.size, T = o.time;
  const decay = o.decay;
  const r = o.kept.rowScale;
  const step = (index: number) => ({ buffer: o.params.steps, index });
  /** The gradient of λ is gathered (the block has λ; the second-order path is on). */
  const learnsDecay = decay !== undefined && !o.firstOrderOnly;
  // λ's gradient: ε_t per query, and the age-weighted terms (one float).
  const eps = learnsDecay ? rec.scratch(M * 4) : undefined;
  const part = learnsDecay ? rec.scratch(4) : undefined;
  if (eps && part) {
    fill(rec, eps, M);
    fill(rec, part, 1);
  }
  return {
    M,
    D: o.inputSize,
    S,
    H: 4 * S,
    V: o.vocabSize,
    p: o.params,
    k: o.kept,
    g: o.grads,
    st: o.state,
    decay,
    eps,
    part,
    step,
    buf: (elements: number) => rec.scratch(elements * 4),
    /** `c += aᵀ·b` for `[M, m]` a and `[M, n]` b (a weight gradient). */
    addTN: (a: Binding, m: number, b: Binding, n: number, c: Binding) =>
      matmulTN(rec, { x: a, g: b, out: c, rows: M, m, n, beta: 1 }),
    colAdd: (a: Binding, width: number, out: Binding, b?: Binding) =>
      colsum(rec, { a, b, rows: M, width, out, accumulate: true }),
    /** `out (+)= −s_i·a (⊙ b)` over `[M, width]` (`add` accumulates). */
    minusStep: (out: Binding, a: Binding, i: number, width: number, add: boolean, b?: Binding) =>
      elementwise(rec, {
        count: M * width,
        out,
        a,
        b,
        alpha: -1,
        step: step(i),
        beta: add ? 1 : undefined,
      }),
    /**
     * A cotangent of updates over their queries' `N`: `r⊙u` (fresh scratch) for the
     * running mean, else `u` itself (its `N` is in the inner gradients).
     */
    perQuery: (u: GPUBuffer, width: number): GPUBuffer => {
      if (!r) return u;
      const out = rec.scratch(M * width * 4);
      elementwise(rec, { count: M * width, out, a: u, b: r, rowWidth: width });
      return out;
    },
    /** Gives back a cotangent `perQuery` made (not its source). */
    donePerQuery: (u: GPUBuffer, source: GPUBuffer) => {
      if (u !== source) rec.reuse(u);
    },
    /**
     * `out = Cʳ(u)` over `[B, T, width]` (decayed); with `carry`, the carried sum's
     * cotangent `Σ_t λ^t u_t` goes to `ds_i −= ⟨carry, ·⟩`.
     */
    cumsumR: (u: Binding, width: number, out: Binding, carry?: { sum: GPUBuffer; i: number }) => {
      const carryOut = carry ? rec.scratch(o.batch * width * 4) : undefined;
      reverseCumsum(rec, { batch: o.batch, time: T, width, u, out, decay, carryOut });
      if (carry && carryOut) {
        const count = o.batch * width;
        dot(rec, {
          a: carry.sum,
          b: carryOut,
          count,
          out: o.grads.steps,
          index: carry.i,
          alpha: -1,
          accumulate: true,
        });
        rec.reuse(carryOut);
      }
    },
    /** `out += A(q, k, v)` (causal), or with `i`, `out += −s_i·Aʳ(q, k, v)` (anti-causal). */
    attend: (
      q: GPUBuffer,
      k: GPUBuffer,
      v: GPUBuffer,
      out: GPUBuffer,
      dq: number,
      dv: number,
      i?: number,
    ) =>
      seqAttention(rec, {
        batch: o.batch,
        time: T,
        chunks: o.attnChunks,
        q,
        k,
        v,
        out,
        dq,
        dv,
        reverse: i !== undefined,
        ...(i === undefined ? {} : { alpha: -1, step: step(i) }),
        ...(decay ? { decay } : {}),
      }),
    /**
     * `q[b,t] += λ^t·g[b,t]·S_iᵀ`: the carried state's part of a dense update's query
     * cotangent (`S0` `[D, H]` for `i = 0`, `S1` `[H, size]` for `i = 2`), `g` `[M, n]`.
     */
    carriedQuery: (i: 0 | 2, g: Binding, q: Binding) => {
      const st = o.state;
      if (!st) return;
      const [state, rows, n] = i === 0 ? [st.s0, o.inputSize, 4 * S] : [st.s1, 4 * S, S];
      matmul(rec, {
        m: T,
        n: rows,
        k: n,
        batches: o.batch,
        a: { buffer: g, outer: T * n, row: n, col: 1 },
        b: { buffer: state, outer: rows * n, row: 1, col: n },
        c: { buffer: q, outer: T * rows, row: rows, col: 1 },
        beta: 1,
        ...(decay ? { decay: { ...decay, rows: true } } : {}),
      });
    },
    /** `ε += s_i·⟨a_t, b_t⟩` per query (λ's gradient). */
    epsilon: (i: number, a: Binding, b: Binding, width: number) => {
      if (eps) rowDot(rec, { a, b, rows: M, width, out: eps, step: step(i), accumulate: true });
    },
    /**
     * `ε += s_i·⟨Z_t, g_t⟩` for a bias-like update: `Z` the decayed sum of `u` the query
     * read (with the carried sum), recomputed here.
     */
    epsilonOfSum: (i: number, u: GPUBuffer, g: Binding, width: number, carried?: GPUBuffer) => {
      if (!eps) return;
      const z = rec.scratch(M * width * 4);
      cumsumUpdate(rec, {
        u,
        out: z,
        batch: o.batch,
        time: T,
        width,
        overwrite: true,
        alpha: 1,
        decay,
        carried,
      });
      rowDot(rec, { a: z, b: g, rows: M, width, out: eps, step: step(i), accumulate: true });
      rec.reuse(z);
    },
    /** `part += alpha·[s_i]·Σ_s (s+1)·⟨a_s, b_s⟩` (λ's gradient: the earlier positions' ages). */
    aged: (a: Binding, b: Binding, width: number, alpha: number, i?: number) => {
      if (!part) return;
      dot(rec, {
        a,
        b,
        count: M * width,
        out: part,
        index: 0,
        alpha,
        accumulate: true,
        position: { width, time: T, offset: 1 },
        ...(i === undefined ? {} : { step: step(i) }),
      });
    },
  };
}

/**
 * Records the backward of the outer loss (see the module doc) after
 * `recordHeadForward(…, keep = true)` in the same recorder.
 */
export function recordOuterBackward(rec: Recorder, o: OuterBackwardArgs): void {
  const t = kit(rec, o);
  const { M, D, S, H, V, p, k, g, st, buf, addTN, colAdd, minusStep, cumsumR, attend } = t;
  const stepGrad = (index: number, a: Binding, b: Binding, count: number) =>
    dot(rec, {
      a,
      b,
      count,
      out: g.steps,
      index,
      alpha: -1,
      accumulate: true,
    });
  /**
   * `ds_i −= ⟨key, Cʳ(u)⟩` over `[M, width]` (and the carried sum's part); returns
   * `Cʳ(u)` (scratch).
   */
  const cumsumStepGrad = (i: number, key: Binding, u: Binding, width: number, sum?: GPUBuffer) => {
    const r = buf(M * width);
    cumsumR(u, width, r, sum && { sum, i });
    stepGrad(i, key, r, M * width);
    return r;
  };

  if (!o.accumulate) {
    const sizes: [GPUBuffer, number][] = [
      [g.k0, D * H],
      [g.b0, H],
      [g.k1, H * S],
      [g.b1, S],
      [g.scale, S],
      [g.bias, S],
      [g.ku, S * V],
      [g.bu, V],
      [g.steps, o.decay ? DECAY_INDEX + 1 : DECAY_INDEX],
    ];
    for (const [b, n] of sizes) fill(rec, b, n);
  }

  // 1. The outer loss on the fast logits, tile by tile.
  const dnf = buf(M * S);
  const logits = { ...headLogits(o, o.tiling), gku: g.ku, gbu: g.bu };
  if (o.upstream) {
    upstreamGrad(rec, logits, o.upstream, k.nf, dnf);
  } else {
    const lossRows = buf(M);
    outerCrossEntropy(rec, { ...logits, ...headTargets(o, k.normOut) }, k.nf, lossRows, dnf);
    dot(rec, { a: lossRows, count: M, out: o.loss!, index: 0 });
    rec.reuse(lossRows);
  }
  rec.reuse(k.nf);

  // 2. The fast layer norm with per-position scale_t, bias_t.
  const dScaleT = buf(M * S);
  elementwise(rec, { count: M * S, out: dScaleT, a: dnf, b: k.fhat });
  colAdd(dScaleT, S, g.scale);
  colAdd(dnf, S, g.bias);
  const df2 = buf(M * S);
  layerNormBackwardInput(rec, {
    g: dnf,
    scale: k.scaleT,
    perRowScale: true,
    nhat: k.fhat,
    rstd: k.frstd,
    out: df2,
    rows: M,
    width: S,
  });
  rec.reuse(k.scaleT);
  rec.reuse(k.fhat);
  rec.reuse(k.frstd);

  // 3. First-order terms: f2 = fa·K1 + b1 − r⊙(s2·A(fa, a, g_h2) + s3·C(g_h2)), and so on.
  const second = !o.firstOrderOnly;
  addTN(k.fa, H, df2, S, g.k1);
  colAdd(df2, S, g.b1);
  const dfa = buf(M * H);
  matmulNT(rec, df2, p.k1, dfa, M, S, H);
  const g2 = t.perQuery(df2, S); // the updates' cotangent over N
  const q2 = buf(M * H);
  fill(rec, q2, M * H);
  attend(g2, k.gh2, k.a, q2, S, H);
  t.carriedQuery(2, g2, q2);
  minusStep(dfa, q2, 2, H, true);
  stepGrad(2, k.fa, q2, M * H);
  t.epsilon(2, k.fa, q2, H);
  rec.reuse(q2);
  // Cʳ(g2) is needed again by the second-order path, which recomputes it.
  rec.reuse(cumsumStepGrad(3, k.gh2, g2, S, st?.sumH2));
  t.epsilonOfSum(3, k.gh2, g2, S, st?.sumH2);
  const g4 = t.perQuery(dScaleT, S);
  const r4 = cumsumStepGrad(4, k.gnNhat, g4, S, st?.sumGnNhat);
  t.epsilonOfSum(4, k.gnNhat, g4, S, st?.sumGnNhat);
  t.donePerQuery(g4, dScaleT);
  rec.reuse(dScaleT);
  const g5 = t.perQuery(dnf, S);
  const r5 = cumsumStepGrad(5, k.gn, g5, S, st?.sumGn);
  t.epsilonOfSum(5, k.gn, g5, S, st?.sumGn);
  t.donePerQuery(g5, dnf);
  rec.reuse(dnf);
  if (!second) {
    for (const b of [k.fa, k.a, k.gh2, df2, r4, r5, k.gn, k.gnNhat]) rec.reuse(b);
    t.donePerQuery(g2, df2);
  }
  // fa = relu(f1)²; f1 = h1 − r⊙(s0·A(x, x, g_h1) + s1·C(g_h1)).
  const df1 = buf(M * H);
  elementwise(rec, { count: M * H, out: df1, a: dfa, c: k.f1, gate: "relu" });
  rec.reuse(dfa);
  rec.reuse(k.f1);
  const g1 = t.perQuery(df1, H);
  const q1 = buf(M * D);
  fill(rec, q1, M * D);
  attend(g1, k.gh1, o.x, q1, H, D);
  t.carriedQuery(0, g1, q1);
  minusStep(o.dx, q1, 0, D, false);
  stepGrad(0, o.x, q1, M * D);
  t.epsilon(0, o.x, q1, D);
  rec.reuse(q1);
  // Cʳ(g1), recomputed by the second-order path too.
  rec.reuse(cumsumStepGrad(1, k.gh1, g1, H, st?.sumH1));
  t.epsilonOfSum(1, k.gh1, g1, H, st?.sumH1);
  if (!second) {
    rec.reuse(k.gh1);
    t.donePerQuery(g1, df1);
  }

  // dh1 collects every path into h1; df1 is its first term.
  const dh1 = df1;
  if (second) recordSecondOrder(rec, o, t, { df2, df1, g1, g2, r4, r5 });

  // 5. h1 = x·K0 + b0.
  addTN(o.x, D, dh1, H, g.k0);
  colAdd(dh1, H, g.b0);
  matmulNT(rec, dh1, p.k0, o.dx, M, H, D, { beta: 1 });
  if (t.eps && t.part && o.decay && isMean(o.normalizer)) {
    decayGrad(rec, {
      weights: o.weights,
      batch: o.batch,
      time: o.time,
      decay: o.decay,
      prior: o.normalizer.prior,
      count: st?.count,
      eps: t.eps,
      part: t.part,
      grad: g.steps,
      index: DECAY_INDEX,
      accumulate: true,
    });
  }
}

/**
 * Cotangents from the first-order part that the second-order part consumes (it hands
 * each back to the recorder after its last use).
 */
interface FirstOrderParts {
  df2: GPUBuffer;
  /** `df1` on entry; `dh1` (every path into h1) on return. */
  df1: GPUBuffer;
  /** The updates' cotangents over their queries' `N` (`df1`, `df2` themselves without one). */
  g1: GPUBuffer;
  g2: GPUBuffer;
  /** `Cʳ(d scale_t)` (over `N`). */
  r4: GPUBuffer;
  /** `Cʳ(dnf)` (over `N`). */
  r5: GPUBuffer;
}

/** 4. The second-order path: through the inner gradients and the attention keys. */
function recordSecondOrder(
  rec: Recorder,
  o: OuterBackwardArgs,
  t: ReturnType<typeof kit>,
  f: FirstOrderParts,
): void {
  const { M, D, S, H, p, k, g, buf, addTN, colAdd, minusStep, cumsumR, attend } = t;
  const dh1 = f.df1;

  // Layer 1: keys (x) and values (g_h1) of A(x, x, g_h1); C(g_h1).
  attend(k.gh1, f.g1, o.x, o.dx, H, D, 0);
  const gGh1 = buf(M * H);
  fill(rec, gGh1, M * H);
  attend(o.x, o.x, f.g1, gGh1, D, H, 0);
  const r1 = buf(M * H);
  cumsumR(f.g1, H, r1);
  t.donePerQuery(f.g1, f.df1);
  minusStep(gGh1, r1, 1, H, true);
  rec.reuse(r1);
  t.aged(k.gh1, gGh1, H, -1); // −Σ (s+1)·⟨g_h1, its cotangent⟩ (λ's gradient)
  rec.reuse(k.gh1);

  // g_h1 = g_a ⊙ 2relu(h1): into g_a, and into h1 (derivative 2·[h1 > 0]). g_a = g_h2·K1ᵀ
  // is recomputed (the forward's matmul, so the same values) rather than kept.
  const ga = buf(M * H);
  matmulNT(rec, k.gh2, p.k1, ga, M, S, H);
  elementwise(rec, {
    count: M * H,
    out: dh1,
    a: gGh1,
    b: ga,
    c: k.h1,
    gate: "step",
    beta: 1,
  });
  rec.reuse(ga);
  const dGa = buf(M * H);
  elementwise(rec, { count: M * H, out: dGa, a: gGh1, c: k.h1, gate: "relu" });
  rec.reuse(gGh1);

  // Layer 2: keys (a) and values (g_h2) of A(fa, a, g_h2); C(g_h2).
  const da = buf(M * H);
  fill(rec, da, M * H);
  attend(k.gh2, f.g2, k.fa, da, S, H, 2);
  const gGh2 = buf(M * S);
  fill(rec, gGh2, M * S);
  attend(k.a, k.fa, f.g2, gGh2, H, S, 2);
  rec.reuse(k.fa);
  const r2 = buf(M * S);
  cumsumR(f.g2, S, r2);
  t.donePerQuery(f.g2, f.df2);
  rec.reuse(f.df2);
  minusStep(gGh2, r2, 3, S, true);
  rec.reuse(r2);
  t.aged(k.gh2, gGh2, S, -1);
  // g_a = g_h2·K1ᵀ: into g_h2 (joining the updates' part) and K1.
  matmulNN(rec, dGa, p.k1, gGh2, M, H, S, { beta: 1 });
  addTN(dGa, H, k.gh2, S, g.k1);
  rec.reuse(dGa);
  rec.reuse(k.gh2);

  // g_h2 = LNᵀ(g_n ⊙ scale): into g_n, scale, n̂ and (through rstd) h2.
  const du = buf(M * S), dNhat = buf(M * S), dh2 = buf(M * S);
  layerNormInnerVJP(rec, {
    gam: gGh2,
    gN: k.gn,
    scale: p.scale,
    nhat: k.nhat,
    rstd: k.rstd,
    du,
    dnhat: dNhat,
    dh2,
    rows: M,
    width: S,
  });
  rec.reuse(gGh2);
  // dL/dg_n: from bias_t, from g_n⊙n̂ (scale_t), from the layer-norm backward.
  const gGn = buf(M * S);
  minusStep(gGn, f.r5, 5, S, false);
  t.aged(k.gn, f.r5, S, 1, 5);
  rec.reuse(f.r5);
  minusStep(gGn, f.r4, 4, S, true, k.nhat);
  t.aged(k.gnNhat, f.r4, S, 1, 4);
  rec.reuse(k.gnNhat);
  elementwise(rec, {
    count: M * S,
    out: gGn,
    a: du,
    b: p.scale,
    broadcastWidth: S,
    beta: 1,
  });
  colAdd(du, S, g.scale, k.gn);
  rec.reuse(du);
  minusStep(dNhat, f.r4, 4, S, true, k.gn);
  rec.reuse(f.r4);
  rec.reuse(k.gn);

  // g_n = g_z·Kuᵀ and g_z = w/N·(softmax(z) − y), z = n·Ku + bu, tile by tile.
  const dn = buf(M * S);
  innerSoftmaxVJPTiles(
    rec,
    { ...headLogits(o, o.tiling), ...headTargets(o, k.normIn), gku: g.ku, gbu: g.bu },
    k.n,
    gGn,
    dn,
  );
  for (const b of [gGn, k.n]) rec.reuse(b);

  // n = n̂ ⊙ scale + bias; n̂ and rstd from h2.
  colAdd(dn, S, g.scale, k.nhat);
  colAdd(dn, S, g.bias);
  elementwise(rec, {
    count: M * S,
    out: dNhat,
    a: dn,
    b: p.scale,
    broadcastWidth: S,
    beta: 1,
  });
  rec.reuse(dn);
  layerNormBackwardInput(rec, {
    g: dNhat,
    nhat: k.nhat,
    rstd: k.rstd,
    out: dh2,
    rows: M,
    width: S,
    accumulate: true,
  });
  rec.reuse(dNhat);
  // h2 = a·K1 + b1; a = relu(h1)².
  addTN(k.a, H, dh2, S, g.k1);
  colAdd(dh2, S, g.b1);
  matmulNT(rec, dh2, p.k1, da, M, S, H, { beta: 1, gateAux: k.h1 });
  elementwise(rec, { count: M * H, out: dh1, a: da, beta: 1 });
}
