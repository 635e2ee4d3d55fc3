/**
 * `FWLBlock`: the Fast Weight Layer head on WebGPU (parallel form).
 *
 * @module
 */

import { FWLError, FWLInputError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { type ParamHolder, ParamLifecycle } from "../params/holder.ts";
import type { ParamStore } from "../params/store.ts";
import { ownedGPUTensor, type Tensor } from "../tensor.ts";
import type { ParamBuffers } from "./head.ts";
import { headForwardArgs, runForward } from "./pipeline/forward.ts";
import { checkOptions, prepareHeadInputs } from "./inputs.ts";
import { FWLStream, type FWLStreamOptions } from "./stream.ts";
import { FWLState, type FWLStateOptions } from "./state.ts";
import { lossAndGrads, type LossAndGradsOptions } from "./loss_and_grads.ts";
import { blockParamSpecs, BUFFER_KEYS, initParams, type ParamName } from "./params.ts";
import { checkBoolean, checkNumber, checkPositiveInteger, checkSignal } from "../util/validate.ts";
import {
  hasDecay,
  type Normalizer,
  type NormalizerOption,
  resolveNormalizer,
} from "./normalizer.ts";
import { describeValue } from "../util/describe.ts";

/** Options of an {@linkcode FWLBlock}. */
export interface FWLBlockOptions {
  /**
   * The inner-loss normalizer (docs/definition.md §1, §6): `"batch"` (the reference default,
   * `max(Σ w, 1e-8)` over the whole batch), a fixed positive number `N` (the update is a
   * sum over the tokens seen, divided by `N`), or the running mean of docs/definition.md §6 —
   * `"mean"` or `{ decay?, prior?, learnDecay? }` — whose update has the same size at
   * every position of a document of any length, in any batch. Streaming and carried
   * states need a fixed `N` or the running mean.
   */
  normalizer?: NormalizerOption;
  /** Layer-norm epsilon (default 1e-6). */
  epsilon?: number;
  /** Seed of the deterministic initialization (default 0). */
  seed?: number;
  /** A GPUDevice to run on (default: a shared high-performance device). */
  device?: GPUDevice;
}

const WHERE = "FWLBlock";

/** Options of {@linkcode FWLBlock.forward} and {@linkcode FWLBlock.score}. */
export interface HeadCallOptions {
  /**
   * `false` runs the plain head — the same slow weights with no fast-weight update
   * (dense, squared ReLU, dense, layer norm, unembedding) — for baselines and to measure
   * the FWL's overhead. Default `true`.
   */
  fastWeights?: boolean;
  /**
   * Carry the fast weights across calls (docs/definition.md §3): the positions held by this state
   * (from `block.state(B)`, earlier windows of the same sequences, or a stream) update
   * the fast weights of every position of this call, as if they preceded it in one long
   * call; afterwards the state also holds this call's positions (it is advanced in place:
   * `state.clone()` first to keep the old one). The inner loss uses the state's
   * normalizer (a fixed `N`, or the block's running mean, counted from the start of the
   * document).
   */
  state?: FWLState;
  /**
   * Cancels the call: already aborted, it rejects with `signal.reason` and changes
   * nothing. (One call is one submission, which completes once started.)
   */
  signal?: AbortSignal;
}

function checkHeadCallOptions(
  where: string,
  options: HeadCallOptions,
): { fastWeights: boolean; state: FWLState | undefined } {
  checkOptions(where, options);
  const { fastWeights = true, state } = options;
  checkBoolean(where, "options.fastWeights", fastWeights);
  if (state !== undefined && !(state instanceof FWLState)) {
    throw new FWLInputError(where, "options.state", "an FWLState", describeValue(state));
  }
  if (state && !fastWeights) {
    const why = "no state with fastWeights: false (the plain head has no fast weights)";
    throw new FWLInputError(where, "options.state", why, "a state");
  }
  // Last, so that a bad argument is reported before an abort.
  checkSignal(where, "options.signal", options.signal);
  return { fastWeights, state };
}

/**
 * A Fast Weight Layer block: dense → squared ReLU → dense → layer norm → unembedding,
 * whose fast parameters take one SGD step on the loss of the tokens seen so far, for
 * every position at once (docs/definition.md). Constructed, like the reference, with `size`,
 * `vocabSize` and `attnChunks`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FWLBlock, tensor } from "@x/fwl";
 * using block = new FWLBlock(4, 10, 2);
 * await block.build(8);
 * const x = tensor(new Float32Array(2 * 6 * 8).map((_, i) => Math.sin(i)), [2, 6, 8]);
 * const ids = tensor(new Int32Array(12).map((_, i) => i % 10), [2, 6]);
 * const w = tensor(new Float32Array(12).fill(1), [2, 6]);
 * using logits = await block.forward(x, ids, w);
 * assertEquals(logits.shape, [2, 6, 10]);
 * // Parameters by docs/definition.md §1 name; any subset can be set.
 * await block.setParams({ "dense_0/kernel_step": new Float32Array([0.1]) });
 * assertEquals((await block.getParams())["dense_0/kernel_step"], new Float32Array([0.1]));
 * ```
 */
export class FWLBlock implements ParamHolder {
  /** Width of the fast weight layers (`H = 4·size`). */
  readonly size: number;
  /** Vocabulary size `V`. */
  readonly vocabSize: number;
  /** Number of chunks of the mixed chunk attention. */
  readonly attnChunks: number;
  /** The inner-loss normalizer, resolved (a running mean as `{ decay, prior, learnDecay }`). */
  readonly normalizer: Normalizer;
  /** Layer-norm epsilon. */
  readonly epsilon: number;
  /** Initialization seed. */
  readonly seed: number;
  readonly #params: ParamLifecycle;
  /** The compute code's view of the current build (made on first use after each build). */
  #view: { store: ParamStore; inputSize: number; buffers: ParamBuffers } | undefined;

  /**
   * Creates an unbuilt block; `build(inputSize)` allocates its parameters.
   *
   * @param size width of the fast weight layers
   * @param vocabSize number of tokens in the vocabulary
   * @param attnChunks chunks of the mixed chunk attention (e.g. 16 for 4096 tokens)
   * @param options normalizer, epsilon, seed, device
   * @throws {FWLInputError} If a size is not a positive integer or an option is invalid.
   */
  constructor(
    size: number,
    vocabSize: number,
    attnChunks: number,
    options: FWLBlockOptions = {},
  ) {
    this.size = checkPositiveInteger(WHERE, "size", size);
    this.vocabSize = checkPositiveInteger(WHERE, "vocabSize", vocabSize);
    this.attnChunks = checkPositiveInteger(WHERE, "attnChunks", attnChunks);
    checkOptions(WHERE, options);
    const { normalizer = "batch", epsilon = 1e-6, seed = 0, device } = options;
    this.normalizer = resolveNormalizer(WHERE, "options.normalizer", normalizer);
    checkNumber(WHERE, "options.epsilon", epsilon, (v) => v > 0, "a finite positive number");
    checkNumber(WHERE, "options.seed", seed, Number.isInteger, "an integer");
    this.epsilon = epsilon;
    this.seed = seed;
    this.#params = new ParamLifecycle({
      where: WHERE,
      noun: "block",
      buildHint: "call build(inputSize) first",
      grads: false,
      device,
    });
  }

  /** The input width `D`, once built (the first dimension of `dense_0/kernel`). */
  get inputSize(): number | undefined {
    return this.#params.built ? this.#current("inputSize").inputSize : undefined;
  }

  /** Whether `build` has run (and `dispose` has not). */
  get built(): boolean {
    return this.#params.built;
  }

  /**
   * The GPU context, once built.
   *
   * @throws {FWLStateError} If the block is not built or was disposed.
   */
  get context(): GPUContext {
    return this.#params.context;
  }

  /**
   * Every parameter's shape (needs `build`); `normalizer/decay` too when the normalizer decays.
   *
   * @throws {FWLStateError} If the block is not built or was disposed.
   */
  get paramShapes(): Record<ParamName, number[]> & Record<string, number[]> {
    return this.#params.paramShapes as Record<ParamName, number[]> & Record<string, number[]>;
  }

  /** The sizes of the parameters for input width `inputSize` (λ's start, if the block has λ). */
  #dims(inputSize: number) {
    const n = this.normalizer;
    return {
      inputSize,
      size: this.size,
      vocabSize: this.vocabSize,
      ...(hasDecay(n) ? { decay: n.decay } : {}),
    };
  }

  /**
   * Allocates the parameters on the GPU and initializes them deterministically from
   * `options.seed` (docs/definition.md §1). Building again starts afresh (with this or
   * another width); the old buffers are released once the new ones exist, and a build
   * that throws leaves the block as it was. A parameter larger than the device's buffer
   * or binding limit throws before anything is initialized or allocated.
   *
   * @throws {FWLStateError} If the block was disposed.
   * @throws {FWLInputError} If `inputSize` is not a positive integer.
   * @throws {FWLSizeError} If a parameter is larger than the device's buffer or binding limit.
   */
  async build(inputSize: number): Promise<void> {
    await this.#params.build(() => {
      checkPositiveInteger(`${WHERE}.build`, "inputSize", inputSize);
      const dims = this.#dims(inputSize);
      return { specs: blockParamSpecs(dims), init: () => initParams(dims, this.seed) };
    });
  }

  /**
   * Replaces any subset of the parameters of docs/definition.md §1 (and
   * `normalizer/decay` when the block has it), each a `Float32Array` of the right length
   * (a step size is a length-1 array). Everything is checked before anything is written.
   *
   * @throws {FWLStateError} If the block is not built or was disposed.
   * @throws {FWLInputError} For an unknown name, a value that is not a `Float32Array` of
   * the parameter's length, or a non-finite value.
   */
  setParams(params: Record<string, Float32Array>): Promise<void> {
    return this.#params.setParams(params);
  }

  /**
   * Reads every parameter back from the GPU, by docs/definition.md §1 name.
   *
   * @throws {FWLStateError} If the block is not built or was disposed.
   */
  getParams(): Promise<Record<string, Float32Array>> {
    return this.#params.getParams();
  }

  /**
   * The fast logits `[B, T, V]`: each position's prediction after the fast parameters
   * took one SGD step on the loss of the earlier positions of its sequence.
   *
   * @param x hidden states `[B, T, D]` (float32), host data or GPU-resident
   * @param labels one-hot (or any distribution) `[B, T, V]` float32, or ids `[B, T]` int32
   * @param weights loss weights `[B, T]` (float32, ≥ 0)
   * @returns a GPU-resident tensor; `await logits.read()` gives the values
   * @throws {FWLStateError} If the block is not built or was disposed, or `options.state`
   * does not fit it.
   * @throws {FWLInputError} If an input or option is invalid.
   * @throws {FWLError} If the logits would not fit one buffer (use `score`).
   */
  async forward(
    x: Tensor,
    labels: Tensor,
    weights: Tensor,
    options: HeadCallOptions = {},
  ): Promise<Tensor<"float32">> {
    const logits = await this.#run("forward", x, labels, weights, "logits", options);
    return logits as Tensor<"float32">;
  }

  /**
   * Scores a batch without materializing `[B, T, V]`: the cross-entropy of the fast
   * logits at every position (0 where the weight is 0) and the weighted mean loss
   * `Σ w·CE / max(Σ w, 1e-8)`. The logits are made and consumed tile by tile.
   *
   * @example
   * ```ts
   * import { assertAlmostEquals, assertEquals } from "@std/assert";
   * import { FWLBlock, tensor } from "@x/fwl";
   * using block = new FWLBlock(4, 10, 2);
   * await block.build(8);
   * const x = tensor(new Float32Array(2 * 6 * 8).map((_, i) => Math.sin(i)), [2, 6, 8]);
   * const ids = tensor(new Int32Array(12).map((_, i) => i % 10), [2, 6]);
   * const w = tensor(new Float32Array(12).fill(1), [2, 6]);
   * const { loss, nll } = await block.score(x, ids, w);
   * assertEquals(nll.length, 12);
   * assertAlmostEquals(loss, nll.reduce((a, b) => a + b) / 12, 1e-5); // exp(loss): the perplexity
   * ```
   *
   * @throws {FWLStateError} If the block is not built or was disposed, or `options.state`
   * does not fit it.
   * @throws {FWLInputError} If an input or option is invalid.
   */
  async score(
    x: Tensor,
    labels: Tensor,
    weights: Tensor,
    options: HeadCallOptions = {},
  ): Promise<{ loss: number; nll: Float32Array }> {
    const nllTensor = await this.#run("score", x, labels, weights, "nll", options) as Tensor<
      "float32"
    >;
    const nll = await nllTensor.read().finally(() => nllTensor.dispose());
    const w = weights.hostData ?? await weights.read();
    let total = 0, weight = 0;
    for (let i = 0; i < nll.length; i++) {
      total += w[i] * nll[i];
      weight += w[i];
    }
    return { loss: total / Math.max(weight, 1e-8), nll };
  }

  /**
   * Checks and uploads the inputs (host data for the length of this call only), runs
   * the forward, and returns its output as a pooled GPU tensor: the fast logits
   * `[B, T, V]`, or the per-position cross-entropy `[B, T]`.
   */
  async #run(
    method: string,
    x: Tensor,
    labels: Tensor,
    weights: Tensor,
    kind: "logits" | "nll",
    options: HeadCallOptions,
  ): Promise<Tensor> {
    const { ctx } = this.#params.live(method);
    const where = `${WHERE}.${method}`;
    const { fastWeights, state } = checkHeadCallOptions(where, options);
    const V = this.vocabSize, D = this.#current(method).inputSize;
    const inp = await prepareHeadInputs(where, ctx, D, V, x, labels, weights, undefined, true);
    const { batch: B, time: T } = inp;
    const shape = kind === "logits" ? [B, T, V] : [B, T];
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    let out: GPUBuffer | undefined;
    try {
      const carried = state?.use(where, this, B, 0);
      if (bytes > ctx.device.limits.maxBufferSize) {
        throw new FWLError(
          `${where}: ${kind} [${shape.join(", ")}] need ${bytes} bytes, over the ` +
            `device's ${ctx.device.limits.maxBufferSize}-byte buffer limit; use score() for ` +
            `the loss, or split the batch`,
        );
      }
      out = ctx.pool.acquire(bytes);
      await runForward(ctx, {
        ...headForwardArgs(this, inp),
        ...(state ? { ...state.normalization, state: carried } : {}),
        output: { kind, buffer: out },
        plain: !fastWeights,
      });
      state?.use(where, this, B, T);
    } catch (e) {
      if (out) ctx.pool.release(out);
      throw e;
    } finally {
      inp.uploads.forEach((b) => ctx.pool.release(b));
    }
    return ownedGPUTensor(ctx, out, shape, "float32");
  }

  /**
   * The outer loss `Σ w·CE(fast_logits, y) / max(Σ w, 1e-8)` and its exact gradient for
   * each of the 14 parameters (by docs/definition.md §1 name; step sizes as length-1 arrays) and for
   * `"x"` `[B, T, D]`, through the fast-weight update (the second-order path; drop it
   * with `firstOrderOnly`). Logits are streamed in row tiles: no `[B, T, V]` buffer.
   * `lossAndGradsGPU` keeps everything on the GPU (accumulation, an upstream gradient).
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { FWLBlock, tensor } from "@x/fwl";
   * using block = new FWLBlock(4, 10, 2);
   * await block.build(8);
   * const x = tensor(new Float32Array(2 * 6 * 8).map((_, i) => Math.sin(i)), [2, 6, 8]);
   * const ids = tensor(new Int32Array(12).map((_, i) => i % 10), [2, 6]);
   * const w = tensor(new Float32Array(12).fill(1), [2, 6]);
   * const { loss, grads } = await block.lossAndGrads(x, ids, w);
   * assert(loss > 0);
   * assertEquals([grads["dense_0/kernel_step"].length, grads["x"].length], [1, 96]);
   * ```
   *
   * @throws {FWLStateError} If the block is not built or was disposed.
   * @throws {FWLInputError} If an input or option is invalid.
   */
  lossAndGrads(
    x: Tensor,
    labels: Tensor,
    weights: Tensor,
    options?: LossAndGradsOptions,
  ): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
    return lossAndGrads(this, x, labels, weights, options);
  }

  /**
   * The recurrent form, for generation (docs/definition.md §3): a stream of `batchSize` sequences
   * whose state lives on the GPU. `predict(x_t)` gives the fast logits of a position,
   * `observe(labels_t, weights_t)` learns from it. Streaming needs a normalizer that can
   * be carried: the block's when it is a number or the running mean (docs/definition.md §6), or a
   * fixed `options.normalizer`.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { FWLBlock, tensor } from "@x/fwl";
   * using block = new FWLBlock(4, 10, 2);
   * await block.build(8);
   * using stream = block.stream(1, { normalizer: 64 });
   * using logits = await stream.predict(tensor(new Float32Array(8).fill(0.5), [1, 8]));
   * await stream.observe(tensor(new Int32Array([3]), [1]), tensor(new Float32Array([1]), [1]));
   * assertEquals([logits.shape, stream.position], [[1, 10], 1]);
   * ```
   *
   * @throws {FWLStateError} If the block is not built or was disposed.
   * @throws {FWLInputError} If `batchSize` or an option is invalid, or the normalizer
   * can't be carried.
   */
  stream(batchSize: number, options?: FWLStreamOptions): FWLStream {
    return new FWLStream(this, batchSize, options);
  }

  /**
   * A zeroed fast-weight state of `batchSize` sequences (docs/definition.md §3) to carry across
   * calls: score a document longer than one window, window by window, in memory that
   * does not grow with its length, every position's fast weights having seen the whole
   * prefix. Needs a normalizer that can be carried: the block's when it is a number or
   * the running mean of docs/definition.md §6 (whose update keeps its size at any position, so the
   * fast weights can be carried through a document of any length), or a fixed
   * `options.normalizer`. A stream can continue from it (`block.stream(B, { state })`) and
   * vice versa (`stream.state`).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { FWLBlock, tensor } from "@x/fwl";
   * using block = new FWLBlock(4, 10, 2, { normalizer: 16 });
   * await block.build(8);
   * const T = 12, x = new Float32Array(T * 8).map((_, i) => Math.sin(i));
   * const ids = new Int32Array(T).map((_, i) => (3 * i) % 10);
   * using state = block.state(1);
   * const nll: number[] = [];
   * for (let t0 = 0; t0 < T; t0 += 4) { // three windows of 4 positions
   *   const xs = tensor(x.slice(t0 * 8, (t0 + 4) * 8), [1, 4, 8]);
   *   const w = tensor(new Float32Array(4).fill(1), [1, 4]);
   *   const part = await block.score(xs, tensor(ids.slice(t0, t0 + 4), [1, 4]), w, { state });
   *   nll.push(...part.nll);
   * }
   * // as one block.score over all 12 positions with { normalizer: 16 }
   * assertEquals([nll.length, state.position], [12, 12]);
   * ```
   *
   * @throws {FWLStateError} If the block is not built or was disposed.
   * @throws {FWLInputError} If `batchSize` or an option is invalid, or the normalizer
   * can't be carried.
   */
  state(batchSize: number, options?: FWLStateOptions): FWLState {
    return new FWLState(this, batchSize, options);
  }

  /** Releases the parameters' GPU memory. Idempotent; the block can't be used afterwards. */
  dispose(): void {
    this.#params.dispose();
    this.#view = undefined;
  }

  /** `using block = new FWLBlock(...)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /**
   * The parameter buffers, for the library's own modules (training, streaming).
   *
   * @throws {FWLStateError} If the block is not built or was disposed.
   */
  get buffers(): ParamBuffers {
    return this.#current("buffers").buffers;
  }

  /** The view of the current build (see `#view`). */
  #current(what: string): { inputSize: number; buffers: ParamBuffers } {
    const { store } = this.#params.live(what);
    if (this.#view?.store !== store) {
      // Each tensor under its short key, the step sizes (and λ) as `steps`.
      const buffers = { steps: store.buffer("steps") } as ParamBuffers;
      for (const [name, key] of Object.entries(BUFFER_KEYS)) buffers[key] = store.buffer(name);
      const inputSize = store.specs[0].shape[0]; // dense_0/kernel [D, H]
      this.#view = { store, inputSize, buffers };
    }
    return this.#view;
  }
}
