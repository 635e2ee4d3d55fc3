// Training on long documents (docs/definition.md §6): LanguageModel.trainStep with a DocumentState
// reads consecutive windows with the head's and the body's states carried — its losses
// equal scoreDocument's on the same windows — restarts rows on their own, learns the
// decay λ, and checks its inputs; DocumentReader cuts documents into overlapping windows.

import { assert, assertEquals, assertThrows } from "@std/assert";
import type { ModelBody } from "../src/bodies/model_body.ts";
import { LSTMBody } from "../src/bodies/lstm.ts";
import { FWLInputError, FWLStateError } from "../src/errors.ts";
import { DECAY_NAME } from "../src/fwl/normalizer.ts";
import { LanguageModel } from "../src/lm/language_model.ts";
import { SGD } from "../src/optim/sgd.ts";
import { Adam } from "../src/optim/adam.ts";
import { DocumentReader } from "../src/data/reader.ts";
import { SyntheticLanguage } from "../src/data/synthetic.ts";
import { ByteText } from "../src/data/text.ts";
import { SeededRandom } from "../src/util/random.ts";
import { type Tensor, tensor } from "../src/tensor.ts";
import { embeddingBody } from "./helpers.ts";

const V = 13, D = 6;

async function model(body: ModelBody, learnDecay = false) {
  return await LanguageModel.create(body, {
    vocabSize: V,
    headSize: 3,
    attnChunks: 2,
    normalizer: { decay: 0.8, prior: 1, learnDecay },
    stepSize: 0.5,
    seed: 3,
  });
}

function documents(B: number, n: number, seed: number): Int32Array[] {
  const rng = new SeededRandom(seed);
  return Array.from(
    { length: B },
    () => Int32Array.from({ length: n }, (_, i) => i % 5 === 0 ? 3 : Math.floor(rng.uniform() * V)),
  );
}

/** Window `k` of every document (`T` predictions, `T + 1` tokens overlapping by one). */
function window(docs: Int32Array[], k: number, T: number): Tensor<"int32"> {
  const rows = docs.map((d) => d.subarray(k * T, k * T + T + 1));
  return tensor(Int32Array.from(rows.flatMap((r) => [...r])), [docs.length, T + 1]);
}

Deno.test("trainStep with a document state: window losses equal scoreDocument's", async () => {
  const T = 6, windows = 4, B = 2;
  const docs = documents(B, T * windows + 1, 1);
  const bodies: [string, () => Promise<ModelBody>][] = [
    [
      "LSTM (carries its state)",
      () => LSTMBody.create({ vocabSize: V, embedSize: 4, hiddenSize: D, seed: 2 }),
    ],
    ["embedding (no body state)", () => Promise.resolve(embeddingBody(2, V, D))],
  ];
  for (const [what, make] of bodies) {
    using lm = await model(await make());
    using opt = new SGD(lm.context, lm.parameters(), { lr: 0 }); // the weights stay put
    using state = lm.documentState(B);
    const scored = [];
    for (const d of docs) scored.push(await lm.scoreDocument(d, { window: T }));
    for (let k = 0; k < windows; k++) {
      const { loss } = await lm.trainStep(window(docs, k, T), opt, { state });
      let want = 0;
      for (const s of scored) want += s.nll.subarray(k * T, (k + 1) * T).reduce((a, b) => a + b, 0);
      want /= B * T;
      assert(Math.abs(loss - want) < 2e-4 * (1 + want), `${what}, window ${k}: ${loss} vs ${want}`);
    }
    assertEquals(state.position, T * windows);
    assertEquals(state.carriesBody, what.startsWith("LSTM"));
  }
});

Deno.test("a document state restarts some rows on their own", async () => {
  const T = 5, B = 2;
  const docs = documents(B, 3 * T + 1, 4);
  using lm = await model(await LSTMBody.create({ vocabSize: V, embedSize: 4, hiddenSize: D }));
  using opt = new SGD(lm.context, lm.parameters(), { lr: 0 });
  using state = lm.documentState(B);
  await lm.trainStep(window(docs, 0, T), opt, { state });
  await lm.trainStep(window(docs, 1, T), opt, { state });
  // Row 1 starts its document again, row 0 goes on: both rows now read their window 0.
  state.reset([1]);
  assertEquals(state.position, 2 * T);
  const again = [docs[0].slice(2 * T), docs[1].slice(0)];
  const { loss } = await lm.trainStep(window(again, 0, T), opt, { state });
  const s0 = await lm.scoreDocument(docs[0], { window: T });
  const s1 = await lm.scoreDocument(docs[1], { window: T });
  const sum = (a: Float32Array) => a.reduce((x, y) => x + y, 0);
  const want = (sum(s0.nll.subarray(2 * T, 3 * T)) + sum(s1.nll.subarray(0, T))) / (2 * T);
  assert(Math.abs(loss - want) < 2e-4 * (1 + want), `${loss} vs ${want}`);
  state.reset();
  assertEquals(state.position, 0);
  assertThrows(() => state.reset([2]), FWLInputError, "indices in [0, 2)");
});

