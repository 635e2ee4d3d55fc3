// The GPU sampler (src/kernels/sample.ts) against the host sampler (src/fwl/sampling.ts):
// greedy, the kept sets of top-k and top-p (ties at their boundaries), the same token for
// the same uniform of the counter generator, chi-square goodness of fit against
// sampleDistribution, determinism, a large vocabulary, and where the ids go.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { FWLInputError } from "../src/errors.ts";
import {
  greedy,
  sampleDistribution,
  type SampleOptions,
  sampleToken,
} from "../src/fwl/sampling.ts";
import { GPUContext } from "../src/gpu/context.ts";
import { readBytes } from "../src/gpu/readback.ts";
import { Recorder } from "../src/gpu/recorder.ts";
import { recordSample, type SampleArgs } from "../src/kernels/sample.ts";
import { counterKey, counterUniformKeyed, SeededRandom } from "../src/util/random.ts";
import { chiSquare, chiSquareCritical, uploadTo } from "./helpers.ts";

const ctx = await GPUContext.default();

async function readInts(buffer: GPUBuffer, n: number): Promise<Int32Array> {
  return new Int32Array(await readBytes(ctx, buffer, n * 4));
}

interface Draws {
  temperature: number;
  topK?: number;
  topP?: number;
  seed: number;
  /** The generator's positions, one dispatch each. */
  positions: number;
  sequenceBase?: number;
}

/** `rows` copies of `row`. */
function repeat(row: Float32Array, rows: number): Float32Array {
  const matrix = new Float32Array(rows * row.length);
  for (let r = 0; r < rows; r++) matrix.set(row, r * row.length);
  return matrix;
}

/**
 * The rows of a `[rows, V]` matrix sampled at positions 0..positions−1: ids
 * `[positions, rows]`, position p's at `out[p·rows + r]`, one dispatch each.
 */
async function gpuDraws(matrix: Float32Array, rows: number, d: Draws): Promise<Int32Array> {
  const V = matrix.length / rows;
  const L = uploadTo(ctx, matrix);
  const out = ctx.pool.acquire(d.positions * rows * 4);
  const rec = new Recorder(ctx);
  for (let position = 0; position < d.positions; position++) {
    recordSample(rec, {
      logits: L,
      rows,
      vocab: V,
      temperature: d.temperature,
      topK: d.topK,
      topP: d.topP,
      seedKey: counterKey(d.seed),
      position,
      sequenceBase: d.sequenceBase,
      out,
      outIndex: position * rows,
    });
  }
  await rec.submit("sample test");
  const ids = await readInts(out, d.positions * rows);
  ctx.pool.release(L);
  ctx.pool.release(out);
  return ids;
}

/** The host's pick for draw `position·rows + r` of {@linkcode gpuDraws}, from the same u. */
function hostDraw(row: Float32Array, d: Draws, position: number, r: number): number {
  const key = counterKey(d.seed);
  const u = counterUniformKeyed(key, position, (d.sequenceBase ?? 0) + r);
  const options: SampleOptions = { ...d, rng: { uniform: () => u } };
  return sampleToken(row, options);
}

const LOGITS = new Float32Array([1.5, -0.5, 0.25, 2, -3, 0.9, 0.1]);
/** Probabilities 0.2, 0.4, 0.2, 0.2 (ties), a masked token, 0.05 (before renormalizing). */
const TIED = new Float32Array(
  [0.2, 0.4, 0.2, 0.2, 0, 0.05].map((p) => p ? Math.log(p) : -Infinity),
);

Deno.test("greedy equals the host's: ties, -Infinity, ±0, past one workgroup", async () => {
  const rng = new SeededRandom(3);
  const cases: Float32Array[] = [
    new Float32Array([4]),
    new Float32Array([0, 7, 7, 1]),
    new Float32Array([-Infinity, -5, -Infinity]),
    new Float32Array([-0, 0, -1]),
    new Float32Array([-1, -0, 0]),
    LOGITS,
  ];
  for (const V of [257, 1000, 4099]) {
    // Few levels, so the maximum repeats; the first maximum past the first stretches.
    const row = new Float32Array(V).map(() => Math.round(rng.normal() * 2));
    cases.push(row);
    const late = new Float32Array(V).fill(-2);
    late[V - 3] = late[V - 1] = 5;
    late[0] = -Infinity;
    cases.push(late);
  }
  for (const row of cases) {
    const ids = await gpuDraws(row, 1, { temperature: 0, seed: 0, positions: 1 });
    assertEquals(ids[0], greedy(row), `V ${row.length}`);
  }
});

