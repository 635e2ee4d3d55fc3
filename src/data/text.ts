/**
 * Byte-level text data: any file (or string) as a sequence of byte ids `0 … 255`, split
 * into a training part and a validation part at the end.
 *
 * @module
 */

import { FWLError, FWLInputError } from "../errors.ts";
import { readFileBytes } from "../io/files.ts";
import type { RandomSource } from "../util/random.ts";
import type { TokenDataset } from "./dataset.ts";
import { describeValue } from "../util/describe.ts";
import { checkPositiveInteger } from "../util/validate.ts";

/** Options of {@linkcode ByteText}. */
export interface ByteTextOptions {
  /**
   * Share of the bytes held out for validation (default 0.1), in (0, 1): the last
   * whole documents whose bytes fit in it, or, when even the last document is larger,
   * that document's tail of this share (then a held-out document of its own).
   */
  validationFraction?: number;
  /** A name for reports (default `"bytes"`). */
  name?: string;
  /**
   * Where the text splits into documents: each match starts a new document (and stays
   * in it). A string is a literal separator (e.g. `"\n\n"`), a `RegExp` is matched
   * with the `g` and `m` flags (e.g. `/^# /` for markdown headers), against the text
   * decoded as UTF-8 (Latin-1 when it is not valid UTF-8). Default: the whole text is
   * one document.
   */
  separator?: string | RegExp;
}

/** One batch of evaluation windows: `shape[0]` rows of `shape[1]` tokens. */
export interface EvaluationBatch {
  /** Token ids, `[rows, length]` row-major. */
  tokens: Int32Array;
  /** `[rows, length]`. */
  shape: [number, number];
}

/**
 * Text as bytes (vocabulary 256), as a set of documents: the whole text, or the text
 * split at a separator. The last documents are held out for validation. Training
 * windows are drawn at random offsets, inside one document when it is long enough;
 * {@linkcode ByteText.evaluationBatches} covers every byte of the held-out documents.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@x/fwl";
 * import { ByteText } from "@x/fwl/data";
 * const text = ByteText.fromString("the cat sat on the mat. ".repeat(20));
 * assertEquals([text.vocabSize, text.train.length, text.validation.length], [256, 432, 48]);
 * const batch = text.trainBatch(2, 16, new SeededRandom(0));
 * assertEquals(text.decode(batch.subarray(0, 16)), "t sat on the mat");
 * const markdown = "# a\nxx\n# b\nyy\n# c\nzz\n";
 * const docs = ByteText.fromString(markdown, { separator: /^# /, validationFraction: 0.4 });
 * assertEquals([docs.documents.length, docs.validationDocuments.length], [3, 1]);
 * assertEquals(docs.decode(docs.validationDocuments[0]), "# c\nzz\n");
 * ```
 */
export class ByteText implements TokenDataset {
  /** A short description. */
  readonly name: string;
  /** The training bytes (the training documents, in order). */
  readonly train: Uint8Array;
  /** The validation bytes (the held-out documents at the end). */
  readonly validation: Uint8Array;
  /** Every document, in order (views of the text). */
  readonly documents: readonly Uint8Array[];
  /** The training documents. */
  readonly trainDocuments: readonly Uint8Array[];
  /** The held-out documents (the last ones). */
  readonly validationDocuments: readonly Uint8Array[];
  /** Start of each training document in `train`, and `train.length` last. */
  readonly #trainStarts: number[];
  readonly #decoder = new TextDecoder("utf-8", { fatal: false });

