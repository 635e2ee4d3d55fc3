/**
 * Mixed chunk attention (strictly causal linear attention computed chunk by chunk):
 * `out[b,t] += alpha · r[b,t] · Σ_{s<t} λ^(t−1−s) (q_t·k_s) v_s`. Inside a chunk, quadratic
 * attention with a strictly-lower-triangular mask (`λ^(t−1−s)` with a decay); across
 * chunks, each chunk's `Σ λ^(end−1−s) k_sᵀ v_s`, summed over earlier chunks (each decayed
 * by `λ^L` per chunk), applied to a query `t` of a chunk starting at `c0` scaled by
 * `λ^(t−c0)`. The decay λ and the per-query factor `r` (a query's 1/N) are those of
 * docs/definition.md §6, both optional.
 *
 * @module
 */

import { spreadInvocations } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import { FWLError } from "../errors.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import { matmul, type MatmulSpec } from "./matmul.ts";
import { decayRows } from "./decay_rows.ts";
import type { DecayRef } from "./running_count.ts";

/** The exclusive prefix over chunk states. */
const CHUNK_PREFIX = program({
  name: "chunk_prefix",
  body: shaders.chunkPrefix,
  storage: ["states: rw", "steps"],
  uniforms: ["sequences", "chunks", "elements", "chunk_len", "flags", "decay_index", "groups_x"],
  constants: { DECAY: 1 },
  snippets: [GRID],
});

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
  /** Number of sequences. */
  batch: number;
  /** Sequence length. */
  time: number;
  /** Width of queries and keys. */
  dq: number;
  /** Width of values. */
  dv: number;
  /** Chunks per sequence. */
  chunks: number;
  /** `alpha = scale · steps[step.index]` (e.g. scale −1 for `out −= step·A`), or `scale`. */
  step?: { buffer: GPUBuffer; index: number };
  /** The scale of `alpha`. */
  scale: number;
  /** Per-query factors `[batch, time]` (a query's 1/N): output row t times `rowScale[b, t]`. */
  rowScale?: GPUBuffer;
  /** The decay λ of docs/definition.md §6 (the buffer `step` reads, when both are given). */
  decay?: DecayRef;
  /** Largest scratch buffer allowed, in bytes. */
  maxScratchBytes: number;
}

/**
 * The epilogue parts every product that writes `out` shares: alpha, the step, the row
 * scale of chunk `inner` of sequence `outer` (`L` positions a chunk), and the decay.
 */
function outputTerms(
  s: ChunkAttentionSpec,
  L: number,
  decay: NonNullable<MatmulSpec["decay"]> | undefined,
): Pick<MatmulSpec, "beta" | "alpha" | "step" | "rowScale" | "decay"> {
  return {
    beta: 1,
    alpha: s.scale,
    ...(s.step ? { step: s.step } : {}),
    ...(s.rowScale ? { rowScale: { buffer: s.rowScale, outer: s.time, inner: L } } : {}),
    ...(decay ? { decay } : {}),
  };
}

/**
 * `v` weighted by the decay within its chunk of `L` (`"toEnd"` or `"fromStart"`), in
 * fresh scratch, or `v` itself without a decay.
 */
function decayedValues(
  rec: Recorder,
  s: ChunkAttentionSpec,
  L: number,
  direction: "toEnd" | "fromStart",
): Binding {
  if (!s.decay) return s.v;
  const out = rec.scratch(s.batch * s.time * s.dv * 4);
  decayRows(rec, {
    v: s.v,
    out,
    batch: s.batch,
    time: s.time,
    width: s.dv,
    chunk: L,
    direction,
    decay: s.decay,
  });
  return out;
}

/**
 * Records `out += scale · steps[step.index] · r ⊙ A_λ(q, k, v)` (see the module doc).
 *
 * @throws {FWLError} If even the running form needs more scratch per sequence than one
 * buffer holds (use more chunks).
 */
