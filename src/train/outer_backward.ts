/**
 * The hand-written backward of the FWL outer loss (FWL.md §4) through the efficient
 * form (FWL.md §2), second-order path included, recorded into one command encoder.
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
 * attention (see `kernels/chunk_attention_backward.ts`), in the order recorded:
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
 * Memory: scratch is taken right before its first use and handed back to the recorder
 * (`Recorder.reuse`) right after the last op that reads it, kept activations included;
 * cheap intermediates (`Cʳ(df1)`, `Cʳ(df2)`, `g_a`) are recomputed where the second-order
 * path needs them rather than held across it.
 *
 * @module
 */

import type { Binding, Recorder } from "../gpu/recorder.ts";
import type { ParamBuffers } from "../fwl/forward.ts";
import { matmulNN, matmulNT, matmulTN } from "../kernels/matmul.ts";
import { seqAttention } from "../kernels/chunk_attention_backward.ts";
import { elementwise, fill } from "../kernels/elementwise.ts";
import { reverseCumsum } from "../kernels/cumsum.ts";
import { colsum, dot } from "../kernels/reductions.ts";
import { layerNormBackwardInput, layerNormInnerVJP } from "../kernels/layer_norm.ts";
import { innerSoftmaxVJP, outerXent } from "../kernels/softmax_xent.ts";
import type { GradBuffers } from "./grad_buffers.ts";
import { type KeptForward, labelTile } from "./forward_keep.ts";
import type { LogitTiling } from "../kernels/vocab_tiles.ts";
import type { VocabStream } from "../fwl/vocab_stream.ts";
import { streamInnerVJP, streamOuterXent, streamUpstream } from "./vocab_stream.ts";

