/**
 * Synthetic documents in a small word language, generated from a seed (no download):
 * sentences built from about a hundred common words, and in each document a few rare
 * "entity" names, drawn from a large pool, that come back again and again, always at
 * least `minGap` tokens apart. A model can learn the grammar from any document, but
 * which names a document uses can only be learned from the document itself — the
 * setting where fast weights help most (rare, repeated tokens in long documents).
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { type RandomSource, SeededRandom } from "../util/random.ts";
import type { TokenDataset } from "./dataset.ts";
import { describeValue } from "../util/describe.ts";

/** Options of {@linkcode SyntheticLanguage}. */
export interface SyntheticLanguageOptions {
  /** Seed of the entity names (default 0). */
  seed?: number;
  /** Number of entity names in the pool (default 256). */
  entityPool?: number;
  /** Entities per document (default 4). */
  entitiesPerDocument?: number;
  /** Fewest tokens between two mentions of the same entity (default 20). */
  minGap?: number;
  /**
   * Probability that a sentence mentions an entity when one is allowed by `minGap`
   * (default 0.9).
   */
  entityRate?: number;
}

/** The words of a space-separated list, in order (their ids follow this order). */
function wordList(words: string): readonly string[] {
  return words.trim().split(/\s+/);
}

const ARTICLES = wordList("the a");
const ADJECTIVES = wordList(`
  old new small large red quiet busy dark
  bright cold warm long narrow green empty famous`);
const NOUNS = wordList(`
  river city market house road bridge garden village
  harbor tower forest school station library field castle
  church mill farm island valley mountain lake square
  hall shop factory museum palace port hill temple`);
const VERBS = wordList(`
  visited built painted sold bought found left crossed
  watched guarded cleaned opened closed described repaired entered
  owned studied praised reached mapped explored drew remembered`);
const PREPOSITIONS = wordList("near in by behind beside across under above");
const OTHER = wordList(`
  . , and said that met with later
  then again was to went it they there
  <doc>`);

const COMMON: readonly string[] = [
  ...OTHER,
  ...ARTICLES,
  ...ADJECTIVES,
  ...NOUNS,
  ...VERBS,
  ...PREPOSITIONS,
];

const ONSETS = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "tr"];
const VOWELS = ["a", "e", "i", "o", "u", "ai", "ou"];
const CODAS = ["", "", "", "n", "l", "r", "s", "th"];

/** A word slot of a sentence template: a word class, a fixed word, or an entity. */
type Slot =
  | "ART"
  | "ADJ"
  | "NOUN"
  | "VERB"
  | "PREP"
  | "E1"
  | "E2"
  | { word: string };

function parse(template: string): Slot[] {
  return template.split(" ").map((w) =>
    ["ART", "ADJ", "NOUN", "VERB", "PREP", "E1", "E2"].includes(w) ? w as Slot : { word: w }
  );
}

/** Sentences with no entity, one entity (E1), and two (E1, E2). */
const TEMPLATES = {
  none: [
    "the ADJ NOUN was PREP the NOUN .",
    "they VERB the ADJ NOUN .",
    "it was ADJ PREP the NOUN .",
    "then they went to ART NOUN PREP the NOUN .",
    "the NOUN was ADJ and ADJ .",
  ].map(parse),
  one: [
    "E1 VERB the ADJ NOUN .",
    "then E1 went to the NOUN PREP the NOUN .",
    "E1 said that the NOUN was ADJ .",
    "the ADJ NOUN PREP the NOUN was VERB by E1 .",
    "later E1 VERB ART NOUN again .",
    "there , E1 VERB the NOUN .",
  ].map(parse),
  two: [
    "E1 met E2 PREP the ADJ NOUN .",
    "E1 and E2 VERB the NOUN .",
    "E1 said that E2 VERB the NOUN .",
  ].map(parse),
};

function checkIntegerAtLeast(where: string, name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new FWLInputError(where, name, `an integer ≥ ${min}`, describeValue(value));
  }
  return value;
}

