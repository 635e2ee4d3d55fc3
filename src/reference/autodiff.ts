/**
 * A small, plain reverse-mode automatic differentiation over float64 2-D tensors,
 * used by the float64 reference of the FWL outer-loss gradients (docs/definition.md §4).
 *
 * Every tensor is a row-major `[rows, cols]` matrix (a row vector is `[1, n]`, a column
 * `[m, 1]`, a scalar `[1, 1]`). A {@linkcode Tape} records each operation as a node with
 * its value and a backward closure; {@linkcode Tape.backward} walks the nodes in reverse
 * order of creation. Because every op is built from differentiable values, a computation
 * that itself contains a hand-written backward pass (the inner loss of an FWL) is
 * differentiated through as well: that is the second-order path.
 *
 * @module
 */

/** A `[rows, cols]` shape. */
export type Shape2 = readonly [number, number];

/**
 * One node of a {@linkcode Tape}: a float64 matrix, its gradient (allocated on demand)
 * and how to push that gradient to its inputs.
 */
export class Tensor {
  /** The value, row-major. */
  readonly value: Float64Array;
  /** `[rows, cols]`. */
  readonly shape: Shape2;
  /** Whether gradients flow into (and through) this node. */
  readonly requiresGrad: boolean;
  /** The accumulated gradient (same size as `value`), or `null` if none arrived. */
  grad: Float64Array | null = null;
  /** Pushes `this.grad` to the inputs' gradients; `null` for leaves and constants. */
  backwardFn: (() => void) | null = null;

  /** Wraps a value; use the {@linkcode Tape} methods rather than this constructor. */
  constructor(value: Float64Array, shape: Shape2, requiresGrad: boolean) {
    if (value.length !== shape[0] * shape[1]) {
      throw new RangeError(
        `value of length ${value.length} does not match shape [${shape}]`,
      );
    }
    this.value = value;
    this.shape = shape;
    this.requiresGrad = requiresGrad;
  }

  /** Number of rows. */
  get rows(): number {
    return this.shape[0];
  }

  /** Number of columns. */
  get cols(): number {
    return this.shape[1];
  }

  /** Adds `g` into this node's gradient (allocating it), if it requires a gradient. */
  accumulate(g: Float64Array): void {
    if (!this.requiresGrad) return;
    if (this.grad === null) this.grad = new Float64Array(this.value.length);
    const acc = this.grad;
    for (let i = 0; i < acc.length; i++) acc[i] += g[i];
  }
}

/** Output shape of a broadcasting binary op; each dim must match or be 1. */
function broadcastShape(a: Shape2, b: Shape2): Shape2 {
  const dim = (x: number, y: number): number => {
    if (x === y || y === 1) return x;
    if (x === 1) return y;
    throw new RangeError(`cannot broadcast [${a}] with [${b}]`);
  };
  return [dim(a[0], b[0]), dim(a[1], b[1])];
}

/** Sums a full `[m, n]` gradient down to the (possibly broadcast) shape `s`. */
function reduceTo(
  g: Float64Array,
  m: number,
  n: number,
  s: Shape2,
): Float64Array {
  if (s[0] === m && s[1] === n) return g;
  const out = new Float64Array(s[0] * s[1]);
  for (let i = 0; i < m; i++) {
    const r = s[0] === 1 ? 0 : i;
    for (let j = 0; j < n; j++) {
      out[r * s[1] + (s[1] === 1 ? 0 : j)] += g[i * n + j];
    }
  }
  return out;
}

/** `d/dλ λ^e = e·λ^(e−1)` (0 for `e = 0`, whatever λ). */
function dPow(lambda: number, e: number): number {
  return e === 0 ? 0 : e * lambda ** (e - 1);
}

/** Reads element `(i, j)` of `t` under broadcasting. */
function at(t: Tensor, i: number, j: number): number {
  return t.value[(t.rows === 1 ? 0 : i) * t.cols + (t.cols === 1 ? 0 : j)];
}

/**
 * Row `i` of the `[·, n]` matrix `v`, shifted by its max for a stable softmax: the max
 * and `Σ_j exp(v[i, j] − max)`; with `out`, each `exp(v[i, j] − max)` is written there.
 */
function shiftedExps(
  v: Float64Array,
  i: number,
  n: number,
  out?: Float64Array,
): { max: number; sum: number } {
  let max = -Infinity;
  for (let j = 0; j < n; j++) max = Math.max(max, v[i * n + j]);
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const e = Math.exp(v[i * n + j] - max);
    if (out) out[i * n + j] = e;
    sum += e;
  }
  return { max, sum };
}

