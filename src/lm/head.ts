/**
 * The FWL head `LanguageModel.create` puts on a body: its defaults (among them the
 * normalizer {@linkcode LM_NORMALIZER}), built for the body's hidden width, with its
 * step sizes set.
 *
 * @module
 */

import type { ModelBody } from "../bodies/model_body.ts";
import { FWLInputError } from "../errors.ts";
import { FWLBlock } from "../fwl/block.ts";
import type { MeanNormalizerOptions } from "../fwl/normalizer.ts";
import { STEP_NAMES } from "../fwl/params.ts";
import { describeValue } from "../util/describe.ts";
import { checkNonNegative } from "../util/validate.ts";
import type { CreateLanguageModelOptions } from "./options.ts";

/**
 * The inner-loss normalizer `LanguageModel.create` gives a head by default: the running
 * mean of docs/definition.md §6, its decay λ learned from 0.99 (a memory of about 100 tokens; on the
 * Node.js docs an LSTM's head learned 0.996–0.997, docs/benchmarks.md) and a prior count of 16, so a document's
 * first tokens move the fast weights less. Measured on real text (`examples/real_text.ts`,
 * README): the best of the settings tried for heads trained on long documents.
 */
export const LM_NORMALIZER: Readonly<MeanNormalizerOptions> = Object.freeze({
  decay: 0.99,
  prior: 16,
  learnDecay: true,
});

/** A head built by {@linkcode buildHead}, and whether its fast weights are on. */
export interface BuiltHead {
  /** The built head, owned by the caller. */
  head: FWLBlock;
  /** `options.fastWeights` (default `true`). */
  fastWeights: boolean;
}

/**
 * Builds the head of `LanguageModel.create(body, options)`: an {@linkcode FWLBlock} with
 * the options' sizes, normalizer (default {@linkcode LM_NORMALIZER}) and seed, built for
 * `body.hiddenSize`, its six step sizes set to `options.stepSize` (default 0.001) when
 * the fast weights are on. On error nothing is left to dispose.
 *
 * @throws {FWLInputError} If `options` is no object or holds a bad size, normalizer or
 *   step size.
 */
export async function buildHead(
  where: string,
  body: ModelBody,
  options: CreateLanguageModelOptions,
): Promise<BuiltHead> {
  if (options === null || typeof options !== "object") {
    const what = "an object with at least { vocabSize }";
    throw new FWLInputError(where, "options", what, describeValue(options));
  }
  const {
    vocabSize,
    headSize = 32,
    attnChunks = 4,
    normalizer = LM_NORMALIZER,
    stepSize = 0.001,
  } = options;
  const { seed = 0, device, fastWeights = true } = options;
  checkNonNegative(where, "options.stepSize", stepSize);
  const head = new FWLBlock(headSize, vocabSize, attnChunks, { normalizer, seed, device });
  try {
    await head.build(body.hiddenSize);
    if (fastWeights) {
      const steps = STEP_NAMES.map((name) => [name, new Float32Array([stepSize])]);
      await head.setParams(Object.fromEntries(steps)); // a partial set: the step sizes only
    }
    return { head, fastWeights };
  } catch (e) {
    head.dispose();
    throw e;
  }
}
