/**
 * What a token data set offers a training loop: training batches drawn from a seeded
 * random source, fixed validation batches, and decoding for display.
 *
 * @module
 */

import type { RandomSource } from "../util/random.ts";

/**
 * A source of token sequences for language-model training and evaluation.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@x/fwl";
 * import type { TokenDataset } from "@x/fwl/data";
 * const digits: TokenDataset = {
 *   name: "digits",
 *   vocabSize: 10,
 *   trainBatch: (b, t, rng) =>
 *     Int32Array.from({ length: b * t }, () => Math.floor(rng.uniform() * 10)),
 *   validationBatches: (b, t) => [new Int32Array(b * t)],
 *   decode: (ids) => Array.from(ids).join(""),
 * };
 * assertEquals(digits.trainBatch(2, 3, new SeededRandom(1)).length, 6);
 * assertEquals(digits.decode([4, 2]), "42");
 * ```
 */
export interface TokenDataset {
  /** A short description for reports. */
  readonly name: string;
  /** Number of token ids `V` (ids are `0 … V−1`). */
  readonly vocabSize: number;
  /** A training batch `[batchSize, length]` (row-major), drawn from `rng`. */
  trainBatch(batchSize: number, length: number, rng: RandomSource): Int32Array;
  /**
   * One training document (or a piece of one) of at most `maxLength` and, where the
   * data has one that long, at least `minLength` tokens, drawn from `rng`: what a
   * `DocumentReader` reads in consecutive windows, for training on long
   * documents with carried states.
   */
  trainDocument?(maxLength: number, rng: RandomSource, minLength?: number): Int32Array;
  /**
   * The validation set as batches `[batchSize, length]`, the same on every call with
   * the same arguments (at most `maxBatches` of them, default: all there are).
   */
  validationBatches(batchSize: number, length: number, maxBatches?: number): Int32Array[];
  /**
   * Batches of windows covering every token of the held-out documents (see
   * `ByteText.evaluationBatches`), when the data set has documents.
   */
  evaluationBatches?(
    batchSize: number,
    length: number,
    maxTokens?: number,
  ): { tokens: Int32Array; shape: [number, number] }[];
  /** Human-readable text of a sequence of ids. */
  decode(ids: ArrayLike<number>): string;
  /** Whether an id is an "entity" (a rare, repeated name), when the data set has them. */
  isEntity?(id: number): boolean;
}
