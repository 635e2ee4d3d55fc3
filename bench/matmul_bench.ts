// GFLOP/s of our matmul per layout (A·B, A·Bᵀ, Aᵀ·B) at 1024³ and at the FWL head's shapes
// (B=1, T=1024, D=256, size=128, V=4096, C=8; H = 4·size), on whatever adapter
// GPUContext.default() gets. Each row records enough products into one submission for
// about a GFLOP, waits for them, and prints the median of FWL_ROUNDS (default 5) timings,
// and in brackets the GFLOP per second of this process's CPU time (on a CPU adapter, a
// figure that other processes on the machine disturb less).
//
//   deno run -A --import-map=tests/offline_import_map.json bench/matmul_bench.ts
//
// FWL_TILES="16x4x8x1x16,8x4x8x4" (rows × vec4 columns × workgroup [× group of row
// blocks]) times those register tiles instead of the adapter's own, alternating them in
// every round; FWL_LAYOUT="Aᵀ·B" times one layout only, FWL_SHAPE="Ku" the shapes whose
// label contains it. The last line is JSON.

import * as gpu from "../gpu.ts";
import { GPUContext, matmul, readBytes, Recorder } from "../gpu.ts";
import { cpuMs, median } from "./bench_utils.ts";

const ROUNDS = Number(Deno.env.get("FWL_ROUNDS") ?? 5);
type Layout = "A·B" | "A·Bᵀ" | "Aᵀ·B";

interface Shape {
  label: string;
  layout: Layout;
  m: number;
  n: number;
  k: number;
  /** B's stride between rows (A·B) or columns (A·Bᵀ), when B is a slice of a wider matrix. */
  bStride?: number;
}

const SHAPES: Shape[] = [
  { label: "1024³", layout: "A·B", m: 1024, n: 1024, k: 1024 },
  { label: "1024³", layout: "A·Bᵀ", m: 1024, n: 1024, k: 1024 },
  { label: "1024³", layout: "Aᵀ·B", m: 1024, n: 1024, k: 1024 },
  { label: "x·K0", layout: "A·B", m: 1024, n: 512, k: 256 },
  { label: "n·Ku (logits)", layout: "A·B", m: 1024, n: 4096, k: 128 },
  { label: "n·(Kuᵀ)ᵀ (logits)", layout: "A·Bᵀ", m: 1024, n: 4096, k: 128 },
  { label: "window a·K1", layout: "A·B", m: 128, n: 128, k: 512 },
  { label: "g·Kuᵀ (dL/dn)", layout: "A·Bᵀ", m: 1024, n: 128, k: 4096 },
  { label: "g·K1ᵀ", layout: "A·Bᵀ", m: 1024, n: 512, k: 128 },
  { label: "window g·K1ᵀ", layout: "A·Bᵀ", m: 128, n: 512, k: 128 },
  { label: "nᵀ·g (dKu)", layout: "Aᵀ·B", m: 128, n: 4096, k: 1024 },
  { label: "xᵀ·g (dK0)", layout: "Aᵀ·B", m: 256, n: 512, k: 1024 },
  { label: "aᵀ·g (dK1)", layout: "Aᵀ·B", m: 512, n: 128, k: 1024 },
  // The paper-like shape's logits tiles (T=4096, size=256, V=32000): 256 full rows each.
  { label: "paper n·Ku", layout: "A·B", m: 256, n: 32000, k: 256 },
  { label: "paper n·(Kuᵀ)ᵀ", layout: "A·Bᵀ", m: 256, n: 32000, k: 256 },
  { label: "paper g·Kuᵀ", layout: "A·Bᵀ", m: 256, n: 256, k: 32000 },
  { label: "paper nᵀ·g (dKu)", layout: "Aᵀ·B", m: 256, n: 32000, k: 128 },
];