/**
 * `op(A)·op(B)` → `[m, n]` with the inner size `k`: `op(A)` is `[m, k]`, stored as `A` or,
 * with `transA`, as `Aᵀ` (`[k, m]` row-major); likewise `op(B)` is `[k, n]`.
 */
function product(
  A: Float64Array,
  transA: boolean,
  B: Float64Array,
  transB: boolean,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const out = new Float64Array(m * n);
  const [ar, ac] = transA ? [1, m] : [k, 1];
  const [br, bc] = transB ? [1, k] : [n, 1];
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const aip = A[i * ar + p * ac];
      for (let j = 0; j < n; j++) out[i * n + j] += aip * B[p * br + j * bc];
    }
  }
  return out;
}

/**
 * A tape of {@linkcode Tensor} nodes with the ops the FWL needs. Binary elementwise ops
 * broadcast any dimension of size 1 (row vectors, columns, scalars) on either side.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Tape } from "./autodiff.ts";
 * const tape = new Tape();
 * const x = tape.leaf(new Float64Array([1, 2, 3, 4]), [2, 2]);
 * const loss = tape.sum(tape.square(x));
 * tape.backward(loss);
 * assertEquals(loss.value[0], 30);
 * assertEquals([...x.grad!], [2, 4, 6, 8]);
 * ```
 */
export class Tape {
  /** Every node, in order of creation. */
  readonly nodes: Tensor[] = [];