  /**
   * Splits `bytes` into documents, then into training and validation documents.
   *
   * @param bytes the text's bytes (at least 4)
   * @param options validation share, name, separator
   * @throws {FWLInputError} If `bytes` is not a `Uint8Array` of at least 4 bytes,
   * `options` is not an object, `validationFraction` is not a number in (0, 1), or
   * `separator` is neither a non-empty string nor a `RegExp`.
   */
  constructor(bytes: Uint8Array, options: ByteTextOptions = {}) {
    const where = "ByteText";
    if (!(bytes instanceof Uint8Array)) {
      throw new FWLInputError(where, "bytes", "a Uint8Array", describeValue(bytes));
    }
    if (options === null || typeof options !== "object") {
      throw new FWLInputError(where, "options", "an object", describeValue(options));
    }
    const { validationFraction = 0.1, name = "bytes", separator } = options;
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
    const starts = documentStarts(where, bytes, separator);
    // Held out: the last whole documents that fit in the share; else the last one's tail.
    const share = Math.round(bytes.length * validationFraction);
    let held = starts.length;
    while (held > 1 && bytes.length - starts[held - 1] <= share) held--;
    let cut = held < starts.length ? starts[held] : bytes.length - share;
    cut = Math.min(bytes.length - 2, Math.max(2, cut));
    const bounds = [...new Set([...starts.filter((s) => s !== cut), cut])].sort((a, b) => a - b);
    const docs = bounds.map((s, i) => bytes.subarray(s, bounds[i + 1] ?? bytes.length));
    const trainCount = bounds.indexOf(cut);
    this.documents = docs;
    this.trainDocuments = docs.slice(0, trainCount);
    this.validationDocuments = docs.slice(trainCount);
    this.#trainStarts = [...bounds.slice(0, trainCount), cut];
    this.train = bytes.subarray(0, cut);
    this.validation = bytes.subarray(cut);
    const n = (k: number, what: string) => `${k} ${what}${k === 1 ? "" : "s"}`;
    this.name = `${name} (${this.train.length} training bytes, ${this.validation.length} ` +
      `validation bytes` +
      (separator === undefined
        ? ")"
        : `; ${n(this.trainDocuments.length, "training document")}, ${
          n(this.validationDocuments.length, "held-out document")
        })`);
  }

  /**
   * Reads a file as bytes (needs `--allow-read`). A missing, unreadable or empty file
   * throws an error that names the path.
   *
   * @example
   * ```ts
   * import { assertEquals, assertRejects } from "@std/assert";
   * import { FWLError } from "@x/fwl";
   * import { ByteText } from "@x/fwl/data";
   * const path = await Deno.makeTempFile({ suffix: ".txt" });
   * await Deno.writeTextFile(path, "a short book. ".repeat(10));
   * const text = await ByteText.fromFile(path);
   * assertEquals(text.train.length + text.validation.length, 140);
   * await Deno.remove(path);
   * await assertRejects(() => ByteText.fromFile(path), FWLError, "no such file");
   * ```
   *
   * @throws {FWLInputError} (rejects) If `path` is not a non-empty string or URL, the
   * file has fewer than 4 bytes, or an option is bad (as for the constructor).
   * @throws {FWLError} (rejects) If the file cannot be read (missing, a directory, no
   * permission), or files are not available outside Deno.
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
   * import { assertEquals, assertThrows } from "@std/assert";
   * import { FWLInputError } from "@x/fwl";
   * import { ByteText } from "@x/fwl/data";
   * const text = ByteText.fromString("hello world, hello moon");
   * assertEquals(text.vocabSize, 256);
   * assertEquals(text.name, "text (21 training bytes, 2 validation bytes)");
   * assertThrows(() => ByteText.fromString("hi"), FWLInputError); // under 4 bytes
   * ```
   *
   * @throws {FWLInputError} If `text` is not a string, its UTF-8 bytes are fewer than 4,
   * or an option is bad (as for the constructor).
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
   * `batchSize` windows of `length` bytes from random offsets of the training part,
   * each inside one document when the document is at least `length` bytes long (a
   * shorter one runs on into the next; a text shorter than a window is repeated).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@x/fwl";
   * import { ByteText } from "@x/fwl/data";
   * const t = ByteText.fromString("abcdefghij".repeat(10));
   * const batch = t.trainBatch(3, 8, new SeededRandom(1));
   * assertEquals(batch.length, 3 * 8);
   * assertEquals(t.trainBatch(3, 8, new SeededRandom(1)), batch); // the same seed, the same batch
   * ```
   *
   * @throws {FWLInputError} If `batchSize` or `length` is not a positive integer, or `rng`
   * is not a random source.
   */
  trainBatch(batchSize: number, length: number, rng: RandomSource): Int32Array {
    const where = "ByteText.trainBatch";
    checkPositiveInteger(where, "batchSize", batchSize);
    checkPositiveInteger(where, "length", length);
    if (rng === null || typeof rng !== "object" || typeof rng.uniform !== "function") {
      throw new FWLInputError(
        where,
        "rng",
        "a random source such as new SeededRandom(seed)",
        describeValue(rng),
      );
    }
    const data = this.train;
    const starts = this.#trainStarts;
    const out = new Int32Array(batchSize * length);
    for (let b = 0; b < batchSize; b++) {
      // A position uniformly at random; the window ends inside its document if it can.
      let start = Math.floor(rng.uniform() * data.length);
      let d = 0;
      while (starts[d + 1] <= start) d++;
      start = Math.max(starts[d], Math.min(start, starts[d + 1] - length));
      start = Math.max(0, Math.min(start, data.length - length));
      for (let t = 0; t < length; t++) out[b * length + t] = data[(start + t) % data.length];
    }
    return out;
  }