/** The ids `sampleDistribution` keeps. */
function keptSet(row: Float32Array, options: SampleOptions): number[] {
  return [...sampleDistribution(row, options).entries()].filter(([, p]) => p > 0).map(([i]) => i);
}

Deno.test("top-k and top-p keep the host's tokens, ties at the boundaries included", async () => {
  const V = 1000;
  const rng = new SeededRandom(5);
  // 30 tokens tied at logit 2 scattered over the row, the rest far below.
  const wide = new Float32Array(V).map(() => -6 + rng.uniform());
  for (let i = 0; i < 30; i++) wide[(i * 331 + 17) % V] = 2;
  wide[5] = -Infinity;
  const cases: [Float32Array, SampleOptions][] = [
    [new Float32Array([3, 2, 2, 2, 1]), { topK: 2 }],
    [new Float32Array([1, 2, 2, 3, 2]), { topK: 3 }],
    [new Float32Array([1, 2, 2, 3, 2]), { topK: 4, temperature: 2 }],
    [TIED, { topP: 0.5 }],
    [TIED, { topP: 0.7 }],
    [TIED, { topK: 3, topP: 0.9 }],
    [new Float32Array([-Infinity, 0, -Infinity, 1]), { topK: 3 }],
    [wide, { topK: 10 }],
    [wide, { topP: 0.5 }],
    [wide, { topK: 20, topP: 0.3, temperature: 0.5 }],
    [new Float32Array([0.5]), { topK: 1, topP: 0.3 }],
  ];
  for (const [row, options] of cases) {
    const d = { temperature: 1, ...options, seed: 11, positions: 2 };
    const ids = await gpuDraws(repeat(row, 200), 200, d);
    const want = keptSet(row, options);
    // Every kept token here has probability ≥ 1/16: 400 draws miss one with odds < 1e-10.
    assertEquals([...new Set(ids)].sort((a, b) => a - b), want, JSON.stringify(options));
  }
});

Deno.test("chi-square over 20,000 draws; the host picks the same token from the same u", async () => {
  const rng = new SeededRandom(8);
  const large = new Float32Array(700).map(() => 1.5 * rng.normal());
  large[3] = large[600] = -Infinity;
  const cases: [string, Float32Array, Draws][] = [
    ["temperature", LOGITS, { temperature: 0.7, seed: 1, positions: 10 }],
    ["top-k", LOGITS, { temperature: 1.2, topK: 3, seed: 2, positions: 10 }],
    ["top-p", LOGITS, { temperature: 1, topP: 0.8, seed: 3, positions: 10 }],
    ["top-p ties", TIED, { temperature: 1, topP: 0.7, seed: -4, positions: 10, sequenceBase: 9 }],
    ["V 700", large, { temperature: 1.3, seed: 2 ** 40, positions: 10 }],
  ];
  for (const [what, row, d] of cases) {
    const rows = 2000;
    const ids = await gpuDraws(repeat(row, rows), rows, d);
    const counts = new Float64Array(row.length);
    let same = 0;
    for (let i = 0; i < ids.length; i++) {
      counts[ids[i]]++;
      if (hostDraw(row, d, Math.floor(i / rows), i % rows) === ids[i]) same++;
    }
    const { stat, df } = chiSquare(counts, sampleDistribution(row, d), what);
    const critical = chiSquareCritical(df);
    assert(stat < critical, `${what}: chi-square ${stat} ≥ ${critical} (df ${df})`);
    // Only a draw within float32 rounding of a token's boundary may differ.
    assert(same >= 0.999 * ids.length, `${what}: the host agrees on ${same} of ${ids.length}`);
  }
});

