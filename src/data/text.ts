/**
 * Byte-level text data: any file (or string) as a sequence of byte ids `0 … 255`, split
 * into a training part and a validation part at the end.
 *
 * @module
 */

import { FWLError, FWLInputError } from "../errors.ts";
import { readFileBytes } from "../io/files.ts";
import type { RandomSource } from "../util/random.ts";
import { describeValue } from "../tensor.ts";
import type { TokenDataset } from "./dataset.ts";

/** Options of {@linkcode ByteText}. */
export interface ByteTextOptions {
  /** Share of the bytes, at the end, kept for validation (default 0.1), in (0, 1). */
  validationFraction?: number;
  /** A name for reports (default `"bytes"`). */
  name?: string;
}

/**
 * Text as bytes: vocabulary 256, training windows drawn at random offsets of the
 * training part, validation windows laid end to end over the validation part.
 *
 * @example
 * ```ts
 * import { ByteText } from "./text.ts";
 * import { SeededRandom } from "../util/random.ts";
 * const text = ByteText.fromString("the cat sat on the mat. ".repeat(20));
 * console.log(text.vocabSize, text.train.length, text.validation.length); // 256 432 48
 * const batch = text.trainBatch(2, 16, new SeededRandom(0));
 * console.log(text.decode(batch.subarray(0, 16)).length); // 16
 * ```
 */
export class ByteText implements TokenDataset {
  /** A short description. */
  readonly name: string;
  /** The training bytes. */
  readonly train: Uint8Array;
  /** The validation bytes (the end of the text). */
  readonly validation: Uint8Array;
  readonly #decoder = new TextDecoder("utf-8", { fatal: false });

  /**
   * Splits `bytes` into training and validation parts.
   *
   * @param bytes the text's bytes (at least 4)
   * @param options validation share, name
   */
  constructor(bytes: Uint8Array, options: ByteTextOptions = {}) {
    const where = "ByteText";
    if (!(bytes instanceof Uint8Array)) {
      throw new FWLInputError(where, "bytes", "a Uint8Array", describeValue(bytes));
    }
    if (options === null || typeof options !== "object") {
      throw new FWLInputError(where, "options", "an object", describeValue(options));
    }
    const { validationFraction = 0.1, name = "bytes" } = options;
    if (
      !(typeof validationFraction === "number" && validationFraction > 0 &&
        validationFraction < 1)
    ) {
      throw new FWLInputError(
        where,
        "options.validationFraction",
        "a number in (0, 1)",
        describeValue(validationFraction),
      );
    }
    if (bytes.length < 4) {
      throw new FWLInputError(where, "bytes", "at least 4 bytes of text", `${bytes.length}`);
    }
    const cut = Math.min(
      bytes.length - 2,
      Math.max(2, Math.round(bytes.length * (1 - validationFraction))),
    );
    this.train = bytes.subarray(0, cut);
    this.validation = bytes.subarray(cut);
    this.name =
      `${name} (${this.train.length} training bytes, ${this.validation.length} validation bytes)`;
  }

  /**
   * Reads a file as bytes (needs `--allow-read`). A missing, unreadable or empty file
   * throws an error that names the path.
   *
   * @example
   * ```ts ignore
   * import { ByteText } from "@x/fwl";
   * const text = await ByteText.fromFile("book.txt");
   * ```
   */
  static async fromFile(path: string | URL, options: ByteTextOptions = {}): Promise<ByteText> {
    const where = "ByteText.fromFile";
    let bytes: Uint8Array;
    try {
      bytes = await readFileBytes(where, path, "new ByteText(bytes)");
    } catch (e) {
      if (e instanceof FWLError) throw e;
      const name = (e as Error)?.name;
      const why = name === "NotFound"
        ? "no such file"
        : name === "IsADirectory"
        ? "it is a directory"
        : (e as Error)?.message;
      throw new FWLError(`${where}: can't read ${String(path)}: ${why}`, { cause: e });
    }
    if (bytes.length < 4) {
      throw new FWLInputError(
        where,
        String(path),
        "a text file of at least 4 bytes",
        `${bytes.length} bytes`,
      );
    }
    const name = typeof path === "string" ? path : path.pathname;
    return new ByteText(bytes, { name, ...options });
  }

