/**
 * Kernels of the transformer body that the shared ones don't cover: the embedding
 * gather, causal multi-head attention (online softmax, no score matrix) and its
 * backward, and the GELU of the MLP and its backward (the embedding gradients use
 * `segment_sum.ts`).
 *
 * @module
 */

import { spreadGroups } from "../gpu/grid.ts";
import { program, type Snippet } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import type { GPUContext } from "../gpu/context.ts";
import { dispatchPerElement } from "./per_element.ts";

/** Token + position embedding gather. */
const TRANSFORMER_EMBED = program({
  name: "transformer_embed",
  body: shaders.transformerEmbed,
  storage: ["ids: i32", "tokens", "positions", "out: rw"],
  uniforms: ["count", "width", "time", "pos_base", "vocab", "groups_x"],
  snippets: [GRID],
});
/** GELU forward (mode 0) and backward (mode 1). */
const TRANSFORMER_GELU = program({
  name: "transformer_gelu",
  body: shaders.transformerGelu,
  storage: ["x", "g: rw"],
  uniforms: ["count", "mode", "groups_x"],
  snippets: [GRID],
});

/**
 * `out[n, d] = tokens[ids[n], d] + positions[posBase + n % time, d]` for `rows`
 * positions of width `width` (ids must lie in `[0, vocab)`; they are clamped, never read
 * out of bounds).
 */
export function embed(
  rec: Recorder,
  o: {
    ids: Binding;
    tokens: Binding;
    positions: Binding;
    out: Binding;
    rows: number;
    width: number;
    time: number;
    posBase: number;
    vocab: number;
  },
): void {
  dispatchPerElement(
    rec,
    TRANSFORMER_EMBED,
    [o.ids, o.tokens, o.positions, o.out],
    o.rows * o.width,
    { width: o.width, time: o.time, pos_base: o.posBase, vocab: o.vocab },
  );
}

/** Invocations per workgroup of the attention kernels. */
const ATTENTION_TILE = 64;

/**
 * Query (or key) rows each invocation of the parallel kernels owns: each key (or query)
 * row read then serves all of them. Up to 32 floats of a head's rows per invocation
 * (head width 16: 2 rows, ≤ 8: 4); past that the rows no longer fit registers on a CPU
 * adapter and it is slower (measured on llvmpipe, T = 2048: 1.7× faster forward and
 * 2.7× backward at width 16 with 2 rows; 4 rows of 16, or 2 of 32, 2–4× slower than one).
 */
function rowsPerInvocation(headWidth: number): number {
  return Math.max(1, Math.min(4, Math.floor(32 / headWidth)));
}

const ATTENTION_FORWARD_UNIFORMS = [
  ...["heads", "queries", "tiles", "offset"] as const,
  ...["q_base", "q_batch", "q_row", "k_base", "k_batch", "k_row"] as const,
  ...["v_base", "v_batch", "v_row", "o_base", "o_batch", "o_row"] as const,
  ...["scale: f32", "groups_x"] as const,
];
const ATTENTION_BACKWARD_UNIFORMS = ["heads", "time", "width", "tiles", "scale: f32", "groups_x"];

/** How the attention kernels read head rows: four floats at a time, or one. */
const HEAD_LANES = {
  4: { type: "vec4<f32>", snippet: { name: "head_vec4", code: shaders.transformerLanesVec4 } },
  1: { type: "f32", snippet: { name: "head_f32", code: shaders.transformerLanesF32 } },
} as const;

/** `attention_tile(wid, lid)`: which rows a workgroup of the three tiled passes owns. */
const ATTENTION_TILE_SNIPPET: Snippet = {
  name: "attention_tile",
  code: shaders.libAttentionTile,
  requires: [GRID],
};

/**
 * The attention kernels of one head width and query tile, reading head rows `lanes`
 * floats at a time: each invocation keeps a query, key, value or gradient row of the
 * head in registers (`DV` of them per head).
 */
