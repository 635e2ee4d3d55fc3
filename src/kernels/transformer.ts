/**
 * Kernels of the transformer body that the shared ones don't cover: the embedding
 * gather, the causal row softmax and its backward, and the GELU of the MLP and its
 * backward (the embedding gradients use `segment_sum.ts`).
 *
 * @module
 */

import { spreadInvocations } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";

/** Token + position embedding gather. */
const TRANSFORMER_EMBED = program({
  name: "transformer_embed",
  body: shaders.transformerEmbed,
  storage: ["ids: i32", "tokens", "positions", "out: rw"],
  uniforms: ["count", "width", "time", "pos_base", "vocab", "groups_x"],
  snippets: [GRID],
});
/** Causal row softmax, in place. */
const TRANSFORMER_SOFTMAX = program({
  name: "transformer_softmax",
  body: shaders.transformerSoftmax,
  storage: ["s: rw"],
  uniforms: ["rows", "width", "block", "offset", "groups_x"],
  snippets: [GRID],
});
/** Backward of the causal row softmax, in place on the gradient. */
const TRANSFORMER_SOFTMAX_BACKWARD = program({
  name: "transformer_softmax_backward",
  body: shaders.transformerSoftmaxBackward,
  storage: ["prob", "g: rw"],
  uniforms: ["rows", "width", "block", "offset", "groups_x"],
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
  const count = o.rows * o.width;
  const { workgroups, groupsX } = spreadInvocations(rec.ctx, count, TRANSFORMER_EMBED);
  rec.dispatch(
    TRANSFORMER_EMBED,
    [o.ids, o.tokens, o.positions, o.out],
    TRANSFORMER_EMBED.uniforms({
      count,
      width: o.width,
      time: o.time,
      pos_base: o.posBase,
      vocab: o.vocab,
      groups_x: groupsX,
    }),
    workgroups,
  );
}

/** Which entries of a row of attention scores are visible (see {@linkcode causalSoftmax}). */
export interface CausalRows {
  /** Number of rows. */
  rows: number;
  /** Row length (and stride): the number of keys. */
  width: number;
  /** Query positions per block of rows (`T` for a `[T, T]` score matrix, 1 for a step). */
  block: number;
  /** Position of a block's first query (0, or the step's position). */
  offset: number;
}

/**
 * In place on `s` (`rows × width`): the softmax of each row over the keys `j ≤
 * r % block + offset`, 0 past them.
 */
export function causalSoftmax(rec: Recorder, s: Binding, r: CausalRows): void {
  const { workgroups, groupsX } = spreadInvocations(rec.ctx, r.rows, TRANSFORMER_SOFTMAX);
  rec.dispatch(TRANSFORMER_SOFTMAX, [s], rowUniforms(r, groupsX), workgroups);
}

/**
 * In place on `g` (the gradient of the probabilities `prob`, `rows × width`): the
 * gradient of the scores, `prob ⊙ (g − ⟨prob, g⟩)` per row, 0 past the visible keys.
 */
export function causalSoftmaxBackward(
  rec: Recorder,
  prob: Binding,
  g: Binding,
  r: CausalRows,
): void {
  const { workgroups, groupsX } = spreadInvocations(rec.ctx, r.rows, TRANSFORMER_SOFTMAX_BACKWARD);
  rec.dispatch(TRANSFORMER_SOFTMAX_BACKWARD, [prob, g], rowUniforms(r, groupsX), workgroups);
}

function rowUniforms(r: CausalRows, groupsX: number): ArrayBuffer {
  return TRANSFORMER_SOFTMAX.uniforms({
    rows: r.rows,
    width: r.width,
    block: r.block,
    offset: r.offset,
    groups_x: groupsX,
  });
}

/**
 * GELU (tanh form) of the MLP: `"forward"` writes `g = gelu(x)`; `"backward"` multiplies
 * `g` in place by `gelu'(x)`. `g` must not alias `x`.
 */
export function gelu(
  rec: Recorder,
  o: { x: Binding; g: Binding; count: number; mode: "forward" | "backward" },
): void {
  const { workgroups, groupsX } = spreadInvocations(rec.ctx, o.count, TRANSFORMER_GELU);
  rec.dispatch(
    TRANSFORMER_GELU,
    [o.x, o.g],
    TRANSFORMER_GELU.uniforms({
      count: o.count,
      mode: o.mode === "forward" ? 0 : 1,
      groups_x: groupsX,
    }),
    workgroups,
  );
}
