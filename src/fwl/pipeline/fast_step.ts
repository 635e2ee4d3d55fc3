/**
 * The fast-weight state of docs/definition.md §3: the sums over every earlier position that the
 * parallel pass (`fast_pass.ts`) forms inside a window by attention and cumulative sums,
 * kept per sequence at a fixed size,
 *
 * ```
 * S0 = Σ_{s<t} x_s ⊗ g_h1_s   [D, H]      S1 = Σ_{s<t} a_s ⊗ g_h2_s   [H, size]
 * Σ g_h1 [H],  Σ g_h2 [size],  Σ g_n ⊙ n̂ [size],  Σ g_n [size]
 * ```
 *
 * and, for the running mean of docs/definition.md §6, the count `Σ_{s<t} w_s`; with a decay λ every
 * term is weighted `λ^(t−1−s)`, so each sum fades by λ per position.
 *
 * A window of `T` positions (the stream's is one position) reads the state that its
 * predecessors left ({@linkcode subtractCarried}, and the cumulative sums of the fast
 * pass, which start from the state's sums) and adds its own terms
 * ({@linkcode advanceFastState}), so windows carried one after another equal one long
 * call, and the stream is the same pass at `T = 1`.
 *
 * @module
 */

import type { Binding, Recorder } from "../../gpu/recorder.ts";
import { matmul, type MatmulSpec, type Operand } from "../../kernels/matmul.ts";
import { fill } from "../../kernels/elementwise.ts";
import { decayRows } from "../../kernels/decay_rows.ts";
import { advanceCount, type DecayRef } from "../../kernels/running_count.ts";
import type { ParamBuffers } from "../head.ts";
import type { InnerGrads } from "./inner_backward.ts";
import type { SlowForward } from "./slow_forward.ts";

/**
 * The GPU buffers of the carried fast-weight state of `B` sequences (see the module
 * doc); an `FWLState` holds one set.
 */
export interface FastStateBuffers {
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
  /** The running mean's count `Σ w`, `[B]` (docs/definition.md §6); absent for a fixed `N`. */
  count?: GPUBuffer;
}

/** A window of `batch` sequences of `time` positions, and the head's widths. */
export interface WindowDims {
  batch: number;
  time: number;
  inputSize: number;
  size: number;
}

/**
 * Floats of each state buffer for `B` sequences (the layout of {@linkcode FastStateBuffers}).
 */
export function fastStateLengths(
  B: number,
  D: number,
  size: number,
  withCount: boolean,
): Partial<Record<keyof FastStateBuffers, number>> {
  const S = size, H = 4 * S;
  return {
    s0: B * D * H,
    s1: B * H * S,
    sumH1: B * H,
    sumH2: B * S,
    sumGnNhat: B * S,
    sumGn: B * S,
    ...(withCount ? { count: B } : {}),
  };
}

/** How a window reads a state besides its sums: each query's 1/N and the decay λ. */
export interface CarriedReading {
  /** Per-query factors `[B, T]` (the running mean's 1/N). */
  rowScale?: GPUBuffer;
  /** The decay λ. */
  decay?: DecayRef;
}

/** A one-float buffer holding 1, read with zero strides as a column of ones. */
function ones(rec: Recorder): Operand {
  const buffer = rec.scratch(4);
  fill(rec, buffer, 1, 1);
  return { buffer, row: 0, col: 0 };
}

/**
 * `out[b, t] −= step_i · r[b, t] · λ^t · (q[b, t] · S_i[b])`: the update of dense kernel `i`
 * (0: `x·S0`, 2: `fa·S1`) by the positions before the window, applied to each of its `T`
 * positions (`r` a query's 1/N and λ the decay of the running mean, docs/definition.md §6, when
 * given). `out` is `[B, T, width]`; `q` is `[B, T, D]` or `[B, T, H]`. (The four
 * bias-like sums are added by the cumulative sums of the fast pass, which start from
 * them.)
 */
export function subtractCarried(
  rec: Recorder,
  p: ParamBuffers,
  d: WindowDims,
  st: FastStateBuffers,
  i: 0 | 2,
  out: Binding,
  q: Binding,
  reading: CarriedReading = {},
): void {
  const T = d.time, S = d.size, H = 4 * S;
  const [state, k, n] = i === 0 ? [st.s0, d.inputSize, H] : [st.s1, H, S];
  matmul(rec, {
    m: T,
    n,
    k,
    batches: d.batch,
    a: { buffer: q, outer: T * k, row: k, col: 1 },
    b: { buffer: state, outer: k * n, row: n, col: 1 },
    c: { buffer: out, outer: T * n, row: n, col: 1 },
    alpha: -1,
    step: { buffer: p.steps, index: i },
    beta: 1,
    ...carriedRows(T, reading),
  });
}

/** Row i of each sequence's window times `r[b, i]·λ^i`: how a query reads a carried sum. */
export function carriedRows(
  T: number,
  reading: CarriedReading,
): Pick<MatmulSpec, "rowScale" | "decay"> {
  return {
    ...(reading.rowScale ? { rowScale: { buffer: reading.rowScale, outer: T } } : {}),
    ...(reading.decay ? { decay: { ...reading.decay, rows: true } } : {}),
  };
}

/**
 * Adds a window's terms to the state: `S0 += xᵀ·g_h1`, `S1 += aᵀ·g_h2` and each sum over
 * the window's positions, per sequence (positions of weight 0 add nothing); with a decay
 * λ, the state first fades by `λ^T` and position `t` joins weighted `λ^(T−1−t)`. The
 * running mean's count advances by the window's weights.
 */
export function advanceFastState(
  rec: Recorder,
  d: WindowDims,
  st: FastStateBuffers,
  slow: { x: GPUBuffer } & Pick<SlowForward, "a">,
  g: InnerGrads,
  o: { weights: Binding; decay?: DecayRef },
): void {
  const T = d.time, S = d.size, H = 4 * S;
  const decay = o.decay;
  const aged: GPUBuffer[] = [];
  /** `value` weighted λ^(T−1−t) (scratch), or itself without a decay. */
  const age = (value: GPUBuffer, width: number): GPUBuffer => {
    if (!decay || T === 1) return value; // one position: λ^0 (a stream's observe)
    const out = rec.scratch(d.batch * T * width * 4);
    decayRows(rec, { v: value, out, ...d, width, chunk: T, direction: "toEnd", decay });
    aged.push(out);
    return out;
  };
  const add = (m: number, n: number, key: Operand, value: Binding, state: Binding) =>
    matmul(rec, {
      m,
      n,
      k: T,
      batches: d.batch,
      a: key,
      b: { buffer: value, outer: T * n, row: n, col: 1 },
      c: { buffer: state, outer: m * n, row: n, col: 1 },
      beta: 1,
      ...(decay ? { decay: { ...decay, beta: true } } : {}),
    });
  const D = d.inputSize, column = ones(rec);
  const gh1 = age(g.gh1, H), gh2 = age(g.gh2, S);
  add(D, H, { buffer: slow.x, outer: T * D, row: 1, col: D }, gh1, st.s0);
  add(H, S, { buffer: slow.a, outer: T * H, row: 1, col: H }, gh2, st.s1);
  add(1, H, column, gh1, st.sumH1);
  add(1, S, column, gh2, st.sumH2);
  add(1, S, column, age(g.gnNhat, S), st.sumGnNhat);
  add(1, S, column, age(g.gn, S), st.sumGn);
  for (const b of aged) rec.reuse(b);
  if (st.count) {
    advanceCount(rec, { weights: o.weights, batch: d.batch, time: T, decay, count: st.count });
  }
}
