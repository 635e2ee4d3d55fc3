/**
 * The checks of `LanguageModel.generate`, made when it is called (before the first
 * token is asked for): what the body offers, the prompt, the sampling options, the stop
 * ids, the document state or normalizer. They give the {@linkcode GenerationPlan} that
 * `generateTokens` runs.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import { checkOptions } from "../fwl/inputs.ts";
import { checkSampling } from "../kernels/sample.ts";
import { carriedNormalizer } from "../fwl/state.ts";
import {
  checkCount,
  checkPositiveInteger,
  checkSafeInteger,
  checkSignal,
} from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";
import { type GenerateOptions, type GenerationPlan, TOKENS_PER_SUBMISSION } from "./generate.ts";
import { checkDocumentState, tokenIds } from "./inputs.ts";
import type { ModelParts } from "./model_parts.ts";

/** Marks the model busy (throws if it is) and free again. */
export interface BusyMark {
  /** Marks the model busy; throws if it is. */
  enter(): void;
  /** Marks the model free again. */
  leave(): void;
}

/**
 * Checks a call of `generate` and makes the plan of its run.
 *
 * @throws {FWLStateError} If the body has no `initState` and `step`.
 * @throws {FWLInputError} For a bad prompt, option or state.
 */
export function planGeneration(
  where: string,
  model: ModelParts,
  prompt: ArrayLike<number>,
  options: GenerateOptions,
  busy: BusyMark,
): GenerationPlan {
  const { body, head } = model, vocabSize = head.vocabSize;
  if (typeof body.initState !== "function" || typeof body.step !== "function") {
    throw new FWLStateError(
      `${where}: the body can't generate: it needs initState(batchSize) and ` +
        `step(tokens, state) (see ModelBody)`,
    );
  }
  checkOptions(where, options);
  const ids = tokenIds(where, "prompt", prompt, 1, vocabSize);
  const {
    maxTokens = 32,
    temperature = 1,
    topK,
    topP = 1,
    seed = 0,
    normalizer,
    stop = [],
    tokensPerSubmission = TOKENS_PER_SUBMISSION,
    state,
    signal,
  } = options;
  checkCount(where, "options.maxTokens", maxTokens);
  checkSafeInteger(where, "options.seed", seed);
  checkPositiveInteger(where, "options.tokensPerSubmission", tokensPerSubmission);
  checkSampling(where, "options.", { temperature, topK, topP });
  const stopIds = tokenIds(
    where,
    "options.stop",
    typeof stop === "number" ? [stop] : stop,
    0,
    vocabSize,
  );
  checkSignal(where, "options.signal", signal);
  if (state !== undefined) {
    checkDocumentState(where, state, 1, model.fastWeights);
    if (normalizer !== undefined) {
      const what = "nothing (the state's head state carries its normalizer)";
      throw new FWLInputError(where, "options.normalizer", what, describeValue(normalizer));
    }
  } else {
    carriedNormalizer(head, normalizer); // what the generation's stream will check
  }
  return {
    where,
    body,
    head,
    vocabSize,
    prompt: ids,
    maxTokens,
    sampling: { temperature, topK, topP, seed },
    stop: new Set(stopIds),
    tokensPerSubmission,
    normalizer,
    state,
    signal,
    enter: () => busy.enter(),
    leave: () => busy.leave(),
  };
}
