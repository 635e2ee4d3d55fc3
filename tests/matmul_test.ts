// Every matmul kernel (the register-tiled one for each way of reading A and B, at several
// register tiles, and the general one) against a float64 product, at odd shapes: 1,
// primes, non-multiples of 4 and of every tile, with each fused epilogue.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { GPUContext } from "../src/gpu/context.ts";
import { Recorder } from "../src/gpu/recorder.ts";
import { FWLInputError } from "../src/errors.ts";
import {
  matmul,
  matmulKernel,
  type MatmulSpec,
  type MatmulTile,
  matmulTile,
  matmulTN,
  type Operand,
  setMatmulTile,
  tuneMatmulTile,
} from "../src/kernels/matmul.ts";
import { SeededRandom } from "../src/util/random.ts";
import { assertClose, randomNormal, readFloats, transpose, uploadTo } from "./helpers.ts";

const ctx = await GPUContext.default();
const rng = new SeededRandom(13);

/** The adapter's own tile, a CPU-like one, a GPU-like one, and tiles that fit nothing evenly. */
const TILES: (MatmulTile | undefined)[] = [
  undefined,
  { rows: 16, cols: 4, workgroup: [8, 1] },
  { rows: 4, cols: 1, workgroup: [16, 16] },
  { rows: 8, cols: 2, workgroup: [8, 4], group: 1 },
  { rows: 3, cols: 3, workgroup: [5, 1], group: 3 },
  { rows: 1, cols: 1, workgroup: [1, 3], group: 2 },
];

/** [m, k, n]: 1, primes, multiples of 4 that are not multiples of any tile. */
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 4, 4],
  [7, 3, 5],
  [5, 8, 12],
  [13, 12, 36],
  [37, 20, 132],
  [64, 36, 4],
  [131, 64, 260],
  [16, 16, 17],
  [17, 17, 16],
  [20, 7, 8],
];

type Layout = "A·B" | "A·Bᵀ" | "Aᵀ·B" | "Aᵀ·Bᵀ";
const LAYOUTS: Layout[] = ["A·B", "A·Bᵀ", "Aᵀ·B", "Aᵀ·Bᵀ"];
const transposedA = (l: Layout) => l.startsWith("Aᵀ");
const transposedB = (l: Layout) => l.endsWith("Bᵀ");

/** `A·B` in float64 for row-major `a [m, k]` and `b [k, n]`. */
function product(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < k; t++) {
      const v = a[i * k + t];
      for (let j = 0; j < n; j++) c[i * n + j] += v * b[t * n + j];
    }
  }
  return c;
}

/** A's and B's operands in `layout`, with their data (A `[m, k]`, B `[k, n]` logically). */
function operands(
  layout: Layout,
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
) {
  const A = transposedA(layout) ? uploadTo(ctx, transpose(a, m, k)) : uploadTo(ctx, a);
  const B = transposedB(layout) ? uploadTo(ctx, transpose(b, k, n)) : uploadTo(ctx, b);
  const aOp: Operand = transposedA(layout)
    ? { buffer: A, row: 1, col: m }
    : { buffer: A, row: k, col: 1 };
  const bOp: Operand = transposedB(layout)
    ? { buffer: B, row: 1, col: k }
    : { buffer: B, row: n, col: 1 };
  return { aOp, bOp, release: () => [A, B].forEach((x) => ctx.pool.release(x)) };
}

/** Which kernel `spec` runs on under the current tile, e.g. `tiled ak4 bn4` or `general`. */
function kernelOf(spec: MatmulSpec): string {
  const name = matmulKernel(ctx, spec).name;
  const m = /^matmul_tiled_a(\w+?)_b(\w+?)_(c4_)?k(\d)_/.exec(name);
  if (!m) return name === "matmul" ? "general" : name;
  return `tiled a${m[1]} b${m[2]}${m[3] ? " c4" : ""} k${m[4]}`;
}

async function withTile(tile: MatmulTile | undefined, f: () => Promise<void>): Promise<void> {
  setMatmulTile(ctx, tile);
  try {
    await f();
  } finally {
    setMatmulTile(ctx, undefined);
  }
}

