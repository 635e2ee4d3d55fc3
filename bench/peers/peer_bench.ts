// Our FWLBlock.forward against the tfjs-webgpu peer (bench/peers/tfjs_fwl.ts) at
// B=1, T=1024, D=256, size=128, V=4096, C=8: both compute the full fast logits [B,T,V] with
// the same parameters, on the same adapter, in the same process.
//
//   deno bench -A --config=bench/peers/deno.json --import-map=tests/offline_import_map.json bench/peers/peer_bench.ts
//
// Before timing, the peer's logits are compared with ours (step sizes 0.5, so the fast
// update matters). Then an alternating measurement (ours and the peer one after the
// other in every round, FWL_PEER_ROUNDS rounds, default 5) prints medians and the median
// ratio, and Deno.bench times both in one group with ours as the baseline. Every timed
// call waits for its GPU work by reading the first four logits back.

import { FWLBlock, SeededRandomForBench, tensor } from "../bench_utils.ts";
import { createGradBuffers, lossAndGradsGPU, readBytes, STEP_NAMES } from "../../gpu.ts";
import { alternate } from "./alternate.ts";
import { peerFastLogits, peerLossAndGrads, peerParams, tf, usePeerBackend } from "./tfjs_fwl.ts";

const [B, T, D, SIZE, V, C] = [1, 1024, 256, 128, 4096, 8];
const ROUNDS = Number(Deno.env.get("FWL_PEER_ROUNDS") ?? 5);

const rng = new SeededRandomForBench(1);
const xData = new Float32Array(B * T * D).map(() => rng.normal());
const idData = new Int32Array(B * T).map(() => Math.floor(rng.uniform() * V));
const wData = new Float32Array(B * T).fill(1);

const block = new FWLBlock(SIZE, V, C, { seed: 1 });
await block.build(D);
const params = await block.getParams();
for (const name of STEP_NAMES) params[name] = new Float32Array([0.5]);
await block.setParams(params);
const x = tensor(xData, [B, T, D]);
const ids = tensor(idData, [B, T]);
const weights = tensor(wData, [B, T]);

const peerAdapter = await usePeerBackend("webgpu");
const p = peerParams(params, { inputSize: D, size: SIZE, vocabSize: V });
const px = tf.tensor3d(xData, [B, T, D]);
const pids = tf.tensor2d(idData, [B, T], "int32");
const pw = tf.tensor2d(wData, [B, T]);

/** Our forward; waits by reading the first four logits back. */
async function ours(): Promise<void> {
  const logits = await block.forward(x, ids, weights);
  await readBytes(block.context, logits.gpuBuffer(block.context)!, 16);
  logits.dispose();
}

/** The peer's forward; waits by reading the first four logits back. */
async function peer(): Promise<void> {
  const logits = peerFastLogits(p, px, pids, pw, { chunks: C });
  const head = tf.slice(logits, [0, 0, 0], [1, 1, 4]);
  await head.data();
  tf.dispose([head, logits]);
}

// Compile both outside the timing, and check that both compute the same logits.
{
  const a = await block.forward(x, ids, weights);
  const b = peerFastLogits(p, px, pids, pw, { chunks: C });
  const [ra, rb] = [await a.read(), await b.data()];
  let worst = 0;
  for (let i = 0; i < ra.length; i++) {
    worst = Math.max(worst, Math.abs(ra[i] - rb[i]) / (1 + Math.abs(ra[i])));
  }
  a.dispose();
  b.dispose();
  console.log(
    `ours: ${block.context.adapter}; peer: tfjs 4.22.0 ${peerAdapter}\n` +
      `shape B=${B} T=${T} D=${D} size=${SIZE} V=${V} C=${C}; ` +
      `max |ours − peer| / (1 + |ours|) over the ${ra.length} logits: ${worst.toExponential(2)}`,
  );
  if (!(worst <= 1e-3)) throw new Error("the peer disagrees with ours: timings would mean nothing");
}

const t = await alternate(ROUNDS, ours, peer);
console.log(
  `alternating, ${ROUNDS} rounds: ours ${t.ours.toFixed(0)} ms, tfjs-webgpu ${
    t.peer.toFixed(0)
  } ms (medians); peer / ours = ${t.ratio.toFixed(2)}×\n  rounds [ours, peer] ms: ${
    t.rounds.map(([o, q]) => `[${o.toFixed(0)}, ${q.toFixed(0)}]`).join(" ")
  }`,
);

const name = `forward B=${B} T=${T} D=${D} size=${SIZE} V=${V} C=${C}`;
Deno.bench({
  name: `ours: ${name}`,
  group: "fwl forward",
  baseline: true,
  n: 3,
  warmup: 1,
  fn: ours,
});
Deno.bench({ name: `tfjs-webgpu: ${name}`, group: "fwl forward", n: 3, warmup: 1, fn: peer });

// lossAndGrads: ours (hand-written backward, gradients left in reused GPU buffers) against
// the peer's tf.grads through its differentiable inner backward. Each waits for the loss.
const gradBuffers = createGradBuffers(block);
async function oursGrads(): Promise<void> {
  const { loss, dx } = await lossAndGradsGPU(block, x, ids, weights, { gradBuffers });
  await loss!.read();
  loss!.dispose();
  dx.dispose();
}
async function peerGrads(): Promise<void> {
  const { loss, grads } = peerLossAndGrads(p, px, pids, pw, { chunks: C });
  await loss.data();
  tf.dispose([loss, ...Object.values(grads)]);
}
await oursGrads();
await peerGrads();
const g = await alternate(ROUNDS, oursGrads, peerGrads);
console.log(
  `lossAndGrads, alternating, ${ROUNDS} rounds: ours ${g.ours.toFixed(0)} ms, tfjs-webgpu ${
    g.peer.toFixed(0)
  } ms (medians); peer / ours = ${g.ratio.toFixed(2)}×`,
);
Deno.bench({
  name: `ours: lossAndGrads ${name.slice("forward ".length)}`,
  group: "fwl lossAndGrads",
  baseline: true,
  n: 2,
  warmup: 0,
  fn: oursGrads,
});
Deno.bench({
  name: `tfjs-webgpu: lossAndGrads ${name.slice("forward ".length)}`,
  group: "fwl lossAndGrads",
  n: 2,
  warmup: 0,
  fn: peerGrads,
});