Deno.test("training on carried windows learns the decay λ", async () => {
  const T = 8, B = 2;
  const docs = documents(B, 6 * T + 1, 7);
  using lm = await model(embeddingBody(5, V, D), true);
  assert(
    lm.parameters().find((p) => p.name === "head/steps")?.elementNames?.includes(
      `head/${DECAY_NAME}`,
    ),
  );
  using opt = new Adam(lm.context, lm.parameters(), { lr: 0.05 });
  using state = lm.documentState(B);
  for (let k = 0; k < 6; k++) await lm.trainStep(window(docs, k, T), opt, { state });
  const lambda = (await lm.head.getParams())[DECAY_NAME][0];
  assert(Math.abs(lambda - 0.8) > 1e-3 && lambda > 0 && lambda < 1, `λ moved to ${lambda}`);
});

Deno.test("trainStep and documentState check their inputs", async () => {
  using lm = await model(embeddingBody(1, V, D));
  using plain = await LanguageModel.create(embeddingBody(1, V, D), {
    vocabSize: V,
    headSize: 3,
    fastWeights: false,
  });
  using opt = new SGD(lm.context, lm.parameters(), { lr: 0.1 });
  const tokens = window(documents(2, 20, 1), 0, 5);
  using other = plain.documentState(2);
  const three = lm.documentState(3);
  for (
    const [state, message] of [[{}, "a live DocumentState"], [three, "a state of 2 rows"], [
      other,
      "this model's",
    ]] as const
  ) {
    let thrown: unknown;
    try {
      // deno-lint-ignore no-explicit-any
      await lm.trainStep(tokens, opt, { state: state as any });
    } catch (e) {
      thrown = e;
    }
    assert(thrown instanceof FWLInputError && thrown.message.includes(message), `${thrown}`);
  }
  three.dispose();
  assertThrows(() => three.reset(), FWLStateError, "disposed");
  assertThrows(() => lm.documentState(0), FWLInputError, "batchSize");
  using batchHead = await LanguageModel.create(embeddingBody(1, V, D), {
    vocabSize: V,
    normalizer: "batch",
  });
  assertThrows(() => batchHead.documentState(1), FWLInputError, "carried");
  using fixed = batchHead.documentState(1, { normalizer: 64 });
  assertEquals(fixed.head?.normalizer, 64);
});

Deno.test("DocumentReader: overlapping windows, restarts, spans, errors", () => {
  const data = new SyntheticLanguage({ seed: 2 });
  const reader = new DocumentReader(data, {
    batchSize: 3,
    window: 4,
    span: 13,
    rng: new SeededRandom(1),
  });
  const a = reader.next(), b = reader.next(), c = reader.next(), d = reader.next();
  assertEquals([a.restarted, b.restarted, c.restarted, d.restarted], [[0, 1, 2], [], [], [
    0,
    1,
    2,
  ]]);
  for (let r = 0; r < 3; r++) {
    assertEquals(a.tokens[r * 5 + 4], b.tokens[r * 5], "a window's last token starts the next");
    assertEquals(b.tokens[r * 5 + 4], c.tokens[r * 5]);
  }
  assertEquals(data.decode([a.tokens[0]]), "<doc>");
  // A text whose documents are short for the window reads the stream of them.
  const text = ByteText.fromString("# a\nxy\n# b\nzw\n".repeat(30), { separator: /^# / });
  const stream = new DocumentReader(text, { batchSize: 1, window: 16, rng: new SeededRandom(0) });
  assertEquals(stream.next().tokens.length, 17);
  assertThrows(
    () => new DocumentReader(data, { batchSize: 1, window: 8, span: 8, rng: new SeededRandom(0) }),
    FWLInputError,
    "span",
  );
  assertThrows(
    () =>
      new DocumentReader({ vocabSize: 2 } as unknown as SyntheticLanguage, {
        batchSize: 1,
        window: 2,
        rng: new SeededRandom(0),
      }),
    FWLInputError,
    "trainDocument",
  );
});

Deno.test("one carried state reads a 500 kB document in flat memory", async () => {
  // Bytes of a long text (a repeated paragraph with a counter), read as one document.
  const line = (i: number) => `Line ${i}: the fast weights keep learning as they read. `;
  const window = 2048;
  const all = new TextEncoder().encode(Array.from({ length: 9000 }, (_, i) => line(i)).join(""));
  // Whole windows (a shorter last one would take scratch of other sizes, once).
  const text = all.subarray(0, Math.floor((all.length - 1) / window) * window + 1);
  assert(text.length >= 500_000, `${text.length} bytes`);
  const body = embeddingBody(3, 256, D);
  using lm = await LanguageModel.create(body, { vocabSize: 256, headSize: 4, stepSize: 0.05 });
  const pool = lm.context.pool;
  const held: number[] = [];
  const scores = await lm.scoreDocument(text, {
    window,
    progress: () => held.push(pool.allocatedBytes),
  });
  assertEquals(scores.count, text.length - 1);
  assert(scores.nll.every(Number.isFinite), "every byte scored");
  // After the first windows (pipelines, pooled scratch), nothing more is held.
  const steady = held.slice(2);
  assert(steady.every((b) => b === steady[0]), `pool bytes by window: ${held.join(", ")}`);
  // The state was carried: windows restarted from the slow weights score otherwise.
  const prefix = text.subarray(0, 3 * window + 1);
  const restarted = await lm.scoreDocument(prefix, { window, carryFastWeights: false });
  const later = (a: Float32Array) => a.subarray(window, 3 * window);
  let differ = 0;
  later(restarted.nll).forEach((v, i) =>
    differ = Math.max(differ, Math.abs(v - later(scores.nll)[i]))
  );
  assert(differ > 1e-3, `carried and restarted windows differ by ${differ}`);
});
