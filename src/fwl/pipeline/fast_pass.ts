/**
 * The fast pass of docs/definition.md §2 (`src/reference/fast_forward.ts`) in its parallel form,
 * recorded once for the forward, the training forward (`forward.ts`) and the stream (one
 * position); with a carried state (`fast_step.ts`) the positions before the window count
 * too.
 *
 * @module
 */

import type { Recorder } from "../../gpu/recorder.ts";
import { chunkAttention } from "../../kernels/chunk_attention.ts";
import { matmulNN } from "../../kernels/matmul.ts";
import { cumsumUpdate } from "../../kernels/cumsum.ts";
import { layerNorm } from "../../kernels/layer_norm.ts";
import type { ParamBuffers } from "../head.ts";
import { type CarriedReading, type FastStateBuffers, subtractCarried } from "./fast_step.ts";
import type { InnerGrads } from "./inner_backward.ts";
import type { SlowForward } from "./slow_forward.ts";

/**
 * Inputs of {@linkcode recordFastPass}: the slow activations and inner gradients, and
 * (docs/definition.md §6) each query's 1/N (`rowScale`) and the decay λ.
 */
export interface FastPassArgs extends Pick<SlowForward, "h1" | "a">, InnerGrads, CarriedReading {
  batch: number;
  time: number;
  inputSize: number;
  size: number;
  attnChunks: number;
  epsilon: number;
  params: ParamBuffers;
  x: GPUBuffer;
  /** Scratch limit of one attention call with state `[dq, dv]`. */
  attentionBytes: (dq: number, dv: number) => number;
  /** Where the fast layer norm writes `nhat` and `rstd` (fresh scratch when omitted). */
  nhat?: GPUBuffer;
  rstd?: GPUBuffer;
  /** The state the earlier windows left (docs/definition.md §3), read here, not advanced. */
  carried?: FastStateBuffers;
}

/** The fast activations (scratch of the recorder). */
export interface FastPass {
  f1: GPUBuffer;
  fa: GPUBuffer;
  scaleT: GPUBuffer;
  /** Normalized `f2`. */
  fhat: GPUBuffer;
  /** `1 / σ(f2)` per row. */
  frstd: GPUBuffer;
  /** The fast layer norm's output: the head's input to the unembedding. */
  nf: GPUBuffer;
}

/**
 * Each layer's slow output minus its step size times the update:
 * `f1 = h1 − r⊙(s0·A(x, x, g_h1) + s1·cumsum(g_h1))`, `fa = relu(f1)²`,
 * `f2 = fa·K1 + b1 − r⊙(s2·A(fa, a, g_h2) + s3·cumsum(g_h2))`, per-row scale and bias,
 * and the fast layer norm (`r` each query's 1/N and the sums decayed, for the running
 * mean; `r = 1` otherwise, `N` being in the inner gradients). `f2` and the per-row bias
 * are given back to the recorder.
 */
export function recordFastPass(rec: Recorder, f: FastPassArgs): FastPass {
  const M = f.batch * f.time, D = f.inputSize, S = f.size, H = 4 * S;
  const p = f.params;
  const buf = (elements: number) => rec.scratch(elements * 4);
  const reading: CarriedReading = {
    ...(f.rowScale ? { rowScale: f.rowScale } : {}),
    ...(f.decay ? { decay: f.decay } : {}),
  };
  const step = (index: number) => ({ step: { buffer: p.steps, index } });
  const seq = (dq: number, dv: number) => ({
    batch: f.batch,
    time: f.time,
    chunks: f.attnChunks,
    dq,
    dv,
    maxScratchBytes: f.attentionBytes(dq, dv),
    scale: -1,
    ...reading,
  });
  // The dense kernels' carried terms; the sums' ride in the cumulative sums below.
  const carry = (i: 0 | 2, out: GPUBuffer, q: GPUBuffer) => {
    if (f.carried) subtractCarried(rec, p, f, f.carried, i, out, q, reading);
  };
  const cumsum = { batch: f.batch, time: f.time, ...reading };
  const f1 = buf(M * H);
  rec.copy(f.h1, 0, f1, 0, M * H * 4);
  chunkAttention(rec, { ...seq(D, H), q: f.x, k: f.x, v: f.gh1, out: f1, ...step(0) });
  carry(0, f1, f.x);
  const fa = buf(M * H);
  cumsumUpdate(rec, {
    ...cumsum,
    ...step(1),
    u: f.gh1,
    out: f1,
    width: H,
    sqreluAux: fa,
    carried: f.carried?.sumH1,
  });
  const f2 = buf(M * S);
  matmulNN(rec, fa, p.k1, f2, M, H, S, { bias: { buffer: p.b1 } });
  chunkAttention(rec, { ...seq(H, S), q: fa, k: f.a, v: f.gh2, out: f2, ...step(2) });
  carry(2, f2, fa);
  const st = f.carried;
  cumsumUpdate(rec, { ...cumsum, ...step(3), u: f.gh2, out: f2, width: S, carried: st?.sumH2 });
  const scaleT = buf(M * S), biasT = buf(M * S);
  cumsumUpdate(rec, {
    ...cumsum,
    ...step(4),
    u: f.gnNhat,
    out: scaleT,
    width: S,
    broadcastBase: p.scale,
    carried: st?.sumGnNhat,
  });
  cumsumUpdate(rec, {
    ...cumsum,
    ...step(5),
    u: f.gn,
    out: biasT,
    width: S,
    broadcastBase: p.bias,
    carried: st?.sumGn,
  });
  const nf = buf(M * S), fhat = f.nhat ?? buf(M * S), frstd = f.rstd ?? buf(M);
  layerNorm(rec, {
    x: f2,
    scale: scaleT,
    bias: biasT,
    out: nf,
    nhat: fhat,
    rstd: frstd,
    rows: M,
    width: S,
    perRowAffine: true,
    eps: f.epsilon,
  });
  rec.reuse(f2);
  rec.reuse(biasT);
  return { f1, fa, scaleT, fhat, frstd, nf };
}
