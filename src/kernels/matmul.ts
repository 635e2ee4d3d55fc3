/**
 * The batched, strided matrix product and its common layouts (A·B, A·Bᵀ, Aᵀ·B). Where B
 * can be read as vec4 (along n or along k), a register-tiled kernel generated for this
 * context's tile runs it (`matmul_tiled.ts`; the tile policy, from the adapter, set or
 * tuned, is `matmul_tiles.ts`); any other layout runs on the general kernel,
 * `shaders/matmul.wgsl`. Both share the fused epilogue (alpha, learned step, bias,
 * accumulation, causal mask, squared ReLU, a per-row scale and the decays of
 * docs/definition.md §6), which a dispatch's `MatmulSpec` (`matmul_spec.ts`) asks for.
 *
 * @module
 */

import type { GPUContext, KernelSpec } from "../gpu/context.ts";
import { type Program, program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { MATMUL_BATCH, MATMUL_STORE, MATMUL_STORE4 } from "./snippets.ts";
import {
  type ALoad,
  type BLoad,
  type MatmulTile,
  tiledMatmulBody,
  type TiledVariant,
} from "./matmul_tiled.ts";
import { matmulTile, tuneTile } from "./matmul_tiles.ts";
import type { MatmulSpec, Operand } from "./matmul_spec.ts";

export type { MatmulTile } from "./matmul_tiled.ts";
export type { MatmulSpec, Operand } from "./matmul_spec.ts";
export { matmulTile, setMatmulTile } from "./matmul_tiles.ts";

/** The uniform fields of one operand's layout (see {@linkcode Operand}), e.g. `a_base … a_col`. */
function operandFields<P extends "a" | "b" | "c">(p: P) {
  return [`${p}_base`, `${p}_outer`, `${p}_inner`, `${p}_rel`, `${p}_row`, `${p}_col`] as const;
}

/** What every matmul kernel shares: uniforms and the batch layout. */
const MATMUL_LAYOUT = {
  uniforms: [
    ...["m", "n", "k", "batch_inner"] as const,
    ...operandFields("a"),
    ...operandFields("b"),
    ...operandFields("c"),
    ...["z_base", "clip_len", "clip_stride", "clip_mask", "flags", "step_index"] as const,
    ...["alpha: f32", "beta: f32", "bias_base"] as const,
    ...["r_base", "r_outer", "r_inner", "r_rel", "decay_index"] as const,
  ],
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
  /** Row i of a batch times `rowscale[r_off + i]`. */
  ROW_SCALE: 64,
  /** Row i of a batch times `λ^i` (λ = `steps[decay_index]`). */
  DECAY_ROWS: 128,
  /** Row i of a batch of m rows times `λ^(m−1−i)`. */
  DECAY_ROWS_REV: 256,
  /** Causal scores (i > j) times `λ^(i−1−j)`. */
  DECAY_CAUSAL: 512,
  /** `beta·λ^k` for a batch of inner size k. */
  DECAY_BETA: 1024,
} as const;

/** The general matmul: any strides, a 4×4 register block per invocation. */
const GENERAL = program({
  ...MATMUL_LAYOUT,
  name: "matmul",
  body: shaders.matmul,
  snippets: [MATMUL_BATCH, MATMUL_STORE],
  workgroupSize: [8, 8],
  storage: ["a: f32", "b: f32", "c: rw", "bias", "aux: rw", "steps", "rowscale"],
  // Each invocation owns a 4×4 block: 32 rows and 32 columns per workgroup.
  constants: { ...FLAGS, TILE_M: 32, TILE_N: 32, GROUP_M: 1 },
});
/** The matmul kernel (any strides); exported for the runtime tests. */
export const MATMUL: KernelSpec = GENERAL;

/** A matmul kernel: its C block per workgroup is `TILE_M × TILE_N`. */
export type MatmulKernel = Program<string, { TILE_M: number; TILE_N: number }>;

/** The register-tiled kernels, compiled once per variant and tile. */
const TILED = new Map<string, MatmulKernel>();

function tiledProgram(v: TiledVariant, tile: MatmulTile): MatmulKernel {
  const [x, y] = tile.workgroup;
  const { c4 } = v;
  const shape = `${tile.rows}x${4 * tile.cols}_${x}x${y}_g${tile.group ?? 1}`;
  return program({
    ...MATMUL_LAYOUT,
    name: `matmul_tiled_a${v.a}_b${v.b}${c4 ? "_c4" : ""}_k${v.by4 ? 4 : 1}_${shape}`,
    body: tiledMatmulBody(v, tile),
    snippets: [c4 ? MATMUL_STORE4 : MATMUL_STORE],
    workgroupSize: tile.workgroup,
    storage: [
      `a: ${v.a === "scalar" ? "f32" : "vec4<f32>"}`,
      "b: vec4<f32>",
      `c: rw${c4 ? " vec4<f32>" : ""}`,
      "bias",
      `aux: rw${c4 ? " vec4<f32>" : ""}`,
      "steps",
      "rowscale",
    ],
    constants: {
      ...FLAGS,
      TILE_M: tile.rows * tile.workgroup[1],
      TILE_N: 4 * tile.cols * tile.workgroup[0],
      GROUP_M: tile.group ?? 1,
    },
  });
}

/** The tiled kernel for these loads and this tile. */
function tiled(v: TiledVariant, tile: MatmulTile): MatmulKernel {
  const key = `${v.a} ${v.b} ${v.c4} ${v.by4} ${tile.rows} ${tile.cols} ${tile.workgroup} ${
    tile.group ?? 1
  }`;
  let kernel = TILED.get(key);
  if (!kernel) {
    kernel = tiledProgram(v, tile);
    TILED.set(key, kernel);
  }
  return kernel;
}

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

/** How the tiled kernel can read B, if it can: along n (`n4`) or along k (`k4`). */
function bLoad(s: MatmulSpec): BLoad | undefined {
  if (s.b.col === 1 && s.n % 4 === 0 && !clips(s, 2) && aligned4(s.b, s.b.row)) return "n4";
  if (s.b.row === 1 && s.k % 4 === 0 && !clips(s, 4) && aligned4(s.b, s.b.col)) return "k4";
  return undefined;
}

/**
 * How the tiled kernel reads A: as vec4 along k when its rows are contiguous and aligned,
 * as vec4 along m when its columns are (Aᵀ·B, with B read along n), else by element.
 */
function aLoad(s: MatmulSpec, b: BLoad, tile: MatmulTile): ALoad {
  if (s.a.col === 1 && s.k % 4 === 0 && !clips(s, 4) && aligned4(s.a, s.a.row)) return "k4";
  if (
    s.a.row === 1 && b === "n4" && tile.rows % 4 === 0 && s.m % 4 === 0 && !clips(s, 1) &&
    aligned4(s.a, s.a.col)
  ) return "m4";
  return "scalar";
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
 * import { assertEquals } from "@std/assert";
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
 * assertEquals([...new Float32Array(await readBytes(ctx, c, 16))], [20, 28, 28, 40]);
 * for (const b of [a, c]) ctx.pool.release(b);
 * ```
 */
export function matmul(rec: Recorder, s: MatmulSpec): void {
  const d = s.decay;
  const flags = (s.beta !== undefined ? FLAGS.ACCUMULATE : 0) | (s.bias ? FLAGS.BIAS : 0) |
    (s.causal ? FLAGS.CAUSAL : 0) | (s.step ? FLAGS.STEP_ALPHA : 0) |
    (s.sqreluAux ? FLAGS.SQRELU_AUX : 0) | (s.gateAux ? FLAGS.GATE_AUX : 0) |
    (s.rowScale ? FLAGS.ROW_SCALE : 0) | (d?.rows ? FLAGS.DECAY_ROWS : 0) |
    (d?.reverseRows ? FLAGS.DECAY_ROWS_REV : 0) | (d?.causal ? FLAGS.DECAY_CAUSAL : 0) |
    (d?.beta ? FLAGS.DECAY_BETA : 0);
  if (s.sqreluAux && s.gateAux) {
    throw new Error("matmul: sqreluAux and gateAux exclude each other");
  }
  if (d && s.step && d.buffer !== s.step.buffer) {
    throw new Error("matmul: the step and the decay are read from one buffer");
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
    r_base: s.rowScale?.base ?? 0,
    r_outer: s.rowScale?.outer ?? 0,
    r_inner: s.rowScale?.inner ?? 0,
    r_rel: s.rowScale?.rel ?? 0,
    decay_index: d?.index ?? 0,
  });
  const ctx = rec.ctx;
  const bindings = [
    s.a.buffer,
    s.b.buffer,
    s.c.buffer,
    s.bias?.buffer ?? ctx.dummy(0),
    s.sqreluAux ?? s.gateAux ?? ctx.dummy(1),
    s.step?.buffer ?? d?.buffer ?? ctx.dummy(0),
    s.rowScale?.buffer ?? ctx.dummy(0),
  ];
  const kernel = matmulKernel(ctx, s);
  const { TILE_M, TILE_N } = kernel.constants;
  rec.dispatch(kernel, bindings, uniforms, [
    Math.ceil(s.n / TILE_N),
    Math.ceil(s.m / TILE_M),
    s.batches ?? 1,
  ]);
}

/**
 * The kernel a matmul runs on: the register-tiled one when B can be read as vec4 (along n
 * or along k), with this context's tile, else the general one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GPUContext } from "@x/fwl/gpu";
 * import { matmulKernel } from "./matmul.ts";
 * const ctx = await GPUContext.default();
 * const b = ctx.dummy(0), odd = { buffer: b, row: 5, col: 1 };
 * assertEquals(matmulKernel(ctx, { m: 3, n: 5, k: 2, a: odd, b: odd, c: odd }).name, "matmul");
 * ```
 */
export function matmulKernel(ctx: GPUContext, s: MatmulSpec): MatmulKernel {
  const b = bLoad(s);
  if (b === undefined) return GENERAL;
  const tile = matmulTile(ctx);
  // C (and aux, which has C's layout) as vec4: rows contiguous, aligned to 4.
  const c4 = s.n % 4 === 0 && !clips(s, 2) && s.c.col === 1 && aligned4(s.c, s.c.row);
  const a = aLoad(s, b, tile);
  // Steps of 4 along k only where a vec4 load along k needs them: with A read by element
  // or along m, single steps measured faster on llvmpipe.
  return tiled({ a, b, c4, by4: a === "k4" || b === "k4" }, tile);
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

/**
 * Times a few register tiles on a `size³` product (A·B and A·Bᵀ) and keeps the fastest
 * for `ctx` (see {@linkcode matmulTile}); returns it. It takes a few seconds on a CPU
 * adapter; the choice lasts as long as the context. The policy and the timing loop are
 * `matmul_tiles.ts`; this names the products timed.
 *
 * @throws {FWLInputError} If `size` is not a multiple of 4 (at least 4), or a candidate
 * tile does not fit the device (see {@linkcode setMatmulTile}).
 *
 * @example
 * ```ts
 * import { assertStrictEquals } from "@std/assert";
 * import { GPUContext, matmulTile, setMatmulTile, tuneMatmulTile } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const tile = await tuneMatmulTile(ctx, { size: 64, repeats: 1 }); // default size: 512
 * assertStrictEquals(matmulTile(ctx), tile);
 * setMatmulTile(ctx, undefined); // back to the adapter's default
 * ```
 */
export function tuneMatmulTile(
  ctx: GPUContext,
  options: { size?: number; candidates?: readonly MatmulTile[]; repeats?: number } = {},
): Promise<MatmulTile> {
  return tuneTile(ctx, options, (rec, a, b, c, size) => {
    matmulNN(rec, a, b, c, size, size, size);
    matmulNT(rec, a, b, c, size, size, size, { beta: 1 });
  });
}
