/**
 * The register-tile policy of the tiled matmul: the tile an adapter gets by default (a
 * CPU adapter's SIMD width, a GPU's workgroup limits), the tile set per context, its
 * checks against the device limits, and the timing loop that picks the fastest of a few
 * candidates. `matmul.ts` asks {@linkcode matmulTile} for the tile of each dispatch.
 *
 * @module
 */

import type { GPUContext } from "../gpu/context.ts";
import { readBytes } from "../gpu/readback.ts";
import { Recorder } from "../gpu/recorder.ts";
import { FWLInputError } from "../errors.ts";
import type { MatmulTile } from "./matmul_tiled.ts";

export type { MatmulTile } from "./matmul_tiled.ts";

/** Tiles set (by {@linkcode setMatmulTile} or {@linkcode tuneMatmulTile}) per context. */
const CHOSEN_TILES = new WeakMap<GPUContext, MatmulTile>();

/** Whether the adapter is a CPU rasterizer (its SIMD lanes are the invocations of a workgroup). */
function cpuLanes(ctx: GPUContext): number | undefined {
  if (!/llvmpipe|lavapipe|swiftshader|warp|software|cpu/i.test(ctx.adapter)) return undefined;
  const bits = Number(/(\d+) bits/.exec(ctx.adapter)?.[1] ?? 256);
  return Math.max(4, Math.min(16, bits / 32));
}

/**
 * The register tile an adapter gets without tuning. A CPU adapter (llvmpipe) runs the
 * invocations of a workgroup in its SIMD lanes: one row of lanes sharing 16 rows (A's
 * loads are then one load for all lanes), 4 vec4 columns each. A GPU gets 4×4 blocks in
 * a 16×16 workgroup, within the device's limits.
 */
function adapterTile(ctx: GPUContext): MatmulTile {
  const lanes = cpuLanes(ctx);
  if (lanes !== undefined) return { rows: 16, cols: 4, workgroup: [lanes, 1], group: 16 };
  const limits = ctx.device.limits;
  const x = Math.min(16, limits.maxComputeWorkgroupSizeX);
  let y = Math.min(16, limits.maxComputeWorkgroupSizeY);
  while (y > 1 && x * y > limits.maxComputeInvocationsPerWorkgroup) y /= 2;
  return { rows: 4, cols: 1, workgroup: [x, y], group: 8 };
}

/**
 * The register tile the matmul uses on this context: the one set by
 * {@linkcode setMatmulTile} or {@linkcode tuneMatmulTile}, else one chosen from the
 * adapter (a CPU adapter's SIMD width, a GPU's workgroup limits).
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { GPUContext, matmulTile } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const tile = matmulTile(ctx);
 * assert(tile.rows > 0 && tile.cols > 0);
 * ```
 */
export function matmulTile(ctx: GPUContext): MatmulTile {
  return CHOSEN_TILES.get(ctx) ?? adapterTile(ctx);
}

/**
 * Throws an {@linkcode FWLInputError} unless `tile` fits the device: 1–32 rows, 1–8 vec4
 * columns, a valid workgroup, a group of 1–256 row blocks.
 */
function checkTile(ctx: GPUContext, tile: MatmulTile, where: string): void {
  const int = (v: unknown, lo: number, hi: number) =>
    Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
  if (!int(tile?.rows, 1, 32)) {
    throw new FWLInputError(where, "tile.rows", "an integer in 1..32", String(tile?.rows));
  }
  if (!int(tile.cols, 1, 8)) {
    throw new FWLInputError(where, "tile.cols", "an integer in 1..8", String(tile.cols));
  }
  if (tile.group !== undefined && !int(tile.group, 1, 256)) {
    throw new FWLInputError(where, "tile.group", "an integer in 1..256", String(tile.group));
  }
  const limits = ctx.device.limits;
  const [x, y] = tile.workgroup ?? [];
  if (
    !int(x, 1, limits.maxComputeWorkgroupSizeX) || !int(y, 1, limits.maxComputeWorkgroupSizeY) ||
    x * y > limits.maxComputeInvocationsPerWorkgroup
  ) {
    throw new FWLInputError(
      where,
      "tile.workgroup",
      `[x, y] within the device's workgroup limits (${limits.maxComputeInvocationsPerWorkgroup} invocations)`,
      JSON.stringify(tile.workgroup),
    );
  }
}

/**
 * Sets the register tile of every later matmul recorded on `ctx` (`undefined` goes back
 * to the adapter's default).
 *
 * @throws {FWLInputError} If the tile does not fit the device: 1–32 rows, 1–8 vec4
 * columns, a group of 1–256 row blocks, a workgroup within the device's limits.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GPUContext, matmulTile, setMatmulTile } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * setMatmulTile(ctx, { rows: 8, cols: 2, workgroup: [8, 2] });
 * assertEquals(matmulTile(ctx).rows, 8);
 * setMatmulTile(ctx, undefined);
 * ```
 */
