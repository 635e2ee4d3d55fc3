/**
 * `LSTMState`: the generation state of an {@linkcode LSTMBody} (each layer's `h` and `c`
 * on the GPU), which `step`, `recordStep` and `forwardFrom` advance.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { checkSequences } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";
import type { BodyState } from "./model_body.ts";

/** What a state needs of the body that made it (an `LSTMBody`): its width. */
export interface LSTMStateOwner {
  /** Width `H` of every layer's `h` and `c`. */
  readonly hiddenSize: number;
}

/**
 * The generation state of an {@linkcode LSTMBody}: each layer's `h` and `c` for
 * `batchSize` sequences, on the GPU. Made by `body.initState(batchSize)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LSTMBody, tensor } from "@x/fwl";
 * using body = await LSTMBody.create({ vocabSize: 10, embedSize: 4, hiddenSize: 6 });
 * using state = body.initState(2); // 2 sequences
 * using h = await body.step(tensor(new Int32Array([3, 5]), [2]), state);
 * assertEquals(h.shape, [2, 6]);
 * state.reset(); // back to zero: the same token gives the same hidden state
 * using again = await body.step(tensor(new Int32Array([3, 5]), [2]), state);
 * assertEquals(await again.read(), await h.read());
 * ```
 */
export class LSTMState implements BodyState {
  /** Number of sequences. */
  readonly batchSize: number;
  #owner: LSTMStateOwner | undefined;
  #ctx: GPUContext;
  #h: GPUBuffer[];
  #c: GPUBuffer[];
  #onDispose: (s: LSTMState) => void;

  /** Use `body.initState(batchSize)`. */
  constructor(
    owner: LSTMStateOwner,
    ctx: GPUContext,
    batchSize: number,
    h: GPUBuffer[],
    c: GPUBuffer[],
    onDispose: (s: LSTMState) => void,
  ) {
    this.#owner = owner;
    this.#ctx = ctx;
    this.batchSize = batchSize;
    this.#h = h;
    this.#c = c;
    this.#onDispose = onDispose;
  }

  /** Whether `dispose()` was called (or the body was disposed). */
  get disposed(): boolean {
    return this.#owner === undefined;
  }

  /** The body that made this state, while live. */
  get owner(): LSTMStateOwner | undefined {
    return this.#owner;
  }

  /**
   * Layer `l`'s `h` and `c` buffers `[batchSize, H]`, for the body's own use.
   *
   * @throws {FWLStateError} If the state was disposed.
   */
  buffers(l: number): { h: GPUBuffer; c: GPUBuffer } {
    if (this.#owner === undefined) {
      throw new FWLStateError("LSTMState: the state was disposed");
    }
    return { h: this.#h[l], c: this.#c[l] };
  }

  /**
   * Back to zero (the start of a document): every sequence, or only `sequences`
   * (indices in `[0, batchSize)`).
   *
   * @throws {FWLStateError} If the state was disposed.
   * @throws {FWLInputError} If `sequences` are not distinct indices in `[0, batchSize)`.
   */
  reset(sequences?: readonly number[]): void {
    const where = "LSTMState.reset";
    if (this.#owner === undefined) throw new FWLStateError(`${where}: the state was disposed`);
    const B = this.batchSize;
    const rows = sequences === undefined
      ? Array.from({ length: B }, (_, b) => b)
      : checkSequences(where, "sequences", sequences, B);
    const bytes = this.#owner.hiddenSize * 4; // each buffer is [B, H]
    this.#ctx.encodeNow(where, (encoder) => {
      for (const buffer of [...this.#h, ...this.#c]) {
        for (const b of rows) encoder.clearBuffer(buffer, b * bytes, bytes);
      }
    });
  }

  /**
   * Makes this state a copy of `from`, a state of the same body and batch size (on the GPU).
   *
   * @throws {FWLStateError} If this state was disposed.
   * @throws {FWLInputError} If `from` is not a live state of the same body and batch size.
   */
  copyFrom(from: BodyState): void {
    const where = "LSTMState.copyFrom";
    if (this.#owner === undefined) throw new FWLStateError(`${where}: the state was disposed`);
    if (
      !(from instanceof LSTMState) || from.#owner !== this.#owner ||
      from.batchSize !== this.batchSize
    ) {
      const want = `a live state of the same body with ${this.batchSize} sequences`;
      throw new FWLInputError(where, "from", want, describeValue(from));
    }
    this.#ctx.encodeNow(where, (encoder) => {
      const to = [...this.#h, ...this.#c];
      [...from.#h, ...from.#c].forEach((b, i) =>
        encoder.copyBufferToBuffer(b, 0, to[i], 0, b.size)
      );
    });
  }

  /** Returns the state's buffers to the pool. Idempotent (the body's dispose or rebuild calls it too). */
  dispose(): void {
    if (this.#owner === undefined) return;
    this.#owner = undefined;
    for (const b of [...this.#h, ...this.#c]) this.#ctx.pool.release(b);
    this.#h = [];
    this.#c = [];
    this.#onDispose(this);
  }

  /** `using state = body.initState(B)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