function checkRandom(where: string, rng: unknown): RandomSource {
  if (
    rng === null || typeof rng !== "object" || typeof (rng as RandomSource).uniform !== "function"
  ) {
    throw new FWLInputError(
      where,
      "rng",
      "a random source such as new SeededRandom(seed)",
      describeValue(rng),
    );
  }
  return rng as RandomSource;
}

/**
 * A seeded synthetic language: ~100 common words (ids `0 … entityStart−1`) and a pool of
 * made-up entity names (ids `entityStart … vocabSize−1`). Each document begins with
 * `<doc>`, draws `entitiesPerDocument` names from the pool, and writes sentences; a
 * sentence mentions a name only if that name was last mentioned at least `minGap`
 * tokens before (or not yet), so every repeat is far from the previous mention.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { SeededRandom } from "@x/fwl";
 * import { SyntheticLanguage } from "@x/fwl/data";
 * const lang = new SyntheticLanguage({ seed: 1, entityPool: 64 });
 * const doc = lang.document(40, new SeededRandom(2));
 * assertEquals([doc.length, lang.entityStart, lang.vocabSize], [40, 99, 99 + 64]);
 * assertEquals(lang.decode(doc.subarray(0, 8)), "<doc> Bripais built the famous church . Foutir");
 * assert(doc.some((id) => lang.isEntity(id)));
 * ```
 */
export class SyntheticLanguage implements TokenDataset {
  /** A short description. */
  readonly name: string;
  /** Every word, by id. */
  readonly words: readonly string[];
  /** The first entity id (the number of common words). */
  readonly entityStart: number;
  /** Number of entity names. */
  readonly entityCount: number;
  /** Entities per document. */
  readonly entitiesPerDocument: number;
  /** Fewest tokens between two mentions of one entity. */
  readonly minGap: number;
  /** Probability that a sentence mentions an entity when one is allowed. */
  readonly entityRate: number;
  /** The seed. */
  readonly seed: number;
  readonly #ids: Map<string, number>;

  /**
   * Makes the vocabulary and the entity names.
   *
   * @param options seed, pool size, entities per document, gap, entity rate
   * @throws {FWLInputError} If `options` is not an object, `seed` is not an integer
   * ≥ −2³¹, `entityPool` not one ≥ 2, `entitiesPerDocument` not one in
   * `[1, entityPool]`, `minGap` not one ≥ 1, or `entityRate` not a number in [0, 1].
   */
  constructor(options: SyntheticLanguageOptions = {}) {
    const where = "SyntheticLanguage";
    if (options === null || typeof options !== "object") {
      throw new FWLInputError(where, "options", "an object", describeValue(options));
    }
    const {
      seed = 0,
      entityPool = 256,
      entitiesPerDocument = 4,
      minGap = 20,
      entityRate = 0.9,
    } = options;
    this.seed = checkIntegerAtLeast(where, "options.seed", seed, -(2 ** 31));
    this.entityCount = checkIntegerAtLeast(where, "options.entityPool", entityPool, 2);
    this.entitiesPerDocument = checkIntegerAtLeast(
      where,
      "options.entitiesPerDocument",
      entitiesPerDocument,
      1,
    );
    if (entitiesPerDocument > entityPool) {
      throw new FWLInputError(
        where,
        "options.entitiesPerDocument",
        `at most options.entityPool = ${entityPool}`,
        `${entitiesPerDocument}`,
      );
    }
    this.minGap = checkIntegerAtLeast(where, "options.minGap", minGap, 1);
    if (!(typeof entityRate === "number" && entityRate >= 0 && entityRate <= 1)) {
      throw new FWLInputError(
        where,
        "options.entityRate",
        "a number in [0, 1]",
        describeValue(entityRate),
      );
    }
    this.entityRate = entityRate;
    this.entityStart = COMMON.length;
    this.words = [...COMMON, ...entityNames(entityPool, seed)];
    this.#ids = new Map(this.words.map((w, i) => [w, i]));
    this.name = `synthetic words (${this.entityStart} common words, ${entityPool} entity names, ` +
      `${entitiesPerDocument} per document, repeats ≥ ${minGap} tokens apart)`;
  }

