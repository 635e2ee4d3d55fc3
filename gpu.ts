/**
 * @x/fwl/gpu — the GPU layer under the main entry point, for people who keep everything
 * on the GPU or build on the library's kernels: GPU-resident training of the head
 * (`lossAndGradsGPU` into reusable gradient buffers), tensors around your own buffers,
 * the device context and its buffer pool, the recorder that batches dispatches into one
 * submission, uniform packing, readback, the tiled matrix product, the head's parameter
 * tables, and the bodies' states.
 *
 * @example
 * ```ts ignore
 * import { GPUContext, matmulNN, readBytes, Recorder } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const rec = new Recorder(ctx);
 * matmulNN(rec, x, w, out, rows, k, n);
 * await rec.submit("my matmul");
 * const bytes = await readBytes(ctx, out, rows * n * 4);
 * ```
 *
 * @module
 */

export { GPUContext, type KernelSpec } from "./src/gpu/context.ts";
export { BufferPool } from "./src/gpu/buffer_pool.ts";
export { type Binding, packUniforms, Recorder } from "./src/gpu/recorder.ts";
export { readBytes } from "./src/gpu/readback.ts";
export { describeDevice } from "./src/gpu/device.ts";
export {
  type Epilogue,
  matmul,
  matmulNN,
  matmulNT,
  type MatmulSpec,
  type Operand,
} from "./src/kernels/matmul.ts";
export type { Head, ParamBuffers } from "./src/fwl/head.ts";
export type { ParamHolder } from "./src/params/store.ts";
export { type SegmentUpdate } from "./src/optim/mod.ts";
export type { UpdateScalars } from "./src/kernels/optimizer.ts";
export { LSTMState } from "./src/bodies/lstm.ts";
export { TransformerState } from "./src/bodies/transformer.ts";
export type { TransformerDims } from "./src/bodies/transformer_params.ts";
export { gpuTensor } from "./src/tensor.ts";
export {
  lossAndGradsGPU,
  type LossAndGradsGPUOptions,
  type LossAndGradsGPUResult,
} from "./src/fwl/loss_and_grads.ts";
export {
  createGradBuffers,
  type GradBuffers,
  namedGrads,
  readGradBuffers,
  releaseGradBuffers,
} from "./src/fwl/grad_buffers.ts";
export { type BlockDims, FAST_PARAM_NAMES, initParams, paramShapes } from "./src/fwl/params.ts";
export { constantSchedule, defaultDecayFilter, defaultNonNegative } from "./src/optim/mod.ts";
