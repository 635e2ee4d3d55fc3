/**
 * Reading GPU buffers back to the host.
 *
 * @module
 */

import type { GPUContext } from "./context.ts";

/** Usage of a staging buffer the host maps to read (MAP_READ | COPY_DST). */
export const MAP_READ_COPY_DST = 0x01 | 0x08;

/**
 * Copies the first `bytes` bytes of `buffer` to the host (through a pooled staging buffer).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GPUContext, readBytes } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const buffer = ctx.pool.acquire(8);
 * ctx.device.queue.writeBuffer(buffer, 0, new Int32Array([7, -1]));
 * assertEquals([...new Int32Array(await readBytes(ctx, buffer, 8))], [7, -1]);
 * ctx.pool.release(buffer);
 * ```
 *
 * @throws {GPUKernelError} (rejects) If WebGPU reports an error for the copy, the device
 * is lost, or an earlier error is pending.
 */
export async function readBytes(
  ctx: GPUContext,
  buffer: GPUBuffer,
  bytes: number,
  where = "readback",
): Promise<ArrayBuffer> {
  return (await readBuffers(ctx, [{ buffer, bytes }], where))[0];
}

/** The most bytes one staging buffer of {@linkcode readBuffers} holds (a larger part gets its own). */
export const STAGING_BYTES = 64 * 2 ** 20;

/**
 * Copies the first `bytes` bytes of each buffer to the host in few round trips: one
 * submission copies as many as fit in `maxStagingBytes` into one pooled staging buffer,
 * mapped once (each `bytes` a multiple of 4; a part larger than that is read alone).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GPUContext, readBuffers } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const a = ctx.pool.acquire(8), b = ctx.pool.acquire(4);
 * ctx.device.queue.writeBuffer(a, 0, new Int32Array([7, -1]));
 * ctx.device.queue.writeBuffer(b, 0, new Int32Array([3]));
 * const [x, y] = await readBuffers(ctx, [{ buffer: a, bytes: 8 }, { buffer: b, bytes: 4 }]);
 * assertEquals([...new Int32Array(x)], [7, -1]);
 * assertEquals([...new Int32Array(y)], [3]);
 * ctx.pool.release(a);
 * ctx.pool.release(b);
 * ```
 *
 * @throws {GPUKernelError} (rejects) If WebGPU reports an error for the copies, the
 * device is lost, or an earlier error is pending.
 */
export async function readBuffers(
  ctx: GPUContext,
  parts: readonly { buffer: GPUBuffer; bytes: number }[],
  where = "readback",
  maxStagingBytes: number = STAGING_BYTES,
): Promise<ArrayBuffer[]> {
  const out: ArrayBuffer[] = [];
  for (let i = 0; i < parts.length;) {
    // The next parts that fit in one staging buffer (at least one).
    let end = i + 1, total = parts[i].bytes;
    while (end < parts.length && total + parts[end].bytes <= maxStagingBytes) {
      total += parts[end++].bytes;
    }
    out.push(...await readGroup(ctx, parts.slice(i, end), total, where));
    i = end;
  }
  return out;
}

/** One staging buffer of `total` bytes for `parts`, one submission, one map. */
async function readGroup(
  ctx: GPUContext,
  parts: readonly { buffer: GPUBuffer; bytes: number }[],
  total: number,
  where: string,
): Promise<ArrayBuffer[]> {
  if (total === 0) return parts.map(() => new ArrayBuffer(0));
  const offsets: number[] = [];
  let offset = 0;
  for (const { bytes } of parts) {
    offsets.push(offset);
    offset += bytes;
  }
  const staging = ctx.pool.acquire(total, MAP_READ_COPY_DST);
  try {
    await ctx.submit(where, (e) =>
      parts.forEach(({ buffer, bytes }, i) => {
        if (bytes > 0) e.copyBufferToBuffer(buffer, 0, staging, offsets[i], bytes);
      }));
    await staging.mapAsync(1, /* GPUMapMode.READ */ 0, total);
    const mapped = staging.getMappedRange(0, total);
    const out = parts.map(({ bytes }, i) => mapped.slice(offsets[i], offsets[i] + bytes));
    staging.unmap();
    return out;
  } finally {
    ctx.pool.release(staging);
  }
}