const ctx = await GPUContext.default();
const withTiles = gpu as unknown as {
  setMatmulTile?: (ctx: GPUContext, t: unknown) => void;
  matmulTile?: (ctx: GPUContext) => { rows: number; cols: number; workgroup: number[] };
};
const tiles = (Deno.env.get("FWL_TILES") ?? "").split(",").filter((s) => s).map((s) => {
  const [rows, cols, x, y, group] = s.split("x").map(Number);
  return { label: s, tile: { rows, cols, workgroup: [x, y], group } };
});
if (tiles.length > 0 && !withTiles.setMatmulTile) throw new Error("this tree has no tiles");
const own = withTiles.matmulTile?.(ctx);
console.log(`adapter: ${ctx.adapter}; tile: ${own ? JSON.stringify(own) : "none (fixed kernels)"}`);

/** Records `reps` products of one shape and returns a call that runs and waits for them. */
function prepare(s: Shape): { run: () => Promise<void>; flops: number; release: () => void } {
  const { m, n, k } = s;
  const reps = Math.max(1, Math.round(1e9 / (2 * m * n * k)));
  const fill = (count: number) => {
    const buf = ctx.pool.acquire(count * 4);
    ctx.device.queue.writeBuffer(buf, 0, new Float32Array(count).map((_, i) => (i % 13) / 13));
    return buf;
  };
  const wide = s.bStride ?? (s.layout === "A·Bᵀ" ? k : n);
  const a = fill(m * k), b = fill(wide * (s.layout === "A·Bᵀ" ? n : k)), c = fill(m * n);
  const A = s.layout === "Aᵀ·B" ? { buffer: a, row: 1, col: m } : { buffer: a, row: k, col: 1 };
  const B = s.layout === "A·Bᵀ"
    ? { buffer: b, row: 1, col: wide }
    : { buffer: b, row: wide, col: 1 };
  const run = async () => {
    const rec = new Recorder(ctx);
    for (let r = 0; r < reps; r++) {
      matmul(rec, { m, n, k, a: A, b: B, c: { buffer: c, row: n, col: 1 } });
    }
    await rec.submit("matmul bench");
    await readBytes(ctx, c, 16);
  };
  return {
    run,
    flops: 2 * m * n * k * reps,
    release: () => [a, b, c].forEach((x) => ctx.pool.release(x)),
  };
}

const variants = tiles.length > 0 ? tiles : [{ label: "own", tile: undefined }];
const result: Record<string, Record<string, number>> = {};
const header = `| layout | shape (m×n×k) | ${
  variants.map((v) => `${v.label} GFLOP/s`).join(" | ")
} |`;
const rows = [header, header.replace(/[^|]/g, "-")];
const only = Deno.env.get("FWL_LAYOUT"), label = Deno.env.get("FWL_SHAPE");
const picked = SHAPES.filter((s) =>
  (!only || s.layout === only) && (!label || s.label.includes(label))
);
for (const s of picked) {
  const p = prepare(s);
  const times = variants.map(() => [] as number[]);
  const cpu = variants.map(() => 0);
  for (const v of variants) {
    if (v.tile) withTiles.setMatmulTile!(ctx, v.tile);
    await p.run(); // compiles
  }
  for (let r = 0; r < ROUNDS; r++) {
    for (const [i, v] of variants.entries()) {
      if (v.tile) withTiles.setMatmulTile!(ctx, v.tile);
      const t0 = performance.now(), c0 = cpuMs();
      await p.run();
      times[i].push(performance.now() - t0);
      cpu[i] += cpuMs() - c0;
    }
  }
  p.release();
  const key = `${s.layout} ${s.label} ${s.m}×${s.n}×${s.k}`;
  result[key] = {};
  const cellsOf = variants.map((v, i) => {
    const g = p.flops / (median(times[i]) * 1e6);
    const perCpu = p.flops * ROUNDS / (cpu[i] * 1e6);
    result[key][v.label] = Number(g.toFixed(2));
    result[key][`${v.label} per CPU-s`] = Number(perCpu.toFixed(2));
    return `${g.toFixed(2)} (${perCpu.toFixed(2)} per CPU-s)`;
  });
  rows.push(`| ${s.layout} | ${s.label} ${s.m}×${s.n}×${s.k} | ${cellsOf.join(" | ")} |`);
  console.log(rows.at(-1));
}
if (tiles.length > 0) withTiles.setMatmulTile!(ctx, undefined);
console.log(rows.join("\n"));
console.log(JSON.stringify(result));
