// Tests of LanguageModel.scoreDocument (fast weights carried window by window) and
// LanguageModel.dynamicEvaluate (Krause et al., 2018): documents in windows equal one
// long call; one SGD step of dynamic evaluation equals lossAndGrads plus a hand-written
// update; the trained weights come back; on repetitive text adaptation lowers the loss.

import { assert, assertEquals, assertRejects } from "@std/assert";
import type { ModelBody } from "../src/bodies/model_body.ts";
import { LSTMBody } from "../src/bodies/lstm.ts";
import { FWLInputError, FWLStateError } from "../src/errors.ts";
import { STEP_NAMES } from "../src/fwl/params.ts";
import { LanguageModel } from "../src/lm/language_model.ts";
import { SeededRandom } from "../src/util/random.ts";
import { type Tensor, tensor } from "../src/tensor.ts";
import { assertClose, embeddingBody, maxAbsDiff } from "./helpers.ts";

const V = 17, D = 6, N = 8;

async function model(body: ModelBody, fastWeights = true, stepSize = 0.5, headSize = 4) {
  return await LanguageModel.create(body, {
    vocabSize: V,
    headSize,
    attnChunks: 2,
    normalizer: N,
    stepSize,
    fastWeights,
    seed: 5,
  });
}

function randomIds(n: number, seed: number): Int32Array {
  const rng = new SeededRandom(seed);
  return Int32Array.from({ length: n }, () => Math.floor(rng.uniform() * V));
}

Deno.test("scoreDocument: windows with the carried state equal one long call", async () => {
  const ids = randomIds(41, 1);
  for (const fastWeights of [true, false]) {
    const lm = await model(embeddingBody(2, V, D), fastWeights);
    const whole = await lm.score(tensor(ids, [1, ids.length]));
    for (const [window, context] of [[40, 0], [1, 0], [7, 0], [11, 3], [64, 0]]) {
      const doc = await lm.scoreDocument(ids, { window, context });
      assertEquals(doc.shape, [1, 40]);
      assertEquals(doc.targets, ids.slice(1));
      assertClose(doc.nll, whole.nll, 2e-4, `fast ${fastWeights}, window ${window}`);
      assertClose([doc.loss], [whole.loss], 1e-5, "loss");
    }
    lm.dispose();
  }
});

Deno.test("scoreDocument without carried fast weights: each window on its own; progress", async () => {
  const ids = randomIds(41, 3);
  const lm = await model(embeddingBody(2, V, D));
  const calls: [number, number][] = [];
  const doc = await lm.scoreDocument(ids, {
    window: 7,
    carryFastWeights: false,
    progress: (scored, total) => calls.push([scored, total]),
  });
  assertEquals(calls, [7, 14, 21, 28, 35, 40].map((s) => [s, 40]));
  for (let t0 = 0; t0 < 40; t0 += 7) {
    const end = Math.min(40, t0 + 7);
    const alone = await lm.score(tensor(ids.slice(t0, end + 1), [1, end + 1 - t0]));
    assertClose(doc.nll.subarray(t0, end), alone.nll, 2e-4, `window at ${t0}`);
  }
  // Carried, later windows differ: their fast weights have learned from the earlier ones.
  const carried = await lm.scoreDocument(ids, { window: 7 });
  assertClose(carried.nll.subarray(0, 7), doc.nll.subarray(0, 7), 2e-4, "first window");
  assert(maxAbsDiff(carried.nll, doc.nll) > 1e-3, "the carried state shows");
  // With a normalizer of its own, a window starts from a fresh state of that normalizer.
  const own = await lm.scoreDocument(ids, { window: 7, carryFastWeights: false, normalizer: N });
  assertClose(own.nll, doc.nll, 2e-4, "explicit normalizer");
  const dyn = await lm.dynamicEvaluate(ids, { lr: 0.1, segment: 7, carryFastWeights: false });
  assertClose(dyn.nll.subarray(0, 7), doc.nll.subarray(0, 7), 2e-4, "dynamic: first segment");
  lm.dispose();
});

