// Forward, backward (BPTT) and one generation step of the LSTM body at the example's
// shape: B = 8, T = 64, V = 200, E = 64, H = 128, one layer.
//
//   deno bench -A --import-map=tests/offline_import_map.json bench/lstm_bench.ts

import { LSTMBody } from "../src/bodies/lstm.ts";
import { SeededRandom } from "../src/util/random.ts";
import { tensor } from "../src/tensor.ts";

const B = 8, T = 64, V = 200, E = 64, H = 128;

const body = await LSTMBody.create({ vocabSize: V, embedSize: E, hiddenSize: H });
const queue = body.context.device.queue;
const rng = new SeededRandom(1);
const tokens = tensor(
  new Int32Array(B * T).map(() => Math.floor(rng.uniform() * V)),
  [B, T],
);
const dHidden = tensor(new Float32Array(B * T * H).map(() => rng.normal()), [B, T, H]);
const state = body.initState(B);
const stepIds = tensor(new Int32Array(B).fill(3), [B]);
// Warm up: compile every pipeline once.
(await body.forward(tokens)).dispose();
await body.backward(dHidden);
(await body.step(stepIds, state)).dispose();

Deno.bench("LSTMBody forward B=8 T=64 E=64 H=128", async () => {
  (await body.forward(tokens)).dispose();
  await queue.onSubmittedWorkDone();
});

Deno.bench("LSTMBody backward B=8 T=64 E=64 H=128", async (b) => {
  (await body.forward(tokens)).dispose();
  await queue.onSubmittedWorkDone();
  b.start();
  await body.backward(dHidden);
  await queue.onSubmittedWorkDone();
  b.end();
});

Deno.bench("LSTMBody forward + backward B=8 T=64 E=64 H=128", async () => {
  (await body.forward(tokens)).dispose();
  await body.backward(dHidden);
  await queue.onSubmittedWorkDone();
});

Deno.bench("LSTMBody step B=8 H=128", async () => {
  (await body.step(stepIds, state)).dispose();
  await queue.onSubmittedWorkDone();
});
