/**
 * Global-norm gradient clipping on the GPU: the L2 norm over every gradient of a step
 * and the factor `clipNorm / max(‖g‖, clipNorm)` that the update kernels multiply each
 * gradient by, computed without a readback.
 *
 * @module
 */

import type { GPUContext } from "../gpu/context.ts";
import { readBytes } from "../gpu/readback.ts";
import type { Recorder } from "../gpu/recorder.ts";
import { clipScale, sumOfSquares, sumsqGroups } from "../kernels/optimizer.ts";
import type { GradOp } from "./grads.ts";

/**
 * The clipping state of one optimizer: a small GPU buffer holding the scale the update
 * kernels read and the norm of the last step.
 */
export class GlobalNormClip {
  /** The GPU buffer `[scale, norm, …]` the update kernels bind. */
  readonly buffer: GPUBuffer;
  readonly #ctx: GPUContext;
  readonly #clipNorm: number;
  /** Whether the buffer holds the norm of a finished step (set by the optimizer). */
  hasNorm = false;

  /** Allocates the (zeroed) buffer; `clipNorm` is the largest norm left unscaled. */
  constructor(ctx: GPUContext, clipNorm: number) {
    this.#ctx = ctx;
    this.#clipNorm = clipNorm;
    this.buffer = ctx.pool.acquire(16);
    ctx.device.queue.writeBuffer(this.buffer, 0, new Float32Array(4));
  }

  /** Records the passes that compute the norm of `grads` and the scale. */
  record(rec: Recorder, grads: readonly Pick<GradOp, "grad" | "gOffset" | "length">[]): void {
    const count = grads.reduce((s, g) => s + sumsqGroups(g.length), 0);
    const partials = rec.scratch(count * 4);
    let partBase = 0;
    for (const { grad, gOffset, length } of grads) {
      sumOfSquares(rec, { grad, gOffset, length, partials, partBase });
      partBase += sumsqGroups(length);
    }
    clipScale(rec, { partials, count, clip: this.buffer, clipNorm: this.#clipNorm });
  }

  /**
   * The global norm of the last finished step, or `undefined` when there is none.
   *
   * @throws {GPUKernelError} (rejects) If reading it back fails.
   */
  async lastNorm(where: string): Promise<number | undefined> {
    if (!this.hasNorm) return undefined;
    return new Float32Array(await readBytes(this.#ctx, this.buffer, 8, where))[1];
  }

  /** Returns the buffer to the pool. */
  dispose(): void {
    this.#ctx.pool.release(this.buffer);
  }
}
