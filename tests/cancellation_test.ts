// Tests of cancellation with an AbortSignal outside generation (generation's are in
// generate_test.ts): scoreDocument and dynamicEvaluate stopped between windows, trainStep
// and the head's calls stopped before they start — each rejects with the signal's reason,
// leaves the model scoring exactly as before, and keeps memory flat.

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Adam } from "../src/optim/adam.ts";
import { LSTMBody } from "../src/bodies/lstm.ts";
import { FWLInputError } from "../src/errors.ts";
import { LanguageModel } from "../src/lm/language_model.ts";
import { tensor } from "../src/tensor.ts";

const V = 23;

async function model(): Promise<LanguageModel> {
  const body = await LSTMBody.create({ vocabSize: V, embedSize: 8, hiddenSize: 8, seed: 1 });
  return await LanguageModel.create(body, { vocabSize: V, headSize: 4, stepSize: 0.5, seed: 2 });
}

const DOC = Int32Array.from({ length: 200 }, (_, i) => (i * i + 3 * i) % V);
const BATCH = tensor(Int32Array.from({ length: 2 * 17 }, (_, i) => (i * 5) % V), [2, 17]);

Deno.test("scoreDocument and dynamicEvaluate stop between windows and leave the model as it was", async () => {
  using lm = await model();
  const before = await lm.score(BATCH);
  const pool = lm.context.pool;
  const stopAfter = (windows: number) => {
    const stop = new AbortController();
    let seen = 0;
    const progress = () => {
      if (++seen === windows) stop.abort(new Error(`stopped after ${windows}`));
    };
    return { signal: stop.signal, progress, windows: () => seen };
  };
  let bytes = -1;
  for (let i = 0; i < 12; i++) {
    const k = 1 + (i % 3);
    const a = stopAfter(k);
    await assertRejects(
      () => lm.scoreDocument(DOC, { window: 48, signal: a.signal, progress: a.progress }),
      Error,
      `stopped after ${k}`,
    );
    assertEquals(a.windows(), k, "no window after the abort");
    const b = stopAfter(k);
    await assertRejects(
      () =>
        lm.dynamicEvaluate(DOC, {
          lr: 0.05,
          segment: 32,
          method: "sgd",
          signal: b.signal,
          progress: b.progress,
        }),
      Error,
      `stopped after ${k}`,
    );
    assertEquals(b.windows(), k);
    if (i === 2) bytes = pool.allocatedBytes;
  }
  assertEquals(pool.allocatedBytes, bytes, "memory is flat over aborted calls");
  const after = await lm.score(BATCH);
  assertEquals(after.loss, before.loss, "the trained weights are restored");
  // already aborted: nothing runs
  await assertRejects(
    () => lm.scoreDocument(DOC, { signal: AbortSignal.abort() }),
    DOMException,
  );
  await assertRejects(
    () => lm.scoreDocument(DOC, { signal: "stop" as unknown as AbortSignal }),
    FWLInputError,
    "AbortSignal",
  );
});

Deno.test("trainStep and the head's calls reject an aborted signal and change nothing", async () => {
  using lm = await model();
  const opt = new Adam(lm.context, lm.parameters(), { lr: 0.01 });
  try {
    const before = await lm.score(BATCH);
    const reason = new Error("stop");
    const signal = AbortSignal.abort(reason);
    await assertRejects(() => lm.trainStep(BATCH, opt, { signal }), Error, "stop");
    using state = lm.documentState(2);
    await assertRejects(() => lm.trainStep(BATCH, opt, { state, signal }), Error, "stop");
    assertEquals(state.position, 0);
    assertEquals((await lm.score(BATCH)).loss, before.loss, "no update");
    const x = tensor(new Float32Array(2 * 3 * 8).fill(0.1), [2, 3, 8]);
    const ids = tensor(new Int32Array(6).fill(1), [2, 3]);
    const w = tensor(new Float32Array(6).fill(1), [2, 3]);
    await assertRejects(() => lm.head.score(x, ids, w, { signal }), Error, "stop");
    await assertRejects(() => lm.head.forward(x, ids, w, { signal }), Error, "stop");
    // a live signal changes nothing
    const live = new AbortController().signal;
    await lm.trainStep(BATCH, opt, { signal: live });
    assertThrows(
      () => lm.generate([1], { signal: {} as AbortSignal }),
      FWLInputError,
      "AbortSignal",
    );
  } finally {
    opt.dispose();
  }
});
