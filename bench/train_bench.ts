// Training throughput of FWLBlock at the forward benchmark's shape: B=1, T=1024, D=256,
// size=128, V=4096, C=8.
//
// - `lossAndGrads`: the host API (forward, backward through the update, every gradient
//   and dL/dx read back to the host).
// - one optimizer step: `lossAndGradsGPU` into reused gradient buffers + one `Adam` step
//   over `blockParams`, inputs already on the GPU (`checkValues: false`, as a training
//   loop whose hidden states come from a GPU body would run it), then waiting for the
//   GPU. Nothing is read back.
//
//   deno bench -A --import-map=tests/offline_import_map.json bench/train_bench.ts
//
// Before the `Deno.bench` runs it prints tokens/s from its own interleaved timing
// (median of ROUNDS), which the README quotes with the adapter.

import { benchBatch, gpuTrainStep, median, SMALL_SHAPE } from "./bench_utils.ts";
import { lossAndGrads } from "../gpu.ts";

const { B, T, D, SIZE, V, C } = SMALL_SHAPE;
const TOKENS = B * T;
const ROUNDS = 5;

const batch = await benchBatch();
const { block, x, ids, weights } = batch;
const ctx = block.context;
const queue = ctx.device.queue;
const training = gpuTrainStep(batch);

/** The host API: loss and all gradients read back. */
async function hostLossAndGrads(): Promise<number> {
  const { loss } = await lossAndGrads(block, x, ids, weights);
  return loss;
}

const optimizerStep = training.step;

// Compile every pipeline outside the timing.
const firstLoss = await hostLossAndGrads();
await optimizerStep();

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  await queue.onSubmittedWorkDone();
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

// Interleaved, so that load from other processes hits both alike.
const hostTimes: number[] = [];
const stepTimes: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  hostTimes.push(await seconds(hostLossAndGrads));
  stepTimes.push(await seconds(optimizerStep));
}
const [hostS, stepS] = [median(hostTimes), median(stepTimes)];
console.log(`adapter: ${ctx.adapter}; ${TOKENS} tokens per call; loss ${firstLoss.toFixed(4)}`);
console.log(
  `lossAndGrads (host API, with readback): median ${hostS.toFixed(2)} s ≈ ` +
    `${Math.round(TOKENS / hostS)} tokens/s (runs: ${hostTimes.map((s) => s.toFixed(2))})`,
);
console.log(
  `optimizer step (lossAndGradsGPU + Adam, GPU-resident): median ${stepS.toFixed(2)} s ≈ ` +
    `${Math.round(TOKENS / stepS)} tokens/s (runs: ${stepTimes.map((s) => s.toFixed(2))})`,
);

const shape = `B=${B} T=${T} D=${D} size=${SIZE} V=${V} C=${C}`;
Deno.bench({
  name: `lossAndGrads (host API, with readback) ${shape}`,
  group: "training",
  n: 3,
  warmup: 0,
  async fn() {
    await hostLossAndGrads();
  },
});
Deno.bench({
  name: `optimizer step (lossAndGradsGPU + Adam) ${shape}`,
  group: "training",
  n: 3,
  warmup: 0,
  async fn() {
    await optimizerStep();
  },
});
