/**
 * Seeded randomness: the same seed gives the same stream on every platform, so that
 * initializations, data order and sampling repeat.
 *
 * @module
 */

/**
 * A source of uniform random numbers, e.g. a {@linkcode SeededRandom} or
 * `{ uniform: Math.random }`.
 *
 * @example
 * ```ts
 * import { type RandomSource, SeededRandom } from "./random.ts";
 * const rng: RandomSource = new SeededRandom(42);
 * console.log(rng.uniform() < 1); // true
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
 * import { SeededRandom } from "./random.ts";
 * const a = new SeededRandom(7), b = new SeededRandom(7);
 * console.log(a.normal() === b.normal()); // true
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
