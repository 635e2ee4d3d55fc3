// Tests of the token samplers (src/fwl/sampling.ts): greedy, temperature, top-k, top-p,
// reproducibility from a seed, empirical frequencies against the exact distribution,
// and option validation.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { FWLInputError } from "../src/errors.ts";
import { SeededRandom } from "../src/util/random.ts";
import {
  greedy,
  sampleDistribution,
  type SampleOptions,
  sampleToken,
  sampleTokens,
} from "../src/fwl/sampling.ts";

/** Empirical frequencies of `draws` samples. */
function frequencies(
  logits: Float32Array,
  options: SampleOptions,
  draws: number,
): Float64Array {
  const counts = new Float64Array(logits.length);
  for (let i = 0; i < draws; i++) counts[sampleToken(logits, options)]++;
  return counts.map((c) => c / draws);
}

/** Softmax of `logits / temperature` restricted to `keep`, in float64. */
function expected(
  logits: ArrayLike<number>,
  temperature: number,
  keep: number[],
): Float64Array {
  const p = new Float64Array(logits.length);
  let total = 0;
  for (const i of keep) total += p[i] = Math.exp(logits[i] / temperature);
  return p.map((v) => v / total);
}

/** Each frequency within 5 standard errors (plus a hair) of its probability. */
function assertFrequencies(
  freq: Float64Array,
  prob: Float64Array,
  draws: number,
  what: string,
): void {
  for (let i = 0; i < prob.length; i++) {
    const se = Math.sqrt(prob[i] * (1 - prob[i]) / draws);
    const err = Math.abs(freq[i] - prob[i]);
    assert(
      err <= 5 * se + 1e-12,
      `${what}: token ${i}: frequency ${freq[i]}, probability ${prob[i]}`,
    );
  }
}

const LOGITS = new Float32Array([1.5, -0.5, 0.25, 2, -3, 0.9, 0.1]);

Deno.test("greedy picks the largest logit, the first on ties", () => {
  assertEquals(greedy(LOGITS), 3);
  assertEquals(greedy(new Float32Array([0, 7, 7, 1])), 1);
  assertEquals(greedy(new Float64Array([-Infinity, -5, -Infinity])), 1);
  assertEquals(greedy(new Float32Array([4])), 0);
  for (
    const bad of [
      new Float32Array([1, NaN]),
      new Float32Array([1, Infinity]),
      new Float32Array([-Infinity, -Infinity]),
      new Float32Array(0),
      [1, 2] as unknown as Float32Array,
    ]
  ) {
    assertThrows(() => greedy(bad), FWLInputError, "logits");
  }
});

Deno.test("temperature 0 is greedy, with or without top-k/top-p or a random source", () => {
  assertEquals(sampleToken(LOGITS, { temperature: 0 }), 3);
  assertEquals(sampleToken(LOGITS, { temperature: 0, topK: 2, topP: 0.1 }), 3);
  const rng = new SeededRandom(3);
  assertEquals(sampleToken(LOGITS, { temperature: 0, rng }), 3);
});

Deno.test("a seed makes sampling reproducible", () => {
  const run = (seed: number) => {
    const rng = new SeededRandom(seed);
    return Array.from(
      { length: 200 },
      () => sampleToken(LOGITS, { temperature: 1.3, topK: 5, topP: 0.95, rng }),
    );
  };
  assertEquals(run(11), run(11));
  assert(run(11).join() !== run(12).join(), "different seeds, same draws");
});

Deno.test("frequencies follow the softmax at several temperatures", () => {
  const draws = 20000;
  for (const temperature of [1, 0.5, 2.5]) {
    const rng = new SeededRandom(100 + temperature * 10);
    const freq = frequencies(LOGITS, { temperature, rng }, draws);
    const all = [...LOGITS.keys()];
    assertFrequencies(
      freq,
      expected(LOGITS, temperature, all),
      draws,
      `temperature ${temperature}`,
    );
  }
});

Deno.test("top-k keeps only the k most likely tokens", () => {
  const draws = 20000;
  const rng = new SeededRandom(7);
  const freq = frequencies(LOGITS, { topK: 3, rng }, draws);
  // The three largest logits: 2 (index 3), 1.5 (0), 0.9 (5).
  assertFrequencies(freq, expected(LOGITS, 1, [3, 0, 5]), draws, "top-3");
  assertEquals(
    new Set(
      Array.from({ length: 300 }, () => sampleToken(LOGITS, { topK: 1, rng })),
    ),
    new Set([3]),
  );
  // k ≥ V keeps everything.
  const freqAll = frequencies(LOGITS, { topK: 100, rng }, draws);
  assertFrequencies(
    freqAll,
    expected(LOGITS, 1, [...LOGITS.keys()]),
    draws,
    "top-100",
  );
});

Deno.test("top-p keeps the smallest nucleus that reaches p", () => {
  const probs = [0.5, 0.3, 0.15, 0.05];
  const logits = new Float32Array(probs.map(Math.log));
  const draws = 20000;
  const rng = new SeededRandom(9);
  const cases: [number, number[]][] = [
    [0.4, [0]],
    [0.75, [0, 1]],
    [0.9, [0, 1, 2]],
    [0.99, [0, 1, 2, 3]],
    [1, [0, 1, 2, 3]],
  ];
  for (const [topP, keep] of cases) {
    const freq = frequencies(logits, { topP, rng }, draws);
    assertFrequencies(freq, expected(logits, 1, keep), draws, `top-p ${topP}`);
  }
  // Temperature applies first: at temperature 0.25 the top token alone has p ≈ 0.88.
  const sharp = frequencies(logits, { temperature: 0.25, topP: 0.85, rng }, 500);
  assertEquals(sharp[0], 1);
  // Top-k, then top-p within it: the top 3 renormalized are 0.53, 0.32, 0.16.
  const both = frequencies(logits, { topK: 3, topP: 0.8, rng }, draws);
  assertFrequencies(both, expected(logits, 1, [0, 1]), draws, "top-3, p 0.8");
});