function attentionKernels(headWidth: number, tile: number, lanes: 1 | 4) {
  const { type, snippet } = HEAD_LANES[lanes];
  const shared = {
    workgroupSize: [tile] as const,
    constants: { DV: headWidth / lanes, ROWS: rowsPerInvocation(headWidth) },
    snippets: [GRID, snippet],
  };
  return {
    forward: program({
      ...shared,
      snippets: [...shared.snippets, ATTENTION_TILE_SNIPPET],
      name: "transformer_attention",
      body: shaders.transformerAttention,
      storage: [`q: ${type}`, `k: ${type}`, `v: ${type}`, `out: rw ${type}`, "lse: rw"],
      uniforms: ATTENTION_FORWARD_UNIFORMS,
    }),
    decode: program({
      ...shared,
      name: "transformer_attention_decode",
      body: shaders.transformerAttentionDecode,
      storage: [`q: ${type}`, `k: ${type}`, `v: ${type}`, `out: rw ${type}`, "lse: rw"],
      uniforms: ATTENTION_FORWARD_UNIFORMS,
    }),
    dq: program({
      ...shared,
      snippets: [...shared.snippets, ATTENTION_TILE_SNIPPET],
      name: "transformer_attention_dq",
      body: shaders.transformerAttentionDq,
      storage: [
        `qkv: ${type}`,
        `out: ${type}`,
        `d_out: ${type}`,
        "lse",
        "deltas: rw",
        `dqkv: rw ${type}`,
      ],
      uniforms: ATTENTION_BACKWARD_UNIFORMS,
    }),
    dkv: program({
      ...shared,
      snippets: [...shared.snippets, ATTENTION_TILE_SNIPPET],
      name: "transformer_attention_dkv",
      body: shaders.transformerAttentionDkv,
      storage: [`qkv: ${type}`, `d_out: ${type}`, "lse", "deltas", `dqkv: rw ${type}`],
      uniforms: ATTENTION_BACKWARD_UNIFORMS,
    }),
  };
}
const ATTENTION_KERNELS = new Map<string, ReturnType<typeof attentionKernels>>();

function kernelsFor(
  headWidth: number,
  tile: number,
  lanes: 1 | 4,
): ReturnType<typeof attentionKernels> {
  const key = `${headWidth}:${tile}:${lanes}`;
  let k = ATTENTION_KERNELS.get(key);
  if (!k) {
    k = attentionKernels(headWidth, tile, lanes);
    ATTENTION_KERNELS.set(key, k);
  }
  return k;
}

/** Invocations of the decode kernel: a power of two ≤ 64 whose partial rows fit workgroup memory. */
function decodeTile(ctx: GPUContext, headWidth: number): number {
  const bytes = ctx.device.limits.maxComputeWorkgroupStorageSize;
  let tile = ATTENTION_TILE;
  while (tile > 1 && tile * (headWidth + 2) * 4 > bytes) tile /= 2;
  return tile;
}

/** 4 when the head width and every offset and stride are multiples of 4 (vec4 reads), else 1. */
function headLanes(headWidth: number, offsets: number[]): 1 | 4 {
  return headWidth % 4 === 0 && offsets.every((o) => o % 4 === 0) ? 4 : 1;
}

/**
 * Where one operand of attention lives: element `d` of head `h` at position `t` of
 * sequence `b` is `buffer[base + b·batch + t·row + h·headWidth + d]`.
 */
export interface HeadRows {
  /** The buffer. */
  buffer: Binding;
  /** Element offset of sequence 0, position 0, head 0. */
  base: number;
  /** Stride between sequences. */
  batch: number;
  /** Stride between positions. */
  row: number;
}

/** Arguments of {@linkcode causalAttention}. */
export interface CausalAttentionSpec {
  /** Queries, `queries` positions per sequence. */
  q: HeadRows;
  /** Keys, at least `queries + offset` positions per sequence. */
  k: HeadRows;
  /** Values, laid out like the keys. */
  v: HeadRows;
  /** The output, laid out like the queries (must not alias q, k, v). */
  out: HeadRows;
  /** Written: the log-sum-exp of each query's scaled scores, `[sequences·heads, queries]`. */
  lse: Binding;
  /** Number of sequences. */
  sequences: number;
  /** Heads per sequence. */
  heads: number;
  /** Width of one head. */
  headWidth: number;
  /** Queries per sequence. */
  queries: number;
  /** Position of the first query among the keys: query `i` sees keys `j ≤ i + offset`. */
  offset: number;
}

/**
 * Causal softmax attention of every head, `out_i = Σ_{j ≤ i+offset} softmax_j(q_i·k_j /
 * √headWidth) v_j`, by an online softmax over key tiles: no score matrix is stored, so
 * memory grows with the sequence length only through q, k, v, out and `lse`.
 */
