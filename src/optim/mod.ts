/**
 * Optimizers on the GPU: {@linkcode SGD}, {@linkcode Adam} and {@linkcode AdamW} over a
 * list of named parameters living in GPU buffers, with global-norm gradient clipping
 * computed on the GPU (no readback), learning-rate schedules, weight decay that skips
 * biases, layer-norm parameters and step sizes by default, and non-negative step sizes
 * learned in log space (with a larger learning rate) by default.
 *
 * @module
 */

export { Adam, type AdamOptions, AdamW } from "./adam.ts";
export type { GradSource } from "./grads.ts";
export { Optimizer, type OptimizerOptions, type SegmentUpdate } from "./optimizer.ts";
export {
  blockParams,
  defaultDecayFilter,
  defaultLogSpace,
  defaultLrScale,
  defaultNonNegative,
  LOG_SPACE_LR_SCALE,
  type OptimParam,
} from "./params.ts";
export {
  constantSchedule,
  type Schedule,
  type WarmupCosineOptions,
  warmupCosineSchedule,
} from "./schedules.ts";
export { SGD, type SGDOptions } from "./sgd.ts";
export type { OptimizerKind, OptimizerState } from "./state.ts";
