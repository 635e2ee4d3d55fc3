/**
 * `makeLabels`: next-token labels and loss weights for a batch of token sequences.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { checkTensor, type Tensor, tensor } from "../tensor.ts";
import { checkNumber, checkPositiveInteger } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";

/** Options of {@linkcode makeLabels}. */
export interface MakeLabelsOptions {
  /** A padding token: positions whose token or next token is `padId` get weight 0. */
  padId?: number;
  /** `"ids"` (default): int32 `[B, T]`; `"one-hot"`: float32 `[B, T, V]`. */
  form?: "ids" | "one-hot";
}

/** What {@linkcode makeLabels} returns. */
export interface LabelsAndWeights {
  /** Ids `[B, T]` (int32; -1 where the weight is 0) or one-hot rows `[B, T, V]` (float32). */
  labels: Tensor;
  /** Loss weights `[B, T]`: 1, or 0 at each sequence's last position and at padding. */
  weights: Tensor<"float32">;
}

/**
 * The labels and weights of a language-model batch, as the reference's usage shows:
 * the label at position `t` is the token at `t + 1` of the same sequence; the weight is
 * 1 except 0 at each sequence's last position (no next token) and, with `padId`, where
 * the token or the next token is padding.
 *
 * @throws {FWLInputError} If `tokens` is not a host int32 `[B, T]` tensor of ids in
 * `[0, vocabSize)`, or an option is invalid.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { makeLabels } from "./labels.ts";
 * import { tensor } from "../tensor.ts";
 * const tokens = tensor(new Int32Array([5, 2, 7, 1]), [1, 4]);
 * const { labels, weights } = makeLabels(tokens, 10);
 * assertEquals([...labels.hostData!], [2, 7, 1, -1]);
 * assertEquals([...weights.hostData!], [1, 1, 1, 0]);
 * ```
 */
export function makeLabels(
  tokens: Tensor,
  vocabSize: number,
  options: MakeLabelsOptions = {},
): LabelsAndWeights {
  const where = "makeLabels";
  checkTensor(where, "tokens", tokens);
  checkPositiveInteger(where, "vocabSize", vocabSize);
  const { padId, form = "ids" } = options;
  if (padId !== undefined) {
    checkNumber(where, "options.padId", padId, Number.isInteger, "an integer");
  }
  if (form !== "ids" && form !== "one-hot") {
    throw new FWLInputError(where, "options.form", '"ids" or "one-hot"', describeValue(form));
  }
  if (tokens.dtype !== "int32" || tokens.shape.length !== 2) {
    const got = `${tokens.dtype} [${tokens.shape.join(", ")}]`;
    throw new FWLInputError(where, "tokens", "int32 token ids of shape [B, T]", got);
  }
  const data = tokens.hostData;
  if (!data) {
    const what = "host data (read a GPU tensor first)";
    throw new FWLInputError(where, "tokens", what, "a GPU-resident tensor");
  }
  const [B, T] = tokens.shape;
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== padId && (data[i] < 0 || data[i] >= vocabSize)) {
      const what = `ids in [0, ${vocabSize})${
        padId === undefined ? "" : ` or the pad id ${padId}`
      }`;
      throw new FWLInputError(where, "tokens", what, `${data[i]} at flat index ${i}`);
    }
  }
  const ids = new Int32Array(B * T).fill(-1);
  const weights = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const p = b * T + t;
      if (padId !== undefined && (data[p] === padId || data[p + 1] === padId)) continue;
      ids[p] = data[p + 1];
      weights[p] = 1;
    }
  }
  const weightTensor = tensor(weights, [B, T]);
  if (form === "ids") {
    return { labels: tensor(ids, [B, T]), weights: weightTensor };
  }
  const oneHot = new Float32Array(B * T * vocabSize);
  for (let p = 0; p < B * T; p++) {
    if (ids[p] >= 0) oneHot[p * vocabSize + ids[p]] = 1;
  }
  return { labels: tensor(oneHot, [B, T, vocabSize]), weights: weightTensor };
}
