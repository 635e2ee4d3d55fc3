/**
 * @x/fwl/gpu — the GPU plumbing under {@link ./mod.ts}, for people writing their own
 * kernels or measuring the library's: the device context and its buffer pool, the
 * recorder that batches dispatches into one submission, uniform packing, readback, and
 * the tiled matrix product the FWL kernels build on.
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
