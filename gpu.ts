/**
 * @x/fwl/gpu — the GPU layer under the main entry point, for people who keep everything
 * on the GPU or build on the library's kernels: GPU-resident training of the head
 * (`lossAndGradsGPU` into reusable gradient buffers), tensors around your own buffers,
 * the device context and its buffer pool, the recorder that batches dispatches into one
 * submission, uniform packing, readback, the tiled matrix product, the head's parameter
 * tables, and the bodies' states.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GPUContext, matmulNN, readBytes, Recorder } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const upload = (data: Float32Array<ArrayBuffer>) => {
 *   const buffer = ctx.pool.acquire(data.byteLength);
 *   ctx.device.queue.writeBuffer(buffer, 0, data);
 *   return buffer;
 * };
 * const x = upload(new Float32Array([1, 2, 3, 4])); // [2, 2]
 * const w = upload(new Float32Array([1, 0, 0, 1, 1, 1])); // [2, 3]
 * const out = ctx.pool.acquire(2 * 3 * 4);
 * const rec = new Recorder(ctx);
 * matmulNN(rec, x, w, out, 2, 2, 3); // out[2, 3] = x · w
 * await rec.submit("my matmul");
 * assertEquals([...new Float32Array(await readBytes(ctx, out, 2 * 3 * 4))], [3, 2, 2, 7, 4, 4]);
 * for (const b of [x, w, out]) ctx.pool.release(b);
 * ```
 *
 * @module
 */

export { GPUContext, type KernelSpec } from "./src/gpu/context.ts";
export { BufferPool } from "./src/gpu/buffer_pool.ts";
export { type Binding, Recorder } from "./src/gpu/recorder.ts";
export { readBuffers, readBytes } from "./src/gpu/readback.ts";
export { KernelProfiler, type KernelTime } from "./src/gpu/profiler.ts";
export { describeDevice } from "./src/gpu/device.ts";
export {
  type Epilogue,
  matmul,
  matmulNN,
  matmulNT,
  type MatmulSpec,
  type MatmulTile,
  matmulTile,
  type Operand,
  type RowMajorProduct,
  setMatmulTile,
  tuneMatmulTile,
} from "./src/kernels/matmul.ts";
export type { Head, ParamBuffers } from "./src/fwl/head.ts";
export {
  type Dependent,
  layoutOf,
  type ParamHolder,
  type ParamLayout,
  ParamLifecycle,
  type ParamLifecycleOptions,
} from "./src/params/holder.ts";
export { initByRule, type InitRule } from "./src/params/init.ts";
export { type ParamSpec, ParamStore, type StoredParam } from "./src/params/store.ts";
export { type SegmentUpdate } from "./src/optim/mod.ts";
export type { UpdateScalars } from "./src/kernels/optimizer.ts";
export { LSTMState, type LSTMStateOwner } from "./src/bodies/lstm_state.ts";
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
export {
  constantSchedule,
  defaultDecayFilter,
  defaultLogSpace,
  defaultLrScale,
  defaultNonNegative,
  LOG_SPACE_LR_SCALE,
} from "./src/optim/mod.ts";
export { type ArrayOf, type DType } from "./src/tensor.ts";
export { DECAY_INDEX, PARAM_NAMES, type ParamName, STEP_NAMES } from "./src/fwl/params.ts";
export { DECAY_NAME } from "./src/fwl/normalizer.ts";
export { lossAndGrads, type LossAndGradsOptions } from "./src/fwl/loss_and_grads.ts";
export type { GradSource, OptimizerKind, OptimizerState } from "./src/optim/mod.ts";
export type { RandomSource } from "./src/util/random.ts";
export type { FastStateBuffers as FastState } from "./src/fwl/pipeline/fast_step.ts";
export type { DecayRef } from "./src/kernels/running_count.ts";
export {
  type FieldName,
  Program,
  program,
  type ProgramDecl,
  type Snippet,
  type StorageBinding,
  type StorageType,
  type UniformType,
} from "./src/gpu/program.ts";
