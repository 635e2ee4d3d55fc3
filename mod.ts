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

export { FWLBlock, type FWLBlockOptions } from "./src/fwl/block.ts";
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
export { BufferPool } from "./src/gpu/buffer_pool.ts";
export type { ParamBuffers } from "./src/fwl/forward.ts";
export {
  type BlockDims,
  FAST_PARAM_NAMES,
  initParams,
  PARAM_NAMES,
  type ParamName,
  paramShapes,
  STEP_NAMES,
} from "./src/fwl/params.ts";
