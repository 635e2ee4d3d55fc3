/**
 * `DocumentReader`: training batches that read long documents in consecutive windows, one
 * document per row, for training with carried states (`lm.trainStep(…, { state })`).
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { RandomSource } from "../util/random.ts";
import { checkPositiveInteger } from "../util/validate.ts";
import type { TokenDataset } from "./dataset.ts";
import { describeValue } from "../util/describe.ts";

/** Options of a {@linkcode DocumentReader}. */
export interface DocumentReaderOptions {
  /** Rows: documents read side by side. */
  batchSize: number;
  /** Predictions per window: each window is `window + 1` tokens, overlapping by one. */
  window: number;
  /**
   * Longest document (or piece of one) a row reads before it starts another (tokens, at
   * least `window + 1`; default 32 windows): the positions training meets, as far into
   * a document as evaluation will read.
   */
  span?: number;
  /** Where the documents (and their pieces) are drawn from. */
  rng: RandomSource;
}

/** One batch of windows. */
export interface DocumentWindows {
  /** `[batchSize, window + 1]` token ids, row-major. */
  tokens: Int32Array;
  /** The rows that start a new document with this window (reset their states first). */
  restarted: number[];
}

/**
 * Reads a data set's training documents (`data.trainDocument`) in consecutive windows:
 * each row holds one document (or a piece of one, at most `span` tokens) and gives its
 * next `window + 1` tokens each call, overlapping the last window by one token (its last
 * target is read next), until fewer than `window + 1` are left; then the row takes
 * another document, and `restarted` says so.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError, SeededRandom } from "@x/fwl";
 * import { DocumentReader, SyntheticLanguage } from "@x/fwl/data";
 * const rng = new SeededRandom(0);
 * const reader = new DocumentReader(new SyntheticLanguage(), {
 *   batchSize: 2,
 *   window: 8,
 *   span: 17, // two windows a document
 *   rng,
 * });
 * const first = reader.next(), second = reader.next(), third = reader.next();
 * assertEquals([first.restarted, second.restarted, third.restarted], [[0, 1], [], [0, 1]]);
 * assertEquals(first.tokens.length, 2 * 9); // [batchSize, window + 1]
 * assertEquals(second.tokens[0], first.tokens[8]); // windows overlap by one token
 * assertThrows(
 *   () => new DocumentReader(new SyntheticLanguage(), { batchSize: 2, window: 8, span: 8, rng }),
 *   FWLInputError, // span < window + 1
 * );
 * ```
 */
export class DocumentReader {
  /** Rows. */
  readonly batchSize: number;
  /** Predictions per window. */
  readonly window: number;
  /** Longest document a row reads. */
  readonly span: number;
  readonly #data: TokenDataset & Required<Pick<TokenDataset, "trainDocument">>;
  readonly #rng: RandomSource;
  readonly #docs: Int32Array[];
  readonly #offsets: number[];

  /**
   * Creates a reader whose rows have no document yet: the first {@linkcode DocumentReader.next}
   * starts one in every row.
   *
   * @param data a data set with `trainDocument` (`ByteText`, `SyntheticLanguage`)
   * @param options rows, window, span, random source
   * @throws {FWLInputError} If `data` has no `trainDocument`, `options` is not an object,
   * `batchSize` or `window` is not a positive integer, `span` is not an integer
   * ≥ `window + 1`, or `rng` is not a random source.
   */
  constructor(data: TokenDataset, options: DocumentReaderOptions) {
    const where = "DocumentReader";
    if (data === null || typeof data !== "object" || typeof data.trainDocument !== "function") {
      const what = "a data set with trainDocument (ByteText, SyntheticLanguage)";
      throw new FWLInputError(where, "data", what, describeValue(data));
    }
    if (options === null || typeof options !== "object") {
      throw new FWLInputError(
        where,
        "options",
        "{ batchSize, window, span?, rng }",
        describeValue(options),
      );
    }
    this.batchSize = checkPositiveInteger(where, "options.batchSize", options.batchSize);
    this.window = checkPositiveInteger(where, "options.window", options.window);
    const span = options.span ?? 32 * this.window + 1;
    if (!Number.isInteger(span) || span < this.window + 1) {
      const what = `an integer ≥ window + 1 = ${this.window + 1}`;
      throw new FWLInputError(where, "options.span", what, describeValue(span));
    }
    this.span = span;
    const rng = options.rng;
    if (rng === null || typeof rng !== "object" || typeof rng.uniform !== "function") {
      const what = "a random source such as new SeededRandom(seed)";
      throw new FWLInputError(where, "options.rng", what, describeValue(rng));
    }
    this.#rng = rng;
    this.#data = data as TokenDataset & Required<Pick<TokenDataset, "trainDocument">>;
    this.#docs = Array.from({ length: this.batchSize }, () => new Int32Array(0));
    this.#offsets = Array(this.batchSize).fill(0);
  }

  /**
   * The next window of every row (rows whose document ran out start another).
   *
   * @throws {FWLInputError} If the data set gives a training document shorter than
   * `window + 1` tokens.
   */
  next(): DocumentWindows {
    const L = this.window + 1, B = this.batchSize;
    const tokens = new Int32Array(B * L);
    const restarted: number[] = [];
    for (let b = 0; b < B; b++) {
      if (this.#docs[b].length - this.#offsets[b] < L) {
        const doc = this.#data.trainDocument(this.span, this.#rng, L);
        if (doc.length < L) {
          throw new FWLInputError(
            "DocumentReader.next",
            "data",
            `training documents of at least window + 1 = ${L} tokens`,
            `one of ${doc.length}`,
          );
        }
        this.#docs[b] = doc;
        this.#offsets[b] = 0;
        restarted.push(b);
      }
      const at = this.#offsets[b];
      tokens.set(this.#docs[b].subarray(at, at + L), b * L);
      this.#offsets[b] = at + L - 1;
    }
    return { tokens, restarted };
  }
}
