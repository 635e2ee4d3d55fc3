// Tests of the data sources (src/data/): the seeded synthetic language with repeated
// entity names, and byte-level text with its train/validation split.

import { assert, assertEquals, assertNotEquals, assertRejects, assertThrows } from "@std/assert";
import { ByteText } from "../src/data/text.ts";
import { SyntheticLanguage } from "../src/data/synthetic.ts";
import { FWLError, FWLInputError } from "../src/errors.ts";
import { SeededRandom } from "../src/util/random.ts";

Deno.test("synthetic: vocabulary, determinism, entities repeat far apart", () => {
  const lang = new SyntheticLanguage({
    seed: 3,
    entityPool: 200,
    entitiesPerDocument: 3,
    minGap: 20,
  });
  assertEquals(lang.vocabSize, lang.entityStart + 200);
  assert(lang.entityStart >= 90 && lang.entityStart <= 110, `${lang.entityStart} common words`);
  assertEquals(new Set(lang.words).size, lang.vocabSize, "words are distinct");
  for (let i = lang.entityStart; i < lang.vocabSize; i++) {
    assert(/^[A-Z][a-z]+$/.test(lang.words[i]), lang.words[i]);
  }
  assertEquals(lang.isEntity(lang.entityStart - 1), false);
  assertEquals(lang.isEntity(lang.vocabSize), false);
  // Same seed, same language and documents; another seed, other names.
  assertEquals(new SyntheticLanguage({ seed: 3, entityPool: 200 }).words, lang.words);
  assertNotEquals(new SyntheticLanguage({ seed: 4, entityPool: 200 }).words, lang.words);
  const a = lang.trainBatch(4, 96, new SeededRandom(9));
  assertEquals(a, lang.trainBatch(4, 96, new SeededRandom(9)));
  assertNotEquals(a, lang.trainBatch(4, 96, new SeededRandom(10)));

  let mentions = 0, repeats = 0, tokens = 0;
  const rng = new SeededRandom(1);
  for (let d = 0; d < 200; d++) {
    const doc = lang.document(96, rng);
    assertEquals(doc.length, 96);
    assertEquals(doc[0], lang.id("<doc>"));
    assert(doc.every((id) => id >= 0 && id < lang.vocabSize));
    const last = new Map<number, number>();
    for (let t = 0; t < doc.length; t++) {
      if (!lang.isEntity(doc[t])) continue;
      mentions++;
      if (last.has(doc[t])) {
        repeats++;
        assert(t - last.get(doc[t])! >= 20, `gap ${t - last.get(doc[t])!} in document ${d}`);
      }
      last.set(doc[t], t);
    }
    assert(last.size <= 3, "at most entitiesPerDocument names per document");
    tokens += doc.length;
  }
  // Entities are a real share of the tokens, and most mentions are repeats.
  assert(mentions / tokens > 0.05 && mentions / tokens < 0.2, `${mentions / tokens}`);
  assert(repeats / mentions > 0.5, `${repeats / mentions} of mentions are repeats`);
  // Readable text.
  const text = lang.decode(a.subarray(0, 96));
  assert(text.startsWith("<doc> ") && text.includes(" . "), text);
  assertEquals(lang.decode([lang.id("the"), 10_000]), "the <10000>");

  // The validation set is fixed and differs from training draws.
  const v1 = lang.validationBatches(2, 32, 3);
  assertEquals(v1.length, 3);
  assertEquals(v1, lang.validationBatches(2, 32, 3));
  assertEquals(v1[0].length, 64);
});

Deno.test("synthetic: option errors", () => {
  assertThrows(() => new SyntheticLanguage({ entityPool: 1 }), FWLInputError, "entityPool");
  assertThrows(
    () => new SyntheticLanguage({ entityPool: 4, entitiesPerDocument: 5 }),
    FWLInputError,
    "entitiesPerDocument",
  );
  assertThrows(() => new SyntheticLanguage({ minGap: 0 }), FWLInputError, "minGap");
  assertThrows(() => new SyntheticLanguage({ entityRate: 2 }), FWLInputError, "entityRate");
  assertThrows(() => new SyntheticLanguage(null as never), FWLInputError);
  const lang = new SyntheticLanguage();
  assertThrows(() => lang.document(0, new SeededRandom(0)), FWLInputError, "length");
  assertThrows(() => lang.trainBatch(2, 8, {} as never), FWLInputError, "rng");
  assertThrows(() => lang.id("zebra"), FWLInputError, "zebra");
});