  /**
   * One training document of at least `minLength` bytes (default 2), chosen with a
   * probability proportional to its length, or a random piece of it of `maxLength` bytes
   * when it is longer. When no training document is that long, a piece of the training
   * bytes read as one stream (documents one after another).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@x/fwl";
   * import { ByteText } from "@x/fwl/data";
   * const t = ByteText.fromString("# a\n" + "x".repeat(300) + "\n# b\nyy\n", { separator: /^# / });
   * const piece = t.trainDocument(100, new SeededRandom(0), 50); // only "# a…" is ≥ 50 bytes
   * assertEquals(piece.length, 100);
   * assertEquals(piece.every((b) => b === "x".charCodeAt(0)), true);
   * ```
   *
   * @throws {FWLInputError} If `maxLength` or `minLength` is not a positive integer, or
   * `rng` is not a random source.
   */
  trainDocument(maxLength: number, rng: RandomSource, minLength = 2): Int32Array {
    const where = "ByteText.trainDocument";
    checkPositiveInteger(where, "maxLength", maxLength);
    checkPositiveInteger(where, "minLength", minLength);
    if (rng === null || typeof rng !== "object" || typeof rng.uniform !== "function") {
      const what = "a random source such as new SeededRandom(seed)";
      throw new FWLInputError(where, "rng", what, describeValue(rng));
    }
    const docs = this.trainDocuments.filter((d) => d.length >= Math.min(minLength, maxLength));
    const piece = (d: Uint8Array) => {
      const start = Math.floor(rng.uniform() * (Math.max(0, d.length - maxLength) + 1));
      return Int32Array.from(d.subarray(start, start + maxLength));
    };
    if (docs.length === 0) return piece(this.train);
    const total = docs.reduce((n, d) => n + d.length, 0);
    let at = rng.uniform() * total;
    for (const d of docs) {
      if (at < d.length) return piece(d);
      at -= d.length;
    }
    return piece(docs[docs.length - 1]);
  }