  /** Number of token ids: common words plus entity names. */
  get vocabSize(): number {
    return this.words.length;
  }

  /**
   * Whether `id` is an entity name.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SyntheticLanguage } from "@x/fwl/data";
   * const lang = new SyntheticLanguage();
   * assertEquals([lang.isEntity(0), lang.isEntity(lang.entityStart)], [false, true]);
   * assertEquals(lang.isEntity(lang.vocabSize), false); // out of range
   * ```
   */
  isEntity(id: number): boolean {
    return id >= this.entityStart && id < this.words.length;
  }

  /**
   * The id of a word (or entity name).
   *
   * @example
   * ```ts
   * import { assertEquals, assertThrows } from "@std/assert";
   * import { FWLInputError } from "@x/fwl";
   * import { SyntheticLanguage } from "@x/fwl/data";
   * const lang = new SyntheticLanguage();
   * assertEquals(lang.words[lang.id("river")], "river");
   * assertEquals(lang.id("<doc>"), 16);
   * assertThrows(() => lang.id("nowhere"), FWLInputError);
   * ```
   *
   * @throws {FWLInputError} If `word` is not a word of the language.
   */
  id(word: string): number {
    const id = this.#ids.get(word);
    if (id === undefined) {
      throw new FWLInputError(
        "SyntheticLanguage.id",
        "word",
        "a word of the language",
        JSON.stringify(word),
      );
    }
    return id;
  }