/** Everything {@linkcode recordOuterBackward} needs. */
export interface OuterBackwardArgs {
  batch: number;
  time: number;
  inputSize: number;
  size: number;
  vocabSize: number;
  attnChunks: number;
  x: GPUBuffer;
  labels: GPUBuffer;
  labelsAreIds: boolean;
  weights: GPUBuffer;
  params: ParamBuffers;
  kept: KeptForward;
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

/**
 * Records the backward of the outer loss (see the module doc) after
 * `recordKeptForward` in the same recorder.
 *
 * @example
 * ```ts ignore
 * const kept = recordKeptForward(rec, forwardArgs);
 * recordOuterBackward(rec, { ...dims, x, labels, labelsAreIds: true, weights,
 *   params: block.buffers, kept, grads, accumulate: false, dx, loss,
 *   upstream: undefined, firstOrderOnly: false, tiling });
 * await rec.submit("train");
 * ```
 */
export function recordOuterBackward(
  rec: Recorder,
  o: OuterBackwardArgs,
): void {
  const ctx = rec.ctx;
  const B = o.batch, T = o.time;
  const M = B * T;
  const D = o.inputSize;
  const S = o.size;
  const H = 4 * S;
  const V = o.vocabSize;
  const maxBinding = ctx.maxBindingBytes;
  const p = o.params;
  const k = o.kept;
  const g = o.grads;
  const buf = (elements: number) => rec.scratch(elements * 4);
  const step = (index: number) => ({ buffer: p.steps, index });
  const seq = { batch: B, time: T, chunks: o.attnChunks };
  /** `c += aᵀ·b` for `[M, m]` a and `[M, n]` b (a weight gradient). */
  const addTN = (
    a: Binding,
    m: number,
    b: Binding,
    n: number,
    c: Binding,
    rows = M,
    aBase = 0,
    bBase = 0,
  ) => matmulTN(rec, { x: a, g: b, out: c, rows, m, n, xBase: aBase, gBase: bBase, beta: 1 });
  const colAdd = (a: Binding, width: number, out: Binding, b?: Binding) =>
    colsum(rec, { a, b, rows: M, width, out, accumulate: true });
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
      [g.steps, 6],
    ];
    for (const [b, n] of sizes) fill(rec, b, n);
  }

  // 1. The outer loss on the fast logits, row tile by row tile (over vocabulary tiles
  // too when 64 full rows exceed the tile budget).
  const dnf = buf(M * S);
  const byVocab = o.tiling.cols < V;
  if (o.upstream && byVocab) {
    streamUpstream(rec, {
      rows: M,
      size: S,
      vocab: V,
      ku: p.ku,
      tiling: o.tiling,
      upstream: o.upstream,
      nf: k.nf,
      gku: g.ku,
      gbu: g.bu,
      dnf,
    });
  } else if (o.upstream) {
    const tileRows = o.tiling.rows;
    for (let r0 = 0; r0 < M; r0 += tileRows) {
      const rows = Math.min(tileRows, M - r0);
      const u: Binding = tileRows === M ? o.upstream : {
        buffer: o.upstream,
        offset: r0 * V * 4,
        size: rows * V * 4,
      };
      addTN(k.nf, S, u, V, g.ku, rows, r0 * S);
      colsum(rec, { a: u, rows, width: V, out: g.bu, accumulate: true });
      matmulNT(rec, u, p.ku, dnf, rows, V, S, {}, 0, r0 * S);
    }
  } else if (byVocab) {
    const lossRows = buf(M);
    const z = buf(o.tiling.rows * o.tiling.cols), stats = buf(M * 4);
    streamOuterXent(rec, {
      ...vocabStream(o, k.normOut, stats, z),
      nf: k.nf,
      lossRows,
      gku: g.ku,
      gbu: g.bu,
      dnf,
    });
    rec.reuse(z);
    rec.reuse(stats);
    dot(rec, { a: lossRows, count: M, out: o.loss!, index: 0 });
    rec.reuse(lossRows);
  } else {
    const lossRows = buf(M);
    const tileRows = o.tiling.rows;
    const z = buf(tileRows * V);
    for (let r0 = 0; r0 < M; r0 += tileRows) {
      const rows = Math.min(tileRows, M - r0);
      matmulNN(rec, k.nf, p.ku, z, rows, S, V, { bias: { buffer: p.bu } }, r0 * S);
      outerXent(rec, {
        z,
        lossRows,
        ...labelTile(o.labels, o.labelsAreIds, M, V, r0, rows, maxBinding),
        labelsAreIds: o.labelsAreIds,
        weights: o.weights,
        norm: k.normOut,
        rows,
        vocab: V,
        rowOffset: r0,
      });
      addTN(k.nf, S, z, V, g.ku, rows, r0 * S);
      colsum(rec, { a: z, rows, width: V, out: g.bu, accumulate: true });
      matmulNT(rec, z, p.ku, dnf, rows, V, S, {}, 0, r0 * S);
    }
    rec.reuse(z);
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

  // 3. First-order terms: f2 = fa·K1 + b1 − s2·A(fa, a, g_h2) − s3·C(g_h2), and so on.
  const second = !o.firstOrderOnly;
  addTN(k.fa, H, df2, S, g.k1);
  colAdd(df2, S, g.b1);
  const dfa = buf(M * H);
  matmulNT(rec, df2, p.k1, dfa, M, S, H);
  const q2 = buf(M * H);
  fill(rec, q2, M * H);
  seqAttention(rec, {
    ...seq,
    q: df2,
    k: k.gh2,
    v: k.a,
    out: q2,
    dq: S,
    dv: H,
    reverse: false,
  });
  elementwise(rec, {
    count: M * H,
    out: dfa,
    a: q2,
    alpha: -1,
    step: step(2),
    beta: 1,
  });
  stepGrad(2, k.fa, q2, M * H);
  rec.reuse(q2);
  const scan = { batch: B, time: T, width: S };
  // Cʳ(df2) is needed again by the second-order path, which recomputes it.
  const r2 = buf(M * S);
  reverseCumsum(rec, { ...scan, u: df2, out: r2 });
  stepGrad(3, k.gh2, r2, M * S);
  rec.reuse(r2);
  const r4 = buf(M * S);
  reverseCumsum(rec, { ...scan, u: dScaleT, out: r4 });
  stepGrad(4, k.gnNhat, r4, M * S);
  rec.reuse(dScaleT);
  rec.reuse(k.gnNhat);
  const r5 = buf(M * S);
  reverseCumsum(rec, { ...scan, u: dnf, out: r5 });
  stepGrad(5, k.gn, r5, M * S);
  rec.reuse(dnf);
  if (!second) {
    for (const b of [k.fa, k.a, k.gh2, df2, r4, r5, k.gn]) rec.reuse(b);
  }
  // fa = relu(f1)²; f1 = h1 − s0·A(x, x, g_h1) − s1·C(g_h1).
  const df1 = buf(M * H);
  elementwise(rec, { count: M * H, out: df1, a: dfa, c: k.f1, gate: "relu" });
  rec.reuse(dfa);
  rec.reuse(k.f1);
  const q1 = buf(M * D);
  fill(rec, q1, M * D);
  seqAttention(rec, {
    ...seq,
    q: df1,
    k: k.gh1,
    v: o.x,
    out: q1,
    dq: H,
    dv: D,
    reverse: false,
  });
  elementwise(rec, {
    count: M * D,
    out: o.dx,
    a: q1,
    alpha: -1,
    step: step(0),
  });
  stepGrad(0, o.x, q1, M * D);
  rec.reuse(q1);
  // Cʳ(df1), recomputed by the second-order path too.
  const r1 = buf(M * H);
  reverseCumsum(rec, { batch: B, time: T, width: H, u: df1, out: r1 });
  stepGrad(1, k.gh1, r1, M * H);
  rec.reuse(r1);
  if (!second) rec.reuse(k.gh1);

  // dh1 collects every path into h1; df1 is its first term.
  const dh1 = df1;
  if (second) recordSecondOrder(rec, o, { df2, df1, r4, r5 });

  // 5. h1 = x·K0 + b0.
  addTN(o.x, D, dh1, H, g.k0);
  colAdd(dh1, H, g.b0);
  matmulNT(rec, dh1, p.k0, o.dx, M, H, D, { beta: 1 });
}

