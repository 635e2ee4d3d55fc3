/**
 * The batched, strided matrix product of `shaders/matmul.wgsl` and its common layouts.
 *
 * @module
 */

import type { KernelSpec } from "../gpu/context.ts";
import { program, type StorageType } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { MATMUL_EPILOGUE } from "./snippets.ts";

/** The uniform fields of one operand's layout (see {@linkcode Operand}), e.g. `a_base … a_col`. */
function operandFields<P extends "a" | "b" | "c">(p: P) {
  return [`${p}_base`, `${p}_outer`, `${p}_inner`, `${p}_rel`, `${p}_row`, `${p}_col`] as const;
}

/** What every matmul variant shares: uniforms, flags, tile height, epilogue. */
const MATMUL_LAYOUT = {
  uniforms: [
    ...["m", "n", "k", "batch_inner"] as const,
    ...operandFields("a"),
    ...operandFields("b"),
    ...operandFields("c"),
    ...["z_base", "clip_len", "clip_stride", "clip_mask", "flags", "step_index"] as const,
    ...["alpha: f32", "beta: f32", "bias_base"] as const,
  ],
  snippets: [MATMUL_EPILOGUE],
} as const;

/** The flag bits of the epilogue. */
const FLAGS = {
  /** Add `beta · C`. */
  ACCUMULATE: 1,
  /** Add `bias[j]`. */
  BIAS: 2,
  /** Keep only `i > j` (strictly causal scores). */
  CAUSAL: 4,
  /** `alpha *= steps[step_index]`. */
  STEP_ALPHA: 8,
  /** Also write `aux = relu(C)²`. */
  SQRELU_AUX: 16,
  /** `C *= 2·relu(aux)` (the squared-ReLU backward). */
  GATE_AUX: 32,
} as const;

/** A matmul variant reading A and B as `aType`/`bType`, with `tileN` columns per workgroup. */
function variant(
  name: string,
  body: string,
  aType: StorageType,
  bType: StorageType,
  workgroupSize: readonly [number, number],
) {
  return program({
    ...MATMUL_LAYOUT,
    name,
    body,
    workgroupSize,
    storage: [`a: ${aType}`, `b: ${bType}`, "c: rw", "bias", "aux: rw", "steps"],
    // Each invocation owns 4 columns; 32 rows per workgroup.
    constants: { ...FLAGS, TILE_M: 32, TILE_N: workgroupSize[0] * 4 },
  });
}

/** The general matmul: any strides, a 4×4 register block per invocation. */
const GENERAL = variant("matmul", shaders.matmul, "f32", "f32", [8, 8]);
/** The matmul kernel (any strides); exported for the runtime tests. */
export const MATMUL: KernelSpec = GENERAL;
/** B read as vec4 (B row-major, n and B strides multiples of 4). */
const VEC4 = variant("matmul_vec4", shaders.matmulVec4, "f32", "vec4<f32>", [16, 4]);
/** A·Bᵀ layouts, reading A's rows and B's columns as vec4 along k. */
const DOT = variant("matmul_dot", shaders.matmulDot, "vec4<f32>", "vec4<f32>", [8, 8]);
/** A as vec4 along k and B as vec4 along n. */
const VEC4X4 = variant("matmul_vec4x4", shaders.matmulVec4x4, "vec4<f32>", "vec4<f32>", [16, 4]);

/** Whether the clip shrinks extent `bit` (1 m, 2 n, 4 k). */
function clips(s: MatmulSpec, bit: number): boolean {
  return ((s.clip?.mask ?? 0) & bit) !== 0;
}

/** Whether `stride` and every base and batch stride of `op` are non-negative multiples of 4. */
function aligned4(op: Operand, stride: number): boolean {
  return [stride, op.base ?? 0, op.outer ?? 0, op.inner ?? 0, op.rel ?? 0].every((v) =>
    v >= 0 && v % 4 === 0
  );
}