Deno.test("the same seed, position and sequence give the same ids; each changes them", async () => {
  const rng = new SeededRandom(12);
  const rows = 64;
  const matrix = new Float32Array(rows * 300).map(() => rng.normal());
  const d = { temperature: 1, topK: 50, topP: 0.95, seed: 77, positions: 2 };
  const a = await gpuDraws(matrix, rows, d);
  assertEquals(await gpuDraws(matrix, rows, d), a);
  for (const other of [{ seed: 78 }, { sequenceBase: 1 }]) {
    const b = await gpuDraws(matrix, rows, { ...d, ...other });
    assert(b.some((id, i) => id !== a[i]), JSON.stringify(other));
  }
  // Position 1 draws other numbers than position 0.
  assert(a.subarray(rows).some((id, i) => id !== a[i]));
  // And each row is a host draw from its own sequence.
  for (let r = 0; r < rows; r++) {
    const row = matrix.subarray(r * 300, (r + 1) * 300);
    assertEquals(a[rows + r], hostDraw(row, d, 1, r), `row ${r}`);
  }
});

Deno.test("a vocabulary of 32,003: greedy and sampled ids equal the host's", async () => {
  const rng = new SeededRandom(13);
  const V = 32003, rows = 6;
  const matrix = new Float32Array(rows * V).map(() => 2 * rng.normal());
  matrix[V + 31999] = matrix[V + 32002] = 12; // a tie for the maximum far into row 1
  const d = { temperature: 0.8, topK: 40, topP: 0.9, seed: 5, positions: 1 };
  const greedyIds = await gpuDraws(matrix, rows, { ...d, temperature: 0 });
  const ids = await gpuDraws(matrix, rows, d);
  for (let r = 0; r < rows; r++) {
    const row = matrix.subarray(r * V, (r + 1) * V);
    assertEquals(greedyIds[r], greedy(row), `row ${r}`);
    assertEquals(ids[r], hostDraw(row, d, 0, r), `row ${r}`);
  }
});

Deno.test("out at outIndex and next get the ids; nothing else is written; inputs checked", async () => {
  const rows = 3, V = 5;
  const logits = uploadTo(ctx, new Float32Array([0, 9, 0, 0, 0, 0, 0, 0, 9, 0, 9, 0, 0, 0, 0]));
  const out = uploadTo(ctx, new Int32Array(8).fill(-7));
  const next = uploadTo(ctx, new Int32Array(5).fill(-8));
  // Bindings of the exact sizes (pooled buffers are larger), so that the size checks bite.
  const args: SampleArgs = {
    logits: { buffer: logits, offset: 0, size: rows * V * 4 },
    rows,
    vocab: V,
    temperature: 0,
    seedKey: counterKey(0),
    position: 0,
    out: { buffer: out, offset: 0, size: 8 * 4 },
    outIndex: 4,
    next: { buffer: next, offset: 0, size: 5 * 4 },
  };
  const rec = new Recorder(ctx);
  recordSample(rec, args);
  await rec.submit("sample out test");
  assertEquals([...await readInts(out, 8)], [-7, -7, -7, -7, 1, 3, 0, -7]);
  assertEquals([...await readInts(next, 5)], [1, 3, 0, -8, -8]);
  const bad: [Partial<SampleArgs>, string][] = [
    [{ rows: 0 }, "rows"],
    [{ vocab: 2.5 }, "vocab"],
    [{ temperature: -1 }, "temperature"],
    [{ topK: 0 }, "topK"],
    [{ topP: 0 }, "topP"],
    [{ seedKey: [1, -1] }, "seedKey[1]"],
    [{ position: 2 ** 32 }, "position"],
    [{ sequenceBase: 2 ** 32 - 2 }, "sequenceBase"],
    [{ outIndex: 6 }, "out"],
    [{ rows: 6, outIndex: 0 }, "logits"],
    [{ vocab: 6 }, "logits"],
    [{ seedKey: [1] as unknown as [number, number] }, "seedKey"],
  ];
  for (const [change, argument] of bad) {
    const e = assertThrows(
      () => recordSample(new Recorder(ctx), { ...args, ...change }),
      FWLInputError,
    );
    assertEquals(e.argument, argument, JSON.stringify(change));
  }
  for (const b of [logits, out, next]) ctx.pool.release(b);
});