export function causalAttention(rec: Recorder, s: CausalAttentionSpec): void {
  const ops = [s.q, s.k, s.v, s.out];
  const lanes = headLanes(s.headWidth, ops.flatMap((o) => [o.base, o.batch, o.row]));
  // A generation step has one query per head: its keys are split across a workgroup
  // (as many invocations as the workgroup memory of the merge allows, at most 64).
  const decode = s.queries === 1;
  const tile = decode ? decodeTile(rec.ctx, s.headWidth) : ATTENTION_TILE;
  const kernels = kernelsFor(s.headWidth, tile, lanes);
  const kernel = decode ? kernels.decode : kernels.forward;
  const tiles = Math.ceil(s.queries / (decode ? tile : tile * kernel.constants.ROWS));
  const { workgroups, groupsX } = spreadGroups(rec.ctx, s.sequences * s.heads * tiles);
  const [q, k, v, o] = ops.map((op) => ({
    base: op.base / lanes,
    batch: op.batch / lanes,
    row: op.row / lanes,
  }));
  rec.dispatch(
    kernel,
    [s.q.buffer, s.k.buffer, s.v.buffer, s.out.buffer, s.lse],
    kernel.uniforms({
      heads: s.heads,
      queries: s.queries,
      tiles,
      offset: s.offset,
      q_base: q.base,
      q_batch: q.batch,
      q_row: q.row,
      k_base: k.base,
      k_batch: k.batch,
      k_row: k.row,
      v_base: v.base,
      v_batch: v.batch,
      v_row: v.row,
      o_base: o.base,
      o_batch: o.batch,
      o_row: o.row,
      scale: 1 / Math.sqrt(s.headWidth),
      groups_x: groupsX,
    }),
    workgroups,
  );
}

/** Arguments of {@linkcode causalAttentionBackward}. */
export interface CausalAttentionBackwardSpec {
  /** The forward's packed queries, keys and values `[sequences, time, 3·width]`. */
  qkv: Binding;
  /** The forward's output `[sequences, time, width]`. */
  out: Binding;
  /** The forward's log-sum-exp `[sequences·heads, time]`. */
  lse: Binding;
  /** The output's gradient `[sequences, time, width]`. */
  dOut: Binding;
  /** Scratch `[sequences·heads, time]` (written, then read). */
  deltas: Binding;
  /** Written: the gradient of `qkv`, laid out like it. */
  dqkv: Binding;
  /** Number of sequences. */
  sequences: number;
  /** Positions per sequence. */
  time: number;
  /** Heads per sequence. */
  heads: number;
  /** Width of one head (`width = heads·headWidth`). */
  headWidth: number;
}

/**
 * The gradient of {@linkcode causalAttention} (training layout: packed qkv, offset 0)
 * with respect to the queries, keys and values, recomputing the probabilities from the
 * saved log-sum-exp: one pass over the keys per query (dq, and `deltas = rowsum(dOut ⊙
 * out)`), then one over the queries per key (dk, dv). No score matrix, no atomics.
 */
export function causalAttentionBackward(rec: Recorder, s: CausalAttentionBackwardSpec): void {
  const lanes = headLanes(s.headWidth, []);
  const { dq, dkv } = kernelsFor(s.headWidth, ATTENTION_TILE, lanes);
  const tiles = Math.ceil(s.time / (ATTENTION_TILE * dq.constants.ROWS));
  const { workgroups, groupsX } = spreadGroups(rec.ctx, s.sequences * s.heads * tiles);
  const uniforms = dq.uniforms({
    heads: s.heads,
    time: s.time,
    width: s.heads * s.headWidth / lanes,
    tiles,
    scale: 1 / Math.sqrt(s.headWidth),
    groups_x: groupsX,
  });
  rec.dispatch(dq, [s.qkv, s.out, s.dOut, s.lse, s.deltas, s.dqkv], uniforms, workgroups);
  rec.dispatch(dkv, [s.qkv, s.dOut, s.lse, s.deltas, s.dqkv], uniforms, workgroups);
}

/**
 * GELU (tanh form) of the MLP: `"forward"` writes `g = gelu(x)`; `"backward"` multiplies
 * `g` in place by `gelu'(x)`. `g` must not alias `x`.
 */
export function gelu(
  rec: Recorder,
  o: { x: Binding; g: Binding; count: number; mode: "forward" | "backward" },
): void {
  const mode = o.mode === "forward" ? 0 : 1;
  dispatchPerElement(rec, TRANSFORMER_GELU, [o.x, o.g], o.count, { mode });
}
