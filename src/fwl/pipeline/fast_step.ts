/**
 * The fast pass of FWL.md §3 in its recurrent form, for the stream: the sums over the
 * earlier positions that the parallel form (`fast_pass.ts`) forms by attention and
 * cumulative sums are kept in a state of fixed size per sequence,
 *
 * ```
 * S0 = Σ_{s<t} x_s ⊗ g_h1_s   [D, H]      S1 = Σ_{s<t} a_s ⊗ g_h2_s   [H, size]
 * Σ g_h1 [H],  Σ g_h2 [size],  Σ g_n ⊙ n̂ [size],  Σ g_n [size]
 * ```
 *
 * so one position costs the same at every position.
 *
 * @module
 */

import type { Binding, Recorder } from "../../gpu/recorder.ts";
import { matmul, matmulNN } from "../../kernels/matmul.ts";
import { layerNorm } from "../../kernels/layer_norm.ts";
import { vectorUpdate } from "../../kernels/vector_update.ts";
import type { ParamBuffers } from "../head.ts";
import type { InnerGrads } from "./inner_backward.ts";
import type { SlowDims, SlowForward } from "./slow_forward.ts";

/** The recurrent state of `B` sequences (see the module doc). */
export interface FastState {
  /** `Σ x_s ⊗ g_h1_s`, `[B, D, H]`. */
  s0: GPUBuffer;
  /** `Σ a_s ⊗ g_h2_s`, `[B, H, size]`. */
  s1: GPUBuffer;
  /** `Σ g_h1`, `[B, H]`. */
  sumH1: GPUBuffer;
  /** `Σ g_h2`, `[B, size]`. */
  sumH2: GPUBuffer;
  /** `Σ g_n ⊙ n̂`, `[B, size]`. */
  sumGnNhat: GPUBuffer;
  /** `Σ g_n`, `[B, size]`. */
  sumGn: GPUBuffer;
}

/**
 * Floats of each state buffer for `B` sequences (the layout of {@linkcode FastState}).
 *
 * @example
 * ```ts ignore
 * const lengths = fastStateLengths(B, { rows: B, inputSize: D, size, epsilon });
 * ```
 */
export function fastStateLengths(B: number, d: SlowDims): Record<keyof FastState, number> {
  const S = d.size, H = 4 * S;
  return {
    s0: B * d.inputSize * H,
    s1: B * H * S,
    sumH1: B * H,
    sumH2: B * S,
    sumGnNhat: B * S,
    sumGn: B * S,
  };
}

/**
 * One position's fast layer norm output `nf` `[B, size]` from the state, given its slow
 * first layer: `f1 = h1 − s0·x·S0 − s1·Σg_h1`, `fa = relu(f1)²`,
 * `f2 = fa·K1 + b1 − s2·fa·S1 − s3·Σg_h2` (query fa, keys the slow a), and the fast
 * layer norm with `scale − s4·Σ(g_n⊙n̂)`, `bias − s5·Σg_n`.
 *
 * @example
 * ```ts ignore
 * const nf = recordFastStep(rec, params, dims, state, { x, h1 });
 * ```
 */
export function recordFastStep(
  rec: Recorder,
  p: ParamBuffers,
  d: SlowDims,
  st: FastState,
  slow: { x: GPUBuffer; h1: GPUBuffer },
): GPUBuffer {
  const B = d.rows, D = d.inputSize, S = d.size, H = 4 * S;
  const buf = (elements: number) => rec.scratch(elements * 4);
  const step = (index: number) => ({ buffer: p.steps, index });
  const f1 = buf(B * H), fa = buf(B * H), f2 = buf(B * S);
  rec.copy(slow.h1, 0, f1, 0, B * H * 4);
  perSequence(rec, B, slow.x, st.s0, f1, D, H, step(0));
  vectorUpdate(rec, {
    u: st.sumH1,
    out: f1,
    rows: B,
    width: H,
    alpha: -1,
    step: step(1),
    sqreluAux: fa,
  });
  matmulNN(rec, fa, p.k1, f2, B, H, S, { bias: { buffer: p.b1 } });
  perSequence(rec, B, fa, st.s1, f2, H, S, step(2));
  const row = { rows: B, width: S, alpha: -1 };
  vectorUpdate(rec, { ...row, u: st.sumH2, out: f2, step: step(3) });
  const scaleT = buf(B * S), biasT = buf(B * S), nf = buf(B * S);
  const affine = (u: GPUBuffer, out: GPUBuffer, base: GPUBuffer, i: number) =>
    vectorUpdate(rec, { ...row, u, out, broadcastBase: base, step: step(i) });
  affine(st.sumGnNhat, scaleT, p.scale, 4);
  affine(st.sumGn, biasT, p.bias, 5);
  layerNorm(rec, {
    x: f2,
    scale: scaleT,
    bias: biasT,
    out: nf,
    nhat: buf(B * S),
    rstd: buf(B),
    rows: B,
    width: S,
    perRowAffine: true,
    eps: d.epsilon,
  });
  return nf;
}

/**
 * Adds one observed position's terms to the state: its input and slow activations with
 * their inner gradients.
 *
 * @example
 * ```ts ignore
 * accumulateFastState(rec, dims, state, { x, a }, inner);
 * ```
 */
export function accumulateFastState(
  rec: Recorder,
  d: SlowDims,
  st: FastState,
  slow: { x: GPUBuffer } & Pick<SlowForward, "a">,
  g: InnerGrads,
): void {
  const B = d.rows, D = d.inputSize, S = d.size, H = 4 * S;
  outerAccumulate(rec, B, slow.x, g.gh1, st.s0, D, H);
  outerAccumulate(rec, B, slow.a, g.gh2, st.s1, H, S);
  vectorUpdate(rec, { u: g.gh1, out: st.sumH1, rows: B, width: H });
  vectorUpdate(rec, { u: g.gh2, out: st.sumH2, rows: B, width: S });
  vectorUpdate(rec, { u: g.gnNhat, out: st.sumGnNhat, rows: B, width: S });
  vectorUpdate(rec, { u: g.gn, out: st.sumGn, rows: B, width: S });
}

/**
 * `out[b] −= step · q[b] · state[b]` for each sequence `b`: `q` is `[B, k]`, `state` is
 * `[B, k, n]`, `out` is `[B, n]`.
 */
function perSequence(
  rec: Recorder,
  B: number,
  q: Binding,
  state: Binding,
  out: Binding,
  k: number,
  n: number,
  step: { buffer: GPUBuffer; index: number },
): void {
  matmul(rec, {
    m: 1,
    n,
    k,
    batches: B,
    a: { buffer: q, outer: k, row: k, col: 1 },
    b: { buffer: state, outer: k * n, row: n, col: 1 },
    c: { buffer: out, outer: n, row: n, col: 1 },
    alpha: -1,
    step,
    beta: 1,
  });
}

/**
 * `state[b] += key[b] ⊗ value[b]` for each sequence `b`: `key` is `[B, m]`, `value` is
 * `[B, n]`, `state` is `[B, m, n]` (a matmul with k = 1, accumulating).
 */
function outerAccumulate(
  rec: Recorder,
  B: number,
  key: Binding,
  value: Binding,
  state: Binding,
  m: number,
  n: number,
): void {
  matmul(rec, {
    m,
    n,
    k: 1,
    batches: B,
    a: { buffer: key, outer: m, row: 1, col: 1 },
    b: { buffer: value, outer: n, row: n, col: 1 },
    c: { buffer: state, outer: m * n, row: n, col: 1 },
    beta: 1,
  });
}
