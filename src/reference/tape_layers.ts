/**
 * The FWL's composite steps written in the ops of the reference autodiff tape
 * (`autodiff.ts`): layer normalization's parts and the weighted cross-entropy, as the
 * outer-gradient reference (docs/definition.md §4) records them.
 *
 * @module
 */

import type { Tape, Tensor } from "./autodiff.ts";

/**
 * Layer-norm pieces built from differentiable ops: `n̂ = (h − μ)/σ` and
 * `σ = sqrt(var(h) + ε)` (biased variance) per row.
 */
export function layerNormParts(
  tape: Tape,
  h: Tensor,
  epsilon: number,
): { nhat: Tensor; sigma: Tensor } {
  const centered = tape.sub(h, tape.rowMean(h));
  const variance = tape.rowMean(tape.square(centered));
  const sigma = tape.sqrt(tape.add(variance, tape.scalar(epsilon)));
  return { nhat: tape.div(centered, sigma), sigma };
}

/**
 * Weighted cross-entropy `Σ_r w_r · (−Σ_v y_rv · log softmax(z)_rv)` → `[1,1]`, with
 * constant targets `y` `[m,V]` and row weights `w` `[m,1]` (gradient flows into `z`).
 */
export function weightedCrossEntropy(
  tape: Tape,
  z: Tensor,
  y: Tensor,
  w: Tensor,
): Tensor {
  const perEntry = tape.mul(tape.mul(tape.logSoftmax(z), y), w);
  return tape.mul(tape.sum(perEntry), tape.scalar(-1));
}
