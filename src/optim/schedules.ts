/**
 * Learning-rate schedules: functions from the step number (the number of updates
 * already done, 0 for the first update) to a learning rate.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { checkCount, checkNonNegative } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";

/** A learning-rate schedule: `step` (0 for the first update) → learning rate. */
export type Schedule = (step: number) => number;

/**
 * The same learning rate at every step.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError } from "@x/fwl";
 * import { constantSchedule } from "@x/fwl/gpu";
 * const lr = constantSchedule(3e-4);
 * assertEquals([lr(0), lr(1000)], [3e-4, 3e-4]);
 * assertThrows(() => constantSchedule(-1), FWLInputError);
 * ```
 *
 * @throws {FWLInputError} If `lr` is not a finite number ≥ 0.
 */
export function constantSchedule(lr: number): Schedule {
  const value = checkNonNegative("constantSchedule", "lr", lr);
  return (_step: number) => value;
}

/** Options of {@linkcode warmupCosineSchedule}. */
export interface WarmupCosineOptions {
  /** The learning rate at the end of the warm-up. */
  peak: number;
  /** Steps of linear warm-up (0 for none). */
  warmupSteps: number;
  /** The step at which the cosine decay reaches `final` (≥ `warmupSteps`). */
  totalSteps: number;
  /** The learning rate at and after `totalSteps` (default 0). */
  final?: number;
}

/**
 * Linear warm-up then cosine decay:
 *
 * - `step < warmupSteps`: `peak · (step + 1) / warmupSteps` (the first update already
 *   moves; the last warm-up step uses `peak`);
 * - `warmupSteps ≤ step < totalSteps`: `final + (peak − final) · (1 + cos(π·p)) / 2`
 *   with `p = (step − warmupSteps) / (totalSteps − warmupSteps)`;
 * - `step ≥ totalSteps`: `final`.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError, warmupCosineSchedule } from "@x/fwl";
 * const lr = warmupCosineSchedule({ peak: 1, warmupSteps: 4, totalSteps: 12 });
 * assertEquals([lr(0), lr(3), lr(4), lr(12), lr(100)], [0.25, 1, 1, 0, 0]);
 * assertAlmostEquals(lr(8), 0.5); // half way through the cosine
 * assertThrows(
 *   () => warmupCosineSchedule({ peak: 1, warmupSteps: 4, totalSteps: 2 }),
 *   FWLInputError, // totalSteps < warmupSteps
 * );
 * ```
 *
 * @throws {FWLInputError} If `options` is not an object, `peak` or `final` is not a
 * finite number ≥ 0, `warmupSteps` or `totalSteps` is not an integer ≥ 0, or
 * `totalSteps < warmupSteps`.
 */
export function warmupCosineSchedule(options: WarmupCosineOptions): Schedule {
  const where = "warmupCosineSchedule";
  if (options === null || typeof options !== "object") {
    const expected = "an object { peak, warmupSteps, totalSteps, final? }";
    throw new FWLInputError(where, "options", expected, describeValue(options));
  }
  const peak = checkNonNegative(where, "peak", options.peak);
  const warmup = checkCount(where, "warmupSteps", options.warmupSteps);
  const total = checkCount(where, "totalSteps", options.totalSteps);
  const final = checkNonNegative(where, "final", options.final ?? 0);
  if (total < warmup) {
    throw new FWLInputError(
      where,
      "totalSteps",
      `an integer ≥ warmupSteps (${warmup})`,
      `${total}`,
    );
  }
  return (step: number): number => {
    if (step < warmup) return peak * (step + 1) / warmup;
    if (step >= total) return final;
    const p = (step - warmup) / (total - warmup);
    return final + (peak - final) * (1 + Math.cos(Math.PI * p)) / 2;
  };
}