/**
 * Cotangents from the first-order part that the second-order part consumes (it hands
 * each back to the recorder after its last use).
 */
interface FirstOrderParts {
  df2: GPUBuffer;
  /** `df1` on entry; `dh1` (every path into h1) on return. */
  df1: GPUBuffer;
  /** `Cʳ(d scale_t)`. */
  r4: GPUBuffer;
  /** `Cʳ(dnf)`. */
  r5: GPUBuffer;
}

/** 4. The second-order path: through the inner gradients and the attention keys. */
function recordSecondOrder(
  rec: Recorder,
  o: OuterBackwardArgs,
  f: FirstOrderParts,
): void {
  const ctx = rec.ctx;
  const B = o.batch, T = o.time;
  const M = B * T;
  const D = o.inputSize;
  const S = o.size;
  const H = 4 * S;
  const V = o.vocabSize;
  const maxBinding = ctx.maxBindingBytes;
  const p = o.params;
  const k = o.kept;
  const g = o.grads;
  const buf = (elements: number) => rec.scratch(elements * 4);
  const step = (index: number) => ({ buffer: p.steps, index });
  const seq = { batch: B, time: T, chunks: o.attnChunks };
  const addTN = (
    a: Binding,
    m: number,
    b: Binding,
    n: number,
    c: Binding,
    rows = M,
    aBase = 0,
  ) => matmulTN(rec, { x: a, g: b, out: c, rows, m, n, xBase: aBase, beta: 1 });
  const colAdd = (a: Binding, width: number, out: Binding, b?: Binding) =>
    colsum(rec, { a, b, rows: M, width, out, accumulate: true });
  const dh1 = f.df1;

  // Layer 1: keys (x) and values (g_h1) of A(x, x, g_h1); C(g_h1).
  seqAttention(rec, {
    ...seq,
    q: k.gh1,
    k: f.df1,
    v: o.x,
    out: o.dx,
    dq: H,
    dv: D,
    reverse: true,
    alpha: -1,
    step: step(0),
  });
  rec.reuse(k.gh1);
  const gGh1 = buf(M * H);
  fill(rec, gGh1, M * H);
  seqAttention(rec, {
    ...seq,
    q: o.x,
    k: o.x,
    v: f.df1,
    out: gGh1,
    dq: D,
    dv: H,
    reverse: true,
    alpha: -1,
    step: step(0),
  });
  const r1 = buf(M * H);
  reverseCumsum(rec, { batch: B, time: T, width: H, u: f.df1, out: r1 });
  elementwise(rec, {
    count: M * H,
    out: gGh1,
    a: r1,
    alpha: -1,
    step: step(1),
    beta: 1,
  });
  rec.reuse(r1);

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
  // g_a = g_h2·K1ᵀ: into g_h2 (the sum starts here) and K1.
  const gGh2 = buf(M * S);
  matmulNN(rec, dGa, p.k1, gGh2, M, H, S);
  addTN(dGa, H, k.gh2, S, g.k1);
  rec.reuse(dGa);

  // Layer 2: keys (a) and values (g_h2) of A(fa, a, g_h2); C(g_h2).
  const da = buf(M * H);
  fill(rec, da, M * H);
  seqAttention(rec, {
    ...seq,
    q: k.gh2,
    k: f.df2,
    v: k.fa,
    out: da,
    dq: S,
    dv: H,
    reverse: true,
    alpha: -1,
    step: step(2),
  });
  rec.reuse(k.gh2);
  seqAttention(rec, {
    ...seq,
    q: k.a,
    k: k.fa,
    v: f.df2,
    out: gGh2,
    dq: H,
    dv: S,
    reverse: true,
    alpha: -1,
    step: step(2),
  });
  rec.reuse(k.fa);
  const r2 = buf(M * S);
  reverseCumsum(rec, { batch: B, time: T, width: S, u: f.df2, out: r2 });
  rec.reuse(f.df2);
  elementwise(rec, {
    count: M * S,
    out: gGh2,
    a: r2,
    alpha: -1,
    step: step(3),
    beta: 1,
  });
  rec.reuse(r2);

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
  elementwise(rec, {
    count: M * S,
    out: gGn,
    a: f.r5,
    alpha: -1,
    step: step(5),
  });
  rec.reuse(f.r5);
  elementwise(rec, {
    count: M * S,
    out: gGn,
    a: f.r4,
    b: k.nhat,
    alpha: -1,
    step: step(4),
    beta: 1,
  });
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
  elementwise(rec, {
    count: M * S,
    out: dNhat,
    a: f.r4,
    b: k.gn,
    alpha: -1,
    step: step(4),
    beta: 1,
  });
  rec.reuse(f.r4);
  rec.reuse(k.gn);

  // g_n = g_z·Kuᵀ and g_z = w/N·(softmax(z) − y), z = n·Ku + bu, per row tile.
  const dn = buf(M * S);
  const tiling = o.tiling;
  const tileRows = tiling.rows;
  const z = buf(tileRows * tiling.cols), dz = buf(tileRows * tiling.cols);
  if (tiling.cols < V) {
    const stats = buf(M * 4);
    streamInnerVJP(rec, {
      ...vocabStream(o, k.normIn, stats, z),
      n: k.n,
      gGn,
      dg: dz,
      gku: g.ku,
      gbu: g.bu,
      dn,
    });
    rec.reuse(stats);
  } else {
    for (let r0 = 0; r0 < M; r0 += tileRows) {
      const rows = Math.min(tileRows, M - r0);
      matmulNN(rec, k.n, p.ku, z, rows, S, V, { bias: { buffer: p.bu } }, r0 * S);
      matmulNN(rec, gGn, p.ku, dz, rows, S, V, {}, r0 * S);
      innerSoftmaxVJP(rec, {
        z,
        dg: dz,
        ...labelTile(o.labels, o.labelsAreIds, M, V, r0, rows, maxBinding),
        labelsAreIds: o.labelsAreIds,
        weights: o.weights,
        norm: k.normIn,
        rows,
        vocab: V,
        rowOffset: r0,
      });
      addTN(gGn, S, z, V, g.ku, rows, r0 * S);
      addTN(k.n, S, dz, V, g.ku, rows, r0 * S);
      colsum(rec, { a: dz, rows, width: V, out: g.bu, accumulate: true });
      matmulNT(rec, dz, p.ku, dn, rows, V, S, {}, 0, r0 * S);
    }
  }
  for (const b of [z, dz, gGn, k.n]) rec.reuse(b);

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

/** The vocabulary-tiled view of the logits `[B·T, V]` (see `src/fwl/vocab_stream.ts`). */
function vocabStream(
  o: OuterBackwardArgs,
  norm: GPUBuffer,
  stats: GPUBuffer,
  z: GPUBuffer,
): VocabStream {
  return {
    rows: o.batch * o.time,
    size: o.size,
    vocab: o.vocabSize,
    tiling: o.tiling,
    ku: o.params.ku,
    bu: o.params.bu,
    labels: o.labels,
    labelsAreIds: o.labelsAreIds,
    weights: o.weights,
    norm,
    stats,
    z,
  };
}
