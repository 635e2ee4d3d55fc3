/**
 * Shared types of the float64 CPU reference of an FWL block (FWL.md §1–§2).
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
  /** Parameters by FWL.md §1 name; kernels `[in,out]` row-major, step sizes length-1 arrays. */
  params: Record<string, Float32Array | Float64Array>;
  /** `"batch"` (default): `N = max(Σw, 1e-8)`; a number: that fixed `N`. */
  normalizer?: "batch" | number;
  /** Layer-norm epsilon (default 1e-6). */
  epsilon?: number;
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
 * The hand-written backward of the inner loss (FWL.md §2), float64 row-major (made by
 * `referenceInnerBackward`, whose example shows it).
 */
export interface ReferenceInnerBackward {
  /** The normalizer `N` actually used. */
  N: number;
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
