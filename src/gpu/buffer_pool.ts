/**
 * A pool of GPU storage buffers, reused by size bucket so that repeated calls do not
 * allocate (or grow) device memory.
 *
 * @module
 */

import { FWLStateError } from "../errors.ts";

/** Usage of every pooled buffer: storage, copy source and destination. */
export const STORAGE_USAGE: number = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST

/**
 * Rounds a byte size up to its bucket: a multiple of 256 below 64 KiB, else the next
 * of 8 steps per power of two (at most 12.5 % slack).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { bucketSize } from "./buffer_pool.ts";
 * assertEquals([bucketSize(0), bucketSize(1000), bucketSize(65536)], [256, 1024, 65536]);
 * assertEquals(bucketSize(65537), 73728); // 64 KiB + 8 KiB, the next eighth
 * ```
 */
export function bucketSize(bytes: number): number {
  const min = Math.max(16, bytes);
  if (min <= 65536) return Math.ceil(min / 256) * 256;
  const p = 2 ** Math.floor(Math.log2(min));
  const step = p / 8;
  return Math.ceil(min / step) * step;
}

/**
 * Buffers released to the pool are reused by later requests of the same bucket.
 * Release is safe right after the work that used a buffer was submitted: the queue
 * orders a later write or dispatch after it.
 *
 * @example
 * ```ts
 * import { assertEquals, assertStrictEquals, assertThrows } from "@std/assert";
 * import { FWLStateError } from "@x/fwl";
 * import { GPUContext } from "@x/fwl/gpu";
 * const { pool } = await GPUContext.default();
 * const b = pool.acquire(1000); // rounded up to its size bucket
 * assertEquals(b.size, 1024);
 * pool.release(b);
 * const again = pool.acquire(1024);
 * assertStrictEquals(again, b); // the same bucket hands the buffer out again
 * pool.release(again);
 * assertThrows(() => pool.release(again), FWLStateError); // released twice
 * ```
 */
export class BufferPool {
  readonly #device: GPUDevice;
  readonly #free = new Map<string, GPUBuffer[]>();
  /** Every live buffer the pool created, and whether it is free. */
  readonly #isFree = new Map<GPUBuffer, boolean>();
  #allocatedBytes = 0;
  #peakBytes = 0;

  /** Creates an empty pool on `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** Bytes of every live buffer the pool created (in use or free). */
  get allocatedBytes(): number {
    return this.#allocatedBytes;
  }

  /** The largest value `allocatedBytes` has had. */
  get peakBytes(): number {
    return this.#peakBytes;
  }

  /** A buffer of at least `bytes` bytes with `usage` (storage by default). */
  acquire(bytes: number, usage: number = STORAGE_USAGE): GPUBuffer {
    // Near the device's largest buffer, the bucket's slack would not fit: take the size
    // itself (rounded to 4 bytes).
    const max = this.#device.limits.maxBufferSize;
    const size = Math.max(Math.min(bucketSize(bytes), max), Math.ceil(bytes / 4) * 4);
    const key = `${usage}:${size}`;
    const list = this.#free.get(key);
    const reused = list?.pop();
    if (reused) {
      this.#isFree.set(reused, false);
      return reused;
    }
    const buffer = this.#device.createBuffer({ size, usage });
    this.#isFree.set(buffer, false);
    this.#allocatedBytes += size;
    this.#peakBytes = Math.max(this.#peakBytes, this.#allocatedBytes);
    return buffer;
  }

  /**
   * Returns a buffer obtained from `acquire` to the pool. Throws an
   * {@linkcode FWLStateError} for a buffer already released (two owners would share it)
   * or not from this pool.
   *
   * @throws {FWLStateError} If `buffer` was already released or is not from this pool.
   */
  release(buffer: GPUBuffer): void {
    const free = this.#isFree.get(buffer);
    if (free === undefined) {
      throw new FWLStateError("BufferPool.release: the buffer is not from this pool");
    }
    if (free) throw new FWLStateError("BufferPool.release: the buffer was already released");
    this.#isFree.set(buffer, true);
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.#free.get(key);
    if (!list) {
      list = [];
      this.#free.set(key, list);
    }
    list.push(buffer);
  }

  /** Destroys every free buffer, giving its memory back to the device. */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#allocatedBytes -= b.size;
        this.#isFree.delete(b);
        b.destroy();
      }
    }
    this.#free.clear();
  }
}