export function setMatmulTile(ctx: GPUContext, tile: MatmulTile | undefined): void {
  if (tile === undefined) {
    CHOSEN_TILES.delete(ctx);
    return;
  }
  checkTile(ctx, tile, "setMatmulTile");
  CHOSEN_TILES.set(ctx, {
    rows: tile.rows,
    cols: tile.cols,
    workgroup: [...tile.workgroup],
    group: tile.group ?? adapterTile(ctx).group,
  });
}

/** The tiles {@linkcode tuneMatmulTile} tries by default, the adapter's own first. */
function candidateTiles(ctx: GPUContext): MatmulTile[] {
  const own = adapterTile(ctx);
  const [x] = own.workgroup;
  const more: MatmulTile[] = cpuLanes(ctx) !== undefined
    ? [
      { rows: 8, cols: 4, workgroup: [x, 1] },
      { rows: 16, cols: 2, workgroup: [x, 1] },
      { rows: 8, cols: 4, workgroup: [x, 4] },
    ]
    : [
      { rows: 8, cols: 1, workgroup: [16, 8] },
      { rows: 4, cols: 2, workgroup: [8, 16] },
      { rows: 8, cols: 2, workgroup: [8, 8] },
    ];
  const limits = ctx.device.limits;
  return [
    own,
    ...more.filter((t) =>
      t.workgroup[0] <= limits.maxComputeWorkgroupSizeX &&
      t.workgroup[1] <= limits.maxComputeWorkgroupSizeY &&
      t.workgroup[0] * t.workgroup[1] <= limits.maxComputeInvocationsPerWorkgroup
    ),
  ];
}

/** What {@linkcode tuneMatmulTile} takes besides the context. */
export interface TuneOptions {
  /** The side of the timed square product (a multiple of 4; default 512). */
  size?: number;
  /** The tiles to time (default: the adapter's own and a few more that fit the device). */
  candidates?: readonly MatmulTile[];
  /** Timed runs per tile, after one that compiles (default 3; the median counts). */
  repeats?: number;
}

/**
 * Records the products one timing run takes, on the `size × size` operands `a` and `b`
 * into `c` (with whatever tile is set on the context at the time).
 */
export type TimedProducts = (
  rec: Recorder,
  a: GPUBuffer,
  b: GPUBuffer,
  c: GPUBuffer,
  size: number,
) => void;

/**
 * Times `products` with each candidate tile and keeps the fastest for `ctx` (the timing
 * loop of `tuneMatmulTile`, which passes the matmuls to time); returns it.
 *
 * @throws {FWLInputError} If `size` is not a multiple of 4 (at least 4), or a candidate
 * tile does not fit the device.
 */
export async function tuneTile(
  ctx: GPUContext,
  options: TuneOptions,
  products: TimedProducts,
): Promise<MatmulTile> {
  const size = options.size ?? 512;
  const repeats = options.repeats ?? 3;
  if (!Number.isInteger(size) || size < 4 || size % 4 !== 0) {
    throw new FWLInputError("tuneMatmulTile", "size", "a multiple of 4, at least 4", String(size));
  }
  const candidates = options.candidates ?? candidateTiles(ctx);
  for (const t of candidates) checkTile(ctx, t, "tuneMatmulTile");
  const group = adapterTile(ctx).group;
  const copies = candidates.map((t): MatmulTile => ({
    ...t,
    workgroup: [...t.workgroup],
    group: t.group ?? group,
  }));
  const bytes = size * size * 4;
  const [a, b, c] = [0, 1, 2].map(() => ctx.pool.acquire(bytes));
  const before = CHOSEN_TILES.get(ctx);
  let best: { tile: MatmulTile; ms: number } | undefined;
  try {
    const data = new Float32Array(size * size).map((_, i) => (i % 7) / 7 - 0.5);
    for (const buf of [a, b]) ctx.device.queue.writeBuffer(buf, 0, data);
    for (const tile of copies) {
      CHOSEN_TILES.set(ctx, tile);
      const run = async () => {
        const rec = new Recorder(ctx);
        products(rec, a, b, c, size);
        await rec.submit("tuneMatmulTile");
        await readBytes(ctx, c, 16);
      };
      await run(); // compiles
      const times: number[] = [];
      for (let r = 0; r < repeats; r++) {
        const t0 = performance.now();
        await run();
        times.push(performance.now() - t0);
      }
      const ms = times.sort((x, y) => x - y)[times.length >> 1];
      if (!best || ms < best.ms) best = { tile, ms };
    }
  } finally {
    if (before) CHOSEN_TILES.set(ctx, before);
    else CHOSEN_TILES.delete(ctx);
    for (const buf of [a, b, c]) ctx.pool.release(buf);
  }
  CHOSEN_TILES.set(ctx, best!.tile);
  return best!.tile;
}
