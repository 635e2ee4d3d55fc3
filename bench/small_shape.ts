// Medians of the small shape's main calls (B=1, T=1024, D=256, size=128, V=4096, C=8), as
// one JSON line: `block.forward` (fast logits), `block.score`, `lossAndGrads` (every
// gradient read back), a GPU-resident training step (`lossAndGradsGPU` + Adam) and a
// streamed token (predict + read + observe, 16 at a time), in milliseconds. To compare
// two versions, run it in a checkout of each, alternating, several rounds:
//
//   deno run -A --import-map=tests/offline_import_map.json bench/small_shape.ts

import { FWLStream, SeededRandom, tensor } from "../mod.ts";
import { lossAndGrads } from "../gpu.ts";
import { benchBatch, gpuTrainStep, median, SMALL_SHAPE } from "./bench_utils.ts";

const { B, D } = SMALL_SHAPE;
const batch = await benchBatch({ normalizer: 4096 });
const { block, x, ids, weights: w } = batch;
const queue = block.context.device.queue;
const rng = new SeededRandom(2);
const training = gpuTrainStep(batch);
const xs = Array.from(
  { length: 8 },
  () => tensor(new Float32Array(D).map(() => rng.normal()), [B, D]),
);
const next = tensor(new Int32Array([5]), [B]), one = tensor(new Float32Array([1]), [B]);
const stream = new FWLStream(block, B);

const calls: Record<string, () => Promise<unknown>> = {
  forward: async () => {
    const logits = await block.forward(x, ids, w);
    await queue.onSubmittedWorkDone();
    logits.dispose();
  },
  score: () => block.score(x, ids, w),
  lossAndGrads: () => lossAndGrads(block, x, ids, w),
  trainStep: training.step,
  token: async () => {
    const logits = await stream.predict(xs[stream.position % xs.length]);
    await logits.read();
    logits.dispose();
    await stream.observe(next, one);
  },
};
const rounds: Record<string, [number, number]> = {
  forward: [5, 1],
  score: [5, 1],
  lossAndGrads: [3, 1],
  trainStep: [3, 1],
  token: [3, 16],
};
const out: Record<string, number> = {};
for (const [name, fn] of Object.entries(calls)) {
  await fn(); // compile outside the timing
  const [n, per] = rounds[name];
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    for (let j = 0; j < per; j++) await fn();
    times.push((performance.now() - t0) / per);
  }
  out[name] = Number(median(times).toFixed(1));
}
console.log(JSON.stringify(out));
training.dispose();
stream.dispose();
block.dispose();
