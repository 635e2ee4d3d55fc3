/**
 * Shared types of the float64 CPU reference of an FWL block (docs/definition.md §1–§2, §6).
 *
 * @module
 */

/**
 * The targets of every position: integer token ids `[B*T]`, or a one-hot (or any
 * distribution) `[B*T*V]`, both row-major.
 */
export type Labels =
  | { ids: Int32Array }
  | { oneHot: Float32Array | Float64Array };

/**
 * One batch handed to the reference: sizes, inputs, labels, weights and parameters.
 */
export interface ReferenceCase {
  /** Number of sequences. */
  B: number;
  /** Sequence length. */
  T: number;
  /** Width of the hidden states `x`. */
  D: number;
  /** Width of the fast layers (`H = 4·size`). */
  size: number;
  /** Vocabulary size `V`. */
  vocabSize: number;
  /** Number of chunks of the mixed chunk attention (any positive integer). */
  attnChunks: number;
  /** Hidden states `[B,T,D]`, row-major. */
  x: Float32Array | Float64Array;
  /** Targets of every position. */
  labels: Labels;
  /** Loss weight of every position `[B,T]`. */
  weights: Float32Array | Float64Array;
  /** Parameters by docs/definition.md §1 name; kernels `[in,out]` row-major, step sizes length-1 arrays. */
  params: Record<string, Float32Array | Float64Array>;
  /**
   * `"batch"` (default): `N = max(Σw, 1e-8)`; a number: that fixed `N`; an object: the
   * running mean of docs/definition.md §6, `N[b,t] = max(n0 + Σ_{s<t} λ^(t−1−s)·w[b,s], 1e-8)` with
   * every earlier loss weighted `λ^(t−1−s)` too (`decay` λ default 1, `prior` n0
   * default 0).
   */
  normalizer?: "batch" | number | ReferenceMean;
  /**
   * The state the earlier windows of the same sequences left (docs/definition.md §3, §6): their
   * positions precede position 0 of this case. Constants: no gradient flows into them.
   */
  carried?: ReferenceFastState;
  /** Layer-norm epsilon (default 1e-6). */
  epsilon?: number;
}

/** The running-mean normalizer of docs/definition.md §6 as the reference takes it. */
export interface ReferenceMean {
  /** λ in (0, 1] (default 1). */
  decay?: number;
  /** n0 ≥ 0 (default 0). */
  prior?: number;
}

/**
 * The fast-weight state of `B` sequences after some positions (docs/definition.md §3, §6): each
 * sum is the raw (not normalized) inner-loss gradient of one fast parameter over the
 * earlier positions, each position's term weighted `λ^(age)` (`age` = positions since
 * it), and `count` the decayed sum of their weights. With a fixed `N` the normalization
 * is applied when the state is read; the batch normalizer can't be carried.
 */
export interface ReferenceFastState {
  /** `Σ x_s ⊗ g_h1_s`, `[B, D, H]` (the gradient of `dense_0/kernel`). */
  s0: Float64Array;
  /** `Σ a_s ⊗ g_h2_s`, `[B, H, size]`. */
  s1: Float64Array;
  /** `Σ g_h1`, `[B, H]`. */
  sumH1: Float64Array;
  /** `Σ g_h2`, `[B, size]`. */
  sumH2: Float64Array;
  /** `Σ g_n ⊙ n̂`, `[B, size]`. */
  sumGnNhat: Float64Array;
  /** `Σ g_n`, `[B, size]`. */
  sumGn: Float64Array;
  /** `Σ w`, `[B]`. */
  count: Float64Array;
}

/**
 * Everything the slow forward keeps, as float64 row-major arrays over the `B*T` positions
 * (made by `referenceSlowForward`, whose example shows it).
 */
export interface ReferenceSlowForward {
  /** `x·K0 + b0`, `[B*T*H]`. */
  h1: Float64Array;
  /** `relu(h1)²`, `[B*T*H]`. */
  a: Float64Array;
  /** `a·K1 + b1`, `[B*T*size]`. */
  h2: Float64Array;
  /** `(h2 − μ)·rstd`, `[B*T*size]`. */
  nhat: Float64Array;
  /** `1/sqrt(var(h2) + ε)` per position, `[B*T]`. */
  rstd: Float64Array;
  /** `nhat ⊙ scale + bias`, `[B*T*size]`. */
  n: Float64Array;
  /** `n·Ku + bu`, `[B*T*V]`. */
  logits: Float64Array;
}

/**
 * The hand-written backward of the inner loss (docs/definition.md §2), float64 row-major (made by
 * `referenceInnerBackward`, whose example shows it).
 */
export interface ReferenceInnerBackward {
  /**
   * The normalizer `N` folded into `g_z`: the batch or fixed one; 1 for the running
   * mean, which divides each query's update by its own `queryN` instead (docs/definition.md §6).
   */
  N: number;
  /** For the running mean: `N[b,t]` of every position, `[B*T]`. */
  queryN?: Float64Array;
  /** `g_z = (softmax(logits) − y)·w/N`, `[B*T*V]`. */
  gz: Float64Array;
  /** `g_n = g_z·Kuᵀ`, `[B*T*size]`. */
  gn: Float64Array;
  /** Layer-norm backward `g_h2`, `[B*T*size]`. */
  gh2: Float64Array;
  /** `g_h1 = (g_h2·K1ᵀ) ⊙ 2·relu(h1)`, `[B*T*H]`. */
  gh1: Float64Array;
  /** `g_n ⊙ n̂` (the per-position gradient of the layer-norm scale), `[B*T*size]`. */
  gnNhat: Float64Array;
}
