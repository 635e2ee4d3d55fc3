/**
 * `TransformerState`: the generation state of a `TransformerBody` — every block's
 * key/value cache of the positions seen so far — which `step` and `recordStep` advance.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { describeValue } from "../util/describe.ts";
import type { BodyState } from "./model_body.ts";

/** What a state needs of the body that made it (a `TransformerBody`): its sizes. */
export interface TransformerStateOwner {
  /** Width of the keys and values. */
  readonly hiddenSize: number;
  /** Positions the body was built for. */
  readonly maxLength: number;
  /** Number of blocks. */
  readonly layers: number;
}

/** The key/value cache of a state, per block `[B, maxLength, D]`. */
export interface StateInternals {
  /** The body that made the state. */
  body: TransformerStateOwner;
  ctx: GPUContext;
  keys: GPUBuffer[];
  values: GPUBuffer[];
  length: number;
  disposed: boolean;
  /** Called once by `dispose()` (the body forgets the state). */
  onDispose: () => void;
}

const internals = new WeakMap<TransformerState, StateInternals>();

/** The internals of `state` when it is a {@linkcode TransformerState}, for the body's own use. */
export function stateInternals(state: unknown): StateInternals | undefined {
  return state instanceof TransformerState ? internals.get(state) : undefined;
}

/**
 * The generation state of a {@linkcode TransformerBody}: every block's keys and values
 * of the positions seen so far (`[B, maxLength, hiddenSize]` each), and how many there
 * are. Made by `body.initState(batchSize)`; `dispose()` frees its GPU memory.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tensor, TransformerBody } from "@x/fwl";
 * using body = await TransformerBody.create({
 *   vocabSize: 10, hiddenSize: 8, layers: 1, heads: 2, maxLength: 4,
 * });
 * using state = body.initState(2); // 2 sequences
 * using h = await body.step(tensor(new Int32Array([5, 9]), [2]), state);
 * assertEquals([h.shape, state.length], [[2, 8], 1]);
 * using copy = body.initState(2);
 * copy.copyFrom(state); // the cached positions too
 * assertEquals(copy.length, 1);
 * ```
 */
export class TransformerState implements BodyState {
  /** Number of sequences. */
  readonly batchSize: number;

  /** Use `body.initState(batchSize)`. */
  constructor(batchSize: number, inner: StateInternals) {
    this.batchSize = batchSize;
    internals.set(this, inner);
  }

  /** Positions seen so far (the position the next `step` fills). */
  get length(): number {
    return internals.get(this)?.length ?? 0;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return internals.get(this)?.disposed ?? true;
  }

  /**
   * Makes this state a copy of `from`, a state of the same body and batch size: its
   * cached positions and its length (on the GPU).
   *
   * @throws {FWLStateError} If this state was disposed.
   * @throws {FWLInputError} If `from` is not a live state of the same body and batch size.
   */
  copyFrom(from: BodyState): void {
    const where = "TransformerState.copyFrom";
    const s = internals.get(this);
    if (!s || s.disposed) throw new FWLStateError(`${where}: the state was disposed`);
    const f = from instanceof TransformerState ? internals.get(from) : undefined;
    if (
      !f || f.disposed || f.body !== s.body ||
      (from as TransformerState).batchSize !== this.batchSize
    ) {
      const want = `a live state of the same body with ${this.batchSize} sequences`;
      throw new FWLInputError(where, "from", want, describeValue(from));
    }
    s.ctx.encodeNow(where, (encoder) => {
      f.keys.forEach((b, l) => encoder.copyBufferToBuffer(b, 0, s.keys[l], 0, b.size));
      f.values.forEach((b, l) => encoder.copyBufferToBuffer(b, 0, s.values[l], 0, b.size));
    });
    s.length = f.length;
  }

  /** Releases the key/value cache. Idempotent (the body's dispose or rebuild calls it too). */
  dispose(): void {
    const s = internals.get(this);
    if (!s || s.disposed) return;
    s.disposed = true;
    for (const b of [...s.keys, ...s.values]) s.ctx.pool.release(b);
    s.keys = [];
    s.values = [];
    s.onDispose();
  }

  /** `using state = body.initState(…)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * `state`'s internals, when it is a live state of `body`.
 *
 * @throws {FWLInputError} If `state` is not a state made by `body`.
 * @throws {FWLStateError} If it was disposed.
 */
export function liveState(
  where: string,
  body: TransformerStateOwner,
  state: unknown,
): StateInternals {
  const st = stateInternals(state);
  if (!st || st.body !== body) {
    const want = "a state made by this body's initState";
    throw new FWLInputError(where, "state", want, describeValue(state));
  }
  if (st.disposed) throw new FWLStateError(`${where}: the state was disposed`);
  return st;
}

/**
 * Throws unless the state has room for one more position.
 *
 * @throws {FWLStateError} If it already holds `maxLength` positions.
 */
export function checkRoom(where: string, st: StateInternals, maxLength: number): void {
  if (st.length >= maxLength) {
    throw new FWLStateError(
      `${where}: the state already holds maxLength = ${maxLength} positions, the ` +
        `most the body was built for; start a new state or build a body with a larger maxLength`,
    );
  }
}

/**
 * A state of `batchSize` sequences with an empty key/value cache of `maxLength`
 * positions per block; its `dispose()` calls `onDispose` once.
 */
export function emptyState(
  body: TransformerStateOwner,
  ctx: GPUContext,
  batchSize: number,
  onDispose: (state: TransformerState) => void,
): TransformerState {
  const floats = batchSize * body.maxLength * body.hiddenSize;
  const alloc = () => Array.from({ length: body.layers }, () => ctx.pool.acquire(floats * 4));
  const state: TransformerState = new TransformerState(batchSize, {
    body,
    ctx,
    keys: alloc(),
    values: alloc(),
    length: 0,
    disposed: false,
    onDispose: () => onDispose(state),
  });
  return state;
}