Deno.test("scoreDocument: an LSTM carries its state too; other bodies re-read context", async () => {
  const body = await LSTMBody.create({ vocabSize: V, embedSize: 5, hiddenSize: D, seed: 3 });
  const lm = await model(body);
  const ids = randomIds(30, 4);
  const whole = await lm.score(tensor(ids, [1, 30]));
  for (const window of [1, 8, 29]) {
    const doc = await lm.scoreDocument(ids, { window });
    assertClose(doc.nll, whole.nll, 2e-4, `LSTM, window ${window}`);
  }
  // The same LSTM seen through forward only: its state restarts at each window.
  const forwardOnly = { hiddenSize: D, forward: (t: Tensor<"int32">) => body.forward(t) };
  const lm2 = new LanguageModel(forwardOnly, lm.head);
  const windowed = await lm2.scoreDocument(ids, { window: 8 });
  assertClose(windowed.nll.subarray(0, 8), whole.nll.subarray(0, 8), 2e-4, "first window");
  assert(maxAbsDiff(windowed.nll, whole.nll) > 1e-3, "the restarts show");
  // The body in pieces side by side (with context) under larger head windows: the scores
  // of windows of the pieces' length, the head's state carried the same.
  // A decaying running mean too: re-read context is no position of the document.
  const decaying = await LanguageModel.create(forwardOnly, {
    vocabSize: V,
    headSize: 4,
    normalizer: { decay: 0.8, prior: 1 },
    stepSize: 0.5,
  });
  for (const m of [lm2, decaying]) {
    for (const [window, context] of [[8, 0], [8, 3]]) {
      const small = await m.scoreDocument(ids, { window, context });
      for (const big of [16, 29, 64]) {
        const pieces = await m.scoreDocument(ids, { window: big, bodyWindow: window, context });
        assertClose(pieces.nll, small.nll, 2e-4, `head windows of ${big}, pieces of ${window}`);
      }
    }
  }
  decaying.head.dispose();
  await assertRejects(() => lm2.scoreDocument(ids, { bodyWindow: 0 }), FWLInputError, "bodyWindow");
  // forwardFrom's state: this body's, of the batch's size, live.
  const two = body.initState(2);
  await assertRejects(() => body.forwardFrom(tensor(ids, [1, 30]), two), FWLInputError, "tokens");
  two.dispose();
  await assertRejects(() => body.forwardFrom(tensor(ids, [1, 30]), two), FWLStateError, "disposed");
  await assertRejects(() => body.forwardFrom(tensor(ids, [1, 30]), {} as never), FWLInputError);
  // Memory: twice as long a document (windows of the same shapes) takes no more.
  const doc = (n: number) => Int32Array.from({ length: 8 * n + 1 }, (_, i) => ids[i % 30]);
  const run = async (n: number) => {
    await lm.scoreDocument(doc(n), { window: 8, context: 4 });
    await lm.dynamicEvaluate(doc(n), {
      segment: 8,
      context: 4,
      lr: 0.1,
      method: "rms",
      decay: 0.1,
    });
  };
  await run(5);
  const pool = lm.context.pool, before = pool.allocatedBytes;
  await run(10);
  assertEquals(pool.allocatedBytes, before);
  assertClose(windowed.nll.subarray(0, 8), whole.nll.subarray(0, 8), 2e-4, "first window");
  lm.dispose();
});

Deno.test("dynamicEvaluate: one SGD step equals lossAndGrads and a hand update; weights restored", async () => {
  const body = embeddingBody(6, V, D);
  const lm = await model(body, true, 0.3);
  const head = lm.head;
  const trained = await head.getParams();
  const ids = randomIds(17, 7), L = 8, lr = 0.2;
  const dyn = await lm.dynamicEvaluate(ids, { segment: L, lr });
  assertEquals(await head.getParams(), trained, "the trained weights are back");

  // By hand: segment 1 under the trained weights, carrying the fast-weight state...
  const part = (t0: number) => {
    const t = ids.slice(t0, t0 + L + 1);
    const labels = Int32Array.from(t.subarray(1));
    return [
      tensor(body.rows(t), [1, L + 1, D]),
      tensor(Int32Array.of(...labels, -1), [1, L + 1]),
      tensor(Float32Array.from({ length: L + 1 }, (_, i) => i < L ? 1 : 0), [1, L + 1]),
    ] as const;
  };
  using state = head.state(1);
  const first = (await head.score(...part(0), { state })).nll.subarray(0, L);
  // ...then θ −= lr·∇(mean loss of segment 1) but for the step sizes, then segment 2 with the adapted weights.
  const { grads } = await head.lossAndGrads(...part(0));
  const adapted: Record<string, Float32Array> = {};
  for (const [name, p] of Object.entries(trained)) {
    // The step sizes are not adapted.
    adapted[name] = name.endsWith("_step") ? p : p.map((v, i) => v - lr * grads[name][i]);
  }
  await head.setParams(adapted);
  using kept = state.clone();
  const second = (await head.score(...part(L), { state })).nll.subarray(0, L);
  await head.setParams(trained);
  const unadapted = (await head.score(...part(L), { state: kept })).nll.subarray(0, L);
  assert(maxAbsDiff(second, unadapted) > 0.02, "the step matters");
  assertClose(dyn.nll.subarray(0, L), first, 2e-4, "segment 1");
  assertClose(dyn.nll.subarray(L), second, 2e-4, "segment 2");
  // With decay 1 every step is undone: static scoring, window = segment.
  const undone = await lm.dynamicEvaluate(ids, { segment: L, lr, decay: 1 });
  const plain = await lm.scoreDocument(ids, { window: L });
  assertClose(undone.nll, plain.nll, 2e-4, "decay 1");
  lm.dispose();
});

