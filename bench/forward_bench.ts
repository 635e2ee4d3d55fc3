// Forward throughput of FWLBlock at B=1, T=1024, D=256, size=128, V=4096, C=8, against
// the plain head (same slow weights and kernels, no fast-weight update) to show the
// FWL's overhead, and loss-only scoring. `deno task bench` runs it; the README quotes the
// figures with the adapter they came from.

import { FWLBlock, SeededRandomForBench, tensor } from "./bench_utils.ts";

const [B, T, D, SIZE, V, C] = [1, 1024, 256, 128, 4096, 8];
const rng = new SeededRandomForBench(1);
const block = new FWLBlock(SIZE, V, C, { seed: 1 });
await block.build(D);
const x = tensor(new Float32Array(B * T * D).map(() => rng.normal()), [B, T, D]);
const ids = tensor(new Int32Array(B * T).map(() => Math.floor(rng.uniform() * V)), [B, T]);
const weights = tensor(new Float32Array(B * T).fill(1), [B, T]);

async function forwardOnce(fastWeights: boolean): Promise<void> {
  const logits = await block.forward(x, ids, weights, { fastWeights });
  await block.context.device.queue.onSubmittedWorkDone();
  logits.dispose();
}

// Compile the pipelines outside the timing.
await forwardOnce(true);
await forwardOnce(false);
await block.score(x, ids, weights);
console.log(`adapter: ${block.context.adapter}; ${B * T} tokens per call`);

const shape = `B=${B} T=${T} D=${D} size=${SIZE} V=${V} C=${C}`;
Deno.bench({
  name: `FWL forward (fast logits) ${shape}`,
  group: "forward",
  baseline: true,
  n: 5,
  warmup: 1,
  async fn() {
    await forwardOnce(true);
  },
});
Deno.bench({
  name: `plain head forward (no update) ${shape}`,
  group: "forward",
  n: 5,
  warmup: 1,
  async fn() {
    await forwardOnce(false);
  },
});
Deno.bench({
  name: `FWL score (loss only, no [B,T,V]) ${shape}`,
  group: "forward",
  n: 5,
  warmup: 1,
  async fn() {
    await block.score(x, ids, weights);
  },
});
