// The FWL head at the small shape (B=1, T=1024, D=256, size=128, V=4096, C=8): the forward
// (fast logits) and `lossAndGrads` (host API), each timed FWL_ROUNDS times (default 7)
// after a compiling call; prints the medians (wall, and this process's CPU time, which
// other processes disturb less) as JSON on the last line, so that two trees
// can be compared by alternating processes:
//
//   deno run -A --import-map=tests/offline_import_map.json bench/matmul_head_bench.ts

import { cpuMs, FWLBlock, median, SeededRandomForBench, tensor } from "./bench_utils.ts";
import { lossAndGrads } from "../gpu.ts";

const [B, T, D, SIZE, V, C] = [1, 1024, 256, 128, 4096, 8];
const ROUNDS = Number(Deno.env.get("FWL_ROUNDS") ?? 7);
const rng = new SeededRandomForBench(1);
const block = new FWLBlock(SIZE, V, C, { seed: 1 });
await block.build(D);
const x = tensor(new Float32Array(B * T * D).map(() => rng.normal()), [B, T, D]);
const ids = tensor(new Int32Array(B * T).map(() => Math.floor(rng.uniform() * V)), [B, T]);
const hostWeights = new Float32Array(B * T).fill(1);
hostWeights[T - 1] = 0;
const weights = tensor(hostWeights, [B, T]);

async function forward(): Promise<void> {
  const logits = await block.forward(x, ids, weights);
  await block.context.device.queue.onSubmittedWorkDone();
  logits.dispose();
}

async function train(): Promise<void> {
  await lossAndGrads(block, x, ids, weights);
}

await forward();
await train();
const f: number[] = [], t: number[] = [], fc: number[] = [], tc: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  let t0 = performance.now(), c0 = cpuMs();
  await forward();
  f.push(performance.now() - t0);
  fc.push(cpuMs() - c0);
  t0 = performance.now(), c0 = cpuMs();
  await train();
  t.push(performance.now() - t0);
  tc.push(cpuMs() - c0);
}
console.log(JSON.stringify({
  forwardMs: Math.round(median(f)),
  lossAndGradsMs: Math.round(median(t)),
  forwardCpuMs: median(fc),
  lossAndGradsCpuMs: median(tc),
}));
