/**
 * Checks of what `LanguageModel`'s methods are given: token ids, batches of token
 * sequences with their next-token labels, documents with their window options, the
 * options of dynamic evaluation and document states. Each throws the typed error of
 * the public method named by `where`.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { checkOptions } from "../fwl/inputs.ts";
import { makeLabels } from "../fwl/labels.ts";
import { Tensor } from "../tensor.ts";
import { describeValue } from "../util/describe.ts";
import {
  checkBoolean,
  checkCount,
  checkFraction,
  checkNumber,
  checkPositive,
  checkPositiveInteger,
  checkSignal,
} from "../util/validate.ts";
import { DocumentState } from "./document_state.ts";
import type { DocumentOptions, DynamicEvaluationOptions, TokensOptions } from "./options.ts";

/** `value` as token ids in `[0, V)`, at least `min` of them, or an FWLInputError. */
export function tokenIds(
  where: string,
  name: string,
  value: unknown,
  min: number,
  V: number,
): Int32Array {
  const a = value as ArrayLike<number>;
  if (a === null || typeof a !== "object" || typeof a.length !== "number" || a.length < min) {
    const what = `at least ${min} token id(s) (an array, Int32Array or int32 host tensor)`;
    throw new FWLInputError(where, name, what, describeValue(value));
  }
  return Int32Array.from({ length: a.length }, (_, i) => {
    const id = a[i];
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new FWLInputError(where, name, `token ids in [0, ${V})`, `${id} at index ${i}`);
    }
    return id;
  });
}

/** Rethrows `e`, an input error of a helper, as one of the public method `where`. */
export function rethrowAt(where: string, e: unknown): never {
  if (!(e instanceof FWLInputError)) throw e;
  throw new FWLInputError(where, e.argument, e.expected, e.received);
}

/** A checked document and its window options. */
export interface DocumentParts {
  ids: Int32Array;
  window: number;
  context: number;
  bodyWindow: number;
  normalizer: number | undefined;
  carryFastWeights: boolean;
  progress: ((scored: number, total: number) => void) | undefined;
  signal: AbortSignal | undefined;
}

/** Checks a document of token ids in `[0, vocabSize)` and its window options. */
export function checkDocument(
  where: string,
  tokens: ArrayLike<number> | Tensor<"int32">,
  options: DocumentOptions,
  vocabSize: number,
): DocumentParts {
  checkOptions(where, options);
  const { window = 256, context = 0, normalizer, carryFastWeights = true, progress } = options;
  checkPositiveInteger(where, "options.window", window);
  const bodyWindow = options.bodyWindow ?? window;
  checkPositiveInteger(where, "options.bodyWindow", bodyWindow);
  checkCount(where, "options.context", context);
  checkBoolean(where, "options.carryFastWeights", carryFastWeights);
  if (progress !== undefined && typeof progress !== "function") {
    throw new FWLInputError(where, "options.progress", "a function", describeValue(progress));
  }
  const data = tokens instanceof Tensor
    ? (tokens.disposed || tokens.dtype !== "int32" ? undefined : tokens.hostData)
    : tokens;
  const ids = tokenIds(where, "tokens", data, 2, vocabSize);
  const signal = checkSignal(where, "options.signal", options.signal);
  return { ids, window, context, bodyWindow, normalizer, carryFastWeights, progress, signal };
}

/** The options of dynamic evaluation with their defaults filled in. */
export type DynamicEvaluationPlan =
  & Required<
    Omit<DynamicEvaluationOptions, "normalizer" | "carryFastWeights" | "progress" | "signal">
  >
  & DynamicEvaluationOptions;

/** Checks the options of dynamic evaluation and fills in their defaults. */
export function checkDynamicOptions(
  where: string,
  options: DynamicEvaluationOptions,
): DynamicEvaluationPlan {
  checkOptions(where, options);
  const { lr, segment = 128, method = "sgd", decay = 0, beta2 = 0.99, eps = 1e-8 } = options;
  checkPositive(where, "options.lr", lr);
  checkPositiveInteger(where, "options.segment", segment);
  if (method !== "sgd" && method !== "rms") {
    throw new FWLInputError(where, "options.method", '"sgd" or "rms"', describeValue(method));
  }
  checkNumber(where, "options.decay", decay, (v) => v >= 0 && v <= 1, "a number in [0, 1]");
  checkFraction(where, "options.beta2", beta2);
  checkPositive(where, "options.eps", eps);
  return { ...options, lr, segment, method, decay, beta2, eps, context: options.context ?? 0 };
}

/** A checked batch `[B, T]` of token sequences and its next-token labels and weights. */
export interface Batch {
  B: number;
  T: number;
  labels: Tensor;
  weights: Tensor<"float32">;
}

/** Checks the tokens (ids in `[0, vocabSize)`) and makes the next-token labels and weights. */
export function prepareBatch(
  where: string,
  tokens: Tensor<"int32">,
  options: TokensOptions,
  vocabSize: number,
): Batch {
  if (!(tokens instanceof Tensor) || tokens.disposed) {
    const what = "a live int32 Tensor [B, T] (see tensor())";
    throw new FWLInputError(where, "tokens", what, describeValue(tokens));
  }
  if (tokens.dtype !== "int32" || tokens.shape.length !== 2 || tokens.shape[0] < 1) {
    const got = `${tokens.dtype} [${tokens.shape.join(", ")}]`;
    throw new FWLInputError(where, "tokens", "int32 token ids of shape [B, T]", got);
  }
  const [B, T] = tokens.shape;
  if (T < 2) {
    const what = "T ≥ 2 tokens per sequence (the first one is never predicted)";
    throw new FWLInputError(where, "tokens", what, `T = ${T}`);
  }
  checkOptions(where, options);
  try {
    return { B, T, ...makeLabels(tokens, vocabSize, { padId: options.padId }) };
  } catch (e) {
    rethrowAt(where, e);
  }
}

/**
 * Throws unless `state` is a live document state for `B` rows of a model whose fast
 * weights are on or off as `fastWeights` says.
 */
export function checkDocumentState(
  where: string,
  state: unknown,
  B: number,
  fastWeights: boolean,
): asserts state is DocumentState {
  if (!(state instanceof DocumentState) || state.disposed) {
    const what = "a live DocumentState (from lm.documentState(B))";
    throw new FWLInputError(where, "options.state", what, describeValue(state));
  }
  if (state.batchSize !== B) {
    const what = `a state of ${B} rows (the batch's)`;
    throw new FWLInputError(where, "options.state", what, `one of ${state.batchSize}`);
  }
  if ((state.head !== undefined) !== fastWeights) {
    const what = "a state made by this model's documentState";
    throw new FWLInputError(where, "options.state", what, "one of another model");
  }
}
