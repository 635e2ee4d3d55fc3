// Checks the tfjs peer (bench/peers/tfjs_fwl.ts) against the float64 reference before any
// timing of it means anything: the fast logits and the outer gradients (second order) at a
// small odd shape with step sizes near 0.5, on tfjs' WebGPU backend and, as a second
// opinion, on its CPU backend.
//
//   deno run -A bench/peers/check_peer.ts
//
// Prints the worst |peer − ref| / (1 + |ref|) of the logits and of each gradient, and
// exits 1 when any WebGPU result misses the 1e-3 tolerance.

import {
  disposePeerParams,
  type PeerBackend,
  peerFastLogits,
  peerLossAndGrads,
  peerParams,
  tf,
  usePeerBackend,
} from "./tfjs_fwl.ts";
import { PARAM_NAMES } from "../../gpu.ts";
import { referenceFastForward, referenceSlowForward } from "../../src/reference/mod.ts";
import { referenceLossAndGrads } from "../../src/reference/outer_grad.ts";
import { randomCase } from "../../tests/helpers.ts";

const TOL = 1e-3;
const shape = { B: 2, T: 13, D: 11, size: 5, V: 17, C: 3 };
const { B, T, D, size, V, C } = shape;
const { params, x, ids, oneHot, weights, ref } = randomCase(shape, 7);

/** Worst |a − b| / (1 + |b|). */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const r = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    if (!(r <= m)) m = r;
  }
  return m;
}

const refLogits = referenceFastForward(ref);
const slowLogits = referenceSlowForward(ref).logits;
const refGrads = referenceLossAndGrads(ref);
console.log(
  `shape B=${B} T=${T} D=${D} size=${size} V=${V} C=${C}; steps ≈ 0.5; ` +
    `fast effect (|fast − slow| logits, relative) = ${worst(slowLogits, refLogits).toFixed(3)}`,
);

/**
 * Runs the peer on `backend` and prints its errors. `gpuOnly` turns off tfjs-webgpu's
 * `WEBGPU_CPU_FORWARD`, which otherwise runs ops on small host-resident inputs (under 1000
 * elements, i.e. much of this small case) with the CPU kernels.
 */
async function check(backend: PeerBackend, gpuOnly = false): Promise<boolean> {
  const device = await usePeerBackend(backend);
  if (backend === "webgpu") tf.env().set("WEBGPU_CPU_FORWARD", !gpuOnly);
  const p = peerParams(params, { inputSize: D, size, vocabSize: V });
  const xt = tf.tensor3d(x, [B, T, D]);
  const idt = tf.tensor2d(ids, [B, T], "int32");
  const wt = tf.tensor2d(weights, [B, T]);
  try {
    const logits = peerFastLogits(p, xt, idt, wt, { chunks: C });
    const logitErr = worst(await logits.data(), refLogits);
    logits.dispose();
    let ok = logitErr <= TOL;
    console.log(`\n[${device}${gpuOnly ? ", every op on the GPU" : ""}]`);
    console.log(`  logits           ${logitErr.toExponential(2)} ${ok ? "ok" : "FAIL"}`);
    const yt = tf.tensor3d(oneHot, [B, T, V]);
    const byRow = peerFastLogits(p, xt, yt, wt, { chunks: C });
    const rowErr = worst(await byRow.data(), refLogits);
    tf.dispose([yt, byRow]);
    ok &&= rowErr <= TOL;
    console.log(`  logits (one-hot) ${rowErr.toExponential(2)} ${rowErr <= TOL ? "ok" : "FAIL"}`);
    const { loss, grads } = peerLossAndGrads(p, xt, idt, wt, { chunks: C });
    const lossErr = worst(await loss.data(), [refGrads.loss]);
    ok &&= lossErr <= TOL;
    console.log(`  loss             ${lossErr.toExponential(2)} ${lossErr <= TOL ? "ok" : "FAIL"}`);
    for (const name of [...PARAM_NAMES, "x"]) {
      const err = worst(await grads[name].data(), refGrads.grads[name]);
      ok &&= err <= TOL;
      console.log(`  ∂/∂${name.padEnd(22)} ${err.toExponential(2)} ${err <= TOL ? "ok" : "FAIL"}`);
    }
    loss.dispose();
    for (const g of Object.values(grads)) g.dispose();
    return ok;
  } finally {
    disposePeerParams(p);
    tf.dispose([xt, idt, wt]);
  }
}

/** Whether tfjs' reverse-cumsum shader-cache bug (see tfjs_fwl.ts) is still there. */
async function reverseCumsumBug(): Promise<boolean> {
  await usePeerBackend("webgpu");
  tf.env().set("WEBGPU_CPU_FORWARD", false);
  const first = tf.cumsum(tf.range(1, 4), 0, true, true);
  const second = tf.cumsum(tf.range(1, 6), 0, true, true);
  const got = Array.from(await second.data());
  tf.dispose([first, second]);
  return got.join() !== [14, 12, 9, 5, 0].join();
}

const gpuOk = await check("webgpu", true);
const mixedOk = await check("webgpu");
await check("cpu");
console.log(
  `\ntfjs-webgpu reverse-cumsum shader-cache bug (worked around in the peer): ${
    (await reverseCumsumBug()) ? "present" : "gone"
  }`,
);
if (!gpuOk || !mixedOk) Deno.exit(1);