  /**
   * Windows over every byte of the held-out documents, document by document, grouped
   * into batches of at most `batchSize` rows of equal length. A document is cut into
   * windows of `length` bytes that overlap by one byte (the next window starts at the
   * last byte of the one before, which it reads but does not predict), so every byte of
   * a document after its first is predicted exactly once, from the bytes before it in
   * its window. A document's last window may be shorter (at least 2 bytes); documents
   * of one byte predict nothing and are left out. `maxTokens` keeps only the first
   * held-out documents, whole, up to that many bytes (at least one document).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { ByteText } from "@x/fwl/data";
   * const t = ByteText.fromString("x".repeat(90) + "y".repeat(10));
   * const batches = t.evaluationBatches(4, 5); // 10 held-out bytes: windows of 5, 5, 2
   * assertEquals(batches.map((b) => b.shape), [[2, 5], [1, 2]]);
   * assertEquals(t.decode(batches[1].tokens), "yy");
   * ```
   *
   * @throws {FWLInputError} If `batchSize` is not a positive integer, `length` is not an
   * integer ≥ 2, or `maxTokens` is not a number ≥ 1.
   */
  evaluationBatches(batchSize: number, length: number, maxTokens = Infinity): EvaluationBatch[] {
    const where = "ByteText.evaluationBatches";
    checkPositiveInteger(where, "batchSize", batchSize);
    if (typeof length !== "number" || !Number.isInteger(length) || length < 2) {
      throw new FWLInputError(where, "length", "an integer ≥ 2", describeValue(length));
    }
    if (!(typeof maxTokens === "number" && maxTokens >= 1)) {
      throw new FWLInputError(where, "maxTokens", "a number ≥ 1", describeValue(maxTokens));
    }
    const byLength = new Map<number, Uint8Array[]>();
    let total = 0;
    for (const doc of this.validationDocuments) {
      if (total > 0 && total + doc.length > maxTokens) break;
      total += doc.length;
      for (let s = 0; s + 1 < doc.length; s += length - 1) {
        const w = doc.subarray(s, Math.min(doc.length, s + length));
        byLength.set(w.length, [...byLength.get(w.length) ?? [], w]);
      }
    }
    const out: EvaluationBatch[] = [];
    for (const [len, windows] of [...byLength].sort((a, b) => b[0] - a[0])) {
      for (let i = 0; i < windows.length; i += batchSize) {
        const rows = windows.slice(i, i + batchSize);
        const tokens = new Int32Array(rows.length * len);
        rows.forEach((w, r) => tokens.set(w, r * len));
        out.push({ tokens, shape: [rows.length, len] });
      }
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
   * import { assertEquals } from "@std/assert";
   * import { ByteText } from "@x/fwl/data";
   * const t = ByteText.fromString("x".repeat(1000)); // 100 validation bytes: 4 windows of 25
   * assertEquals(t.validationBatches(2, 25).map((b) => b.length), [50, 50]);
   * assertEquals(t.validationBatches(2, 25, 1).length, 1);
   * ```
   *
   * @throws {FWLInputError} If `batchSize` or `length` is not a positive integer, or
   * `maxBatches` is not a number ≥ 1.
   */
  validationBatches(batchSize: number, length: number, maxBatches = Infinity): Int32Array[] {
    const where = "ByteText.validationBatches";
    checkPositiveInteger(where, "batchSize", batchSize);
    checkPositiveInteger(where, "length", length);
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
   * import { assertEquals } from "@std/assert";
   * import { ByteText } from "@x/fwl/data";
   * const text = ByteText.fromString("hi there");
   * assertEquals(text.decode([104, 105]), "hi");
   * assertEquals(text.decode([0xff]), "\uFFFD"); // not UTF-8
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
   * import { assertEquals } from "@std/assert";
   * import { ByteText } from "@x/fwl/data";
   * const text = ByteText.fromString("abcd");
   * assertEquals(text.encode("ab"), new Int32Array([97, 98]));
   * assertEquals(text.decode(text.encode("é")), "é"); // two bytes, one character
   * ```
   */
  encode(text: string): Int32Array {
    return Int32Array.from(new TextEncoder().encode(text));
  }
}

/**
 * The byte offset where each document starts (0 first): 0 and every match of
 * `separator` in the text (see {@linkcode ByteTextOptions.separator}).
 */
function documentStarts(
  where: string,
  bytes: Uint8Array,
  separator: string | RegExp | undefined,
): number[] {
  if (separator === undefined) return [0];
  if (!(separator instanceof RegExp) && !(typeof separator === "string" && separator !== "")) {
    const expected = "a non-empty string or a RegExp";
    throw new FWLInputError(where, "options.separator", expected, describeValue(separator));
  }
  let text: string, utf8 = true;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    utf8 = false;
    text = Array.from(bytes, (b) => String.fromCharCode(b)).join("");
  }
  const pattern = separator instanceof RegExp
    ? new RegExp(separator.source, [...new Set(separator.flags + "gm")].join(""))
    : new RegExp(separator.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "g");
  const starts = [0];
  const encoder = new TextEncoder();
  let at = 0, byte = 0; // a character index and its byte offset
  for (const m of text.matchAll(pattern)) {
    if (m.index === 0) continue;
    byte += utf8 ? encoder.encode(text.slice(at, m.index)).length : m.index - at;
    at = m.index;
    if (byte !== starts.at(-1)) starts.push(byte);
  }
  return starts;
}
