/**
 * Choosing the next token from a row of logits: greedy, or sampled with temperature,
 * top-k and top-p (nucleus), from a seeded random source so that a run is reproducible.
 * Plain TypeScript on host arrays (read the logits with `await logits.read()`).
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { RandomSource } from "../util/random.ts";
import { checkSampling } from "../kernels/sample.ts";
import { checkPositiveInteger } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";

/** How {@linkcode sampleToken} chooses. */
export interface SampleOptions {
  /**
   * Divides the logits before the softmax (default 1). 0 means greedy: the most likely
   * token, no randomness.
   */
  temperature?: number;
  /** Keep only the `topK` most likely tokens (default: all). */
  topK?: number;
  /**
   * Keep only the smallest set of most likely tokens whose probability (after
   * temperature and top-k) reaches `topP`, in `(0, 1]` (default 1: all).
   */
  topP?: number;
  /** The random source; needed unless `temperature` is 0 (not by `sampleDistribution`). */
  rng?: RandomSource;
}

type Logits = Float32Array | Float64Array;

/** Throws unless `logits` is a non-empty float array of values < +∞, not NaN, one finite. */
function checkLogits(where: string, logits: unknown): Logits {
  if (!(logits instanceof Float32Array || logits instanceof Float64Array)) {
    const what = "a Float32Array (or Float64Array) row of logits";
    throw new FWLInputError(where, "logits", what, describeValue(logits));
  }
  if (logits.length === 0) {
    throw new FWLInputError(where, "logits", "at least one logit", "none");
  }
  let finite = false;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (Number.isNaN(v) || v === Infinity) {
      const what = "finite values (or -Infinity for a masked token)";
      throw new FWLInputError(where, "logits", what, `${v} at index ${i}`);
    }
    if (v !== -Infinity) finite = true;
  }
  if (!finite) {
    const got = "every logit -Infinity";
    throw new FWLInputError(where, "logits", "at least one finite logit", got);
  }
  return logits;
}

/** The index of the largest logit (the first one on ties); no checks. */
function argmax(logits: Logits): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

/**
 * The most likely token: the index of the largest logit (the lowest index on ties).
 *
 * @throws {FWLInputError} If `logits` is not a float array with at least one finite value
 * (or holds NaN or +Infinity).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { greedy } from "./sampling.ts";
 * assertEquals(greedy(new Float32Array([0.1, 2, -1, 2])), 1); // the first of the ties
 * ```
 */
export function greedy(logits: Float32Array | Float64Array): number {
  return argmax(checkLogits("greedy", logits));
}

interface Checked {
  temperature: number;
  topK: number | undefined;
  topP: number;
  rng: RandomSource | undefined;
}

function checkOptions(where: string, options: unknown, needRng = true): Checked {
  if (options === null || typeof options !== "object") {
    const what = "an object such as { temperature: 0.8, topP: 0.95, rng: new SeededRandom(0) }";
    throw new FWLInputError(where, "options", what, describeValue(options));
  }
  const { rng } = options as SampleOptions;
  const { temperature, topK, topP } = checkSampling(where, "options.", options as SampleOptions);
  if (rng !== undefined && (rng === null || typeof (rng as RandomSource).uniform !== "function")) {
    const what = "an object with uniform(): number, such as new SeededRandom(seed)";
    throw new FWLInputError(where, "options.rng", what, describeValue(rng));
  }
  if (needRng && temperature > 0 && rng === undefined) {
    const what = "a random source such as new SeededRandom(seed) (or temperature 0 for greedy)";
    throw new FWLInputError(where, "options.rng", what, "nothing");
  }
  return { temperature, topK, topP, rng };
}

/** Draws from `rng`, checking that it kept its promise of `[0, 1)`. */
function draw(where: string, rng: RandomSource): number {
  const u = rng.uniform();
  if (typeof u !== "number" || !(u >= 0 && u < 1)) {
    const what = "uniform() to return a number in [0, 1)";
    throw new FWLInputError(where, "options.rng", what, describeValue(u));
  }
  return u;
}

/**
 * The weight of each token after temperature, top-k and top-p, unnormalized, in float64
 * (0 for a token cut or masked); `o.temperature` > 0. The one definition of what is kept.
 */
function keptWeights(logits: Logits, o: Checked): Float64Array {
  const V = logits.length;
  const max = logits[argmax(logits)];
  const weights = new Float64Array(V);
  for (let i = 0; i < V; i++) {
    const v = logits[i];
    weights[i] = v === -Infinity ? 0 : Math.exp((v - max) / o.temperature);
  }
  if (o.topK !== undefined && o.topK < V || o.topP < 1) {
    // The cuts follow the order most likely first, lower index first on ties.
    const order = new Uint32Array(V);
    for (let i = 0; i < V; i++) order[i] = i;
    order.sort((i, j) => logits[j] - logits[i] || i - j);
    let count = Math.min(V, o.topK ?? V);
    if (o.topP < 1) {
      // The smallest prefix of that order whose probability reaches topP.
      let total = 0;
      for (let r = 0; r < count; r++) total += weights[order[r]];
      let cum = 0;
      let keep = 0;
      while (keep < count) {
        cum += weights[order[keep++]];
        if (cum >= o.topP * total) break;
      }
      count = keep;
    }
    for (let r = count; r < V; r++) weights[order[r]] = 0;
  }
  return weights;
}

