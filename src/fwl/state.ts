/**
 * `FWLState`: the fast-weight state of `B` sequences on the GPU (docs/definition.md §3, §6), the one
 * state type of both forms: `block.score(…, { state })` and `block.forward(…, { state })`
 * read it and advance it by a window, an {@linkcode FWLStream} advances it by a position,
 * and either can continue from what the other left.
 *
 * @module
 */

import { FWLError, FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import type { DecayRef } from "../kernels/running_count.ts";
import { checkNumber, checkPositiveInteger, checkSequences } from "../util/validate.ts";
import { type Head, headDecay, isHead, type ParamBuffers } from "./head.ts";
import { checkOptions } from "./inputs.ts";
import { isMean, type MeanNormalizer } from "./normalizer.ts";
import { type FastStateBuffers, fastStateLengths } from "./pipeline/fast_step.ts";
import { describeValue } from "../util/describe.ts";

/** Options of {@linkcode FWLState} (and of `block.state`, `block.stream`). */
export interface FWLStateOptions {
  /**
   * A fixed inner-loss normalizer `N` (a finite positive number) for this state instead
   * of the block's. Default: the block's own, when it can be carried — a fixed `N` or
   * the running mean of docs/definition.md §6; the `"batch"` normalizer can't be carried, since it
   * sums the weights of tokens not seen yet.
   */
  normalizer?: number;
}

/** The normalizer a carried state uses: a fixed `N` or the block's running mean. */
export type CarriedNormalizer = number | MeanNormalizer;

/**
 * The sums of docs/definition.md §3 for `batchSize` sequences of one block, with the normalizer they
 * were made under (a fixed `N`, whose sums it holds divided by `N`, or the block's running
 * mean of docs/definition.md §6, whose raw sums it holds with their decayed count), and the number of
 * positions they hold. Made by `block.state(batchSize, options)` at position 0 (the slow
 * weights); each call that takes it advances it in place. `clone()` keeps a copy,
 * `reset()` starts over (every sequence, or some), `dispose()` frees the GPU memory
 * (`4·B·(D·H + H·size + H + 3·size)` bytes, plus `4·B` for the running mean's count, the
 * same at every position).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
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
 * assertEquals([kept.position, state.position], [12, 0]);
 * assertEquals(kept.bytes, state.bytes); // a fixed size, whatever the position
 * ```
 */
export class FWLState {
  /** Number of sequences `B`. */
  readonly batchSize: number;
  /** The normalizer of the sums: a fixed `N` or the block's running mean. */
  readonly normalizer: CarriedNormalizer;
  readonly #head: Head;
  readonly #ctx: GPUContext;
  readonly #inputSize: number;
  /** The block's parameter buffers when the state was made: a rebuild makes new ones. */
  readonly #build: ParamBuffers;
  #buffers: FastStateBuffers | undefined;
  #position = 0;

  /**
   * A zeroed state (position 0).
   *
   * @param block a built {@linkcode FWLBlock}
   * @param batchSize number of sequences `B`
   * @param options a fixed normalizer `N` (default: the block's, when it can be carried)
   *
   * @throws {FWLInputError} If `block` is not a block, `batchSize` not a positive integer,
   * or the normalizer can't be carried.
   * @throws {FWLStateError} If the block is not built.
   * @throws {FWLError} If the state exceeds the device's binding limit.
   */
  constructor(block: Head, batchSize: number, options: FWLStateOptions = {}) {
    const where = "FWLState";
    if (!isHead(block)) {
      throw new FWLInputError(where, "block", "an FWLBlock", describeValue(block));
    }
    checkPositiveInteger(where, "batchSize", batchSize);
    checkOptions(where, options);
    this.normalizer = carriedNormalizer(block, options.normalizer);
    if (!block.built) {
      throw new FWLStateError(
        `${where}: the block is not built: call block.build(inputSize) first`,
      );
    }
    const ctx = block.context, D = block.inputSize!;
    const lengths = fastStateLengths(batchSize, D, block.size, isMean(this.normalizer));
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
    this.#build = block.buffers;
    const buffers = {} as FastStateBuffers;
    for (const [k, n] of Object.entries(lengths)) {
      buffers[k as keyof FastStateBuffers] = ctx.pool.acquire(n * 4);
    }
    this.#buffers = buffers;
    this.reset();
  }

  /**
   * What a call of the block reads the state under: its normalizer, and the block's decay
   * λ when that normalizer is the block's decaying running mean.
   */
  get normalization(): { normalizer: CarriedNormalizer; decay: DecayRef | undefined } {
    const decay = isMean(this.normalizer) ? headDecay(this.#head) : undefined;
    return { normalizer: this.normalizer, decay };
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
    const lengths = this.#lengths();
    return 4 * Object.values(lengths).reduce((a, b) => a + b, 0);
  }

  #lengths(): Record<string, number> {
    const mean = isMean(this.normalizer);
    return fastStateLengths(this.batchSize, this.#inputSize, this.#head.size, mean);
  }

  /**
   * Back to position 0, the slow weights: every sequence, or only `sequences` (the
   * indices of those whose document starts again, e.g. when a reader moves one row of a
   * batch to its next document). `position` goes back to 0 only when every sequence
   * does.
   *
   * @throws {FWLStateError} If the state was disposed.
   * @throws {FWLInputError} If `sequences` are not distinct indices below the batch size.
   */
  reset(sequences?: readonly number[]): void {
    const where = "FWLState.reset";
    const buffers = this.#live(where);
    const B = this.batchSize;
    if (sequences === undefined) {
      this.#ctx.encodeNow(where, (encoder) => {
        for (const b of Object.values(buffers)) encoder.clearBuffer(b);
      });
      this.#position = 0;
      return;
    }
    const rows = checkSequences(where, "sequences", sequences, B);
    const lengths = this.#lengths();
    this.#ctx.encodeNow(where, (encoder) => {
      for (const b of rows) {
        for (const [k, n] of Object.entries(lengths)) {
          const per = n / B; // each buffer is [B, …]
          encoder.clearBuffer(buffers[k as keyof FastStateBuffers]!, b * per * 4, per * 4);
        }
      }
    });
    if (rows.length === B) this.#position = 0;
  }

  /**
   * An independent copy (copied on the GPU), e.g. to branch or to keep a checkpoint.
   *
   * @throws {FWLStateError} If the state was disposed.
   */
  clone(): FWLState {
    this.#live("FWLState.clone");
    const normalizer = typeof this.normalizer === "number" ? this.normalizer : undefined;
    const copy = new FWLState(this.#head, this.batchSize, { normalizer });
    copy.copyFrom(this);
    return copy;
  }

  /**
   * Makes this state a copy of `from` (a state of the same block, batch size and
   * normalizer), position included, on the GPU: e.g. to come back to a snapshot.
   *
   * @throws {FWLStateError} If either state was disposed.
   * @throws {FWLInputError} If `from` is not a state of the same block, batch size and
   * normalizer.
   */
  copyFrom(from: FWLState): void {
    const where = "FWLState.copyFrom";
    const to = this.#live(where);
    const same = from instanceof FWLState && from.#head === this.#head &&
      from.batchSize === this.batchSize && from.#inputSize === this.#inputSize &&
      JSON.stringify(from.normalizer) === JSON.stringify(this.normalizer);
    if (!same) {
      const want = "a state of the same block, batch size and normalizer";
      throw new FWLInputError(where, "from", want, describeValue(from));
    }
    const src = from.#live(where);
    this.#ctx.encodeNow(where, (encoder) => {
      for (const [k, b] of Object.entries(src)) {
        encoder.copyBufferToBuffer(b, 0, to[k as keyof FastStateBuffers]!, 0, b.size);
      }
    });
    this.#position = from.#position;
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
   *
   * @throws {FWLStateError} If the state was disposed or its block rebuilt.
   * @throws {FWLInputError} If the state belongs to another block or batch size.
   */
  use(where: string, block: Head, batchSize: number, advance: number): FastStateBuffers {
    const buffers = this.#live(where);
    if (block !== this.#head) {
      const made = "a state made by this block (block.state(…))";
      throw new FWLInputError(where, "state", made, "a state of another block");
    }
    if (!block.built || block.buffers !== this.#build || block.context !== this.#ctx) {
      throw new FWLStateError(`${where}: the block was rebuilt since the state was made`);
    }
    if (batchSize !== this.batchSize) {
      const want = `a state of ${batchSize} sequences (the batch size)`;
      throw new FWLInputError(where, "state", want, `a state of ${this.batchSize}`);
    }
    this.#position += advance;
    return buffers;
  }

  /** The buffers (a fresh state's are zero), for the library's own snapshot copies. */
  #live(where: string): FastStateBuffers {
    if (!this.#buffers) throw new FWLStateError(`${where}: the state was disposed`);
    return this.#buffers;
  }
}

/**
 * The normalizer a state uses: `requested`, else the block's when it can be carried (a
 * number or a running mean). Throws an {@linkcode FWLInputError} that says why and what
 * to pass otherwise.
 *
 * @throws {FWLInputError} If `requested` is not a positive number, or is missing and the
 * block's normalizer is `"batch"`.
 */
export function carriedNormalizer(block: Head, requested: unknown): CarriedNormalizer {
  const where = "FWLBlock.state";
  if (requested === undefined) {
    if (block.normalizer !== "batch") return block.normalizer;
    throw new FWLInputError(
      where,
      "options.normalizer",
      'a normalizer that can be carried: the block\'s "batch" normalizer sums the ' +
        "weights of the whole batch, tokens not seen yet included. Build the block with " +
        'the running mean ({ normalizer: "mean" }, docs/definition.md §6) or a fixed N, or pass ' +
        "one, as in block.state(batchSize, { normalizer: 512 })",
      'nothing, and the block\'s normalizer is "batch"',
    );
  }
  const want =
    "a finite positive number N (carried fast weights need a fixed N or the running mean; " +
    '"batch" depends on tokens not seen yet)';
  return checkNumber(where, "options.normalizer", requested, (v) => v > 0, want);
}
