// Forward throughput of FWLBlock at B=1, T=1024, D=256, size=128, V=4096, C=8.
// `deno task bench` runs it; the README quotes the figure with the adapter it came from.

import { FWLBlock, SeededRandomForBench, tensor } from "./bench_utils.ts";

const [B, T, D, SIZE, V, C] = [1, 1024, 256, 128, 4096, 8];
const rng = new SeededRandomForBench(1);
const block = new FWLBlock(SIZE, V, C, { seed: 1 });
await block.build(D);
const x = tensor(new Float32Array(B * T * D).map(() => rng.normal()), [B, T, D]);
const ids = tensor(new Int32Array(B * T).map(() => Math.floor(rng.uniform() * V)), [B, T]);
const weights = tensor(new Float32Array(B * T).fill(1), [B, T]);

async function forwardOnce(): Promise<void> {
  const logits = await block.forward(x, ids, weights);
  // Wait for the GPU: reading one row back would also work, this waits for everything.
  await block.context.device.queue.onSubmittedWorkDone();
  logits.dispose();
}

await forwardOnce(); // compile the pipelines outside the timing
console.log(`adapter: ${block.context.adapter}; ${B * T} tokens per forward`);

Deno.bench({
  name: `forward B=${B} T=${T} D=${D} size=${SIZE} V=${V} C=${C}`,
  n: 5,
  warmup: 1,
  async fn() {
    await forwardOnce();
  },
});
