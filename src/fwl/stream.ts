/**
 * `FWLStream`: the recurrent form of the FWL block, for generation (docs/definition.md §3).
 *
 * With a fixed normalizer `N` or the running mean of docs/definition.md §6, the fast logits at
 * position `t` depend on the earlier positions only through a state of fixed size per
 * sequence (an {@linkcode FWLState}).
 * `predict` runs the slow first layer and the parallel fast pass of a one-position window
 * from the state; `observe` runs the rest of the slow forward and the inner backward of
 * the position just predicted (the same stages as the parallel form) and adds its terms. Both run entirely on the GPU, one
 * command submission each, at a cost that does not grow with the position.
 *
 * @module
 */

import { FWLError, FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { Recorder } from "../gpu/recorder.ts";
import { checkDType, checkShape, checkTensor, ownedGPUTensor, type Tensor } from "../tensor.ts";
import { type CarriedNormalizer, FWLState, type FWLStateOptions } from "./state.ts";
import type { Head, ParamBuffers } from "./head.ts";
import { checkOptions, checkTargets } from "./inputs.ts";
import { recordFastPass } from "./pipeline/fast_pass.ts";
import { advanceFastState, type WindowDims } from "./pipeline/fast_step.ts";
import { queryScale } from "../kernels/running_count.ts";
import { isMean } from "./normalizer.ts";
import { recordInnerBackward } from "./pipeline/inner_backward.ts";
import { type Logits, writeLogits } from "./pipeline/logits_tiles.ts";
import { planLogitTiles } from "./pipeline/logit_tile_plan.ts";
import { type SlowDims, slowFirstLayer, slowSecondLayer } from "./pipeline/slow_forward.ts";
import { checkFinite, checkIds, checkWeights } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";

/** Options of an {@linkcode FWLStream}. */
export interface FWLStreamOptions extends FWLStateOptions {
  /**
   * Continue from this state (made by `block.state`, possibly advanced by windows of
   * `block.score`/`forward`) and advance it in place; the caller keeps owning it (the
   * stream's `dispose` leaves it alone). Default: a fresh state the stream owns.
   */
  state?: FWLState;
}

const WHERE = "FWLStream";

/** What `predict` keeps for `observe`: the input and the slow first layer. */
interface Pending {
  /** `x_t`, `[B, D]`. */
  x: GPUBuffer;
  /** `h1 = x·K0 + b0`, `[B, H]`. */
  h1: GPUBuffer;
  /** `a = relu(h1)²`, `[B, H]`. */
  a: GPUBuffer;
  /** Zeros `[B, H]`: the inner gradients of the empty window before the position. */
  none: GPUBuffer;
}

/**
 * A batch of `B` sequences generated token by token with an FWL block, its state on the
 * GPU. For each position: `predict(x_t)` gives the fast logits from the state, then
 * `observe(labels_t, weights_t)` learns from that position. The logits equal those of
 * `block.forward` over the whole sequence with the same normalizer.
 *
 * Usually made with `block.stream(batchSize, options)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FWLBlock, FWLStream, greedy, tensor } from "@x/fwl";
 * using block = new FWLBlock(4, 10, 2, { normalizer: 64 });
 * await block.build(8);
 * using stream = new FWLStream(block, 1);
 * const x = tensor(new Float32Array(8).fill(0.1), [1, 8]); // the body's hidden state
 * const tokens: number[] = [];
 * for (let t = 0; t < 4; t++) {
 *   using logits = await stream.predict(x);
 *   const token = greedy(await logits.read());
 *   await stream.observe(tensor(new Int32Array([token]), [1]), tensor(new Float32Array([1]), [1]));
 *   tokens.push(token);
 * }
 * using branch = stream.clone(); // continues independently from position 4
 * stream.reset(); // back to position 0, the slow weights
 * assertEquals([tokens.length, branch.position, stream.position], [4, 4, 0]);
 * // continue a state carried through windows of block.score(…, { state })
 * using state = block.state(1);
 * using next = block.stream(1, { state });
 * ```
 */
export class FWLStream {
  /** Number of sequences `B`. */
  readonly batchSize: number;
  /** The inner-loss normalizer: a fixed `N` or the block's running mean (docs/definition.md §6). */
  readonly normalizer: CarriedNormalizer;
  readonly #block: Head;
  readonly #ctx: GPUContext;
  readonly #V: number;
  /** One position of every sequence, as the slow forward reads it. */
  readonly #dims: SlowDims;
  /** The block's parameter buffers when the stream was made: a rebuild makes new ones. */
  readonly #build: ParamBuffers;
  readonly #state: FWLState;
  /** Whether the stream made its state (and so disposes it). */
  #ownsState: boolean;
  readonly #pending: Pending;
  /** `N` in a one-float buffer, as the softmax-gradient kernel reads it (1 for the running mean). */
  readonly #norm: GPUBuffer;
  #predicted = false;
  #busy = false;
  #disposed = false;
  #released = false;

  /**
   * Makes a stream with its state zeroed on the GPU (position 0), or continuing from
   * `options.state`.
   *
   * @param block a built {@linkcode FWLBlock}
   * @param batchSize number of sequences `B`
   * @param options a fixed normalizer `N` (default: the block's, when it can be carried),
   *   or a state to continue from
   *
   * @throws {FWLInputError} If `batchSize`, the normalizer or `options.state` is invalid, or
   * the batch is wider than the device allows.
   * @throws {FWLStateError} If the block is not built or `options.state` was disposed.
   * @throws {FWLError} If the logits of the batch exceed one binding.
   */
  constructor(block: Head, batchSize: number, options: FWLStreamOptions = {}) {
    checkOptions(WHERE, options);
    const { state, normalizer } = options;
    if (state !== undefined && !(state instanceof FWLState)) {
      throw new FWLInputError(WHERE, "options.state", "an FWLState", describeValue(state));
    }
    if (state && normalizer !== undefined && normalizer !== state.normalizer) {
      const want = `the state's normalizer ${state.normalizer} (or nothing)`;
      throw new FWLInputError(WHERE, "options.normalizer", want, describeValue(normalizer));
    }
    // A fresh state checks the block, the batch size, the normalizer and the state's size.
    const st = state ?? new FWLState(block, batchSize, { normalizer });
    try {
      state?.use(WHERE, block, batchSize, 0);
      const ctx = block.context, B = batchSize, V = block.vocabSize;
      if (B > ctx.maxWorkgroups) {
        const most = `at most ${ctx.maxWorkgroups} sequences (the device's workgroup limit)`;
        throw new FWLInputError(WHERE, "batchSize", most, `${B}`);
      }
      if (B * V * 4 > ctx.maxBindingBytes) {
        throw new FWLError(
          `${WHERE}: the logits of ${B} sequences need ${B * V * 4} bytes, over the ` +
            `device's ${ctx.maxBindingBytes}-byte binding limit; use fewer sequences per stream`,
        );
      }
    } catch (e) {
      if (!state) st.dispose();
      throw e;
    }
    const ctx = block.context, B = batchSize, D = block.inputSize!, S = block.size, H = 4 * S;
    this.#state = st;
    this.#ownsState = !state;
    this.normalizer = st.normalizer;
    this.batchSize = B;
    this.#block = block;
    this.#build = block.buffers;
    this.#ctx = ctx;
    this.#V = block.vocabSize;
    this.#dims = { rows: B, inputSize: D, size: S, epsilon: block.epsilon };
    const get = (elements: number) => ctx.pool.acquire(elements * 4);
    this.#pending = { x: get(B * D), h1: get(B * H), a: get(B * H), none: get(B * H) };
    this.#norm = get(1);
    const folded = isMean(this.normalizer) ? 1 : this.normalizer;
    ctx.device.queue.writeBuffer(this.#norm, 0, new Float32Array([folded]));
    ctx.encodeNow(WHERE, (encoder) => {
      encoder.clearBuffer(this.#pending.none);
    });
  }

  /** The next position to predict (the number of positions the state holds). */
  get position(): number {
    return this.#state.position;
  }

  /** The state the stream advances (its own, or the one it was made with). */
  get state(): FWLState {
    return this.#state;
  }

  /** Whether `predict` ran for the current position (so `observe` comes next). */
  get predicted(): boolean {
    return this.#predicted;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * Bytes of the recurrent state on the GPU: `4·B·(D·H + H·size + H + 3·size)`, the same
   * at every position.
   */
  get stateBytes(): number {
    return this.#state.bytes;
  }

  /**
   * The fast logits `[B, V]` of the current position from the state.
   *
   * @param x the hidden states of this position, `[B, D]` float32 (host or GPU-resident)
   * @returns a GPU-resident tensor (dispose it when done); `await logits.read()` gives the values
   *
   * @throws {FWLInputError} If `x` is not a finite float32 `[B, D]` tensor.
   * @throws {FWLStateError} If the stream was disposed, another call on it is still running, or its
   * block was disposed, rebuilt or moved since the stream was made.
   */
  async predict(x: Tensor): Promise<Tensor<"float32">> {
    const where = `${WHERE}.predict`;
    const { ctx, params } = this.#enter("predict");
    try {
      const B = this.batchSize, D = this.#dims.inputSize, V = this.#V;
      checkTensor(where, "x", x);
      checkDType(where, "x", x, "float32");
      checkShape(where, "x", x, [B, D], "hidden states [B, D]");
      checkFinite(where, "x", x.hostData ?? await x.read());

      const rec = new Recorder(ctx);
      const resident = x.gpuBuffer(ctx);
      const input = resident ?? rec.upload(x.hostData!);
      const logits = ctx.pool.acquire(B * V * 4);
      this.#recordPredict(rec, params, input, logits);
      try {
        await rec.submit(where);
      } catch (e) {
        ctx.pool.release(logits);
        this.#predicted = false;
        throw e;
      }
      return ownedGPUTensor(ctx, logits, [B, V], "float32");
    } finally {
      this.#leave();
    }
  }

  /**
   * Learns from the position just predicted: runs its slow forward and inner backward
   * and adds its terms to the state, then moves to the next position.
   *
   * @param labels the targets: token ids `[B]` int32 (any id where the weight is 0, e.g.
   *   -1), or one-hot (any distribution) rows `[B, V]` float32
   * @param weights the loss weight of each sequence's position, `[B]` float32, ≥ 0
   *   (0 for padding: the state does not change)
   *
   * @throws {FWLInputError} If the labels or weights are invalid.
   * @throws {FWLStateError} If the stream was disposed, another call on it is still running, or its
   * block was disposed, rebuilt or moved since the stream was made.
   */
  async observe(labels: Tensor, weights: Tensor): Promise<void> {
    const where = `${WHERE}.observe`;
    const { ctx, params } = this.#enter("observe");
    try {
      const B = this.batchSize, V = this.#V;
      const labelsAreIds = checkTargets(where, labels, weights, [B], "B", V);
      const w = weights.hostData ?? await weights.read();
      checkWeights(where, "weights", w);
      const l = labels.hostData ?? await labels.read();
      if (labelsAreIds) checkIds(where, "labels", l, w, V);
      else checkFinite(where, "labels", l);

      const rec = new Recorder(ctx);
      const upload = (t: Tensor) => t.gpuBuffer(ctx) ?? rec.upload(t.hostData!);
      this.#recordObserve(rec, params, upload(labels), labelsAreIds, upload(weights));
      try {
        await rec.submit(where);
      } catch (e) {
        this.#predicted = true;
        this.#state.use(where, this.#block, B, -1);
        throw e;
      }
    } finally {
      this.#leave();
    }
  }

  /**
   * Records `predict` of the current position into `rec` (nothing is submitted): the
   * hidden states `x` `[B, D]` are read from a GPU buffer and the logits `[B, V]` written
   * to `logits`. For the library's own loops that keep whole token loops on the GPU
   * (`LanguageModel.generate`); no input checks beyond the stream's order of calls.
   *
   * @throws {FWLStateError} If the position was already predicted, or as for `predict`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { FWLBlock } from "@x/fwl";
   * import { readBytes, Recorder } from "@x/fwl/gpu";
   * using block = new FWLBlock(4, 10, 2, { normalizer: 64 });
   * await block.build(8);
   * using stream = block.stream(1);
   * const ctx = block.context, rec = new Recorder(ctx);
   * const x = rec.upload(new Float32Array(8).fill(0.1)), logits = ctx.pool.acquire(40);
   * stream.recordPredict(rec, x, logits);
   * stream.recordObserve(rec, rec.upload(new Int32Array([3])), rec.upload(new Float32Array([1])));
   * await rec.submit("one position");
   * assertEquals(new Float32Array(await readBytes(ctx, logits, 40)).length, 10); // [B, V]
   * assertEquals(stream.position, 1);
   * ctx.pool.release(logits);
   * ```
   */
  recordPredict(rec: Recorder, x: GPUBuffer, logits: GPUBuffer): void {
    const { params } = this.#enter("recordPredict");
    try {
      this.#recordPredict(rec, params, x, logits);
    } finally {
      this.#leave();
    }
  }

  /**
   * Records `observe` of the position just predicted into `rec` (nothing is submitted):
   * `labels` are token ids `[B]` int32 on the GPU, `weights` `[B]` float32. The state's
   * position advances now. See {@linkcode FWLStream.recordPredict}.
   *
   * @throws {FWLStateError} If the position was not predicted yet, or as for `observe`.
   */
  recordObserve(rec: Recorder, labels: GPUBuffer, weights: GPUBuffer): void {
    const { params } = this.#enter("recordObserve");
    try {
      this.#recordObserve(rec, params, labels, true, weights);
    } finally {
      this.#leave();
    }
  }

  /** The slow first layer (kept for observe), then the fast pass from the state. */
  #recordPredict(rec: Recorder, params: ParamBuffers, x: GPUBuffer, logits: GPUBuffer): void {
    const where = `${WHERE}.predict`;
    if (this.#predicted) {
      throw new FWLStateError(
        `${where}: position ${this.position} was already predicted; call ` +
          `observe(labels, weights) for it before predicting the next position`,
      );
    }
    const ctx = this.#ctx, B = this.batchSize, D = this.#dims.inputSize;
    const pend = this.#pending;
    rec.copy(x, 0, pend.x, 0, B * D * 4);
    slowFirstLayer(rec, params, this.#dims, pend.x, pend);
    const zero = pend.none;
    const carried = this.#state.use(where, this.#block, B, 0);
    const { normalizer, decay } = this.#state.normalization;
    let rowScale: GPUBuffer | undefined;
    if (isMean(normalizer)) {
      // This position's 1/N from the count so far (its own weight comes with observe).
      rowScale = rec.scratch(B * 4);
      queryScale(rec, {
        weights: zero,
        batch: B,
        time: 1,
        decay,
        prior: normalizer.prior,
        count: carried.count,
        out: rowScale,
      });
    }
    const nf = recordFastPass(rec, {
      ...this.#window(),
      ...pend,
      attnChunks: 1,
      epsilon: this.#dims.epsilon,
      params,
      gn: zero,
      gh2: zero,
      gnNhat: zero,
      gh1: zero,
      attentionBytes: () => ctx.maxBindingBytes,
      carried,
      ...(rowScale ? { rowScale } : {}),
      ...(decay ? { decay } : {}),
    }).nf;
    writeLogits(rec, this.#logits(params), nf, logits, ctx.maxBindingBytes);
    this.#predicted = true;
  }

  /** The slow forward and inner backward of the predicted position, added to the state. */
  #recordObserve(
    rec: Recorder,
    params: ParamBuffers,
    labels: GPUBuffer,
    labelsAreIds: boolean,
    weights: GPUBuffer,
  ): void {
    const where = `${WHERE}.observe`;
    if (!this.#predicted) {
      throw new FWLStateError(
        `${where}: position ${this.position} has not been predicted; call ` +
          `predict(x) for it first`,
      );
    }
    const B = this.batchSize, S = this.#dims.size;
    const pend = this.#pending;
    const buf = (elements: number) => rec.scratch(elements * 4);
    // h1 and a came from predict.
    const slow = { ...pend, nhat: buf(B * S), rstd: buf(B), n: buf(B * S) };
    slowSecondLayer(rec, params, this.#dims, pend.a, slow);
    const inner = recordInnerBackward(rec, params, {
      ...this.#logits(params),
      labels,
      labelsAreIds,
      weights,
      norm: this.#norm,
    }, slow);
    const st = this.#state.use(where, this.#block, B, 0);
    const { decay } = this.#state.normalization;
    advanceFastState(rec, this.#window(), st, pend, inner, { weights, decay });
    this.#state.use(where, this.#block, B, 1);
    this.#predicted = false;
  }

  /**
   * Forgets every observed position: back to position 0 (the slow parameters).
   *
   * @throws {FWLStateError} If the stream was disposed, another call on it is still running, or its
   * block was disposed, rebuilt or moved since the stream was made.
   */
  reset(): void {
    this.#enter("reset");
    try {
      this.#state.reset();
      this.#predicted = false;
    } finally {
      this.#leave();
    }
  }

  /**
   * An independent copy of this stream (state, position, and a pending prediction),
   * copied on the GPU: observing different tokens on the copy and on the original
   * branches the sequences, e.g. for beam search.
   *
   * @throws {FWLStateError} If the stream was disposed, another call on it is still running, or its
   * block was disposed, rebuilt or moved since the stream was made.
   */
  clone(): FWLStream {
    this.#enter("clone");
    try {
      const state = this.#state.clone();
      const copy = new FWLStream(this.#block, this.batchSize, { state });
      copy.#ownsState = true;
      const to = Object.values(copy.#pending);
      this.#ctx.encodeNow(
        `${WHERE}.clone`,
        (encoder) =>
          Object.values(this.#pending).forEach((src, i) =>
            encoder.copyBufferToBuffer(src, 0, to[i], 0, src.size)
          ),
      );
      copy.#predicted = this.#predicted;
      return copy;
    } finally {
      this.#leave();
    }
  }

  /**
   * Releases the state's GPU memory; the stream can't be used afterwards (its calls
   * throw {@linkcode FWLStateError}). Idempotent. Tensors returned by `predict` stay valid.
   */
  dispose(): void {
    this.#disposed = true;
    if (!this.#busy) this.#release();
  }

  /** `using stream = block.stream(...)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Checks that the stream and its block can run a call, and marks the stream busy. */
  #enter(what: string): { ctx: GPUContext; params: ParamBuffers } {
    const where = `${WHERE}.${what}`;
    if (this.#disposed) throw new FWLStateError(`${where}: the stream was disposed`);
    if (this.#busy) {
      throw new FWLStateError(
        `${where}: another call on this stream is still running; await it first`,
      );
    }
    const block = this.#block;
    if (!block.built || block.buffers !== this.#build) {
      throw new FWLStateError(
        `${where}: the block was disposed or rebuilt since the stream was made`,
      );
    }
    if (block.context !== this.#ctx) {
      throw new FWLStateError(
        `${where}: the block moved to another device since the stream was made`,
      );
    }
    this.#busy = true;
    return { ctx: this.#ctx, params: block.buffers };
  }

  /** One position of every sequence, as a window of the parallel pass reads it. */
  #window(): WindowDims & { batch: number; time: number } {
    const { inputSize, size } = this.#dims;
    return { batch: this.batchSize, time: 1, inputSize, size };
  }

  /** The logits of one position of every sequence: one tile (the constructor checked). */
  #logits(params: ParamBuffers): Logits {
    const B = this.batchSize, V = this.#V;
    const tiling = planLogitTiles(this.#ctx, B, V, this.#ctx.maxBindingBytes, false);
    return { rows: B, size: this.#dims.size, vocab: V, tiling, ku: params.ku, bu: params.bu };
  }

  #leave(): void {
    this.#busy = false;
    if (this.#disposed) this.#release();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    const pool = this.#ctx.pool;
    if (this.#ownsState) this.#state.dispose();
    for (const b of Object.values(this.#pending)) pool.release(b);
    pool.release(this.#norm);
  }
}