Deno.test("text: bytes, split, batches, decoding, files", async () => {
  const source = "Alice met Bob. Bob met Carol. ".repeat(10); // 300 bytes
  const text = ByteText.fromString(source, { validationFraction: 0.2 });
  assertEquals(text.vocabSize, 256);
  assertEquals(text.train.length, 240);
  assertEquals(text.validation.length, 60);
  assertEquals(text.decode(text.train) + text.decode(text.validation), source);
  const batch = text.trainBatch(3, 20, new SeededRandom(4));
  assertEquals(batch.length, 60);
  assert(batch.every((b) => b >= 0 && b < 256));
  // Each row is a window of the training bytes.
  for (let r = 0; r < 3; r++) {
    assert(text.decode(text.train).includes(text.decode(batch.subarray(r * 20, r * 20 + 20))));
  }
  assertEquals(batch, text.trainBatch(3, 20, new SeededRandom(4)));
  // Validation windows laid end to end.
  const val = text.validationBatches(2, 10);
  assertEquals(val.length, 3);
  assertEquals(text.decode(val.flatMap((b) => [...b])), text.decode(text.validation));
  assertEquals(text.validationBatches(2, 10, 1).length, 1);
  // A window longer than the validation part repeats it.
  assertEquals(text.validationBatches(4, 100)[0].length, 100);
  // UTF-8 round trip, invalid bytes replaced.
  assertEquals(text.decode(text.encode("héllo")), "héllo");
  assertEquals(text.decode([0xff]), "\ufffd");

  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.txt`;
    await Deno.writeTextFile(path, source);
    const fromFile = await ByteText.fromFile(path);
    assertEquals(fromFile.train.length + fromFile.validation.length, 300);
    assertEquals(fromFile.validation.length, 30);
    assert(fromFile.name.includes("t.txt"));
    const missing = await assertRejects(() => ByteText.fromFile(`${dir}/nope.txt`), FWLError);
    assert(missing.message.includes("nope.txt"), missing.message);
    await Deno.writeTextFile(`${dir}/empty.txt`, "");
    await assertRejects(
      () => ByteText.fromFile(`${dir}/empty.txt`),
      FWLInputError,
      "at least 4 bytes",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertThrows(() => ByteText.fromString("abc"), FWLInputError, "at least 4");
  assertThrows(() => new ByteText(new Uint8Array(10), { validationFraction: 1 }), FWLInputError);
  assertThrows(() => text.trainBatch(0, 4, new SeededRandom(0)), FWLInputError, "batchSize");
});

Deno.test("text documents: separators, held-out documents, windows inside documents", () => {
  const doc = (title: string, n: number) => `# ${title}\n` + `${title} is here.\n`.repeat(n);
  const source = doc("Alpha", 20) + doc("Béta", 12) + doc("Gamma", 3) + doc("Delta", 2);
  const bytes = new TextEncoder().encode(source);
  const text = new ByteText(bytes, { separator: /^# /, validationFraction: 0.16 });
  assertEquals(text.documents.length, 4);
  assertEquals(text.decode(text.documents[1]).slice(0, 7), "# Béta\n");
  // The last two documents fit in 16 %; the held-out part is them, whole.
  assertEquals(text.validationDocuments.length, 2);
  assertEquals(text.decode(text.validation), doc("Gamma", 3) + doc("Delta", 2));
  assertEquals(text.decode(text.train), doc("Alpha", 20) + doc("Béta", 12));
  assert(text.name.includes("2 training documents, 2 held-out documents"), text.name);
  // A literal separator (not a pattern), and a text that is not valid UTF-8.
  const lit = ByteText.fromString("a.b.c.d.eeee.ffff", { separator: ".", validationFraction: 0.3 });
  assertEquals(lit.documents.map((d) => lit.decode(d)), ["a", ".b", ".c", ".d", ".eeee", ".ffff"]);
  const latin = new ByteText(Uint8Array.from([0xff, 65, 10, 35, 32, 66, 0xfe, 10, 35, 32, 67]), {
    separator: /^# /,
    validationFraction: 0.3,
  });
  assertEquals(latin.documents.map((d) => d.length), [3, 5, 3]);
  // When the last document is larger than the share, its tail is held out.
  const tail = new ByteText(bytes, { separator: /^# Alpha/, validationFraction: 0.1 });
  assertEquals(tail.documents.length, 2);
  assertEquals(tail.validation.length, Math.round(bytes.length * 0.1));

  // Training windows: inside one document when it is long enough.
  const rng = new SeededRandom(2);
  const trainDocs = text.trainDocuments.map((d) => text.decode(d));
  for (let i = 0; i < 20; i++) {
    const w = text.decode(text.trainBatch(1, 40, rng));
    assert(trainDocs.some((d) => d.includes(w)), w);
  }

  // Evaluation: every byte after each held-out document's first is predicted once.
  for (const length of [2, 7, 64, 1000]) {
    const batches = text.evaluationBatches(3, length);
    let predicted = 0;
    for (const b of batches) {
      assertEquals(b.tokens.length, b.shape[0] * b.shape[1]);
      assert(b.shape[0] <= 3 && b.shape[1] <= length && b.shape[1] >= 2);
      predicted += b.shape[0] * (b.shape[1] - 1);
    }
    const want = text.validationDocuments.reduce((n, d) => n + d.length - 1, 0);
    assertEquals(predicted, want, `length ${length}`);
  }
  // Windows overlap by one byte and go in order: rejoined, they give the document.
  const one = text.evaluationBatches(1, 16, 1);
  const first = text.validationDocuments[0];
  assertEquals(one.reduce((n, b) => n + b.shape[1] - 1, 1), first.length, "first document only");
  const joined = [first[0], ...one.flatMap((b) => [...b.tokens.subarray(1)])];
  assertEquals(joined, [...first]);

  // Bad inputs.
  assertThrows(() => new ByteText(bytes, { separator: "" }), FWLInputError, "options.separator");
  assertThrows(
    () => new ByteText(bytes, { separator: 3 as unknown as string }),
    FWLInputError,
    "options.separator",
  );
  assertThrows(() => text.evaluationBatches(0, 8), FWLInputError, "batchSize");
  assertThrows(() => text.evaluationBatches(2, 1), FWLInputError, "length");
  assertThrows(() => text.evaluationBatches(2, 8, 0), FWLInputError, "maxTokens");
});
