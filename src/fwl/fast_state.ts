/**
 * `FWLState`: the fast-weight state of `B` sequences on the GPU (FWL.md §3), the one
 * state type of both forms: `block.score(…, { state })` and `block.forward(…, { state })`
 * read it and advance it by a window, an {@linkcode FWLStream} advances it by a position,
 * and either can continue from what the other left.
 *
 * @module
 */

import { FWLError, FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { describeValue } from "../tensor.ts";
import { checkNumber, checkPositiveInteger } from "../util/validate.ts";
import { type Head, isHead } from "./head.ts";
import { checkOptions } from "./inputs.ts";
import { type FastState, fastStateLengths } from "./pipeline/fast_step.ts";

/** Options of {@linkcode FWLState} (and of `block.state`, `block.stream`). */
export interface FWLStateOptions {
  /**
   * The fixed inner-loss normalizer `N` (a finite positive number). Defaults to the
   * block's `normalizer` when that is a number; the `"batch"` normalizer can't be
   * carried, since it sums the weights of tokens not seen yet.
   */
  normalizer?: number;
}

/**
 * The sums of FWL.md §3 for `batchSize` sequences of one block, with the fixed
 * normalizer they were made under, and the number of positions they hold. Made by
 * `block.state(batchSize, options)` at position 0 (the slow weights); each call that
 * takes it advances it in place. `clone()` keeps a copy, `reset()` starts over,
 * `dispose()` frees the GPU memory (`4·B·(D·H + H·size + H + 3·size)` bytes, the same at
 * every position).
 *
 * @example
 * ```ts
 * import { FWLBlock, tensor } from "@x/fwl";
 * using block = new FWLBlock(4, 10, 2);
 * await block.build(8);
 * using state = block.state(1, { normalizer: 512 });
 * for (let window = 0; window < 3; window++) { // consecutive windows of one document
 *   const x = tensor(new Float32Array(4 * 8).map((_, i) => Math.sin(i + window)), [1, 4, 8]);
 *   const ids = tensor(new Int32Array([1, 2, 3, 4]), [1, 4]);
 *   const w = tensor(new Float32Array(4).fill(1), [1, 4]);
 *   await block.score(x, ids, w, { state }); // sees every earlier window
 * }
 * using kept = state.clone(); // the state after 12 positions
 * state.reset();
 * console.log(kept.position, state.position, kept.bytes); // 12 0 …
 * ```
 */
export class FWLState {
  /** Number of sequences `B`. */
  readonly batchSize: number;
  /** The fixed inner-loss normalizer `N`. */
  readonly normalizer: number;
  readonly #head: Head;
  readonly #ctx: GPUContext;
  readonly #inputSize: number;
  #buffers: FastState | undefined;
  #position = 0;

  /**
   * A zeroed state (position 0).
   *
   * @param block a built {@linkcode FWLBlock}
   * @param batchSize number of sequences `B`
   * @param options the fixed normalizer `N` (default: the block's, when it is a number)
   */
  constructor(block: Head, batchSize: number, options: FWLStateOptions = {}) {
    const where = "FWLState";
    if (!isHead(block)) {
      throw new FWLInputError(where, "block", "an FWLBlock", describeValue(block));
    }
    checkPositiveInteger(where, "batchSize", batchSize);
    checkOptions(where, options);
    this.normalizer = fixedNormalizer(block, options.normalizer);
    if (!block.built) {
      throw new FWLStateError(
        `${where}: the block is not built: call block.build(inputSize) first`,
      );
    }
    const ctx = block.context, D = block.inputSize!;
    const lengths = fastStateLengths(batchSize, D, block.size);
    const widest = Math.max(...Object.values(lengths)) * 4;
    if (widest > ctx.maxBindingBytes) {
      throw new FWLError(
        `${where}: a state of ${batchSize} sequences needs a ${widest}-byte buffer, over ` +
          `the device's ${ctx.maxBindingBytes}-byte binding limit; use fewer sequences`,
      );
    }
    this.batchSize = batchSize;
    this.#head = block;
    this.#ctx = ctx;
    this.#inputSize = D;
    const buffers = {} as FastState;
    for (const [k, n] of Object.entries(lengths)) {
      buffers[k as keyof FastState] = ctx.pool.acquire(n * 4);
    }
    this.#buffers = buffers;
    this.reset();
  }

  /** Positions (per sequence, weight-0 ones included) carried into the state; 0 after `reset`. */
  get position(): number {
    return this.#position;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#buffers === undefined;
  }

  /** Bytes of the state on the GPU. */
  get bytes(): number {
    const lengths = fastStateLengths(this.batchSize, this.#inputSize, this.#head.size);
    return 4 * Object.values(lengths).reduce((a, b) => a + b, 0);
  }

  /** Back to position 0: the slow weights. */
  reset(): void {
    const encoder = this.#ctx.device.createCommandEncoder({ label: "FWLState.reset" });
    for (const b of Object.values(this.#live("FWLState.reset"))) encoder.clearBuffer(b);
    this.#ctx.device.queue.submit([encoder.finish()]);
    this.#position = 0;
  }

  /** An independent copy (copied on the GPU), e.g. to branch or to keep a checkpoint. */
  clone(): FWLState {
    const from = this.#live("FWLState.clone");
    const copy = new FWLState(this.#head, this.batchSize, { normalizer: this.normalizer });
    const encoder = this.#ctx.device.createCommandEncoder({ label: "FWLState.clone" });
    const to = copy.#buffers!;
    for (const [k, b] of Object.entries(from)) {
      encoder.copyBufferToBuffer(b, 0, to[k as keyof FastState], 0, b.size);
    }
    this.#ctx.device.queue.submit([encoder.finish()]);
    copy.#position = this.#position;
    return copy;
  }

  /** Releases the GPU memory; later uses throw {@linkcode FWLStateError}. Idempotent. */
  dispose(): void {
    if (!this.#buffers) return;
    for (const b of Object.values(this.#buffers)) this.#ctx.pool.release(b);
    this.#buffers = undefined;
  }

  /** `using state = block.state(…)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * The buffers, for a call of `block` over `batchSize` sequences, after checking that
   * the state belongs to it and is live (the library's own use); `advance` adds to
   * `position`.
   */
  use(where: string, block: Head, batchSize: number, advance: number): FastState {
    const buffers = this.#live(where);
    if (block !== this.#head) {
      const made = "a state made by this block (block.state(…))";
      throw new FWLInputError(where, "state", made, "a state of another block");
    }
    if (!block.built || block.inputSize !== this.#inputSize || block.context !== this.#ctx) {
      throw new FWLStateError(`${where}: the block was rebuilt since the state was made`);
    }
    if (batchSize !== this.batchSize) {
      const want = `a state of ${batchSize} sequences (the batch size)`;
      throw new FWLInputError(where, "state", want, `a state of ${this.batchSize}`);
    }
    this.#position += advance;
    return buffers;
  }

  #live(where: string): FastState {
    if (!this.#buffers) throw new FWLStateError(`${where}: the state was disposed`);
    return this.#buffers;
  }
}

/**
 * The normalizer a state uses: `requested`, else the block's when it is a number.
 * Throws an {@linkcode FWLInputError} that says why and what to pass otherwise.
 */
function fixedNormalizer(block: Head, requested: unknown): number {
  const where = "FWLBlock.state";
  if (requested === undefined) {
    if (typeof block.normalizer === "number") return block.normalizer;
    throw new FWLInputError(
      where,
      "options.normalizer",
      "a fixed positive number N: carrying fast weights can't use the block's \"batch\" " +
        "normalizer, which sums the weights of the whole batch, tokens not seen yet " +
        "included. Pass it, as in block.state(batchSize, { normalizer: 512 }), or " +
        "build the block with { normalizer: N }",
      'nothing, and the block\'s normalizer is "batch"',
    );
  }
  const want = "a finite positive number N (carried fast weights need a fixed normalizer; " +
    '"batch" depends on tokens not seen yet)';
  return checkNumber(where, "options.normalizer", requested, (v) => v > 0, want);
}
