// Per-token latency of the recurrent form (FWLStream) at position 16 and at position
// 4096, and the state's bytes, at the forward benchmark's shape: B = 1, D = 256,
// size = 128, V = 4096, C = 8. One token = predict → read the logits → observe, as a
// generation loop runs it. The cost must not grow with the position.
//
//   deno bench -A --import-map=tests/offline_import_map.json bench/stream_bench.ts
//
// Setup streams 4096 real positions once (about a minute on lavapipe).

import { FWLBlock, FWLStream, SeededRandom, type Tensor, tensor } from "../mod.ts";
import { median } from "./bench_utils.ts";

const B = 1, D = 256, SIZE = 128, V = 4096, C = 8;
const N = 4096; // a fixed normalizer, e.g. the tokens of a training batch
const POSITIONS = [16, 4096];

const block = new FWLBlock(SIZE, V, C, { normalizer: N });
await block.build(D);
const queue = block.context.device.queue;

const rng = new SeededRandom(1);
/** A few distinct inputs, cycled (the cost does not depend on the values). */
const inputs = Array.from({ length: 8 }, () => ({
  x: tensor(new Float32Array(B * D).map(() => rng.normal()), [B, D]),
  ids: tensor(
    new Int32Array(B).map(() => Math.floor(rng.uniform() * V)),
    [B],
  ),
}));
const ones = tensor(new Float32Array(B).fill(1), [B]);

/** One generation step: predict, read the logits to the host, observe. */
async function token(stream: FWLStream): Promise<Float32Array> {
  const input = inputs[stream.position % inputs.length];
  const logits: Tensor<"float32"> = await stream.predict(input.x);
  const host = await logits.read();
  logits.dispose();
  await stream.observe(input.ids, ones);
  return host;
}

/** Streams real positions up to `to` without reading back; returns ms per token. */
async function advance(stream: FWLStream, to: number): Promise<number> {
  const from = stream.position;
  const t0 = performance.now();
  while (stream.position < to) {
    const input = inputs[stream.position % inputs.length];
    (await stream.predict(input.x)).dispose();
    await stream.observe(input.ids, ones);
  }
  await queue.onSubmittedWorkDone();
  return (performance.now() - t0) / Math.max(1, to - from);
}

const streams = new Map<number, FWLStream>();
const early = new FWLStream(block, B);
const earlyRate = await advance(early, POSITIONS[0]);
streams.set(POSITIONS[0], early);
const late = early.clone();
const midRate = await advance(late, 256);
const lateRate = await advance(late, POSITIONS[1]);
streams.set(POSITIONS[1], late);
const check = late.clone();
const finite = (await token(check)).every(Number.isFinite);
check.dispose();

console.log(`adapter: ${block.context.adapter}`);
console.log(
  `FWLStream, B=${B} D=${D} size=${SIZE} V=${V}: state ${early.stateBytes} bytes ` +
    `at position ${early.position}, ${late.stateBytes} bytes at position ` +
    `${late.position}; logits at ${late.position} finite: ${finite}`,
);
console.log(
  `pipelined (no readback) ms/token: positions 0–16 ${earlyRate.toFixed(2)}, ` +
    `16–256 ${midRate.toFixed(2)}, 256–4096 ${lateRate.toFixed(2)}`,
);

/** One timed token at exactly `base`'s position, from a copy of its state (ms). */
async function timedToken(base: FWLStream): Promise<number> {
  const stream = base.clone();
  await queue.onSubmittedWorkDone();
  const t0 = performance.now();
  await token(stream);
  await queue.onSubmittedWorkDone();
  const ms = performance.now() - t0;
  stream.dispose();
  return ms;
}

// Interleaved, so that load from other processes hits both positions alike.
const samples = new Map<number, number[]>(POSITIONS.map((p) => [p, []]));
for (let i = 0; i < 60; i++) {
  for (const position of POSITIONS) {
    samples.get(position)!.push(await timedToken(streams.get(position)!));
  }
}
const [m16, m4096] = POSITIONS.map((p) => median(samples.get(p)!.slice(10)));
console.log(
  `interleaved median ms/token (predict + read + observe): position ${POSITIONS[0]} ` +
    `${m16.toFixed(2)}, position ${POSITIONS[1]} ${m4096.toFixed(2)}, ratio ` +
    `${(m4096 / m16).toFixed(3)}`,
);

for (const position of POSITIONS) {
  const base = streams.get(position)!;
  Deno.bench({
    name: `predict + read + observe at position ${position}`,
    group: "FWLStream per-token latency",
    baseline: position === POSITIONS[0],
    n: 100,
    warmup: 10,
    async fn(b) {
      // Every iteration runs exactly this position, from a copy of the state.
      const stream = base.clone();
      await queue.onSubmittedWorkDone();
      b.start();
      await token(stream);
      await queue.onSubmittedWorkDone();
      b.end();
      stream.dispose();
    },
  });
}