Deno.test("sampleDistribution is the kept softmax; sampleToken walks it in index order", () => {
  const probs = [0.5, 0.3, 0.15, 0.05];
  const logits = new Float32Array(probs.map(Math.log));
  const close = (a: Float64Array, b: Float64Array, what: string) =>
    a.forEach((v, i) => assert(Math.abs(v - b[i]) < 1e-12, `${what}: token ${i}`));
  close(sampleDistribution(LOGITS, {}), expected(LOGITS, 1, [...LOGITS.keys()]), "all");
  close(
    sampleDistribution(LOGITS, { temperature: 2, topK: 3 }),
    expected(LOGITS, 2, [3, 0, 5]),
    "k",
  );
  close(sampleDistribution(logits, { topK: 3, topP: 0.8 }), expected(logits, 1, [0, 1]), "k, p");
  assertEquals([...sampleDistribution(LOGITS, { temperature: 0 })], [0, 0, 0, 1, 0, 0, 0]);
  // Ties at the cuts keep the lowest indices, and only as many as needed.
  const tied = new Float32Array([0.2, 0.4, 0.2, 0.2].map(Math.log));
  close(sampleDistribution(tied, { topP: 0.5 }), expected(tied, 1, [1, 0]), "p ties");
  close(sampleDistribution(tied, { topP: 0.7 }), expected(tied, 1, [1, 0, 2]), "p ties");
  close(sampleDistribution(tied, { topK: 2 }), expected(tied, 1, [1, 0]), "k ties");
  // The draw: the first kept token, in index order, whose cumulative probability passes u.
  const p = sampleDistribution(LOGITS, { topK: 4 });
  let cum = 0;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === 0) continue;
    const below = cum;
    cum += p[i];
    for (const u of [below + 1e-9, (below + cum) / 2, cum - 1e-9]) {
      assertEquals(sampleToken(LOGITS, { topK: 4, rng: { uniform: () => u } }), i, `u ${u}`);
    }
  }
  assertThrows(() => sampleDistribution(LOGITS, { topP: 2 }), FWLInputError, "topP");
  assertThrows(() => sampleDistribution(new Float32Array([NaN]), {}), FWLInputError, "logits");
});

Deno.test("-Infinity masks a token", () => {
  const logits = new Float32Array([0, -Infinity, 0, -Infinity]);
  const rng = new SeededRandom(5);
  for (const options of [{ rng }, { rng, topP: 0.99 }, { rng, topK: 3 }]) {
    for (let i = 0; i < 300; i++) {
      const token = sampleToken(logits, options);
      assert(token === 0 || token === 2, `sampled masked token ${token}`);
    }
  }
});

Deno.test("sampleTokens samples each row of a [rows, V] matrix", () => {
  const V = LOGITS.length;
  const rows = 3;
  const matrix = new Float32Array(rows * V);
  for (let r = 0; r < rows; r++) {
    matrix.set(LOGITS.map((v, i) => v + (i === r ? 10 : 0)), r * V);
  }
  assertEquals([...sampleTokens(matrix, rows, { temperature: 0 })], [0, 1, 2]);
  const a = sampleTokens(matrix, rows, {
    temperature: 2,
    rng: new SeededRandom(1),
  });
  const rng = new SeededRandom(1);
  const b = [0, 1, 2].map((r) =>
    sampleToken(matrix.subarray(r * V, (r + 1) * V), { temperature: 2, rng })
  );
  assertEquals([...a], b);
  assertThrows(
    () => sampleTokens(matrix, 2, { temperature: 0 }),
    FWLInputError,
    "logits",
  );
  assertThrows(
    () => sampleTokens(matrix, 0, { temperature: 0 }),
    FWLInputError,
    "rows",
  );
  const nan = matrix.slice();
  nan[V + 2] = NaN;
  assertThrows(
    () => sampleTokens(nan, rows, { temperature: 0 }),
    FWLInputError,
    "index 2",
  );
});

Deno.test("bad options raise FWLInputError naming the option", () => {
  const rng = new SeededRandom(0);
  const bad: [unknown, string][] = [
    [null, "options"],
    [{ temperature: -1, rng }, "options.temperature"],
    [{ temperature: NaN, rng }, "options.temperature"],
    [{ temperature: "hot", rng }, "options.temperature"],
    [{ topK: 0, rng }, "options.topK"],
    [{ topK: 2.5, rng }, "options.topK"],
    [{ topP: 0, rng }, "options.topP"],
    [{ topP: 1.5, rng }, "options.topP"],
    [{ topP: NaN, rng }, "options.topP"],
    [{}, "options.rng"],
    [{ temperature: 1 }, "options.rng"],
    [{ rng: {} }, "options.rng"],
    [{ rng: { uniform: () => 1 } }, "options.rng"],
    [{ rng: { uniform: () => NaN } }, "options.rng"],
  ];
  for (const [options, argument] of bad) {
    const e = assertThrows(
      () => sampleToken(LOGITS, options as SampleOptions),
      FWLInputError,
    );
    assertEquals(e.argument, argument, JSON.stringify(options));
  }
});
