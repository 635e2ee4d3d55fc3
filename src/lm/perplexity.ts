/**
 * Per-token scores of a language model and perplexity over any subset of positions.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { describeValue } from "../util/describe.ts";

/**
 * The scores of a batch of `B` sequences of `T` tokens: one entry per predicted token,
 * `[B, T − 1]` row-major. Entry `b·(T−1) + t` is about the prediction of token `t + 1`
 * of sequence `b` from tokens `0…t`.
 */
export interface TokenScores {
  /** `[B, T − 1]`: the shape of `nll` and `targets`. */
  shape: [number, number];
  /** Negative log-likelihood (nats) of each predicted token; 0 where `targets` is −1. */
  nll: Float32Array;
  /** The predicted token at each entry; −1 where nothing is scored (padding). */
  targets: Int32Array;
  /** Mean NLL over the scored entries (nats per token). */
  loss: number;
  /** `exp(loss)`. */
  perplexity: number;
  /** Number of scored entries. */
  count: number;
}

/** What {@linkcode perplexity} returns. */
export interface PerplexityResult {
  /** `exp(mean NLL)` over the selected entries; `NaN` when none was selected. */
  perplexity: number;
  /** Mean NLL in nats over the selected entries; `NaN` when none was selected. */
  loss: number;
  /** Number of selected entries. */
  count: number;
}

/**
 * Perplexity over the scored entries of one or more {@linkcode TokenScores} whose target
 * passes `select` (all of them by default): `exp(mean NLL)`. Use it to pool batches and
 * to measure a kind of token, such as rare entity names.
 *
 * @throws {FWLInputError} If `scores` are no {@linkcode TokenScores} or `select` no function.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { perplexity, type TokenScores } from "@x/fwl";
 * const scores: TokenScores = {
 *   shape: [1, 3],
 *   nll: new Float32Array([1, 3, 0]),
 *   targets: new Int32Array([7, 42, -1]),
 *   loss: 2,
 *   perplexity: Math.exp(2),
 *   count: 2,
 * };
 * assertEquals(perplexity(scores), { perplexity: Math.exp(2), loss: 2, count: 2 });
 * assertEquals(perplexity(scores, (id) => id >= 40).loss, 3); // the rare ids only
 * ```
 */
export function perplexity(
  scores: TokenScores | readonly TokenScores[],
  select?: (target: number) => boolean,
): PerplexityResult {
  const where = "perplexity";
  const list = Array.isArray(scores) ? scores : [scores as TokenScores];
  if (select !== undefined && typeof select !== "function") {
    const what = "a function (target) => boolean";
    throw new FWLInputError(where, "select", what, describeValue(select));
  }
  let total = 0, count = 0;
  list.forEach((s, i) => {
    if (
      s === null || typeof s !== "object" || !(s.nll instanceof Float32Array) ||
      !(s.targets instanceof Int32Array) || s.nll.length !== s.targets.length
    ) {
      const name = Array.isArray(scores) ? `scores[${i}]` : "scores";
      const what = "TokenScores { nll: Float32Array, targets: Int32Array } of equal length";
      throw new FWLInputError(where, name, what, describeValue(s));
    }
    for (let j = 0; j < s.nll.length; j++) {
      const target = s.targets[j];
      if (target < 0 || (select && !select(target))) continue;
      total += s.nll[j];
      count++;
    }
  });
  const loss = count > 0 ? total / count : NaN;
  return { perplexity: Math.exp(loss), loss, count };
}
