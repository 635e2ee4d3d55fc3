/**
 * Tensors: a shape, a dtype, and either host data or a GPU buffer.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "./errors.ts";
import type { GPUContext } from "./gpu/context.ts";
import { readBytes } from "./gpu/readback.ts";
import { describeValue } from "./util/describe.ts";
import { shapeSize } from "./util/shape.ts";

/** The element types a tensor can hold. */
export type DType = "float32" | "int32";

/** The typed array that holds a tensor of dtype `D`. */
export type ArrayOf<D extends DType> = D extends "float32" ? Float32Array
  : Int32Array;

interface GPUStorage {
  ctx: GPUContext;
  buffer: GPUBuffer;
  /** Buffers from our pool go back to it on dispose; a caller's buffer is left alone. */
  pooled: boolean;
}

/**
 * A row-major tensor living on the host or on a GPU. Host tensors are uploaded for the
 * length of each call that uses them; GPU tensors made by our ops or wrapped with
 * {@linkcode gpuTensor} are used in place.
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { FWLStateError, tensor } from "@x/fwl";
 * const t = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * assertEquals([t.shape, t.size, t.dtype, t.isGPUResident], [[2, 3], 6, "float32", false]);
 * assertEquals(await t.read(), new Float32Array([1, 2, 3, 4, 5, 6]));
 * t.dispose();
 * await assertRejects(() => t.read(), FWLStateError);
 * ```
 */