  #push(value: Float64Array, shape: Shape2, inputs: Tensor[]): Tensor {
    const t = new Tensor(value, shape, inputs.some((x) => x.requiresGrad));
    this.nodes.push(t);
    return t;
  }

  /** A differentiable input (its gradient is kept after {@linkcode Tape.backward}). */
  leaf(value: ArrayLike<number>, shape: Shape2): Tensor {
    const t = new Tensor(Float64Array.from(value), shape, true);
    this.nodes.push(t);
    return t;
  }

  /** A constant input (no gradient). */
  constant(value: ArrayLike<number>, shape: Shape2): Tensor {
    return new Tensor(Float64Array.from(value), shape, false);
  }

  /** A `[1, 1]` constant. */
  scalar(v: number): Tensor {
    return this.constant([v], [1, 1]);
  }

  /** The same value with the gradient stopped (treated as a constant). */
  detach(a: Tensor): Tensor {
    return new Tensor(a.value, a.shape, false);
  }

  /** `a·b` for `a` `[m,k]`, `b` `[k,n]`. */
  matmul(a: Tensor, b: Tensor): Tensor {
    const [m, k] = a.shape;
    const n = b.cols;
    if (b.rows !== k) throw new RangeError(`matmul [${a.shape}]·[${b.shape}]`);
    const t = this.#push(product(a.value, false, b.value, false, m, k, n), [m, n], [a, b]);
    t.backwardFn = () => {
      const g = t.grad!;
      if (a.requiresGrad) a.accumulate(product(g, false, b.value, true, m, n, k)); // g·bᵀ
      if (b.requiresGrad) b.accumulate(product(a.value, true, g, false, k, m, n)); // aᵀ·g
    };
    return t;
  }

  /** `a·bᵀ` for `a` `[m,k]`, `b` `[n,k]` (e.g. `g_z·Kuᵀ`). */
  matmulTransB(a: Tensor, b: Tensor): Tensor {
    const [m, k] = a.shape;
    const n = b.rows;
    if (b.cols !== k) {
      throw new RangeError(`matmulTransB [${a.shape}]·[${b.shape}]ᵀ`);
    }
    const t = this.#push(product(a.value, false, b.value, true, m, k, n), [m, n], [a, b]);
    t.backwardFn = () => {
      const g = t.grad!;
      if (a.requiresGrad) a.accumulate(product(g, false, b.value, false, m, n, k)); // g·b
      if (b.requiresGrad) b.accumulate(product(g, true, a.value, false, n, m, k)); // gᵀ·a
    };
    return t;
  }

  /** Shared body of the broadcasting binary ops. */
  #binary(
    a: Tensor,
    b: Tensor,
    f: (x: number, y: number) => number,
    dfdx: (x: number, y: number) => number,
    dfdy: (x: number, y: number) => number,
  ): Tensor {
    const [m, n] = broadcastShape(a.shape, b.shape);
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) out[i * n + j] = f(at(a, i, j), at(b, i, j));
    }
    const t = this.#push(out, [m, n], [a, b]);
    t.backwardFn = () => {
      const g = t.grad!;
      for (const [src, d] of [[a, dfdx], [b, dfdy]] as const) {
        if (!src.requiresGrad) continue;
        const full = new Float64Array(m * n);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            full[i * n + j] = g[i * n + j] * d(at(a, i, j), at(b, i, j));
          }
        }
        src.accumulate(reduceTo(full, m, n, src.shape));
      }
    };
    return t;
  }

  /** `a + b` (broadcasting). */
  add(a: Tensor, b: Tensor): Tensor {
    return this.#binary(a, b, (x, y) => x + y, () => 1, () => 1);
  }

  /** `a − b` (broadcasting). */
  sub(a: Tensor, b: Tensor): Tensor {
    return this.#binary(a, b, (x, y) => x - y, () => 1, () => -1);
  }

  /** `a ⊙ b` (broadcasting; a `[1,1]` `b` scales `a` by a scalar node). */
  mul(a: Tensor, b: Tensor): Tensor {
    return this.#binary(a, b, (x, y) => x * y, (_x, y) => y, (x) => x);
  }

  /** `a / b` (broadcasting). */
  div(a: Tensor, b: Tensor): Tensor {
    return this.#binary(
      a,
      b,
      (x, y) => x / y,
      (_x, y) => 1 / y,
      (x, y) => -x / (y * y),
    );
  }

  /** Shared body of the elementwise unary ops; `d(x, y)` is the derivative at input `x`, output `y`. */
  #unary(
    a: Tensor,
    f: (x: number) => number,
    d: (x: number, y: number) => number,
  ): Tensor {
    const out = a.value.map(f);
    const t = this.#push(out, a.shape, [a]);
    t.backwardFn = () => {
      const g = t.grad!;
      const ga = new Float64Array(g.length);
      for (let i = 0; i < g.length; i++) ga[i] = g[i] * d(a.value[i], out[i]);
      a.accumulate(ga);
    };
    return t;
  }

  /** `max(a, 0)` (derivative 0 at 0). */
  relu(a: Tensor): Tensor {
    return this.#unary(a, (x) => (x > 0 ? x : 0), (x) => (x > 0 ? 1 : 0));
  }

  /** `a²`. */
  square(a: Tensor): Tensor {
    return this.#unary(a, (x) => x * x, (x) => 2 * x);
  }

  /** `√a`. */
  sqrt(a: Tensor): Tensor {
    return this.#unary(a, Math.sqrt, (_x, y) => 0.5 / y);
  }

  /** Row-wise mean: `[m,n]` → `[m,1]`. */
  rowMean(a: Tensor): Tensor {
    const [m, n] = a.shape;
    const out = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < n; j++) s += a.value[i * n + j];
      out[i] = s / n;
    }
    const t = this.#push(out, [m, 1], [a]);
    t.backwardFn = () => {
      const g = t.grad!;
      const ga = new Float64Array(m * n);
      for (let i = 0; i < m; i++) ga.fill(g[i] / n, i * n, (i + 1) * n);
      a.accumulate(ga);
    };
    return t;
  }

  /** Row-wise softmax. */
  softmax(a: Tensor): Tensor {
    const [m, n] = a.shape;
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      const { sum } = shiftedExps(a.value, i, n, out);
      for (let j = 0; j < n; j++) out[i * n + j] /= sum;
    }
    const t = this.#push(out, [m, n], [a]);
    t.backwardFn = () => { // ga = p ⊙ (g − Σ g⊙p)
      const g = t.grad!;
      const ga = new Float64Array(m * n);
      for (let i = 0; i < m; i++) {
        let dot = 0;
        for (let j = 0; j < n; j++) dot += g[i * n + j] * out[i * n + j];
        for (let j = 0; j < n; j++) {
          ga[i * n + j] = out[i * n + j] * (g[i * n + j] - dot);
        }
      }
      a.accumulate(ga);
    };
    return t;
  }

  /** Row-wise log-softmax. */
  logSoftmax(a: Tensor): Tensor {
    const [m, n] = a.shape;
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      const { max, sum } = shiftedExps(a.value, i, n);
      const lse = max + Math.log(sum);
      for (let j = 0; j < n; j++) out[i * n + j] = a.value[i * n + j] - lse;
    }
    const t = this.#push(out, [m, n], [a]);
    t.backwardFn = () => { // ga = g − softmax · Σ g
      const g = t.grad!;
      const ga = new Float64Array(m * n);
      for (let i = 0; i < m; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += g[i * n + j];
        for (let j = 0; j < n; j++) {
          ga[i * n + j] = g[i * n + j] - Math.exp(out[i * n + j]) * s;
        }
      }
      a.accumulate(ga);
    };
    return t;
  }

  /** Sum of every element → `[1,1]`. */
  sum(a: Tensor): Tensor {
    let s = 0;
    for (const v of a.value) s += v;
    const t = this.#push(new Float64Array([s]), [1, 1], [a]);
    t.backwardFn = () => a.accumulate(new Float64Array(a.value.length).fill(t.grad![0]));
    return t;
  }

  /**
   * Decayed exclusive cumulative sum over time from a carried sum (docs/definition.md §6): rows are
   * `B` sequences of `T` positions (`[B*T, n]`), and row `(b,t)` of the result is
   * `λ^t·carried[b] + Σ_{s<t} λ^(t−1−s)·a[(b,s)]`. `decay` (λ, a `[1,1]` node; default the
   * constant 1) gets its gradient too; `carried` (`[B*n]`, default 0) is a constant.
   */
  exclCumsum(
    a: Tensor,
    B: number,
    T: number,
    o: { decay?: Tensor; carried?: ArrayLike<number> } = {},
  ): Tensor {
    const n = a.cols;
    if (a.rows !== B * T) {
      throw new RangeError(`exclCumsum rows ${a.rows} ≠ ${B}·${T}`);
    }
    const lambda = o.decay?.value[0] ?? 1;
    const out = new Float64Array(B * T * n);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < n; j++) {
        let run = o.carried?.[b * n + j] ?? 0;
        for (let t = 0; t < T; t++) {
          const r = b * T + t;
          out[r * n + j] = run;
          run = lambda * run + a.value[r * n + j];
        }
      }
    }
    const inputs = o.decay ? [a, o.decay] : [a];
    const t = this.#push(out, [B * T, n], inputs);
    t.backwardFn = () => {
      const g = t.grad!;
      const ga = new Float64Array(B * T * n);
      let gl = 0;
      for (let b = 0; b < B; b++) {
        for (let j = 0; j < n; j++) {
          // ga[(b,s)] = Σ_{t>s} λ^(t−1−s)·g[(b,t)], from the last position back
          let run = 0;
          for (let s = T - 2; s >= 0; s--) {
            run = lambda * run + g[(b * T + s + 1) * n + j];
            ga[(b * T + s) * n + j] = run;
          }
          // ∂/∂λ: Σ_t g_t·(t·λ^(t−1)·carried + Σ_{s<t} (t−1−s)·λ^(t−2−s)·a_s)
          const c0 = o.carried?.[b * n + j] ?? 0;
          for (let tt = 0; tt < T; tt++) {
            const gt = g[(b * T + tt) * n + j];
            let d = dPow(lambda, tt) * c0;
            for (let s = 0; s < tt; s++) {
              d += dPow(lambda, tt - 1 - s) * a.value[(b * T + s) * n + j];
            }
            gl += gt * d;
          }
        }
      }
      a.accumulate(ga);
      o.decay?.accumulate(new Float64Array([gl]));
    };
    return t;
  }

  /**
   * Strictly-causal linear attention per sequence, decayed and from a carried state
   * (docs/definition.md §2, §6): `A(q,k,v)[t] = λ^t·q_t·S_b + Σ_{s<t} λ^(t−1−s)·(q_t·k_s)·v_s`, with `q`,
   * `k` `[B*T, dk]` and `v` `[B*T, dv]` → `[B*T, dv]` (plain quadratic loops). `decay` (λ,
   * a `[1,1]` node; default the constant 1) gets its gradient too; `carried` (`S`,
   * `[B, dk, dv]`, default 0) is a constant.
   */
  causalLinearAttention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    B: number,
    T: number,
    o: { decay?: Tensor; carried?: ArrayLike<number> } = {},
  ): Tensor {
    const dk = q.cols, dv = v.cols;
    if (
      q.rows !== B * T || k.rows !== B * T || v.rows !== B * T || k.cols !== dk
    ) {
      throw new RangeError(
        `attention shapes [${q.shape}] [${k.shape}] [${v.shape}]`,
      );
    }
    const lambda = o.decay?.value[0] ?? 1;
    const Q = q.value, K = k.value, V = v.value, S = o.carried;
    const dot = (r: number, s: number): number => {
      let d = 0;
      for (let p = 0; p < dk; p++) d += Q[r * dk + p] * K[s * dk + p];
      return d;
    };
    /** `q_t·S_b` into `[dv]`. */
    const fromState = (b: number, r: number): Float64Array => {
      const u = new Float64Array(dv);
      if (!S) return u;
      for (let p = 0; p < dk; p++) {
        for (let j = 0; j < dv; j++) u[j] += Q[r * dk + p] * S[(b * dk + p) * dv + j];
      }
      return u;
    };
    const out = new Float64Array(B * T * dv);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const r = b * T + t;
        const u = fromState(b, r);
        for (let j = 0; j < dv; j++) out[r * dv + j] += lambda ** t * u[j];
        for (let s = 0; s < t; s++) {
          const rs = b * T + s;
          const w = lambda ** (t - 1 - s) * dot(r, rs);
          for (let j = 0; j < dv; j++) out[r * dv + j] += w * V[rs * dv + j];
        }
      }
    }
    const inputs = o.decay ? [q, k, v, o.decay] : [q, k, v];
    const t = this.#push(out, [B * T, dv], inputs);
    t.backwardFn = () => {
      const g = t.grad!;
      const gq = new Float64Array(Q.length);
      const gk = new Float64Array(K.length);
      const gv = new Float64Array(V.length);
      let gl = 0;
      for (let b = 0; b < B; b++) {
        for (let tt = 0; tt < T; tt++) {
          const r = b * T + tt;
          if (S) {
            // λ^t·q_t·S: into q_t and λ
            const u = fromState(b, r);
            let gu = 0;
            for (let j = 0; j < dv; j++) gu += g[r * dv + j] * u[j];
            gl += dPow(lambda, tt) * gu;
            for (let p = 0; p < dk; p++) {
              let acc = 0;
              for (let j = 0; j < dv; j++) acc += S[(b * dk + p) * dv + j] * g[r * dv + j];
              gq[r * dk + p] += lambda ** tt * acc;
            }
          }
          for (let s = 0; s < tt; s++) {
            const rs = b * T + s;
            const qk = dot(r, rs), m = lambda ** (tt - 1 - s);
            let gdv = 0; // g_t · v_s
            for (let j = 0; j < dv; j++) {
              gdv += g[r * dv + j] * V[rs * dv + j];
              gv[rs * dv + j] += m * qk * g[r * dv + j];
            }
            gl += dPow(lambda, tt - 1 - s) * qk * gdv;
            for (let p = 0; p < dk; p++) {
              gq[r * dk + p] += m * gdv * K[rs * dk + p];
              gk[rs * dk + p] += m * gdv * Q[r * dk + p];
            }
          }
        }
      }
      q.accumulate(gq);
      k.accumulate(gk);
      v.accumulate(gv);
      o.decay?.accumulate(new Float64Array([gl]));
    };
    return t;
  }

  /**
   * The running mean's per-query normalizer (docs/definition.md §6) as a `[B*T, 1]` node:
   * `N[b,t] = max(prior + λ^t·count_b + Σ_{s<t} λ^(t−1−s)·w[b,s], 1e-8)` for constant
   * weights `w` `[B*T]` and carried counts `count` `[B]` (default 0); `decay` (λ, a
   * `[1,1]` node, default the constant 1) gets its gradient (none where the floor holds).
   */
  queryNormalizer(
    w: ArrayLike<number>,
    B: number,
    T: number,
    o: { decay?: Tensor; prior: number; count?: ArrayLike<number> },
  ): Tensor {
    const lambda = o.decay?.value[0] ?? 1;
    const out = new Float64Array(B * T), dOut = new Float64Array(B * T);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        let n = o.prior + lambda ** t * (o.count?.[b] ?? 0);
        let d = dPow(lambda, t) * (o.count?.[b] ?? 0);
        for (let s = 0; s < t; s++) {
          n += lambda ** (t - 1 - s) * w[b * T + s];
          d += dPow(lambda, t - 1 - s) * w[b * T + s];
        }
        out[b * T + t] = Math.max(n, 1e-8);
        dOut[b * T + t] = n > 1e-8 ? d : 0;
      }
    }
    const t = this.#push(out, [B * T, 1], o.decay ? [o.decay] : []);
    t.backwardFn = () => {
      let gl = 0;
      for (let i = 0; i < B * T; i++) gl += t.grad![i] * dOut[i];
      o.decay?.accumulate(new Float64Array([gl]));
    };
    return t;
  }

  /**
   * Runs the backward pass from a `[1,1]` node (seeded with gradient 1). Gradients of
   * {@linkcode Tape.leaf} nodes are left in their `grad`.
   */
  backward(loss: Tensor): void {
    if (loss.value.length !== 1) {
      throw new RangeError("backward needs a [1,1] loss");
    }
    loss.accumulate(new Float64Array([1]));
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const node = this.nodes[i];
      if (node.grad !== null && node.backwardFn !== null) node.backwardFn();
    }
  }
}
