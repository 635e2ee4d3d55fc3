/**
 * The inner-loss normalizers of an FWL block (docs/definition.md §1 and §6): what the summed inner
 * gradient of the tokens seen so far is divided by before the fast weights take their
 * step.
 *
 * - `"batch"`: `N = max(Σ w, 1e-8)` over the whole batch (the reference's; the default of
 *   `FWLBlock`). Ties the update's size to the batch and window; can't be carried.
 * - a number `N`: the update is a plain sum over every token seen, divided by `N`. Exact
 *   in every form, but carried across a long document it grows with every token.
 * - a running mean (`"mean"` or `{ decay, prior, learnDecay }`, docs/definition.md §6): for sequence
 *   `b` at position `t`, counted from the start of the document,
 *   `N[b,t] = max(n0 + Σ_{s<t} λ^(t−1−s)·w[b,s], 1e-8)`, and each earlier token's inner
 *   loss is weighted `λ^(t−1−s)` too. `λ = 1` is the mean of every token's gradient so
 *   far; `λ < 1` forgets, with a memory of about `1/(1−λ)` tokens. The update's size does
 *   not depend on the batch, the window or the position, so the fast weights can be
 *   carried through a document of any length.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { checkBoolean, checkNumber } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";

/**
 * The running-mean normalizer of docs/definition.md §6, as a caller writes it. Every field is
 * optional: `{}` (or `"mean"`) is the plain running mean, `λ = 1`, `n0 = 0`.
 */
export interface MeanNormalizerOptions {
  /**
   * The decay λ in (0, 1] (default 1): each earlier token's inner loss is weighted
   * `λ^(t−1−s)`, a memory of about `1/(1−λ)` tokens; 1 weighs every token alike (the
   * running mean). Decaying the update equals decaying the fast weights toward the slow
   * ones.
   */
  decay?: number;
  /**
   * The prior count n0 ≥ 0 (default 0), added to the (decayed) count of tokens seen: the
   * first tokens of a document then move the fast weights less.
   */
  prior?: number;
  /**
   * Learn λ like the step sizes (default `false`): it becomes the parameter
   * `normalizer/decay` of the block, in the optimizer's list, learned in log space of
   * `1 − λ` so that its memory moves by factors. Needs `decay < 1` to start from.
   */
  learnDecay?: boolean;
}

/** The running-mean normalizer with every field resolved (as `block.normalizer` holds it). */
export interface MeanNormalizer {
  /** The decay λ the block was made with (a learned λ then lives in `normalizer/decay`). */
  readonly decay: number;
  /** The prior count n0. */
  readonly prior: number;
  /** Whether λ is a learned parameter. */
  readonly learnDecay: boolean;
}

/** An inner-loss normalizer as callers pass it (see the module doc). */
export type NormalizerOption = "batch" | number | "mean" | MeanNormalizerOptions;

/** An inner-loss normalizer, resolved: `"batch"`, a fixed `N`, or a running mean. */
export type Normalizer = "batch" | number | MeanNormalizer;

/** The name of the learned (or fixed, below 1) decay among a block's parameters. */
export const DECAY_NAME = "normalizer/decay";

/**
 * Checks and resolves a normalizer option (an {@linkcode FWLInputError} names `name`
 * and says what is accepted).
 *
 * @throws {FWLInputError} If `value` is not `"batch"`, `"mean"`, a finite `N > 0` or running-mean
 * options (decay in (0, 1], prior ≥ 0, learnDecay a boolean).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { resolveNormalizer } from "./normalizer.ts";
 * assertEquals(resolveNormalizer("demo", "normalizer", "mean"), {
 *   decay: 1,
 *   prior: 0,
 *   learnDecay: false,
 * });
 * assertEquals(resolveNormalizer("demo", "normalizer", { decay: 0.99, prior: 8 }), {
 *   decay: 0.99,
 *   prior: 8,
 *   learnDecay: false,
 * });
 * ```
 */
export function resolveNormalizer(where: string, name: string, value: unknown): Normalizer {
  if (value === "batch") return "batch";
  if (value === "mean") return Object.freeze({ decay: 1, prior: 0, learnDecay: false });
  if (typeof value === "number") {
    return checkNumber(where, name, value, (v) => v > 0, '"batch", "mean", a finite N > 0');
  }
  if (value === null || typeof value !== "object") {
    throw new FWLInputError(
      where,
      name,
      '"batch", a finite number N > 0, "mean" or { decay?, prior?, learnDecay? }',
      describeValue(value),
    );
  }
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!["decay", "prior", "learnDecay"].includes(key)) {
      throw new FWLInputError(
        where,
        `${name}.${key}`,
        "only decay, prior and learnDecay",
        describeValue(o[key]),
      );
    }
  }
  const decay = checkNumber(
    where,
    `${name}.decay`,
    o.decay ?? 1,
    (v) => v > 0 && v <= 1,
    "a decay λ in (0, 1]",
  );
  const prior = checkNumber(
    where,
    `${name}.prior`,
    o.prior ?? 0,
    (v) => v >= 0,
    "a prior count n0: a finite number ≥ 0",
  );
  const learnDecay = checkBoolean(where, `${name}.learnDecay`, o.learnDecay ?? false);
  if (learnDecay && decay === 1) {
    throw new FWLInputError(
      where,
      `${name}.decay`,
      "a decay below 1 to learn from (λ is learned through log(1 − λ))",
      "1",
    );
  }
  return Object.freeze({ decay, prior, learnDecay });
}

/** Whether a resolved normalizer is a running mean. */
export function isMean(n: Normalizer): n is MeanNormalizer {
  return typeof n === "object";
}

/**
 * Whether a block with this normalizer has the parameter `normalizer/decay` (and so
 * decays its sums): a running mean whose λ is learned or below 1.
 */
export function hasDecay(n: Normalizer): n is MeanNormalizer {
  return isMean(n) && (n.learnDecay || n.decay < 1);
}
