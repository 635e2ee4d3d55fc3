/**
 * @x/fwl — Fast Weight Layers for Deno, on WebGPU.
 *
 * A Fast Weight Layer head sits between a language model's body and its softmax; its
 * parameters take one gradient step on the loss of the tokens seen so far, for every
 * position at once, computed as causal linear attention.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { FWLBlock, makeLabels, tensor } from "@x/fwl";
 * const [V, D, T] = [16, 8, 6];
 * using block = new FWLBlock(4, V, 2, { seed: 1 }); // size 4, vocabulary V, 2 attention chunks
 * await block.build(D);
 * const tokens = tensor(new Int32Array([3, 7, 3, 7, 3, 7]), [1, T]);
 * const { labels, weights } = makeLabels(tokens, V); // next-token targets
 * const x = tensor(new Float32Array(T * D).map((_, i) => Math.sin(i)), [1, T, D]);
 * using logits = await block.forward(x, labels, weights);
 * assertEquals(logits.shape, [1, T, V]); // next-token logits at every position
 * assert((await logits.read()).every(Number.isFinite));
 * ```
 *
 * @module
 */

// The head: the block, its parameter names, its inputs.
export { FWLBlock, type FWLBlockOptions, type HeadCallOptions } from "./src/fwl/block.ts";
export { type LabelsAndWeights, makeLabels, type MakeLabelsOptions } from "./src/fwl/labels.ts";
export { Tensor, tensor } from "./src/tensor.ts";
export { GPUContext } from "./src/gpu/context.ts";
export {
  FWLError,
  FWLInputError,
  FWLSizeError,
  FWLStateError,
  GPUKernelError,
  GPUUnavailableError,
} from "./src/errors.ts";

// Long documents and generation: the carried fast-weight state, the recurrent form, sampling.
export { FWLStream, type FWLStreamOptions } from "./src/fwl/stream.ts";
export { type CarriedNormalizer, FWLState, type FWLStateOptions } from "./src/fwl/state.ts";
export type {
  MeanNormalizer,
  MeanNormalizerOptions,
  Normalizer,
  NormalizerOption,
} from "./src/fwl/normalizer.ts";
export {
  greedy,
  sampleDistribution,
  type SampleOptions,
  sampleToken,
  sampleTokens,
} from "./src/fwl/sampling.ts";
export { counterUniform, type RandomSource, SeededRandom } from "./src/util/random.ts";

// Training through the update, and the optimizers.
export {
  Adam,
  type AdamOptions,
  AdamW,
  blockParams,
  Optimizer,
  type OptimizerOptions,
  type OptimParam,
  type Schedule,
  SGD,
  type SGDOptions,
  type WarmupCosineOptions,
  warmupCosineSchedule,
} from "./src/optim/mod.ts";

// Checkpoints (safetensors files).
export {
  checkpointBytes,
  loadCheckpoint,
  loadCheckpointBytes,
  type LoadCheckpointOptions,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./src/io/checkpoint.ts";

// Language models: a body under an FWL head.
export type { BodyState, ModelBody } from "./src/bodies/model_body.ts";
export type { BodyParameter } from "./src/params/parameter.ts";
export { LSTMBody, type LSTMBodyOptions } from "./src/bodies/lstm.ts";
export { TransformerBody, type TransformerBodyOptions } from "./src/bodies/transformer.ts";
export {
  type CreateLanguageModelOptions,
  type DocumentOptions,
  type DynamicEvaluationOptions,
  type GenerateOptions,
  LanguageModel,
  type LanguageModelOptions,
  LM_NORMALIZER,
  type TokensOptions,
  type TrainStepOptions,
  type TrainStepResult,
} from "./src/lm/language_model.ts";
export { DocumentState } from "./src/lm/document_state.ts";
export { TOKENS_PER_SUBMISSION } from "./src/lm/generate.ts";
export { perplexity, type PerplexityResult, type TokenScores } from "./src/lm/perplexity.ts";
