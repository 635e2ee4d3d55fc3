// A transformer body + FWL head at T = 4096 (the paper's document length) and a small
// width: one training step (`LanguageModel.trainStep` with Adam, the body trained too) and
// generation of all 4096 positions from a one-token prompt (the body's key/value cache).
// Attention keeps no [T, T] scores, so memory grows linearly with T. Prints seconds per
// step, ms per generated token (all of them, and the last 256, whose attention reads the
// longest caches) and the peak of all pooled GPU buffers. The step's CPU seconds (this
// process, the CPU adapter's threads included) are printed too: on a shared machine they
// vary less than the wall clock.
//
//   deno bench -A --import-map=tests/offline_import_map.json bench/transformer_long_bench.ts

import process from "node:process";
import { Adam, LanguageModel, SeededRandom, tensor, TransformerBody } from "../mod.ts";

const [T, V, D, LAYERS, HEADS, HEAD_SIZE] = [4096, 256, 64, 2, 4, 32];
const MiB = 2 ** 20;

const body = await TransformerBody.create({
  vocabSize: V,
  hiddenSize: D,
  layers: LAYERS,
  heads: HEADS,
  maxLength: T,
  seed: 1,
});
const lm = await LanguageModel.create(body, { vocabSize: V, headSize: HEAD_SIZE, seed: 1 });
const ctx = lm.context;
const opt = new Adam(ctx, lm.parameters(), { lr: 1e-4 });
const rng = new SeededRandom(2);
const tokens = tensor(new Int32Array(T).map(() => Math.floor(rng.uniform() * V)), [1, T]);

const shape = `T=${T} V=${V} D=${D} layers=${LAYERS} heads=${HEADS} head size=${HEAD_SIZE}`;
const peak = () => `peak of all pooled buffers ${(ctx.pool.peakBytes / MiB).toFixed(1)} MiB`;
console.log(`adapter: ${ctx.adapter}; transformer + FWL head, ${shape}`);

/** CPU seconds of this process so far. */
function cpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

// The first step compiles every pipeline; the second is the one timed.
await lm.trainStep(tokens, opt);
let t0 = performance.now();
const cpu0 = cpuSeconds();
const { loss } = await lm.trainStep(tokens, opt);
const stepSeconds = (performance.now() - t0) / 1000;
console.log(
  `training step (loss ${loss.toFixed(3)}): ${stepSeconds.toFixed(2)} s ` +
    `(${(cpuSeconds() - cpu0).toFixed(2)} s CPU); ${peak()}`,
);

const LAST = 256;
const times: number[] = [];
t0 = performance.now();
for await (const _ of lm.generate([1], { maxTokens: T, seed: 3 })) times.push(performance.now());
const total = (times.at(-1)! - t0) / times.length;
const tail = (times.at(-1)! - times.at(-1 - LAST)!) / LAST;
console.log(
  `generation of ${times.length} tokens: ${total.toFixed(1)} ms/token (last ${LAST}: ` +
    `${tail.toFixed(1)} ms/token); ${peak()}`,
);

Deno.bench({
  name: `transformer + FWL head training step, ${shape}`,
  n: 1,
  warmup: 0,
  async fn() {
    await lm.trainStep(tokens, opt);
  },
});
