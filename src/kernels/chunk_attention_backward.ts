/**
 * Causal and anti-causal linear attention for the outer backward:
 *
 * - causal:       `out[t] += alpha · Σ_{s<t} λ^(t−1−s) (q_t·k_s) v_s`   (the forward's `A(q,k,v)`)
 * - anti-causal:  `out[s] += alpha · Σ_{t>s} λ^(t−1−s) (q_s·k_t) v_t`   (`Aʳ(q,k,v)`)
 *
 * (λ the decay of docs/definition.md §6, 1 without one.)
 *
 * The backward of `O = A(q,k,v)` is `dq = A(dO, v, k)`, `dk = Aʳ(v, dO, q)`,
 * `dv = Aʳ(k, q, dO)`. The causal form is the forward's mixed chunk attention
 * (`chunkAttention`); the anti-causal form scans the chunks from the last one with a
 * running `[dq, dv]` state, so it needs no time-reversed copies and no per-chunk states.
 * Training keeps its attention scratch small ({@linkcode trainAttentionBytes}): with many
 * chunks the causal form then also runs on a running state.
 *
 * @module
 */

import type { GPUContext } from "../gpu/context.ts";
import type { Recorder } from "../gpu/recorder.ts";
import { chunkAttention, chunkLayout, runningChunkAttention } from "./chunk_attention.ts";
import type { DecayRef } from "./running_count.ts";

/**
 * Scratch budget of one attention call in training (8 MiB): below the per-chunk states of
 * a large width (`[D, H]` × chunks), which a running state replaces at no loss of speed.
 */
export const TRAIN_ATTENTION_BYTES: number = 8 * 2 ** 20;

/**
 * The largest scratch buffer one training attention call over `[time, dq]` queries and
 * keys and `[time, dv]` values may take: {@linkcode TRAIN_ATTENTION_BYTES}, or what one
 * sequence needs with a running state if more, capped by the device's binding limit.
 */
export function trainAttentionBytes(
  ctx: GPUContext,
  time: number,
  chunks: number,
  dq: number,
  dv: number,
): number {
  const { length: L } = chunkLayout(time, chunks);
  const running = Math.max(dq * dv * 4, L * L * 4);
  return Math.min(ctx.maxBindingBytes, Math.max(TRAIN_ATTENTION_BYTES, running));
}

/** Arguments of {@linkcode seqAttention}. */
export interface SeqAttentionSpec {
  /** Queries `[batch, time, dq]`. */
  q: GPUBuffer;
  /** Keys `[batch, time, dq]`. */
  k: GPUBuffer;
  /** Values `[batch, time, dv]`. */
  v: GPUBuffer;
  /** Accumulated into: `[batch, time, dv]`; must not alias an operand. */
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
  /** The decay λ of docs/definition.md §6. */
  decay?: DecayRef;
}

/**
 * Records `out += alpha · (A or Aʳ)(q, k, v)` (see the module doc), with the scratch
 * budget of {@linkcode trainAttentionBytes}.
 */
export function seqAttention(rec: Recorder, s: SeqAttentionSpec): void {
  if (s.time < 2) return; // nothing on either side of any position
  const spec = {
    q: s.q,
    k: s.k,
    v: s.v,
    out: s.out,
    batch: s.batch,
    time: s.time,
    dq: s.dq,
    dv: s.dv,
    chunks: s.chunks,
    ...(s.step ? { step: s.step } : {}),
    ...(s.decay ? { decay: s.decay } : {}),
    scale: s.alpha ?? 1,
    maxScratchBytes: trainAttentionBytes(rec.ctx, s.time, s.chunks, s.dq, s.dv),
  };
  if (s.reverse) runningChunkAttention(rec, spec, true);
  else chunkAttention(rec, spec);
}