Deno.test("matmul: every layout, tile and tail against float64, with bias, alpha, beta and step", async () => {
  const seen = new Set<string>();
  for (const tile of TILES) {
    await withTile(tile, async () => {
      for (const [m, k, n] of SHAPES) {
        const a = randomNormal(rng, m * k), b = randomNormal(rng, k * n);
        const bias = randomNormal(rng, n + 3), c0 = randomNormal(rng, m * n);
        const want = product(a, b, m, k, n);
        const [biasBuf, steps] = [bias, new Float32Array([0, 0.75, 0, 0])].map((d) =>
          uploadTo(ctx, d)
        );
        const rec = new Recorder(ctx);
        const checks: [GPUBuffer, Float64Array, string][] = [];
        const release: (() => void)[] = [];
        for (const layout of LAYOUTS) {
          const { aOp, bOp, release: free } = operands(layout, a, b, m, k, n);
          release.push(free);
          // Plain, with a bias at an offset, and accumulating with alpha and a learned step.
          const plain = ctx.pool.acquire(m * n * 4);
          const biased = ctx.pool.acquire(m * n * 4);
          const acc = uploadTo(ctx, c0);
          const transposed = ctx.pool.acquire(m * n * 4);
          release.push(() => [plain, biased, acc, transposed].forEach((x) => ctx.pool.release(x)));
          const c = (buffer: GPUBuffer): Operand => ({ buffer, row: n, col: 1 });
          const specs: [MatmulSpec, Float64Array][] = [
            [{ m, n, k, a: aOp, b: bOp, c: c(plain) }, want],
            [
              { m, n, k, a: aOp, b: bOp, c: c(biased), bias: { buffer: biasBuf, base: 3 } },
              want.map((v, i) => v + bias[3 + i % n]),
            ],
            [
              {
                m,
                n,
                k,
                a: aOp,
                b: bOp,
                c: c(acc),
                alpha: -2,
                beta: 0.5,
                step: { buffer: steps, index: 1 },
              },
              want.map((v, i) => 0.5 * c0[i] - 1.5 * v),
            ],
            // C written column by column (no vec4 stores).
            [
              { m, n, k, a: aOp, b: bOp, c: { buffer: transposed, row: 1, col: m } },
              Float64Array.from(transpose(Float32Array.from(want), m, n)),
            ],
          ];
          for (const [spec, expected] of specs) {
            const kernel = kernelOf(spec);
            seen.add(kernel);
            matmul(rec, spec);
            checks.push([
              spec.c.buffer as GPUBuffer,
              expected,
              `${layout} ${m}×${k}×${n} ${kernel}`,
            ]);
          }
        }
        await rec.submit("matmul test");
        const label = tile ? `tile ${JSON.stringify(tile)}` : "adapter tile";
        for (const [buf, expected, what] of checks) {
          assertClose(await readFloats(ctx, buf, m * n), expected, 1e-5, `${label}: ${what}`);
        }
        for (const f of release) f();
        for (const x of [biasBuf, steps]) ctx.pool.release(x);
      }
    });
  }
  // Each way of reading A and B was exercised.
  for (
    const k of [
      "tiled ak4 bn4 c4 k4",
      "tiled ak4 bn4 k4",
      "tiled ak4 bk4 c4 k4",
      "tiled ak4 bk4 k4",
      "tiled am4 bn4 c4 k1",
      "tiled am4 bn4 k1",
      "tiled ascalar bn4 c4 k1",
      "tiled ascalar bn4 k1",
      "tiled ascalar bk4 c4 k4",
      "tiled ascalar bk4 k4",
      "general",
    ]
  ) {
    assert(seen.has(k), `${k} not exercised (saw ${[...seen].join(", ")})`);
  }
});

