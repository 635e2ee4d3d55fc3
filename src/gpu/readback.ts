/**
 * Reading GPU buffers back to the host.
 *
 * @module
 */

import type { GPUContext } from "./context.ts";

const MAP_READ_COPY_DST = 0x01 | 0x08;

/**
 * Copies the first `bytes` bytes of `buffer` to the host (through a pooled staging buffer).
 *
 * @example
 * ```ts
 * import { GPUContext, readBytes } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const buffer = ctx.pool.acquire(8);
 * ctx.device.queue.writeBuffer(buffer, 0, new Int32Array([7, -1]));
 * console.log(new Int32Array(await readBytes(ctx, buffer, 8))); // Int32Array(2) [ 7, -1 ]
 * ctx.pool.release(buffer);
 * ```
 */
export async function readBytes(
  ctx: GPUContext,
  buffer: GPUBuffer,
  bytes: number,
  where = "readback",
): Promise<ArrayBuffer> {
  if (bytes === 0) return new ArrayBuffer(0);
  const staging = ctx.pool.acquire(bytes, MAP_READ_COPY_DST);
  try {
    await ctx.submit(
      where,
      (e) => e.copyBufferToBuffer(buffer, 0, staging, 0, bytes),
    );
    await staging.mapAsync(1, /* GPUMapMode.READ */ 0, bytes);
    const copy = staging.getMappedRange(0, bytes).slice(0);
    staging.unmap();
    return copy;
  } finally {
    ctx.pool.release(staging);
  }
}