Deno.test("dynamicEvaluate lowers the loss on repetitive text, plain and FWL, SGD and RMS", async () => {
  const rng = new SeededRandom(9);
  const phrase = Array.from({ length: 10 }, () => Math.floor(rng.uniform() * V));
  const ids = Int32Array.from({ length: 300 }, (_, i) => phrase[i % 10]);
  for (const fastWeights of [false, true]) {
    const body = await LSTMBody.create({ vocabSize: V, embedSize: 8, hiddenSize: 16, seed: 2 });
    const lm = await model(body, fastWeights, 0.05, 8);
    const trained = await lm.head.getParams();
    const bodyTrained = await body.getParams();
    const stat = await lm.scoreDocument(ids, { window: 20, context: 10 });
    for (const method of ["sgd", "rms"] as const) {
      const lr = method === "sgd" ? 1 : 0.1;
      const dyn = await lm.dynamicEvaluate(ids, { segment: 20, context: 10, lr, method });
      assert(
        dyn.loss < 0.9 * stat.loss,
        `fast ${fastWeights}, ${method}: dynamic ${dyn.loss} vs static ${stat.loss}`,
      );
    }
    assertEquals(await lm.head.getParams(), trained);
    assertEquals(await body.getParams(), bodyTrained);
    if (!fastWeights) {
      const steps = await lm.head.getParams();
      for (const name of STEP_NAMES) assertEquals(steps[name][0], 0);
    }
    lm.dispose();
  }
});

Deno.test("scoreDocument and dynamicEvaluate check their inputs", async () => {
  const lm = await model(embeddingBody(1, V, D));
  const ids = randomIds(10, 2);
  const bad: [string, () => Promise<unknown>][] = [
    ["tokens", () => lm.scoreDocument([3])],
    ["tokens", () => lm.scoreDocument([3, V])],
    ["tokens", () => lm.scoreDocument(null as unknown as number[])],
    ["window", () => lm.scoreDocument(ids, { window: 0 })],
    ["context", () => lm.scoreDocument(ids, { context: -1 })],
    ["normalizer", () => lm.scoreDocument(ids, { normalizer: 0 })],
    ["carryFastWeights", () => lm.scoreDocument(ids, { carryFastWeights: 1 as never })],
    ["progress", () => lm.scoreDocument(ids, { progress: "bar" as never })],
    ["lr", () => lm.dynamicEvaluate(ids, {} as { lr: number })],
    ["lr", () => lm.dynamicEvaluate(ids, { lr: -1 })],
    ["segment", () => lm.dynamicEvaluate(ids, { lr: 1, segment: 1.5 })],
    ["method", () => lm.dynamicEvaluate(ids, { lr: 1, method: "adam" as "sgd" })],
    ["decay", () => lm.dynamicEvaluate(ids, { lr: 1, decay: 2 })],
    ["beta2", () => lm.dynamicEvaluate(ids, { lr: 1, method: "rms", beta2: 1 })],
  ];
  for (const [what, call] of bad) await assertRejects(call, FWLInputError, what);
  const batch = await LanguageModel.create(embeddingBody(1, V, D), {
    vocabSize: V,
    normalizer: "batch",
  });
  await assertRejects(() => batch.scoreDocument(ids), FWLInputError, "normalizer");
  assert((await batch.scoreDocument(ids, { normalizer: 4 })).nll.every(Number.isFinite));
  batch.dispose();
  lm.dispose();
});