/** Whether A's rows and B's columns are contiguous along k, with k and all strides multiples of 4. */
function dotFriendly(s: MatmulSpec): boolean {
  return s.a.col === 1 && s.b.row === 1 && s.k % 4 === 0 && !clips(s, 4) &&
    aligned4(s.a, s.a.row) && aligned4(s.b, s.b.col);
}

/** Whether A's rows are also contiguous along k (k and every A stride a multiple of 4). */
function aVec4Friendly(s: MatmulSpec): boolean {
  return s.a.col === 1 && s.k % 4 === 0 && !clips(s, 4) && aligned4(s.a, s.a.row);
}

/** Whether B's layout allows vec4 loads: unit column stride, everything else a multiple of 4. */
function vec4Friendly(s: MatmulSpec): boolean {
  return s.b.col === 1 && s.n % 4 === 0 && !clips(s, 2) && aligned4(s.b, s.b.row);
}

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
}

/** The uniform fields of one operand's layout, e.g. `a_base … a_col`. */
function layout<P extends "a" | "b" | "c">(
  p: P,
  op: Operand,
): Record<`${P}_${"base" | "outer" | "inner" | "rel" | "row" | "col"}`, number> {
  return {
    [`${p}_base`]: op.base ?? 0,
    [`${p}_outer`]: op.outer ?? 0,
    [`${p}_inner`]: op.inner ?? 0,
    [`${p}_rel`]: op.rel ?? 0,
    [`${p}_row`]: op.row,
    [`${p}_col`]: op.col,
  } as Record<`${P}_${"base" | "outer" | "inner" | "rel" | "row" | "col"}`, number>;
}

/**
 * Records one matmul dispatch: `C = alpha·op(A)·op(B) (+ beta·C)`, each operand addressed
 * by its strides (see {@linkcode Operand}), batched over `batches`.
 *
 * @example
 * ```ts
 * import { GPUContext, matmul, readBytes, Recorder } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const a = ctx.pool.acquire(4 * 4), c = ctx.pool.acquire(4 * 4);
 * ctx.device.queue.writeBuffer(a, 0, new Float32Array([1, 2, 3, 4])); // [2, 2]
 * const rec = new Recorder(ctx);
 * // C = 2·Aᵀ·A: Aᵀ is A read with its row and column strides swapped
 * matmul(rec, {
 *   m: 2, n: 2, k: 2, alpha: 2,
 *   a: { buffer: a, row: 1, col: 2 }, b: { buffer: a, row: 2, col: 1 }, c: { buffer: c, row: 2, col: 1 },
 * });
 * await rec.submit("gram");
 * console.log(new Float32Array(await readBytes(ctx, c, 16))); // Float32Array(4) [ 20, 28, 28, 40 ]
 * for (const b of [a, c]) ctx.pool.release(b);
 * ```
 */
export function matmul(rec: Recorder, s: MatmulSpec): void {
  const flags = (s.beta !== undefined ? FLAGS.ACCUMULATE : 0) | (s.bias ? FLAGS.BIAS : 0) |
    (s.causal ? FLAGS.CAUSAL : 0) | (s.step ? FLAGS.STEP_ALPHA : 0) |
    (s.sqreluAux ? FLAGS.SQRELU_AUX : 0) | (s.gateAux ? FLAGS.GATE_AUX : 0);
  if (s.sqreluAux && s.gateAux) {
    throw new Error("matmul: sqreluAux and gateAux exclude each other");
  }
  const uniforms = GENERAL.uniforms({
    m: s.m,
    n: s.n,
    k: s.k,
    batch_inner: s.batchInner ?? 1,
    ...layout("a", s.a),
    ...layout("b", s.b),
    ...layout("c", s.c),
    z_base: s.zBase ?? 0,
    clip_len: s.clip?.len ?? 0,
    clip_stride: s.clip?.stride ?? 0,
    clip_mask: s.clip?.mask ?? 0,
    flags,
    step_index: s.step?.index ?? 0,
    alpha: s.alpha ?? 1,
    beta: s.beta ?? 0,
    bias_base: s.bias?.base ?? 0,
  });
  const ctx = rec.ctx;
  const vec4 = vec4Friendly(s);
  const kernel = vec4 ? (aVec4Friendly(s) ? VEC4X4 : VEC4) : dotFriendly(s) ? DOT : GENERAL;
  rec.dispatch(
    kernel,
    [
      s.a.buffer,
      s.b.buffer,
      s.c.buffer,
      s.bias?.buffer ?? ctx.dummy(0),
      s.sqreluAux ?? s.gateAux ?? ctx.dummy(1),
      s.step?.buffer ?? ctx.dummy(0),
    ],
    uniforms,
    [
      Math.ceil(s.n / kernel.constants.TILE_N),
      Math.ceil(s.m / kernel.constants.TILE_M),
      s.batches ?? 1,
    ],
  );
}