export function chunkAttention(rec: Recorder, s: ChunkAttentionSpec): void {
  const { length: L, count: nC } = chunkLayout(s.time, s.chunks);
  const stateElems = s.dq * s.dv;
  const perSequence = Math.max(
    nC > 1 ? nC * stateElems * 4 : 0,
    L > 1 ? nC * L * L * 4 : 0,
  );
  if (perSequence === 0) return; // T = 1: nothing strictly before any position.
  if (perSequence > s.maxScratchBytes) {
    // All chunk states (or scores) of one sequence don't fit: scan the chunks instead.
    runningChunkAttention(rec, s, false);
    return;
  }
  const group = Math.max(
    1,
    Math.min(s.batch, Math.floor(s.maxScratchBytes / perSequence)),
  );
  const clip = (mask: number) => ({ len: s.time, stride: L, mask });
  // Each chunk's state weighs its positions by their distance to the chunk's end.
  const keyed = nC > 1 ? decayedValues(rec, s, L, "toEnd") : s.v;
  const states = nC > 1 ? rec.scratch(group * nC * stateElems * 4) : undefined;
  const scores = L > 1 ? rec.scratch(group * nC * L * L * 4) : undefined;
  // Row-major [time, width] per sequence, one batch per chunk.
  const chunkRows = (buffer: Binding, width: number) => ({
    buffer,
    outer: s.time * width,
    inner: L * width,
    row: width,
    col: 1,
  });
  const qRows = chunkRows(s.q, s.dq);
  const vRows = chunkRows(s.v, s.dv);
  const outRows = chunkRows(s.out, s.dv);
  // kᵀ of each chunk: k's rows read as columns.
  const kCols = { ...chunkRows(s.k, s.dq), row: 1, col: s.dq };
  const decay = s.decay;
  for (let b0 = 0; b0 < s.batch; b0 += group) {
    const g = Math.min(group, s.batch - b0);
    const z = { batches: g * nC, batchInner: nC, zBase: b0 * nC };
    if (states) {
      // states[c] = Σ_{s ∈ chunk c} λ^(end−1−s) k_sᵀ v_s  ([dq, dv] per chunk)
      matmul(rec, {
        m: s.dq,
        n: s.dv,
        k: L,
        a: kCols,
        b: { ...vRows, buffer: keyed },
        c: { buffer: states, rel: stateElems, row: s.dv, col: 1 },
        ...z,
        clip: clip(4),
      });
      const grid = spreadInvocations(rec.ctx, g * stateElems, CHUNK_PREFIX);
      rec.dispatch(
        CHUNK_PREFIX,
        [states, decay?.buffer ?? rec.ctx.dummy(0)],
        CHUNK_PREFIX.uniforms({
          sequences: g,
          chunks: nC,
          elements: stateElems,
          chunk_len: L,
          flags: decay ? CHUNK_PREFIX.constants.DECAY : 0,
          decay_index: decay?.index ?? 0,
          groups_x: grid.groupsX,
        }),
        grid.workgroups,
      );
      // out[chunk c] += alpha · r ⊙ λ^(t−c0) · q[chunk c] · Σ_{c'<c} λ^… states[c']
      matmul(rec, {
        m: L,
        n: s.dv,
        k: s.dq,
        a: qRows,
        b: { buffer: states, rel: stateElems, row: s.dv, col: 1 },
        c: outRows,
        ...z,
        clip: clip(1),
        ...outputTerms(s, L, decay && { ...decay, rows: true }),
      });
    }
    if (scores) {
      // scores[c][i, j] = λ^(i−1−j) q_i·k_j for j < i inside chunk c
      matmul(rec, {
        m: L,
        n: L,
        k: s.dq,
        a: qRows,
        b: kCols,
        c: { buffer: scores, rel: L * L, row: L, col: 1 },
        ...z,
        clip: clip(3),
        causal: true,
        ...(decay ? { decay: { ...decay, causal: true } } : {}),
      });
      // out[chunk c] += alpha · r ⊙ scores[c] · v[chunk c]
      matmul(rec, {
        m: L,
        n: s.dv,
        k: L,
        a: { buffer: scores, rel: L * L, row: L, col: 1 },
        b: vRows,
        c: outRows,
        ...z,
        clip: clip(5),
        ...outputTerms(s, L, undefined),
      });
    }
  }
  if (states) rec.reuse(states);
  if (scores) rec.reuse(scores);
  if (keyed !== s.v) rec.reuse(keyed as GPUBuffer);
}

/**
 * The same attention with a running state, chunk by chunk: `out[c] += alpha·q[c]·S`,
 * then `S += k[c]ᵀ·v[c]`, from the first chunk (causal: `Σ_{t<s}`), or from the last
 * (`reverse`, anti-causal: `Σ_{t>s}`, the decay then `λ^(t−1−s)` for `t > s`; inside a
 * chunk the scores are computed transposed, `P[j, i] = k_j·q_i` kept for `j > i` by the
 * causal mask, and stored as `[i, j]`). With a decay the state fades by `λ^len` as each
 * chunk joins it, with its positions weighted by their distance to the chunk's far end.
 * Needs one `[dq, dv]` state and one chunk's `[L, L]` scores per sequence instead of all
 * of them, at the price of more, smaller dispatches.
 *
 * @throws {FWLError} If one chunk's state or scores exceed the scratch limit of one buffer
 * (use more chunks).
 */
