// The paper-like shape (B=1, T=4096, D=1024, size=256, V=32000, C=16) in loss-only mode:
// scoring (fast logits made and consumed tile by tile) and one training step
// (lossAndGradsGPU + Adam). Prints time, the largest buffer and the peak of all pooled
// GPU buffers against the device's binding limit: nothing may exceed the limit, and the
// total stays under 512 MiB. The printed times include compiling the kernels; the bench
// rows run each once more, warm. Slow on a CPU adapter (minutes):
//   deno bench -A --import-map=tests/offline_import_map.json bench/paper_shape_bench.ts

import { FWLBlock, PAPER_SHAPE, SeededRandomForBench, tensor } from "./bench_utils.ts";
import { Adam, blockParams } from "../mod.ts";
import { createGradBuffers, lossAndGradsGPU, namedGrads } from "../gpu.ts";

const { B, T, D, SIZE, V, C } = PAPER_SHAPE;
const MiB = 2 ** 20;
const rng = new SeededRandomForBench(3);
const block = new FWLBlock(SIZE, V, C, { seed: 3 });
await block.build(D);
const ctx = block.context;
const x = tensor(new Float32Array(B * T * D).map(() => rng.normal()), [B, T, D]);
const ids = tensor(new Int32Array(B * T).map(() => Math.floor(rng.uniform() * V)), [B, T]);
const weights = tensor(new Float32Array(B * T).fill(1), [B, T]);

// Track the largest buffer the pool hands out.
let largest = 0;
const acquire = ctx.pool.acquire.bind(ctx.pool);
ctx.pool.acquire = (bytes: number, usage?: number) => {
  largest = Math.max(largest, bytes);
  return acquire(bytes, usage);
};

function report(what: string, seconds: number): void {
  console.log(
    `${what}: ${seconds.toFixed(1)} s (${(B * T / seconds).toFixed(0)} tokens/s); ` +
      `largest buffer ${(largest / MiB).toFixed(1)} MiB (binding limit ` +
      `${(ctx.maxBindingBytes / MiB).toFixed(0)} MiB); peak of all pooled buffers ` +
      `${(ctx.pool.peakBytes / MiB).toFixed(1)} MiB`,
  );
}

console.log(`adapter: ${ctx.adapter}; B=${B} T=${T} D=${D} size=${SIZE} V=${V} C=${C}`);
let t0 = performance.now();
const { loss } = await block.score(x, ids, weights);
report(`score (loss ${loss.toFixed(3)})`, (performance.now() - t0) / 1000);

const grads = createGradBuffers(block);
const opt = new Adam(ctx, blockParams(block), { lr: 1e-4 });
/** One training step: gradients on the GPU, an Adam step; returns the loss read back. */
async function trainStep(): Promise<number> {
  const r = await lossAndGradsGPU(block, x, ids, weights, { gradBuffers: grads });
  await opt.step(namedGrads(grads));
  const [loss] = await r.loss!.read();
  r.loss!.dispose();
  r.dx.dispose();
  return loss;
}
t0 = performance.now();
const trainLoss = await trainStep();
report(`training step (loss ${trainLoss.toFixed(3)})`, (performance.now() - t0) / 1000);

Deno.bench({
  name: `score, paper-like shape B=${B} T=${T} D=${D} size=${SIZE} V=${V} C=${C}`,
  n: 1,
  warmup: 0,
  async fn() {
    await block.score(x, ids, weights);
  },
});

Deno.bench({
  name: `training step, paper-like shape B=${B} T=${T} D=${D} size=${SIZE} V=${V} C=${C}`,
  n: 1,
  warmup: 0,
  async fn() {
    await trainStep();
  },
});