export class Tensor<D extends DType = DType> {
  /** The shape, outermost first. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: D;
  #host: ArrayOf<D> | undefined;
  #gpu: GPUStorage | undefined;
  #disposed = false;

  /** Use {@linkcode tensor} or {@linkcode gpuTensor} instead. */
  constructor(
    shape: readonly number[],
    dtype: D,
    host: ArrayOf<D> | undefined,
    gpu: GPUStorage | undefined,
  ) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.#host = host;
    this.#gpu = gpu;
  }

  /** Number of elements. */
  get size(): number {
    return shapeSize(this.shape);
  }

  /** Whether the data lives only on a GPU (it is not held on the host). */
  get isGPUResident(): boolean {
    return this.#host === undefined;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * The host data, when this tensor was made from host data (no copy).
   *
   * @throws {FWLStateError} If the tensor was disposed.
   */
  get hostData(): ArrayOf<D> | undefined {
    this.#assertLive("hostData");
    return this.#host;
  }

  /**
   * The GPU buffer of a GPU-resident tensor on `ctx`'s device, or `undefined` for host
   * data (which our ops upload into scratch for the length of one call, so a host
   * tensor never holds GPU memory).
   *
   * @throws {FWLStateError} If the tensor was disposed.
   * @throws {FWLInputError} If the tensor lives on another device than `ctx`'s.
   */
  gpuBuffer(ctx: GPUContext): GPUBuffer | undefined {
    this.#assertLive("gpuBuffer");
    if (!this.#gpu) return undefined;
    if (this.#gpu.ctx !== ctx) {
      throw new FWLInputError(
        "Tensor",
        "device",
        "a tensor on the block's GPU device",
        "a tensor on another device",
      );
    }
    return this.#gpu.buffer;
  }

  /**
   * The data as a row-major typed array (a copy for GPU tensors).
   *
   * @throws {FWLStateError} (rejects) If the tensor was disposed.
   * @throws {GPUKernelError} (rejects) If reading a GPU tensor back fails.
   */
  async read(): Promise<ArrayOf<D>> {
    this.#assertLive("read");
    if (this.#host) return this.#host.slice() as ArrayOf<D>;
    const { ctx, buffer } = this.#gpu!;
    const bytes = await readBytes(ctx, buffer, this.size * 4, "Tensor.read");
    return (this.dtype === "int32" ? new Int32Array(bytes) : new Float32Array(bytes)) as ArrayOf<D>;
  }

  /** Frees the GPU memory (returned to the pool) and forgets the data. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#gpu?.pooled) this.#gpu.ctx.pool.release(this.#gpu.buffer);
    this.#gpu = undefined;
    this.#host = undefined;
  }

  /** `using t = tensor(...)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #assertLive(what: string): void {
    if (this.#disposed) {
      throw new FWLStateError(`Tensor.${what}: the tensor was disposed`);
    }
  }
}

function checkDims(where: string, shape: readonly number[]): void {
  if (
    !Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)
  ) {
    throw new FWLInputError(
      where,
      "shape",
      "an array of non-negative integers",
      JSON.stringify(shape),
    );
  }
}

/**
 * A tensor from host data: `Float32Array` (float32) or `Int32Array` (int32, e.g. token
 * ids). The data is not copied: don't change it while the tensor is in use.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError, tensor } from "@x/fwl";
 * const ids = tensor(new Int32Array([3, 1, 4]), [1, 3]);
 * assertEquals([ids.dtype, ids.shape], ["int32", [1, 3]]);
 * assertEquals(ids.hostData, new Int32Array([3, 1, 4])); // the caller's array, not a copy
 * assertThrows(() => tensor(new Float32Array(5), [2, 3]), FWLInputError); // 5 ≠ 2 × 3
 * ```
 *
 * @throws {FWLInputError} If `shape` is not an array of non-negative integers, `data` is
 * neither a `Float32Array` nor an `Int32Array`, or its length is not the shape's size.
 */
export function tensor(
  data: Float32Array,
  shape: readonly number[],
): Tensor<"float32">;
/**
 * A tensor of token ids (int32) from host data.
 *
 * @throws {FWLInputError} If `shape` is not an array of non-negative integers or
 * `data`'s length is not its size.
 */
export function tensor(
  data: Int32Array,
  shape: readonly number[],
): Tensor<"int32">;
/**
 * A float32 or int32 tensor from host data.
 *
 * @throws {FWLInputError} If `shape` is not an array of non-negative integers, `data` is
 * neither a `Float32Array` nor an `Int32Array`, or its length is not the shape's size.
 */
export function tensor(
  data: Float32Array | Int32Array,
  shape: readonly number[],
): Tensor<"float32"> | Tensor<"int32">;
export function tensor(
  data: Float32Array | Int32Array,
  shape: readonly number[],
): Tensor<"float32"> | Tensor<"int32"> {
  checkDims("tensor", shape);
  const dtype = data instanceof Float32Array
    ? "float32"
    : data instanceof Int32Array
    ? "int32"
    : undefined;
  if (dtype === undefined) {
    const expected = "a Float32Array or an Int32Array";
    throw new FWLInputError("tensor", "data", expected, describeValue(data));
  }
  const size = shapeSize(shape);
  if (data.length !== size) {
    const expected = `${size} elements for shape [${shape.join(", ")}]`;
    throw new FWLInputError("tensor", "data", expected, `${data.length}`);
  }
  return new Tensor(shape, dtype, data, undefined) as Tensor<"float32"> | Tensor<"int32">;
}

/**
 * Wraps a caller's GPU buffer (storage usage, row-major) as a tensor used in place.
 * The buffer stays the caller's: `dispose()` does not destroy it.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError } from "@x/fwl";
 * import { GPUContext, gpuTensor } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const buffer = ctx.device.createBuffer({
 *   size: 6 * 4,
 *   usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
 * });
 * ctx.device.queue.writeBuffer(buffer, 0, new Float32Array([1, 2, 3, 4, 5, 6]));
 * const hidden = gpuTensor(ctx, buffer, [1, 2, 3]);
 * assertEquals(hidden.isGPUResident, true);
 * assertEquals(hidden.gpuBuffer(ctx), buffer); // used in place
 * assertEquals(await hidden.read(), new Float32Array([1, 2, 3, 4, 5, 6]));
 * hidden.dispose(); // the buffer stays the caller's
 * assertThrows(() => gpuTensor(ctx, buffer, [2, 4]), FWLInputError); // 32 bytes > 24
 * buffer.destroy();
 * ```
 *
 * @throws {FWLInputError} If `shape` is not an array of non-negative integers, or
 * `buffer` is smaller than the shape's size × 4 bytes.
 */
export function gpuTensor<D extends DType = "float32">(
  ctx: GPUContext,
  buffer: GPUBuffer,
  shape: readonly number[],
  dtype: D = "float32" as D,
): Tensor<D> {
  checkDims("gpuTensor", shape);
  const bytes = shapeSize(shape) * 4;
  if (buffer.size < bytes) {
    throw new FWLInputError(
      "gpuTensor",
      "buffer",
      `at least ${bytes} bytes`,
      `${buffer.size}`,
    );
  }
  return new Tensor<D>(shape, dtype, undefined, { ctx, buffer, pooled: false });
}

/** A pooled GPU tensor owned by the library (its buffer returns to the pool on dispose). */
export function ownedGPUTensor<D extends DType>(
  ctx: GPUContext,
  buffer: GPUBuffer,
  shape: readonly number[],
  dtype: D,
): Tensor<D> {
  return new Tensor<D>(shape, dtype, undefined, { ctx, buffer, pooled: true });
}

/**
 * Throws unless `value` is a {@linkcode Tensor} (not disposed).
 *
 * @throws {FWLInputError} If `value` is not a Tensor, or was disposed.
 */
export function checkTensor(
  where: string,
  name: string,
  value: unknown,
): Tensor {
  if (!(value instanceof Tensor)) {
    throw new FWLInputError(where, name, "a Tensor (see tensor())", describeValue(value));
  }
  if (value.disposed) {
    throw new FWLInputError(where, name, "a live tensor", "a disposed tensor");
  }
  return value;
}

/**
 * Throws unless `t` has exactly `shape` (entries `undefined` match anything).
 *
 * @throws {FWLInputError} If `t`'s shape differs from `shape`.
 */
export function checkShape(
  where: string,
  name: string,
  t: Tensor,
  shape: readonly (number | undefined)[],
  meaning: string,
): void {
  const ok = t.shape.length === shape.length &&
    shape.every((d, i) => d === undefined || d === t.shape[i]);
  if (!ok) {
    const want = shape.map((d) => d ?? "?").join(", ");
    throw new FWLInputError(where, name, `shape [${want}] (${meaning})`, `[${t.shape.join(", ")}]`);
  }
}

/**
 * Throws unless `t` has dtype `dtype`.
 *
 * @throws {FWLInputError} If `t`'s dtype is not `dtype`.
 */
export function checkDType(
  where: string,
  name: string,
  t: Tensor,
  dtype: string,
): void {
  if (t.dtype !== dtype) {
    throw new FWLInputError(where, name, `dtype ${dtype}`, t.dtype);
  }
}
