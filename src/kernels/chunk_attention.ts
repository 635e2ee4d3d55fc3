/**
 * Mixed chunk attention (strictly causal linear attention computed chunk by chunk):
 * `out[b,t] += alpha · Σ_{s<t} (q_t·k_s) v_s`. Inside a chunk, quadratic attention with
 * a strictly-lower-triangular mask; across chunks, each chunk's `Σ k_sᵀ v_s`, summed
 * over earlier chunks, applied to the chunk's queries.
 *
 * @module
 */

import prefixCode from "../../shaders/chunk_prefix.wgsl" with { type: "text" };
import { FWLError } from "../errors.ts";
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";
import { matmul } from "./matmul.ts";

/** The exclusive prefix over chunk states. */
export const CHUNK_PREFIX: KernelSpec = {
  name: "chunk_prefix",
  code: prefixCode,
  entryPoint: "main",
};

/** The chunk layout of a sequence of length `time` split into `chunks` chunks. */
export function chunkLayout(
  time: number,
  chunks: number,
): { length: number; count: number } {
  const length = Math.ceil(time / Math.max(1, Math.min(chunks, time)));
  return { length, count: Math.ceil(time / length) };
}

/** Arguments of {@linkcode chunkAttention}. */
export interface ChunkAttentionSpec {
  /** Queries `[batch, time, dq]`. */
  q: Binding;
  /** Keys `[batch, time, dq]`. */
  k: Binding;
  /** Values `[batch, time, dv]`. */
  v: Binding;
  /** Accumulated into: `[batch, time, dv]`. */
  out: Binding;
  batch: number;
  time: number;
  dq: number;
  dv: number;
  chunks: number;
  /** `alpha = scale · steps[index]` (e.g. scale −1 for `out −= step·A`). */
  steps: GPUBuffer;
  stepIndex: number;
  scale: number;
  /** Largest scratch buffer allowed, in bytes. */
  maxScratchBytes: number;
}

/** Records `out += scale · steps[stepIndex] · A(q, k, v)`. */
export function chunkAttention(rec: Recorder, s: ChunkAttentionSpec): void {
  const { length: L, count: nC } = chunkLayout(s.time, s.chunks);
  const stateElems = s.dq * s.dv;
  const perSequence = Math.max(
    nC > 1 ? nC * stateElems * 4 : 0,
    L > 1 ? nC * L * L * 4 : 0,
  );
  if (perSequence === 0) return; // T = 1: nothing strictly before any position.
  if (perSequence > s.maxScratchBytes) {
    throw new FWLError(
      `chunk attention needs ${perSequence} bytes of scratch per sequence ` +
        `(time ${s.time}, ${nC} chunks of ${L}, state ${s.dq}×${s.dv}), over the ` +
        `${s.maxScratchBytes}-byte limit of one buffer; use fewer chunks for long ` +
        `sequences or more for wide states`,
    );
  }
  const group = Math.max(
    1,
    Math.min(s.batch, Math.floor(s.maxScratchBytes / perSequence)),
  );
  const step = { buffer: s.steps, index: s.stepIndex };
  const clip = (mask: number) => ({ len: s.time, stride: L, mask });
  const states = nC > 1 ? rec.scratch(group * nC * stateElems * 4) : undefined;
  const scores = L > 1 ? rec.scratch(group * nC * L * L * 4) : undefined;
  const qRows = {
    buffer: s.q,
    outer: s.time * s.dq,
    inner: L * s.dq,
    row: s.dq,
    col: 1,
  };
  const vRows = {
    buffer: s.v,
    outer: s.time * s.dv,
    inner: L * s.dv,
    row: s.dv,
    col: 1,
  };
  const outRows = {
    buffer: s.out,
    outer: s.time * s.dv,
    inner: L * s.dv,
    row: s.dv,
    col: 1,
  };
  for (let b0 = 0; b0 < s.batch; b0 += group) {
    const g = Math.min(group, s.batch - b0);
    const z = { batches: g * nC, batchInner: nC, zBase: b0 * nC };
    if (states) {
      // states[c] = Σ_{s ∈ chunk c} k_sᵀ v_s  ([dq, dv] per chunk)
      matmul(rec, {
        m: s.dq,
        n: s.dv,
        k: L,
        a: {
          buffer: s.k,
          outer: s.time * s.dq,
          inner: L * s.dq,
          row: 1,
          col: s.dq,
        },
        b: vRows,
        c: { buffer: states, rel: stateElems, row: s.dv, col: 1 },
        ...z,
        clip: clip(4),
      });
      rec.dispatch(
        CHUNK_PREFIX,
        [states],
        packUniforms({ sequences: g, chunks: nC, elements: stateElems }),
        prefixGrid(g * stateElems),
      );
      // out[chunk c] += alpha · q[chunk c] · Σ_{c'<c} states[c']
      matmul(rec, {
        m: L,
        n: s.dv,
        k: s.dq,
        a: qRows,
        b: { buffer: states, rel: stateElems, row: s.dv, col: 1 },
        c: outRows,
        ...z,
        clip: clip(1),
        beta: 1,
        alpha: s.scale,
        step,
      });
    }
    if (scores) {
      // scores[c][i, j] = q_i·k_j for j < i inside chunk c
      matmul(rec, {
        m: L,
        n: L,
        k: s.dq,
        a: qRows,
        b: {
          buffer: s.k,
          outer: s.time * s.dq,
          inner: L * s.dq,
          row: 1,
          col: s.dq,
        },
        c: { buffer: scores, rel: L * L, row: L, col: 1 },
        ...z,
        clip: clip(3),
        causal: true,
      });
      // out[chunk c] += alpha · scores[c] · v[chunk c]
      matmul(rec, {
        m: L,
        n: s.dv,
        k: L,
        a: { buffer: scores, rel: L * L, row: L, col: 1 },
        b: vRows,
        c: outRows,
        ...z,
        clip: clip(5),
        beta: 1,
        alpha: s.scale,
        step,
      });
    }
  }
}

function prefixGrid(invocations: number): [number, number, number] {
  const groups = Math.ceil(invocations / 64);
  return [Math.min(groups, 65535), Math.ceil(groups / 65535), 1];
}
