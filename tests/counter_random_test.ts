// The counter-based generator (src/util/random.ts): the GPU's counter_uniform
// (shaders/lib/counter_random.wgsl) equals the host's counterUniform bit for bit; the
// numbers are uniform and uncorrelated along positions, sequences and seeds; inputs checked.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { FWLInputError } from "../src/errors.ts";
import { GPUContext } from "../src/gpu/context.ts";
import { program } from "../src/gpu/program.ts";
import { readBytes } from "../src/gpu/readback.ts";
import { Recorder } from "../src/gpu/recorder.ts";
import { COUNTER_RANDOM } from "../src/kernels/snippets.ts";
import { counterKey, counterUniform, SeededRandom } from "../src/util/random.ts";
import { chiSquare, chiSquareCritical } from "./helpers.ts";

const ctx = await GPUContext.default();

/** counter_uniform of (key0, key1, position, sequence) quadruples. */
const COUNTER_UNIFORM_TEST = program({
  name: "counter_uniform_test",
  body: `@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i < p.count) {
    out[i] = counter_uniform(args[4u * i], args[4u * i + 1u], args[4u * i + 2u], args[4u * i + 3u]);
  }
}`,
  storage: ["args: u32", "out: rw"],
  uniforms: ["count"],
  snippets: [COUNTER_RANDOM],
});

Deno.test("counter_uniform on the GPU equals counterUniform bit for bit", async () => {
  const seeds = [0, 1, -1, 42, 2 ** 32, -(2 ** 32) - 5, 2 ** 53 - 1, -(2 ** 53 - 1), 123456789];
  const counters = [0, 1, 2, 255, 65536, 2 ** 31, 2 ** 32 - 1];
  const quads: number[] = [];
  const want: number[] = [];
  const rng = new SeededRandom(1);
  for (const seed of seeds) {
    const pairs = counters.flatMap((a) => counters.map((b) => [a, b]));
    for (let i = 0; i < 200; i++) {
      pairs.push([Math.floor(rng.uniform() * 2 ** 32), Math.floor(rng.uniform() * 1000)]);
    }
    for (const [position, sequence] of pairs) {
      quads.push(...counterKey(seed), position, sequence);
      want.push(counterUniform(seed, position, sequence));
    }
  }
  const count = want.length;
  const args = ctx.pool.acquire(quads.length * 4);
  ctx.device.queue.writeBuffer(args, 0, new Uint32Array(quads));
  const out = ctx.pool.acquire(count * 4);
  const rec = new Recorder(ctx);
  const groups = Math.ceil(count / COUNTER_UNIFORM_TEST.workgroupSize[0]);
  rec.dispatch(COUNTER_UNIFORM_TEST, [args, out], COUNTER_UNIFORM_TEST.uniforms({ count }), [
    groups,
    1,
    1,
  ]);
  await rec.submit("counter uniform test");
  const got = new Float32Array(await readBytes(ctx, out, count * 4));
  ctx.pool.release(args);
  ctx.pool.release(out);
  for (let i = 0; i < count; i++) {
    assert(got[i] === want[i], `draw ${i}: GPU ${got[i]}, host ${want[i]}`);
  }
});

Deno.test("counterUniform is uniform and uncorrelated; keys differ; inputs checked", () => {
  // Uniform over positions, over sequences, and over seeds (20 bins, p = 0.001).
  const n = 20000;
  const uniformBins = new Float64Array(20).fill(1 / 20);
  const streams: [string, (i: number) => number][] = [
    ["positions", (i) => counterUniform(7, i, 3)],
    ["sequences", (i) => counterUniform(7, 3, i)],
    ["seeds", (i) => counterUniform(i - 5000, 0, 0)],
  ];
  for (const [what, draw] of streams) {
    const counts = new Float64Array(20);
    let lag = 0;
    let previous = draw(0);
    for (let i = 0; i < n; i++) {
      const u = draw(i);
      assert(u >= 0 && u < 1);
      counts[Math.floor(u * 20)]++;
      lag += (u - 0.5) * (previous - 0.5);
      previous = u;
    }
    const { stat, df } = chiSquare(counts, uniformBins, what);
    assert(stat < chiSquareCritical(df), `${what}: chi-square ${stat}`);
    // Neighbours uncorrelated: the lag-1 correlation within 4 standard errors of 0.
    assert(Math.abs(lag / n * 12) < 4 / Math.sqrt(n), `${what}: lag-1 correlation`);
  }
  assert(counterKey(1).join() !== counterKey(2 ** 32 + 1).join());

  for (
    const [args, argument] of [
      [[1.5, 0, 0], "seed"],
      [[2 ** 53, 0, 0], "seed"],
      [["1", 0, 0], "seed"],
      [[0, -1, 0], "position"],
      [[0, 2 ** 32, 0], "position"],
      [[0, 0, 0.5], "sequence"],
    ] as [unknown[], string][]
  ) {
    const e = assertThrows(
      () => (counterUniform as (...a: unknown[]) => number)(...args),
      FWLInputError,
    );
    assertEquals(e.argument, argument);
  }
  assertThrows(() => counterKey(NaN), FWLInputError, "seed");
});
