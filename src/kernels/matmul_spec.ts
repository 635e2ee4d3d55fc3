/**
 * What one matmul dispatch is: its operands, each addressed by strides
 * ({@linkcode Operand}), and the product with its fused epilogue ({@linkcode MatmulSpec})
 * that `matmul.ts` records.
 *
 * @module
 */

import type { Binding } from "../gpu/recorder.ts";

/** How one operand is laid out: element (i, j) of batch (outer, inner, rel) sits at
 * `base + outer·outer + inner·inner + rel·rel + i·row + j·col`. */
export interface Operand {
  /** The buffer (or byte range) holding the operand. */
  buffer: Binding;
  /** Element offset of the first element. */
  base?: number;
  /** Stride between outer batches (sequences). */
  outer?: number;
  /** Stride between inner batches (chunks). */
  inner?: number;
  /** Stride between batches of one dispatch (scratch holding a group of batches). */
  rel?: number;
  /** Stride between rows (A: i, B: k, C: i). */
  row: number;
  /** Stride between columns (A: k, B: j, C: j). */
  col: number;
}

/** One matmul dispatch: `C = alpha·A·B (+ bias) (+ beta·C)` over `batches` batches. */
export interface MatmulSpec {
  /** Rows of A and C. */
  m: number;
  /** Columns of B and C. */
  n: number;
  /** Columns of A, rows of B. */
  k: number;
  /** The left operand `[m, k]`. */
  a: Operand;
  /** The right operand `[k, n]`. */
  b: Operand;
  /** The result `[m, n]`. */
  c: Operand;
  /** Number of batches in this dispatch (default 1). */
  batches?: number;
  /** Inner batches (chunks) per outer batch (default 1). */
  batchInner?: number;
  /** Index of this dispatch's first batch (default 0). */
  zBase?: number;
  /** Shrinks m (mask 1), n (2), k (4) of chunk `inner` to `len − inner·stride`. */
  clip?: { len: number; stride: number; mask: number };
  /** Adds `bias[base + j]`. */
  bias?: { buffer: Binding; base?: number };
  /** Adds `beta·C` (accumulate in place). */
  beta?: number;
  /** Keeps only entries with i > j (strictly causal attention scores). */
  causal?: boolean;
  /** Scales the product (default 1). */
  alpha?: number;
  /** Multiplies alpha by `steps[index]` read on the GPU (a learned step size). */
  step?: { buffer: GPUBuffer; index: number };
  /** Also writes `relu(C)²` here (same layout as C). */
  sqreluAux?: Binding;
  /** Multiplies C by `2·relu(aux)` (aux has C's layout): the squared-ReLU backward. */
  gateAux?: Binding;
  /**
   * Multiplies row i of each batch by `buffer[base + outer·outer + inner·inner + rel·rel
   * + i]` (the batch's outer and inner index as for the operands; e.g. a query's 1/N).
   */
  rowScale?: { buffer: Binding; base?: number; outer?: number; inner?: number; rel?: number };
  /**
   * The decay λ of docs/definition.md §6, read on the GPU at `buffer[index]` (the buffer `step`
   * reads, when both are given), and where it applies: `rows` multiplies row i of a batch
   * by `λ^i`, `reverseRows` by `λ^(m−1−i)`; `causal` multiplies causal scores (i > j, with
   * `causal: true`) by `λ^(i−1−j)`; `beta` makes the accumulation `beta·λ^k`.
   */
  decay?: {
    buffer: GPUBuffer;
    index: number;
    rows?: boolean;
    reverseRows?: boolean;
    causal?: boolean;
    beta?: boolean;
  };
}