  /**
   * A text from a string (UTF-8 bytes).
   *
   * @example
   * ```ts
   * import { ByteText } from "./text.ts";
   * console.log(ByteText.fromString("hello world, hello moon").vocabSize); // 256
   * ```
   */
  static fromString(text: string, options: ByteTextOptions = {}): ByteText {
    if (typeof text !== "string") {
      throw new FWLInputError("ByteText.fromString", "text", "a string", describeValue(text));
    }
    return new ByteText(new TextEncoder().encode(text), { name: "text", ...options });
  }

  /** 256: one id per byte value. */
  get vocabSize(): number {
    return 256;
  }

  /**
   * `batchSize` windows of `length` bytes from random offsets of the training part
   * (shorter texts are repeated to fill a window).
   *
   * @example
   * ```ts
   * import { ByteText } from "./text.ts";
   * import { SeededRandom } from "../util/random.ts";
   * const t = ByteText.fromString("abcdefghij".repeat(10));
   * console.log(t.trainBatch(3, 8, new SeededRandom(1)).length); // 24
   * ```
   */
  trainBatch(batchSize: number, length: number, rng: RandomSource): Int32Array {
    const where = "ByteText.trainBatch";
    checkCount(where, "batchSize", batchSize);
    checkCount(where, "length", length);
    if (rng === null || typeof rng !== "object" || typeof rng.uniform !== "function") {
      throw new FWLInputError(
        where,
        "rng",
        "a random source such as new SeededRandom(seed)",
        describeValue(rng),
      );
    }
    const data = this.train;
    const out = new Int32Array(batchSize * length);
    const starts = Math.max(1, data.length - length + 1);
    for (let b = 0; b < batchSize; b++) {
      const start = Math.floor(rng.uniform() * starts);
      for (let t = 0; t < length; t++) out[b * length + t] = data[(start + t) % data.length];
    }
    return out;
  }

  /**
   * The validation part cut into consecutive windows of `length` bytes, grouped in
   * batches of `batchSize` (a last, partial batch is dropped unless it is the only one;
   * a text shorter than one window is repeated to fill it). At most `maxBatches`.
   *
   * @example
   * ```ts
   * import { ByteText } from "./text.ts";
   * const t = ByteText.fromString("x".repeat(1000));
   * console.log(t.validationBatches(2, 25).length); // 2
   * ```
   */
  validationBatches(batchSize: number, length: number, maxBatches = Infinity): Int32Array[] {
    const where = "ByteText.validationBatches";
    checkCount(where, "batchSize", batchSize);
    checkCount(where, "length", length);
    if (!(maxBatches >= 1)) {
      throw new FWLInputError(where, "maxBatches", "a number ≥ 1", describeValue(maxBatches));
    }
    const data = this.validation;
    const windows = Math.max(1, Math.floor(data.length / length));
    const batches = Math.min(maxBatches, Math.max(1, Math.floor(windows / batchSize)));
    const rows = Math.min(batchSize, windows);
    const out: Int32Array[] = [];
    for (let k = 0; k < batches; k++) {
      const batch = new Int32Array(rows * length);
      for (let r = 0; r < rows; r++) {
        const start = (k * rows + r) * length;
        for (let t = 0; t < length; t++) batch[r * length + t] = data[(start + t) % data.length];
      }
      out.push(batch);
    }
    return out;
  }

  /**
   * The bytes as UTF-8 text (invalid sequences become U+FFFD).
   *
   * @example
   * ```ts
   * import { ByteText } from "./text.ts";
   * console.log(ByteText.fromString("hi there").decode([104, 105])); // hi
   * ```
   */
  decode(ids: ArrayLike<number>): string {
    return this.#decoder.decode(Uint8Array.from(ids, (v) => v & 255));
  }

  /**
   * The UTF-8 bytes of `text` as ids (for prompts).
   *
   * @example
   * ```ts
   * import { ByteText } from "./text.ts";
   * console.log([...ByteText.fromString("abcd").encode("ab")]); // [97, 98]
   * ```
   */
  encode(text: string): Int32Array {
    return Int32Array.from(new TextEncoder().encode(text));
  }
}

function checkCount(where: string, name: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new FWLInputError(where, name, "a positive integer", describeValue(value));
  }
}
