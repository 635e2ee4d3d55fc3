/**
 * Causal and anti-causal linear attention for the outer backward:
 *
 * - causal:       `out[t] += alpha · Σ_{s<t} (q_t·k_s) v_s`   (the forward's `A(q,k,v)`)
 * - anti-causal:  `out[s] += alpha · Σ_{t>s} (q_s·k_t) v_t`   (`Aʳ(q,k,v)`)
 *
 * The backward of `O = A(q,k,v)` is `dq = A(dO, v, k)`, `dk = Aʳ(v, dO, q)`,
 * `dv = Aʳ(k, q, dO)`. Both run on the forward's mixed chunk attention
 * (`chunkAttention`); the anti-causal form is the causal one in reversed time, so its
 * operands are reversed into scratch (`shaders/train_reverse_time.wgsl`) and the result
 * reversed back. (Negative time strides would save the copies, but the vectorized
 * matmul variants divide strides by 4 as unsigned integers, which breaks them.)
 *
 * @module
 */

import reverseTimeCode from "../../shaders/train_reverse_time.wgsl" with {
  type: "text",
};
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";
import { chunkAttention } from "./chunk_attention.ts";
import { fill } from "./train_elementwise.ts";

/** The time-reversal kernel. */
export const TRAIN_REVERSE_TIME: KernelSpec = {
  name: "train_reverse_time",
  code: reverseTimeCode,
  entryPoint: "main",
};

/** Arguments of {@linkcode seqAttention}. */
export interface SeqAttentionSpec {
  /** Queries `[batch, time, dq]`. */
  q: GPUBuffer;
  /** Keys `[batch, time, dq]`. */
  k: GPUBuffer;
  /** Values `[batch, time, dv]`. */
  v: GPUBuffer;
  /** Accumulated into: `[batch, time, dv]`. */
  out: GPUBuffer;
  /** Number of sequences. */
  batch: number;
  /** Sequence length. */
  time: number;
  /** Width of queries and keys. */
  dq: number;
  /** Width of values. */
  dv: number;
  /** Chunks of the mixed chunk attention. */
  chunks: number;
  /** `true`: the anti-causal form `Σ_{t>s}`. */
  reverse: boolean;
  /** Scale of the result (default 1). */
  alpha?: number;
  /** Multiplies `alpha` by `steps[index]`, read on the GPU. */
  step?: { buffer: GPUBuffer; index: number };
  /** Largest scratch buffer allowed, in bytes. */
  maxScratchBytes: number;
  /**
   * Time-reversed copies already made in this recording, by source buffer, shared across
   * anti-causal calls (the sources must not change between the calls that share it).
   */
  reversedCache?: Map<GPUBuffer, GPUBuffer>;
}

/**
 * Records `out[b,t,j] = alpha·src[b, time−1−t, j] (+ out[b,t,j] with accumulate)`.
 * `out` must not alias `src`.
 *
 * @example
 * ```ts ignore
 * reverseTime(rec, { src: x, out: xr, batch: B, time: T, width: D });
 * ```
 */
export function reverseTime(
  rec: Recorder,
  o: {
    src: Binding;
    out: Binding;
    batch: number;
    time: number;
    width: number;
    alpha?: number;
    accumulate?: boolean;
  },
): void {
  const count = o.batch * o.time * o.width;
  if (count === 0) return;
  const groups = Math.ceil(count / 64);
  const x = Math.min(groups, rec.ctx.maxWorkgroups);
  rec.dispatch(
    TRAIN_REVERSE_TIME,
    [o.src, o.out],
    packUniforms({
      time: o.time,
      width: o.width,
      count,
      flags: o.accumulate ? 1 : 0,
      alpha: o.alpha ?? 1,
      per_y: x * 64,
      pad0: 0,
      pad1: 0,
    }, ["alpha"]),
    [x, Math.ceil(groups / x), 1],
  );
}

/**
 * Records `out += alpha · (A or Aʳ)(q, k, v)` (see the module doc).
 *
 * @example
 * ```ts ignore
 * // dx += −steps[0] · Aʳ(g_h1, df1, x)
 * seqAttention(rec, { q: gh1, k: df1, v: x, out: dx, batch: B, time: T, dq: H, dv: D,
 *   chunks: 4, reverse: true, alpha: -1, step: { buffer: steps, index: 0 },
 *   maxScratchBytes: ctx.maxBindingBytes });
 * ```
 */
export function seqAttention(rec: Recorder, s: SeqAttentionSpec): void {
  if (s.time < 2) return; // nothing on either side of any position
  let steps = s.step?.buffer;
  if (!steps) {
    steps = rec.scratch(4);
    fill(rec, steps, 1, 1);
  }
  const attention = (q: GPUBuffer, k: GPUBuffer, v: GPUBuffer, out: GPUBuffer) =>
    chunkAttention(rec, {
      q,
      k,
      v,
      out,
      batch: s.batch,
      time: s.time,
      dq: s.dq,
      dv: s.dv,
      chunks: s.chunks,
      steps: steps!,
      stepIndex: s.step?.index ?? 0,
      scale: s.alpha ?? 1,
      maxScratchBytes: s.maxScratchBytes,
    });
  if (!s.reverse) {
    attention(s.q, s.k, s.v, s.out);
    return;
  }
  const seq = { batch: s.batch, time: s.time };
  const reversed = s.reversedCache ?? new Map<GPUBuffer, GPUBuffer>();
  const rev = (b: GPUBuffer, width: number): GPUBuffer => {
    let r = reversed.get(b);
    if (!r) {
      r = rec.scratch(s.batch * s.time * width * 4);
      reverseTime(rec, { ...seq, src: b, out: r, width });
      reversed.set(b, r);
    }
    return r;
  };
  const q = rev(s.q, s.dq), k = rev(s.k, s.dq), v = rev(s.v, s.dv);
  const out = rec.scratch(s.batch * s.time * s.dv * 4);
  fill(rec, out, s.batch * s.time * s.dv);
  attention(q, k, v, out);
  reverseTime(rec, { ...seq, src: out, out: s.out, width: s.dv, accumulate: true });
  rec.reuse(out);
}
