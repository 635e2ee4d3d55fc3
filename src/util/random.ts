/**
 * Seeded randomness: the same seed gives the same stream on every platform, so that
 * initializations, data order and sampling repeat.
 *
 * @module
 */

import { checkSafeInteger, checkU32 } from "./validate.ts";

/**
 * A source of uniform random numbers, e.g. a {@linkcode SeededRandom} or
 * `{ uniform: Math.random }`.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { type RandomSource, SeededRandom } from "@x/fwl";
 * const rng: RandomSource = new SeededRandom(42);
 * const u = rng.uniform();
 * assert(u >= 0 && u < 1);
 * ```
 */
export interface RandomSource {
  /** A uniform number in `[0, 1)`. */
  uniform(): number;
}

/**
 * A seeded pseudo-random generator (SplitMix32 mixing of a 32-bit counter):
 * the same seed gives the same stream on every platform.
 *
 * @example
 * ```ts
 * import { assertEquals, assertNotEquals } from "@std/assert";
 * import { SeededRandom } from "@x/fwl";
 * const a = new SeededRandom(7), b = new SeededRandom(7);
 * assertEquals([a.normal(), a.uniform()], [b.normal(), b.uniform()]); // same seed, same stream
 * assertNotEquals(new SeededRandom(8).uniform(), new SeededRandom(7).uniform());
 * ```
 */
export class SeededRandom implements RandomSource {
  #state: number;
  #spare: number | undefined;

  /** Creates a generator from an integer seed. */
  constructor(seed: number) {
    this.#state = (Math.trunc(seed) ^ 0x9e3779b9) >>> 0;
  }

  /** A uniform float in [0, 1). */
  uniform(): number {
    this.#state = (this.#state + 0x9e3779b9) >>> 0;
    let z = this.#state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  }

  /** A standard normal sample (Box–Muller). */
  normal(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

const TWO_32 = 4294967296;

/**
 * One round of the counter generator's mixing: xor-shift, multiply, xor-shift, multiply,
 * xor-shift on a u32 (a bijection). Written once more, word for word, in
 * `shaders/lib/counter_random.wgsl`; a test checks the two agree bit for bit.
 */
function counterMix(v: number): number {
  let x = Math.imul(v ^ (v >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * The key of the counter generator ({@linkcode counterUniform}) for `seed`, any safe
 * integer (negative too): two u32 words, what a GPU kernel drawing the same numbers gets
 * in its uniforms. The seed's low and high 32 bits are mixed into both words, one-to-one,
 * so distinct seeds give distinct keys.
 *
 * @example
 * ```ts
 * import { assert, assertNotEquals, assertThrows } from "@std/assert";
 * import { FWLInputError } from "@x/fwl";
 * import { counterKey } from "./random.ts";
 * const [k0, k1] = counterKey(-3);
 * assert(k0 >>> 0 === k0 && k1 >>> 0 === k1); // two u32 words
 * assertNotEquals(counterKey(1), counterKey(2 ** 32 + 1)); // the high bits count
 * assertThrows(() => counterKey(0.5), FWLInputError);
 * ```
 *
 * @throws {FWLInputError} If `seed` is not a safe integer.
 */
export function counterKey(seed: number): [number, number] {
  checkSafeInteger("counterKey", "seed", seed);
  return keyOf(seed);
}

function keyOf(seed: number): [number, number] {
  // Two's complement words of the 64-bit seed (exact: safe integers, power-of-two division).
  const lo = seed >>> 0 === seed ? seed : ((seed % TWO_32) + TWO_32) % TWO_32;
  const hi = Math.floor(seed / TWO_32) >>> 0;
  const k1 = counterMix((hi ^ 0x9e3779b9) >>> 0);
  return [counterMix((lo ^ k1) >>> 0), k1];
}

/**
 * {@linkcode counterUniform} from a key of {@linkcode counterKey}: the function the GPU
 * kernels compute (`counter_uniform` in `shaders/lib/counter_random.wgsl`), without the
 * checks: for loops that draw many numbers from one seed.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { counterKey, counterUniform, counterUniformKeyed } from "./random.ts";
 * const key = counterKey(9);
 * assertEquals(counterUniformKeyed(key, 3, 1), counterUniform(9, 3, 1));
 * ```
 */
export function counterUniformKeyed(
  key: readonly [number, number],
  position: number,
  sequence: number,
): number {
  const [k0, k1] = key;
  // Each step is a bijection of the one before, so for a fixed key, distinct positions
  // (one sequence) or distinct sequences (one position) never share a draw; the key enters
  // again at the end so that two seeds' streams are not shifts of each other.
  let h = counterMix((k0 ^ position) >>> 0);
  h = counterMix((h ^ sequence) >>> 0);
  h = counterMix((h ^ k1) >>> 0);
  h = counterMix((h + k0) >>> 0);
  // 24 bits: exactly representable in float32, so the GPU's number is the same.
  return (h >>> 8) * 2 ** -24;
}

/**
 * A uniform number in `[0, 1)` (24-bit resolution) that depends only on `(seed, position,
 * sequence)`: a counter-based generator, with no state to carry, so a GPU kernel
 * (`shaders/lib/counter_random.wgsl`) and the host draw the same number bit for bit
 * wherever they run. `seed` is any safe integer; `position` and `sequence` are integers in
 * `[0, 2^32)` (a token's position and its row, for sampling).
 *
 * @example
 * ```ts
 * import { assert, assertEquals, assertNotEquals, assertThrows } from "@std/assert";
 * import { counterUniform, FWLInputError } from "@x/fwl";
 * const u = counterUniform(42, 7, 0);
 * assert(u >= 0 && u < 1);
 * assertEquals(Math.round(u * 2 ** 24), u * 2 ** 24); // 24-bit resolution
 * assertEquals(counterUniform(42, 7, 0), u); // no state: the same arguments, the same draw
 * assertNotEquals(counterUniform(42, 8, 0), u);
 * assertThrows(() => counterUniform(42, -1, 0), FWLInputError);
 * ```
 *
 * @throws {FWLInputError} If `seed` is not a safe integer, or `position` or `sequence`
 * is not an integer in `[0, 2^32)`.
 */
export function counterUniform(seed: number, position: number, sequence: number): number {
  const where = "counterUniform";
  checkSafeInteger(where, "seed", seed);
  checkU32(where, "position", position);
  checkU32(where, "sequence", sequence);
  return counterUniformKeyed(keyOf(seed), position, sequence);
}