  /**
   * One document of exactly `length` tokens, starting with `<doc>`, drawn from `rng`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@x/fwl";
   * import { SyntheticLanguage } from "@x/fwl/data";
   * const lang = new SyntheticLanguage();
   * const doc = lang.document(12, new SeededRandom(0));
   * assertEquals(doc.length, 12);
   * assertEquals(doc[0], lang.id("<doc>"));
   * assertEquals(lang.document(12, new SeededRandom(0)), doc); // the same seed, the same document
   * ```
   *
   * @throws {FWLInputError} If `length` is not a positive integer or `rng` is not a
   * random source.
   */
  document(length: number, rng: RandomSource): Int32Array {
    const where = "SyntheticLanguage.document";
    checkIntegerAtLeast(where, "length", length, 1);
    checkRandom(where, rng);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rng.uniform() * list.length)];
    // The document's entities: distinct names from the pool.
    const chosen: number[] = [];
    while (chosen.length < this.entitiesPerDocument) {
      const e = this.entityStart + Math.floor(rng.uniform() * this.entityCount);
      if (!chosen.includes(e)) chosen.push(e);
    }
    const last = new Map<number, number>(); // entity → position of its last mention
    const out: number[] = [this.id("<doc>")];
    while (out.length < length) {
      // Entities allowed now: never mentioned, or mentioned ≥ minGap tokens ago (the
      // gap is measured to the slot, a few tokens into the sentence at the earliest).
      const ready = chosen.filter((e) => !last.has(e) || out.length - last.get(e)! >= this.minGap);
      let kind: keyof typeof TEMPLATES = "none";
      if (ready.length > 0 && rng.uniform() < this.entityRate) {
        kind = ready.length >= 2 && rng.uniform() < 0.25 ? "two" : "one";
      }
      const template = pick(TEMPLATES[kind]);
      const e1 = ready.length ? pick(ready) : -1;
      const others = ready.filter((e) => e !== e1);
      const e2 = others.length ? pick(others) : -1;
      for (const slot of template) {
        let id: number;
        if (typeof slot === "object") id = this.id(slot.word);
        else if (slot === "E1" || slot === "E2") {
          id = slot === "E1" ? e1 : e2;
          last.set(id, out.length);
        } else {
          const list =
            { ART: ARTICLES, ADJ: ADJECTIVES, NOUN: NOUNS, VERB: VERBS, PREP: PREPOSITIONS }[slot];
          id = this.id(pick(list));
        }
        out.push(id);
      }
    }
    return Int32Array.from(out.slice(0, length));
  }

  /**
   * One training document of `maxLength` tokens (every synthetic document is as long as
   * asked), for a `DocumentReader`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SeededRandom } from "@x/fwl";
   * import { SyntheticLanguage } from "@x/fwl/data";
   * assertEquals(new SyntheticLanguage().trainDocument(500, new SeededRandom(0)).length, 500);
   * ```
   *
   * @throws {FWLInputError} If `maxLength` is not a positive integer or `rng` is not a
   * random source.
   */
  trainDocument(maxLength: number, rng: RandomSource): Int32Array {
    return this.document(maxLength, rng);
  }

  /**
   * `batchSize` documents of `length` tokens, row-major `[batchSize, length]`.
   *
   * @example
   * ```ts
   * import { assertEquals, assertThrows } from "@std/assert";
   * import { FWLInputError, SeededRandom } from "@x/fwl";
   * import { SyntheticLanguage } from "@x/fwl/data";
   * const lang = new SyntheticLanguage();
   * const batch = lang.trainBatch(4, 32, new SeededRandom(0));
   * assertEquals(batch.length, 4 * 32);
   * assertEquals([0, 32, 64, 96].map((i) => batch[i]), [16, 16, 16, 16]); // each row is a document
   * assertThrows(() => lang.trainBatch(0, 32, new SeededRandom(0)), FWLInputError);
   * ```
   *
   * @throws {FWLInputError} If `batchSize` or `length` is not a positive integer, or `rng`
   * is not a random source.
   */
  trainBatch(batchSize: number, length: number, rng: RandomSource): Int32Array {
    const where = "SyntheticLanguage.trainBatch";
    checkIntegerAtLeast(where, "batchSize", batchSize, 1);
    checkIntegerAtLeast(where, "length", length, 1);
    checkRandom(where, rng);
    const out = new Int32Array(batchSize * length);
    for (let b = 0; b < batchSize; b++) out.set(this.document(length, rng), b * length);
    return out;
  }

  /**
   * A fixed validation set of `maxBatches` batches (default 4), drawn from a generator
   * seeded apart from any training seed (`seed + 1_000_003`), so it is the same on every
   * call and never overlaps a training stream by construction of the seed.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SyntheticLanguage } from "@x/fwl/data";
   * const lang = new SyntheticLanguage();
   * const batches = lang.validationBatches(2, 16, 3);
   * assertEquals(batches.map((b) => b.length), [32, 32, 32]);
   * assertEquals(lang.validationBatches(2, 16, 3), batches); // the same on every call
   * ```
   *
   * @throws {FWLInputError} If `batchSize` or `length` is not a positive integer, or
   * `maxBatches` is not an integer ≥ 1.
   */
  validationBatches(batchSize: number, length: number, maxBatches = 4): Int32Array[] {
    checkIntegerAtLeast("SyntheticLanguage.validationBatches", "maxBatches", maxBatches, 1);
    const rng = new SeededRandom(this.seed + 1_000_003);
    return Array.from({ length: maxBatches }, () => this.trainBatch(batchSize, length, rng));
  }

  /**
   * The words of `ids`, joined by spaces (ids out of range show as `<id>`).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { SyntheticLanguage } from "@x/fwl/data";
   * const lang = new SyntheticLanguage();
   * assertEquals(lang.decode([lang.id("the"), lang.id("river"), -1]), "the river <-1>");
   * ```
   */
  decode(ids: ArrayLike<number>): string {
    return Array.from(ids, (id) => this.words[id] ?? `<${id}>`).join(" ");
  }
}

/** `count` distinct capitalized made-up names, from `seed`. */
function entityNames(count: number, seed: number): string[] {
  const rng = new SeededRandom(seed * 7919 + 17);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rng.uniform() * list.length)];
  const names = new Set<string>();
  while (names.size < count) {
    const syllables = 2 + (rng.uniform() < 0.3 ? 1 : 0) + Math.floor(names.size / 4000);
    let name = "";
    for (let s = 0; s < syllables; s++) name += pick(ONSETS) + pick(VOWELS);
    name += pick(CODAS);
    names.add(name[0].toUpperCase() + name.slice(1));
  }
  return [...names];
}