Deno.test("matmul: causal, squared-ReLU and gate epilogues on every kernel", async () => {
  for (const tile of [undefined, TILES[2], TILES[4]]) {
    await withTile(tile, async () => {
      for (const [m, k, n] of [[13, 8, 36], [13, 6, 37], [33, 12, 16]] as const) {
        const a = randomNormal(rng, m * k), b = randomNormal(rng, k * n);
        const g = randomNormal(rng, m * n);
        const want = product(a, b, m, k, n);
        for (const layout of LAYOUTS) {
          const { aOp, bOp, release } = operands(layout, a, b, m, k, n);
          const [out, aux, causal] = [0, 1, 2].map(() => ctx.pool.acquire(m * n * 4));
          const gated = uploadTo(ctx, g);
          const c = (buffer: GPUBuffer): Operand => ({ buffer, row: n, col: 1 });
          const rec = new Recorder(ctx);
          matmul(rec, { m, n, k, a: aOp, b: bOp, c: c(out), sqreluAux: aux });
          matmul(rec, { m, n, k, a: aOp, b: bOp, c: c(gated), beta: 1, gateAux: out });
          matmul(rec, { m, n, k, a: aOp, b: bOp, c: c(causal), causal: true });
          await rec.submit("matmul epilogue test");
          const what = `${layout} ${m}×${k}×${n} ${
            kernelOf({ m, n, k, a: aOp, b: bOp, c: c(out) })
          }`;
          assertClose(await readFloats(ctx, out, m * n), want, 1e-5, `${what}: C`);
          assertClose(
            await readFloats(ctx, aux, m * n),
            want.map((v) => Math.max(v, 0) ** 2),
            1e-4,
            `${what}: relu²`,
          );
          assertClose(
            await readFloats(ctx, gated, m * n),
            want.map((v, i) => (v + g[i]) * 2 * Math.max(v, 0)),
            1e-4,
            `${what}: gate`,
          );
          assertClose(
            await readFloats(ctx, causal, m * n),
            want.map((v, i) => Math.floor(i / n) > i % n ? v : 0),
            1e-5,
            `${what}: causal`,
          );
          for (const x of [out, aux, causal, gated]) ctx.pool.release(x);
          release();
        }
      }
    });
  }
});

Deno.test("matmul: batches with outer and inner strides, offsets and clipped chunks", async () => {
  // Two sequences of three chunks of up to [m, k]·[k, n]; the last chunk of each sequence
  // is clipped to `len − 2·stride` along m, n and k (as chunk attention uses it).
  for (const tile of [undefined, TILES[3], TILES[4]]) {
    await withTile(tile, async () => {
      for (const [m, k, n, mask] of [[12, 8, 16, 0], [12, 8, 16, 7], [9, 5, 11, 7], [8, 8, 8, 1]]) {
        const outer = 2, inner = 3, batches = outer * inner, zBase = 1;
        const clip = { len: 2 * 4 + 3, stride: 4, mask };
        const a = randomNormal(rng, 4 + batches * m * k),
          b = randomNormal(rng, 8 + batches * k * n);
        const aBuf = uploadTo(ctx, a),
          bBuf = uploadTo(ctx, b),
          cBuf = ctx.pool.acquire(batches * m * n * 4);
        const rec = new Recorder(ctx);
        for (const layout of ["A·B", "A·Bᵀ"] as const) {
          const spec: MatmulSpec = {
            m,
            n,
            k,
            batches: batches - zBase,
            batchInner: inner,
            zBase,
            clip,
            a: { buffer: aBuf, base: 4, outer: inner * m * k, inner: m * k, row: k, col: 1 },
            b: layout === "A·B"
              ? { buffer: bBuf, base: 8, outer: inner * k * n, inner: k * n, row: n, col: 1 }
              : { buffer: bBuf, base: 8, outer: inner * k * n, inner: k * n, row: 1, col: k },
            c: { buffer: cBuf, outer: inner * m * n, inner: m * n, row: n, col: 1 },
          };
          const before = new Float32Array(batches * m * n).fill(7);
          ctx.device.queue.writeBuffer(cBuf, 0, before);
          matmul(rec, spec);
          await rec.submit("batched matmul test");
          const got = await readFloats(ctx, cBuf, batches * m * n);
          const want = Float64Array.from(before);
          for (let z = zBase; z < batches; z++) {
            const rem = clip.len - (z % inner) * clip.stride;
            const mm = mask & 1 ? Math.min(m, rem) : m;
            const nn = mask & 2 ? Math.min(n, rem) : n;
            const kk = mask & 4 ? Math.min(k, rem) : k;
            for (let i = 0; i < mm; i++) {
              for (let j = 0; j < nn; j++) {
                let s = 0;
                for (let t = 0; t < kk; t++) {
                  const bv = layout === "A·B"
                    ? b[8 + z * k * n + t * n + j]
                    : b[8 + z * k * n + j * k + t];
                  s += a[4 + z * m * k + i * k + t] * bv;
                }
                want[z * m * n + i * n + j] = s;
              }
            }
          }
          assertClose(got, want, 1e-5, `${layout} ${m}×${k}×${n} mask ${mask} ${kernelOf(spec)}`);
        }
        for (const x of [aBuf, bBuf, cBuf]) ctx.pool.release(x);
      }
    });
  }
});