/** Options shared by the row-major helpers. */
export type Epilogue = Pick<
  MatmulSpec,
  "bias" | "beta" | "alpha" | "step" | "sqreluAux" | "gateAux"
>;

/**
 * A product of row-major `x [rows, k]` with a weight into row-major `out [rows, n]`
 * (`xBase`, `outBase`: element offsets of the first row).
 */
export type RowMajorProduct = (
  rec: Recorder,
  x: Binding,
  w: Binding,
  out: Binding,
  rows: number,
  k: number,
  n: number,
  epilogue?: Epilogue,
  xBase?: number,
  outBase?: number,
) => void;

/** `out[rows, n] = x[rows, k] · w[k, n]` for row-major x, w and out. */
export const matmulNN: RowMajorProduct = (
  rec,
  x,
  w,
  out,
  rows,
  k,
  n,
  epilogue,
  xBase,
  outBase,
): void =>
  rowMajor(rec, x, { buffer: w, row: n, col: 1 }, out, rows, k, n, epilogue, xBase, outBase);

/** `out[rows, n] = g[rows, k] · w[n, k]ᵀ` for row-major g, w and out. */
export const matmulNT: RowMajorProduct = (
  rec,
  g,
  w,
  out,
  rows,
  k,
  n,
  epilogue,
  gBase,
  outBase,
): void =>
  rowMajor(rec, g, { buffer: w, row: 1, col: k }, out, rows, k, n, epilogue, gBase, outBase);

/** `out[rows, n] = x[rows, k] · B` for row-major x and out. */
function rowMajor(
  rec: Recorder,
  x: Binding,
  b: Operand,
  out: Binding,
  rows: number,
  k: number,
  n: number,
  epilogue: Epilogue = {},
  xBase = 0,
  outBase = 0,
): void {
  matmul(rec, {
    m: rows,
    n,
    k,
    a: { buffer: x, base: xBase, row: k, col: 1 },
    b,
    c: { buffer: out, base: outBase, row: n, col: 1 },
    ...epilogue,
  });
}

/**
 * `out[m, n] = xᵀ·g` for row-major `x [rows, m]` and `g [rows, n]` (a weight gradient;
 * `beta: 1` accumulates). `gRow` and `outRow` are the row strides of `g` and `out`
 * (default `n`); the bases are element offsets.
 */
export function matmulTN(
  rec: Recorder,
  o: {
    x: Binding;
    g: Binding;
    out: Binding;
    rows: number;
    m: number;
    n: number;
    xBase?: number;
    gBase?: number;
    gRow?: number;
    outBase?: number;
    outRow?: number;
  } & Epilogue,
): void {
  const { x, g, out, rows, m, n, xBase, gBase, gRow, outBase, outRow, ...epilogue } = o;
  matmul(rec, {
    m,
    n,
    k: rows,
    a: { buffer: x, base: xBase ?? 0, row: 1, col: m },
    b: { buffer: g, base: gBase ?? 0, row: gRow ?? n, col: 1 },
    c: { buffer: out, base: outBase ?? 0, row: outRow ?? n, col: 1 },
    ...epilogue,
  });
}
