// GFLOP/s of our matmul (src/kernels/matmul.ts) against tfjs-webgpu's tf.matMul, on the
// same adapter in the same process, at 1024³ and at the FWL head's shapes (T=1024, D=256,
// size=128, V=4096): x·K0 (1024×256×512), n·Ku (1024×128×4096), g_z·Kuᵀ (1024×4096×128,
// A·Bᵀ).
//
//   deno bench -A --config=bench/peers/deno.json --import-map=tests/offline_import_map.json bench/peers/matmul_bench.ts
//
// Each product is first checked against the other implementation, then timed alternately
// (ours and tfjs one after the other in every round, FWL_PEER_ROUNDS rounds, default 7);
// the medians are printed as GFLOP/s, and Deno.bench times both per shape with ours as the
// baseline. Every timed call waits for its GPU work by reading four values back.

import { GPUContext, matmulNN, matmulNT, readBytes, Recorder } from "../../gpu.ts";
import { SeededRandom } from "../../mod.ts";
import { alternate } from "./alternate.ts";
import { tf, usePeerBackend } from "./tfjs_fwl.ts";

const ROUNDS = Number(Deno.env.get("FWL_PEER_ROUNDS") ?? 7);

/** One product `C[m, n] = A[m, k] · B` with B `[k, n]`, or `[n, k]` when `transB`. */
interface Shape {
  label: string;
  m: number;
  k: number;
  n: number;
  transB: boolean;
}

const SHAPES: Shape[] = [
  { label: "1024³ A·B", m: 1024, k: 1024, n: 1024, transB: false },
  { label: "x·K0 1024×256×512", m: 1024, k: 256, n: 512, transB: false },
  { label: "n·Ku 1024×128×4096", m: 1024, k: 128, n: 4096, transB: false },
  { label: "g_z·Kuᵀ 1024×4096×128 A·Bᵀ", m: 1024, k: 4096, n: 128, transB: true },
];

const ctx = await GPUContext.default();
const peerAdapter = await usePeerBackend("webgpu");
console.log(`ours: ${ctx.adapter}; peer: tfjs 4.22.0 ${peerAdapter}`);
const rng = new SeededRandom(3);

/** Ours and the peer's timed call for one shape, after a check that both agree. */
async function prepare(
  s: Shape,
): Promise<{ ours: () => Promise<void>; peer: () => Promise<void> }> {
  const { m, k, n, transB } = s;
  const a = new Float32Array(m * k).map(() => rng.normal());
  const b = new Float32Array(k * n).map(() => rng.normal());
  const upload = (data: Float32Array<ArrayBuffer>): GPUBuffer => {
    const buf = ctx.pool.acquire(data.byteLength);
    ctx.device.queue.writeBuffer(buf, 0, data);
    return buf;
  };
  const A = upload(a), Bb = upload(b), out = ctx.pool.acquire(m * n * 4);
  const ta = tf.tensor2d(a, [m, k]);
  const tb = tf.tensor2d(b, transB ? [n, k] : [k, n]);
  const ours = async (): Promise<void> => {
    const rec = new Recorder(ctx);
    if (transB) matmulNT(rec, A, Bb, out, m, k, n);
    else matmulNN(rec, A, Bb, out, m, k, n);
    await rec.submit("matmul bench");
    await readBytes(ctx, out, 16);
  };
  const product = (): tf.Tensor => tf.matMul(ta, tb, false, transB);
  const peer = async (): Promise<void> => {
    const c = product();
    const head = tf.slice(c, [0, 0], [1, 4]);
    await head.data();
    tf.dispose([head, c]);
  };
  // Compile both, and compare the full products.
  await ours();
  const mine = new Float32Array(await readBytes(ctx, out, m * n * 4));
  const c = product();
  const theirs = await c.data();
  c.dispose();
  let worst = 0;
  for (let i = 0; i < mine.length; i++) {
    worst = Math.max(worst, Math.abs(mine[i] - theirs[i]) / (1 + Math.abs(theirs[i])));
  }
  if (!(worst <= 1e-3 * Math.sqrt(k))) {
    throw new Error(`${s.label}: ours and tfjs disagree (${worst})`);
  }
  await peer(); // compiles tfjs' slice too
  return { ours, peer };
}

const calls = new Map<Shape, { ours: () => Promise<void>; peer: () => Promise<void> }>();
const rows: string[] = [];
for (const s of SHAPES) {
  const fns = await prepare(s);
  calls.set(s, fns);
  const t = await alternate(ROUNDS, fns.ours, fns.peer);
  const gflops = (ms: number) => (2 * s.m * s.n * s.k / (ms * 1e6)).toFixed(2);
  rows.push(
    `| ${s.label.padEnd(28)} | ${gflops(t.ours).padStart(6)} | ${gflops(t.peer).padStart(6)} | ${
      t.ours.toFixed(0).padStart(5)
    } | ${t.peer.toFixed(0).padStart(5)} | ${t.ratio.toFixed(2).padStart(5)}× |`,
  );
}
console.log(
  `alternating, ${ROUNDS} rounds, medians:\n` +
    `| shape                        | ours GFLOP/s | tfjs GFLOP/s | ours ms | tfjs ms | tfjs / ours (per round) |\n` +
    `| ---------------------------- | ------ | ------ | ----- | ----- | ------ |\n` +
    rows.join("\n"),
);

for (const s of SHAPES) {
  const fns = calls.get(s)!;
  const group = `matmul ${s.label}`;
  Deno.bench({ name: `ours ${s.label}`, group, baseline: true, n: 3, warmup: 1, fn: fns.ours });
  Deno.bench({ name: `tfjs ${s.label}`, group, n: 3, warmup: 1, fn: fns.peer });
}