Deno.test("matmulTN: weight gradients into a strided slice, at odd and aligned shapes", async () => {
  for (const tile of [undefined, TILES[2]]) {
    await withTile(tile, async () => {
      for (const [rows, m, n] of [[5, 3, 7], [33, 8, 12], [64, 20, 8]]) {
        const x = randomNormal(rng, rows * m), g = randomNormal(rng, rows * n);
        const outRow = n + 4, c0 = randomNormal(rng, m * outRow + 4);
        const [X, G, C] = [x, g, c0].map((d) => uploadTo(ctx, d));
        const rec = new Recorder(ctx);
        matmulTN(rec, { x: X, g: G, out: C, rows, m, n, outBase: 4, outRow, beta: 1 });
        await rec.submit("matmulTN test");
        const want = Float64Array.from(c0);
        const xt = product(transpose(x, rows, m), g, m, rows, n);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) want[4 + i * outRow + j] += xt[i * n + j];
        }
        assertClose(await readFloats(ctx, C, c0.length), want, 1e-5, `TN ${rows}×${m}×${n}`);
        for (const b of [X, G, C]) ctx.pool.release(b);
      }
    });
  }
});

Deno.test("matmul tile: chosen from the adapter, settable, tunable, validated", async () => {
  const own = matmulTile(ctx);
  assert(own.rows >= 1 && own.cols >= 1);
  assert(
    own.workgroup[0] * own.workgroup[1] <= ctx.device.limits.maxComputeInvocationsPerWorkgroup,
  );
  for (
    const bad of [
      { rows: 0, cols: 1, workgroup: [8, 1] },
      { rows: 4, cols: 9, workgroup: [8, 1] },
      { rows: 4, cols: 1, workgroup: [4096, 1] },
      { rows: 4, cols: 1, workgroup: [64, 64] },
      { rows: 2.5, cols: 1, workgroup: [8, 1] },
      { rows: 4, cols: 1, workgroup: [8, 1], group: 0 },
      { rows: 4, cols: 1, workgroup: [8, 1], group: 1.5 },
    ]
  ) {
    assertThrows(() => setMatmulTile(ctx, bad as unknown as MatmulTile), FWLInputError);
  }
  assertEquals(matmulTile(ctx), own);
  const candidates: MatmulTile[] = [{ rows: 4, cols: 1, workgroup: [8, 1] }, {
    rows: 8,
    cols: 2,
    workgroup: [8, 2],
  }];
  const best = await tuneMatmulTile(ctx, { size: 64, candidates, repeats: 1 });
  // A candidate without a group gets the adapter's.
  assert(
    candidates.some((c) => JSON.stringify({ ...c, group: own.group }) === JSON.stringify(best)),
  );
  assertEquals(matmulTile(ctx), best);
  setMatmulTile(ctx, undefined);
  assertEquals(matmulTile(ctx), own);
  assert(Number.isInteger(own.group) && own.group! >= 1);
  setMatmulTile(ctx, { rows: 4, cols: 1, workgroup: [8, 1] });
  assertEquals(matmulTile(ctx).group, own.group);
  setMatmulTile(ctx, undefined);
  await assertRejects(() => tuneMatmulTile(ctx, { size: 6 }), FWLInputError);
});