/** Samples one row; `logits` and `o` are already checked. */
function sampleChecked(where: string, logits: Logits, o: Checked): number {
  if (o.temperature === 0) return argmax(logits);
  const weights = keptWeights(logits, o);
  // Inverse CDF over the kept tokens in index order, as the GPU sampler walks them
  // (src/kernels/sample.ts): the same u picks the same token but at rounding boundaries.
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i];
  const target = draw(where, o.rng!) * total;
  let cum = 0;
  let last = 0;
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] === 0) continue;
    cum += weights[i];
    last = i;
    if (target < cum) return i;
  }
  return last; // rounding: the target landed on the total
}

/**
 * The exact distribution {@linkcode sampleToken} draws from, in float64: each token's
 * probability after temperature, top-k and top-p (0 for the tokens cut or masked).
 * Temperature 0 puts all the mass on the {@linkcode greedy} token. `options.rng` is not
 * needed.
 *
 * @throws {FWLInputError} If the logits or an option are invalid (a temperature < 0,
 * `topK` not a positive integer, `topP` outside (0, 1], no `rng` for temperature > 0).
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { sampleDistribution } from "./sampling.ts";
 * const logits = new Float32Array([Math.log(0.5), Math.log(0.3), Math.log(0.2)]);
 * const p = sampleDistribution(logits, { topK: 2 });
 * assertAlmostEquals(p[0], 0.625, 1e-6);
 * assertAlmostEquals(p[1], 0.375, 1e-6);
 * assertEquals(p[2], 0); // cut by topK
 * ```
 */
export function sampleDistribution(
  logits: Float32Array | Float64Array,
  options: SampleOptions,
): Float64Array {
  const where = "sampleDistribution";
  const o = checkOptions(where, options, false);
  const row = checkLogits(where, logits);
  if (o.temperature === 0) {
    const p = new Float64Array(row.length);
    p[argmax(row)] = 1;
    return p;
  }
  const weights = keptWeights(row, o);
  let total = 0;
  for (let i = 0; i < weights.length; i++) total += weights[i];
  return weights.map((w) => w / total);
}

/**
 * Chooses a token from one row of logits: divided by `temperature`, cut to the `topK`
 * most likely, then to the nucleus of probability `topP`, renormalized, and drawn with
 * one `rng.uniform()` (inverse CDF over the kept tokens in index order): a draw from
 * {@linkcode sampleDistribution}. Temperature 0 is {@linkcode greedy}. -Infinity masks a
 * token.
 *
 * @throws {FWLInputError} If the logits or an option are invalid (a temperature < 0,
 * `topK` not a positive integer, `topP` outside (0, 1], no `rng` for temperature > 0).
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { sampleToken } from "./sampling.ts";
 * import { SeededRandom } from "../util/random.ts";
 * const rng = new SeededRandom(7);
 * const logits = new Float32Array([2, 1, 0.5, -3]);
 * const token = sampleToken(logits, { temperature: 0.8, topK: 3, topP: 0.9, rng });
 * assert(token >= 0 && token < 3); // the last token is cut by topK
 * assertEquals(sampleToken(logits, { temperature: 0 }), 0);
 * ```
 */
export function sampleToken(logits: Float32Array | Float64Array, options: SampleOptions): number {
  const where = "sampleToken";
  const checked = checkOptions(where, options);
  return sampleChecked(where, checkLogits(where, logits), checked);
}

/**
 * Chooses one token per row of a `[rows, V]` row-major logits matrix (such as what
 * `FWLStream.predict` returns, read to the host), row by row from the same `rng`.
 *
 * @throws {FWLInputError} If the logits or an option are invalid (a temperature < 0,
 * `topK` not a positive integer, `topP` outside (0, 1], no `rng` for temperature > 0).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { sampleTokens } from "./sampling.ts";
 * import { SeededRandom } from "../util/random.ts";
 * const logits = new Float32Array([0, 5, 0, 9, 0, 0]); // 2 rows, V = 3
 * const ids = sampleTokens(logits, 2, { temperature: 0 });
 * assertEquals([...ids], [1, 0]);
 * const sampled = sampleTokens(logits, 2, { rng: new SeededRandom(1) });
 * assertEquals(sampled.length, 2);
 * ```
 */
export function sampleTokens(
  logits: Float32Array | Float64Array,
  rows: number,
  options: SampleOptions,
): Int32Array {
  const where = "sampleTokens";
  const checked = checkOptions(where, options);
  checkPositiveInteger(where, "rows", rows);
  if (
    !(logits instanceof Float32Array || logits instanceof Float64Array) ||
    logits.length % rows !== 0 || logits.length === 0
  ) {
    throw new FWLInputError(
      where,
      "logits",
      `a Float32Array of rows × V values with rows = ${rows}`,
      logits instanceof Float32Array || logits instanceof Float64Array
        ? `${logits.length} values`
        : describeValue(logits),
    );
  }
  const V = logits.length / rows;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = checkLogits(where, logits.subarray(r * V, (r + 1) * V));
    out[r] = sampleChecked(where, row, checked);
  }
  return out;
}
