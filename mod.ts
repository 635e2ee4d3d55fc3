/**
 * @x/fwl — Fast Weight Layers for Deno, on WebGPU.
 *
 * A Fast Weight Layer head sits between a language model's body and its softmax; its
 * parameters take one gradient step on the loss of the tokens seen so far, for every
 * position at once, computed as causal linear attention.
 *
 * @example
 * ```ts ignore
 * import { FWLBlock, makeLabels, tensor } from "@x/fwl";
 * const block = new FWLBlock(32, 100, 4);
 * await block.build(64);
 * ```
 *
 * @module
 */

export { FWLBlock, type FWLBlockOptions, type HeadCallOptions } from "./src/fwl/block.ts";
export { FWLStream, type FWLStreamOptions } from "./src/fwl/stream.ts";
export {
  greedy,
  type RandomSource,
  type SampleOptions,
  sampleToken,
  sampleTokens,
} from "./src/fwl/sampling.ts";
export {
  lossAndGrads,
  lossAndGradsGPU,
  type LossAndGradsGPUOptions,
  type LossAndGradsGPUResult,
  type LossAndGradsOptions,
} from "./src/train/loss_and_grads.ts";
export {
  createGradBuffers,
  type GradBuffers,
  namedGrads,
  readGradBuffers,
  releaseGradBuffers,
} from "./src/train/grad_buffers.ts";
export { type LabelsAndWeights, makeLabels, type MakeLabelsOptions } from "./src/fwl/labels.ts";
export { type ArrayOf, type DType, gpuTensor, Tensor, tensor } from "./src/tensor.ts";
export {
  FWLError,
  FWLInputError,
  FWLStateError,
  GPUKernelError,
  GPUUnavailableError,
} from "./src/errors.ts";
export { GPUContext, type KernelSpec } from "./src/gpu/context.ts";
export { type Binding, Recorder } from "./src/gpu/recorder.ts";
export type { UpdateScalars } from "./src/kernels/optimizer.ts";
export { BufferPool } from "./src/gpu/buffer_pool.ts";
export type { ParamBuffers } from "./src/fwl/forward.ts";
export {
  type BlockDims,
  FAST_PARAM_NAMES,
  initParams,
  PARAM_NAMES,
  type ParamName,
  paramShapes,
  SeededRandom,
  STEP_NAMES,
} from "./src/fwl/params.ts";
export {
  Adam,
  type AdamOptions,
  AdamW,
  blockParams,
  defaultDecayFilter,
  defaultNonNegative,
  type GradSource,
  Optimizer,
  type OptimizerKind,
  type OptimizerOptions,
  type OptimizerState,
  type OptimParam,
  SGD,
  type SGDOptions,
} from "./src/train/optimizer.ts";
export {
  constantSchedule,
  type Schedule,
  type WarmupCosineOptions,
  warmupCosineSchedule,
} from "./src/train/schedules.ts";
export {
  type DecodedSafetensors,
  type DecodedTensor,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "./src/train/safetensors.ts";
export {
  CHECKPOINT_METADATA,
  checkpointBytes,
  loadCheckpoint,
  loadCheckpointBytes,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  OPTIMIZER_PREFIX,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./src/train/checkpoint.ts";
export type { BodyParameter, BodyState, ModelBody } from "./src/bodies/model_body.ts";
export {
  TransformerBody,
  type TransformerBodyOptions,
  TransformerState,
} from "./src/bodies/transformer.ts";
export {
  blockParamName,
  initTransformerParams,
  TRANSFORMER_BLOCK_PARAMS,
  TRANSFORMER_EPSILON,
  type TransformerBlockParam,
  type TransformerDims,
  transformerParamShapes,
} from "./src/bodies/transformer_params.ts";
export { LSTMBody, type LSTMBodyOptions, LSTMState } from "./src/bodies/lstm.ts";
export {
  initLSTMParams,
  type LSTMDims,
  lstmParamNames,
  lstmParamShapes,
} from "./src/bodies/lstm_params.ts";
export {
  type CreateLanguageModelOptions,
  type GenerateOptions,
  LanguageModel,
  type LanguageModelOptions,
  type TokensOptions,
  type TrainStepResult,
} from "./src/lm/language_model.ts";
export { perplexity, type PerplexityResult, type TokenScores } from "./src/lm/perplexity.ts";
export { BODY_PREFIX, HEAD_PREFIX } from "./src/lm/plug.ts";
export {
  languageModelBytes,
  type LanguageModelCheckpointOptions,
  LM_CHECKPOINT_METADATA,
  LM_OPTIMIZER_PREFIX,
  loadLanguageModelBytes,
  type LoadLanguageModelOptions,
} from "./src/lm/lm_checkpoint.ts";
export type { TokenDataset } from "./src/data/dataset.ts";
export { SyntheticLanguage, type SyntheticLanguageOptions } from "./src/data/synthetic.ts";
export { ByteText, type ByteTextOptions } from "./src/data/text.ts";