export function runningChunkAttention(
  rec: Recorder,
  s: ChunkAttentionSpec,
  reverse: boolean,
): void {
  const { length: L, count: nC } = chunkLayout(s.time, s.chunks);
  const stateElems = s.dq * s.dv;
  const stateBytes = nC > 1 ? stateElems * 4 : 0;
  const scoreBytes = L > 1 ? L * L * 4 : 0;
  if (stateBytes + scoreBytes === 0) return;
  if (Math.max(stateBytes, scoreBytes) > s.maxScratchBytes) {
    throw new FWLError(
      `chunk attention needs ${Math.max(stateBytes, scoreBytes)} bytes of scratch per ` +
        `sequence even with a running state (chunks of ${L}, state ${s.dq}×${s.dv}), over ` +
        `the ${s.maxScratchBytes}-byte limit of one buffer; use more chunks for long sequences`,
    );
  }
  const group = Math.max(
    1,
    Math.min(s.batch, Math.floor(s.maxScratchBytes / (stateBytes + scoreBytes))),
  );
  const decay = s.decay;
  // The forward's state weighs a chunk's positions by their distance to its end; the
  // reverse scan's by their distance from its start.
  const keyed = stateBytes > 0 ? decayedValues(rec, s, L, reverse ? "fromStart" : "toEnd") : s.v;
  const state = stateBytes > 0 ? rec.scratch(group * stateBytes) : undefined;
  const scores = scoreBytes > 0 ? rec.scratch(group * scoreBytes) : undefined;
  const first = reverse ? nC - 1 : 0;
  const last = reverse ? 0 : nC - 1;
  for (let b0 = 0; b0 < s.batch; b0 += group) {
    const z = { batches: Math.min(group, s.batch - b0), zBase: b0 };
    for (let i = 0; i < nC; i++) {
      const c = reverse ? nC - 1 - i : i;
      const t0 = c * L;
      const len = Math.min(L, s.time - t0);
      const rows = (buffer: Binding, width: number) => ({
        buffer,
        base: t0 * width,
        outer: s.time * width,
        row: width,
        col: 1,
      });
      const q = rows(s.q, s.dq), k = rows(s.k, s.dq), v = rows(s.v, s.dv);
      const out = rows(s.out, s.dv);
      const terms = (d: MatmulSpec["decay"]) => ({
        ...outputTerms(s, L, d),
        ...(s.rowScale ? { rowScale: { buffer: s.rowScale, base: t0, outer: s.time } } : {}),
      });
      const stateOp = state && { buffer: state, rel: stateElems, row: s.dv, col: 1 };
      if (stateOp && c !== first) {
        // out[c] += alpha · r ⊙ λ^… · q[c] · S, S the sum over the chunks already passed
        const fade = decay && { ...decay, ...(reverse ? { reverseRows: true } : { rows: true }) };
        matmul(rec, { m: len, n: s.dv, k: s.dq, a: q, b: stateOp, c: out, ...z, ...terms(fade) });
      }
      if (scores && len > 1) {
        const scoreOp = { buffer: scores, rel: L * L, row: L, col: 1 };
        // Causal: scores = q·kᵀ for i > j. Reverse: rows j of k·qᵀ for j > i, stored transposed.
        matmul(rec, {
          m: len,
          n: len,
          k: s.dq,
          a: reverse ? k : q,
          b: { ...(reverse ? q : k), row: 1, col: s.dq },
          c: reverse ? { ...scoreOp, row: 1, col: L } : scoreOp,
          ...z,
          causal: true,
          ...(decay ? { decay: { ...decay, causal: true } } : {}),
        });
        matmul(rec, {
          m: len,
          n: s.dv,
          k: len,
          a: scoreOp,
          b: v,
          c: out,
          ...z,
          ...terms(undefined),
        });
      }
      if (stateOp && c !== last) {
        // S = λ^len·S + k[c]ᵀ·v[c] (decayed values); the first chunk passed overwrites
        // what the scratch held.
        matmul(rec, {
          m: s.dq,
          n: s.dv,
          k: len,
          a: { ...k, row: 1, col: s.dq },
          b: { ...v, buffer: keyed },
          c: stateOp,
          ...z,
          ...(c !== first
            ? { beta: 1, ...(decay ? { decay: { ...decay, beta: true } } : {}) }
            : {}),
        });
      }
    }
  }
  if (state) rec.reuse(state);
  if (scores) rec.reuse(scores);
  if (keyed !== s.v) rec.reuse(keyed as GPUBuffer);
}
