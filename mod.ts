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
export { FWLState, type FWLStateOptions } from "./src/fwl/fast_state.ts";
export { greedy, type SampleOptions, sampleToken, sampleTokens } from "./src/fwl/sampling.ts";
export {
  lossAndGrads,
  lossAndGradsGPU,
  type LossAndGradsGPUOptions,
  type LossAndGradsGPUResult,
  type LossAndGradsOptions,
} from "./src/fwl/loss_and_grads.ts";
export {
  createGradBuffers,
  type GradBuffers,
  namedGrads,
  readGradBuffers,
  releaseGradBuffers,
} from "./src/fwl/grad_buffers.ts";
export { type LabelsAndWeights, makeLabels, type MakeLabelsOptions } from "./src/fwl/labels.ts";
export { type ArrayOf, type DType, gpuTensor, Tensor, tensor } from "./src/tensor.ts";
export {
  FWLError,
  FWLInputError,
  FWLSizeError,
  FWLStateError,
  GPUKernelError,
  GPUUnavailableError,
} from "./src/errors.ts";
export { GPUContext, type KernelSpec } from "./src/gpu/context.ts";
export { type Binding, packUniforms, Recorder } from "./src/gpu/recorder.ts";
export type { UpdateScalars } from "./src/kernels/optimizer.ts";
export { BufferPool } from "./src/gpu/buffer_pool.ts";
export type { Head, ParamBuffers } from "./src/fwl/head.ts";
export {
  type BlockDims,
  FAST_PARAM_NAMES,
  initParams,
  PARAM_NAMES,
  type ParamName,
  paramShapes,
  STEP_NAMES,
} from "./src/fwl/params.ts";
export { type RandomSource, SeededRandom } from "./src/util/random.ts";
export {
  Adam,
  type AdamOptions,
  AdamW,
  blockParams,
  constantSchedule,
  defaultDecayFilter,
  defaultNonNegative,
  type GradSource,
  Optimizer,
  type OptimizerKind,
  type OptimizerOptions,
  type OptimizerState,
  type OptimParam,
  type Schedule,
  type SegmentUpdate,
  SGD,
  type SGDOptions,
  type WarmupCosineOptions,
  warmupCosineSchedule,
} from "./src/optim/mod.ts";
export {
  type DecodedSafetensors,
  type DecodedTensor,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "./src/io/safetensors.ts";
export {
  CHECKPOINT_METADATA,
  checkpointBytes,
  type CheckpointedModel,
  languageModelBytes,
  type LanguageModelCheckpointOptions,
  loadCheckpoint,
  loadCheckpointBytes,
  type LoadCheckpointOptions,
  type LoadedCheckpoint,
  loadLanguageModelBytes,
  type LoadLanguageModelOptions,
  OPTIMIZER_PREFIX,
  saveCheckpoint,
  type SaveCheckpointOptions,
} from "./src/io/checkpoint.ts";
export type { BodyParameter, BodyState, ModelBody } from "./src/bodies/model_body.ts";
export type { ParamHolder } from "./src/params/store.ts";
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
  type DocumentOptions,
  type DynamicEvaluationOptions,
  type GenerateOptions,
  LanguageModel,
  type LanguageModelOptions,
  type TokensOptions,
  type TrainStepResult,
} from "./src/lm/language_model.ts";
export { perplexity, type PerplexityResult, type TokenScores } from "./src/lm/perplexity.ts";
export { BODY_PREFIX, HEAD_PREFIX } from "./src/lm/plug.ts";
export type { TokenDataset } from "./src/data/dataset.ts";
export { SyntheticLanguage, type SyntheticLanguageOptions } from "./src/data/synthetic.ts";
export { ByteText, type ByteTextOptions } from "./src/data/text.ts";
