/**
 * `LSTMBody`: a trainable token-embedding + stacked-LSTM model body on WebGPU,
 * implementing {@linkcode ModelBody} (forward, backpropagation through time, parameters
 * with gradient buffers, and generation one token at a time). Its parameters follow the
 * shared lifecycle of `src/params/holder.ts`; the recordings live in `lstm_forward.ts`
 * and `lstm_backward.ts`, the generation state in `lstm_state.ts`.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { Recorder } from "../gpu/recorder.ts";
import { layoutOf, type ParamHolder, ParamLifecycle } from "../params/holder.ts";
import type { BodyParameter } from "../params/parameter.ts";
import { checkInteger, checkObject, checkPositiveInteger } from "../util/validate.ts";
import { checkFiniteTensor } from "../kernels/validate.ts";
import { checkDType, checkShape, checkTensor, ownedGPUTensor, type Tensor } from "../tensor.ts";
import { describeValue } from "../util/describe.ts";
import { checkBindingSizes, checkTokens, readTokenIds } from "./tokens.ts";
import { initLSTMParams, lstmParamShapes } from "./lstm_params.ts";
import type { BodyState, ModelBody } from "./model_body.ts";
import { LSTMState } from "./lstm_state.ts";
import {
  type LSTMSaved,
  recordLSTMForward,
  recordLSTMStep,
  releaseLSTMSaved,
} from "./lstm_forward.ts";
import { runLSTMBackward } from "./lstm_backward.ts";

export { LSTMState };

/** Options of an {@linkcode LSTMBody}. */
export interface LSTMBodyOptions {
  /** Number of token ids `V`. */
  vocabSize: number;
  /** Width `E` of the token embedding. */
  embedSize: number;
  /** Width `H` of the hidden states. */
  hiddenSize: number;
  /** Number of stacked LSTM layers (default 1). */
  layers?: number;
  /** Seed of the deterministic initialization (default 0). */
  seed?: number;
  /** A GPUDevice to run on (default: the shared high-performance device). */
  device?: GPUDevice;
}

const WHERE = "LSTMBody";

/**
 * A token embedding `[V, E]` followed by `layers` LSTM layers (gates input, forget,
 * cell, output; kernel `[in, 4H]`, recurrent kernel `[H, 4H]`, bias `[4H]`, forget-gate
 * bias initialized to 1). Its output at each position is the last layer's `h`, so
 * `hiddenSize = H`. Construct, then `await body.build()` (or `await LSTMBody.create(options)`
 * for both).
 *
 * The input projection `x·W + b` of every position is one matmul per layer; the
 * recurrence of a layer is one dispatch (one workgroup per 4 sequences, looping over
 * time), and so is its backward; the weight gradients are one matmul each over all
 * positions, and the embedding gradient is a deterministic per-row sum (no atomics).
 * `forward` keeps what `backward` needs (gate activations, c and h of every layer) until
 * the next `forward` (or a rebuild, or `dispose`). Calls must not overlap: await each one.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LSTMBody, tensor } from "@x/fwl";
 * using body = await LSTMBody.create({ vocabSize: 10, embedSize: 4, hiddenSize: 6 });
 * const tokens = tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * using hidden = await body.forward(tokens); // on the GPU
 * assertEquals(hidden.shape, [2, 3, 6]);
 * await body.backward(tensor(new Float32Array(2 * 3 * 6).fill(0.1), [2, 3, 6])); // fills the grads
 * assertEquals(body.parameters().map((p) => p.name), [
 *   "embedding", "lstm_0/kernel", "lstm_0/recurrent_kernel", "lstm_0/bias",
 * ]);
 * assertEquals((await body.getGrads())["lstm_0/bias"].length, 24);
 * ```
 */
export class LSTMBody implements ModelBody, ParamHolder {
  /** Number of token ids `V`. */
  readonly vocabSize: number;
  /** Width `E` of the embedding. */
  readonly embedSize: number;
  /** Width `H` of the hidden states (the output width). */
  readonly hiddenSize: number;
  /** Number of LSTM layers. */
  readonly layers: number;
  /** Initialization seed. */
  readonly seed: number;
  readonly #params: ParamLifecycle;
  #saved: LSTMSaved | undefined;

  /**
   * Creates an unbuilt body; `build()` allocates and initializes its parameters.
   *
   * @throws {FWLInputError} If a size is not a positive integer or the seed not an integer.
   */
  constructor(options: LSTMBodyOptions) {
    checkObject(WHERE, "options", options, "an object");
    const { layers = 1, seed = 0, device } = options;
    this.vocabSize = checkPositiveInteger(WHERE, "options.vocabSize", options.vocabSize);
    this.embedSize = checkPositiveInteger(WHERE, "options.embedSize", options.embedSize);
    this.hiddenSize = checkPositiveInteger(WHERE, "options.hiddenSize", options.hiddenSize);
    this.layers = checkPositiveInteger(WHERE, "options.layers", layers);
    this.seed = checkInteger(WHERE, "options.seed", seed);
    this.#params = new ParamLifecycle({
      where: WHERE,
      noun: "body",
      buildHint: "call build() first",
      grads: true,
      device,
      // Object.entries keeps lstmParamNames' order.
      layout: () =>
        layoutOf(Object.entries(lstmParamShapes(this)), () => initLSTMParams(this, this.seed)),
      release: (ctx) => this.#releaseSaved(ctx),
    });
  }

  /**
   * Constructs and builds a body.
   *
   * @throws {FWLInputError} If an option is invalid.
   * @throws {FWLSizeError} If a parameter is larger than the device's buffer or binding limit.
   */
  static async create(options: LSTMBodyOptions): Promise<LSTMBody> {
    const body = new LSTMBody(options);
    await body.build();
    return body;
  }

  /** Whether `build` has run (and `dispose` has not). */
  get built(): boolean {
    return this.#params.built;
  }

  /**
   * The GPU context, once built.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   */
  get context(): GPUContext {
    return this.#params.context;
  }

  /**
   * Every parameter's shape, by name (see `parameters()` for the order).
   *
   * @throws {FWLStateError} If the body was disposed.
   */
  get paramShapes(): Record<string, number[]> {
    return this.#params.paramShapes;
  }

  /**
   * Allocates the parameters and their (zeroed) gradients on the GPU and initializes the
   * parameters from `seed`: embedding N(0, 0.1²), kernels uniform in ±1/√H, biases 0
   * except the forget gate's, 1. Building again starts afresh: new buffers (ask
   * `parameters()` again), live states disposed, the saved activations dropped; a build
   * that throws leaves the body as it was.
   *
   * @throws {FWLStateError} If the body was disposed.
   * @throws {FWLSizeError} If a parameter is larger than the device's buffer or binding limit.
   */
  async build(): Promise<void> {
    await this.#params.build();
  }

  /**
   * The trainable parameters, in the order `"embedding"`, then per layer `l`
   * `"lstm_l/kernel"`, `"lstm_l/recurrent_kernel"`, `"lstm_l/bias"`.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   */
  parameters(): BodyParameter[] {
    return this.#params.parameters();
  }

  /**
   * Reads every parameter back from the GPU, by name.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   */
  getParams(): Promise<Record<string, Float32Array>> {
    return this.#params.getParams();
  }

  /**
   * Reads every parameter's gradient (as written by the last `backward`), by name.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   */
  getGrads(): Promise<Record<string, Float32Array>> {
    return this.#params.getGrads();
  }

  /**
   * Replaces any subset of the parameters, each a `Float32Array` of the right length
   * with finite values; everything is checked before anything is written.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   * @throws {FWLInputError} For an unknown name, a wrong length or a non-finite value.
   */
  setParams(params: Record<string, Float32Array>): Promise<void> {
    return this.#params.setParams(params);
  }

  /**
   * Hidden states `[B, T, H]` (GPU-resident; dispose it when done) for token ids
   * `[B, T]` (int32, each in `[0, vocabSize)`). Keeps the activations `backward` needs.
   * GPU-resident ids are read back (B·T int32) for validation and the embedding gradient.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   * @throws {FWLInputError} If `tokens` is not an int32 `[B, T]` tensor of valid ids, or
   * the batch is too large for the device's binding limit.
   */
  forward(tokens: Tensor<"int32">): Promise<Tensor<"float32">> {
    return this.#forward(`${WHERE}.forward`, tokens);
  }

  /**
   * `forward`, with the sequences continuing from `state` (from `initState`, advanced by
   * `step` or earlier calls) rather than from zero, and `state` left at their end: a long
   * sequence in consecutive pieces gives the hidden states of one call (the gradient of
   * `backward` stops at the piece's start).
   *
   * @throws {FWLStateError} If the body is not built or was disposed, or `state` was disposed.
   * @throws {FWLInputError} As `forward`, or if `state` is not this body's state of `B` sequences.
   */
  forwardFrom(tokens: Tensor<"int32">, state: BodyState): Promise<Tensor<"float32">> {
    return this.#forward(`${WHERE}.forwardFrom`, tokens, state);
  }

  async #forward(
    where: string,
    tokens: Tensor<"int32">,
    from?: BodyState,
  ): Promise<Tensor<"float32">> {
    const { ctx, store } = this.#params.live("forward");
    const [B, T] = checkTokens(where, tokens, 2);
    const state = from === undefined ? undefined : this.#checkState(where, from, B);
    const ids = await readTokenIds(where, tokens, this.vocabSize);
    const H = this.hiddenSize, E = this.embedSize, G = 4 * H;
    checkBindingSizes(ctx, where, [
      ["gates [B, T+1, 4·hiddenSize]", B * (T + 1) * G],
      ["embeddings [B, T+1, embedSize]", B * (T + 1) * E],
    ]);
    this.#releaseSaved(ctx);
    const acquired: GPUBuffer[] = [];
    const acquire = (bytes: number) => {
      const b = ctx.pool.acquire(bytes);
      acquired.push(b);
      return b;
    };
    try {
      const rec = new Recorder(ctx);
      const out = acquire(B * T * H * 4);
      const saved = recordLSTMForward(rec, this, store, {
        tokens: tokens.gpuBuffer(ctx) ?? rec.upload(ids),
        ids,
        batch: B,
        time: T,
        out,
        state,
        acquire,
      });
      await rec.submit(where);
      this.#saved = saved;
      return ownedGPUTensor(ctx, out, [B, T, H], "float32");
    } catch (e) {
      for (const b of acquired) ctx.pool.release(b);
      this.#saved = undefined;
      throw e;
    }
  }

  /**
   * Backpropagation through time for the last `forward`: given dLoss/dHidden `[B, T, H]`
   * (float32, finite), overwrites every parameter's `grad` buffer. Can be called again
   * (e.g. with another upstream gradient) until the next `forward`.
   *
   * @throws {FWLStateError} If the body is not built or was disposed, no forward ran
   * since the last build, or a forward (or a rebuild) ran while the inputs were being checked.
   * @throws {FWLInputError} If `dHidden` is not a finite float32 `[B, T, H]` tensor.
   */
  async backward(dHidden: Tensor<"float32">): Promise<void> {
    const where = `${WHERE}.backward`;
    const { ctx, store } = this.#params.live("backward");
    const saved = this.#saved;
    if (!saved) {
      throw new FWLStateError(`${where}: call forward(tokens) first`);
    }
    const { B, T } = saved;
    const H = this.hiddenSize;
    checkTensor(where, "dHidden", dHidden);
    checkDType(where, "dHidden", dHidden, "float32");
    checkShape(where, "dHidden", dHidden, [B, T, H], "the last forward's [B, T, hiddenSize]");
    await checkFiniteTensor(where, "dHidden", ctx, dHidden);
    if (this.#saved !== saved) {
      throw new FWLStateError(`${where}: a forward ran while the backward was checking its inputs`);
    }
    await runLSTMBackward(where, ctx, this, store, saved, dHidden);
  }

  /**
   * A fresh (zero) generation state for `batchSize` sequences. It lives until its
   * `dispose`, a rebuild or the body's `dispose`.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   * @throws {FWLInputError} If `batchSize` is not a positive integer.
   */
  initState(batchSize: number): LSTMState {
    const { ctx } = this.#params.live("initState");
    checkPositiveInteger(`${WHERE}.initState`, "batchSize", batchSize);
    const bytes = batchSize * this.hiddenSize * 4;
    const zeros = new Float32Array(batchSize * this.hiddenSize);
    const make = () => {
      const b = ctx.pool.acquire(bytes);
      ctx.device.queue.writeBuffer(b, 0, zeros);
      return b;
    };
    const h = Array.from({ length: this.layers }, make);
    const c = Array.from({ length: this.layers }, make);
    const state = new LSTMState(this, ctx, batchSize, h, c, (s) => this.#params.forget(s));
    this.#params.track(state);
    return state;
  }

  /**
   * Hidden states `[B, H]` (GPU-resident) for one token per sequence (`[B]` int32, `B`
   * the state's batch size), advancing `state`: step `t` equals position `t` of
   * `forward` on the same tokens.
   *
   * @throws {FWLStateError} If the body is not built or was disposed, or `state` was disposed.
   * @throws {FWLInputError} If `tokens` is not `[B]` int32 valid ids, or `state` is not
   * this body's state of `B` sequences.
   */
  async step(tokens: Tensor<"int32">, from: BodyState): Promise<Tensor<"float32">> {
    const where = `${WHERE}.step`;
    const { ctx, store } = this.#params.live("step");
    const [B] = checkTokens(where, tokens, 1);
    const state = this.#checkState(where, from, B);
    const ids = await readTokenIds(where, tokens, this.vocabSize);
    if (state.disposed) {
      throw new FWLStateError(`${where}: the state was disposed`);
    }
    const out = ctx.pool.acquire(B * this.hiddenSize * 4);
    try {
      const rec = new Recorder(ctx);
      recordLSTMStep(rec, this, store, state, tokens.gpuBuffer(ctx) ?? rec.upload(ids), out);
      await rec.submit(where);
    } catch (e) {
      ctx.pool.release(out);
      throw e;
    }
    return ownedGPUTensor(ctx, out, [B, this.hiddenSize], "float32");
  }

  /**
   * Records `step` into `rec` without submitting: the token ids `[B]` (int32, valid ids:
   * not checked) are read from a GPU buffer, the hidden states `[B, H]` written to `out`,
   * and `state` advanced when the recording runs. Lets a whole token loop run on the GPU
   * (`LanguageModel.generate`).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { LSTMBody, tensor } from "@x/fwl";
   * import { readBytes, Recorder } from "@x/fwl/gpu";
   * using body = await LSTMBody.create({ vocabSize: 10, embedSize: 4, hiddenSize: 4 });
   * using state = body.initState(1);
   * const ctx = body.context, rec = new Recorder(ctx), out = ctx.pool.acquire(16);
   * body.recordStep(rec, rec.upload(new Int32Array([7])), state, out);
   * await rec.submit("one step");
   * const recorded = new Float32Array(await readBytes(ctx, out, 16));
   * ctx.pool.release(out);
   * using fresh = body.initState(1); // the same as step on a fresh state
   * using h = await body.step(tensor(new Int32Array([7]), [1]), fresh);
   * assertEquals(recorded, await h.read());
   * ```
   *
   * @throws {FWLStateError} If the body is not built or was disposed, or `state` was disposed.
   * @throws {FWLInputError} If `state` is not a state made by this body.
   */
  recordStep(rec: Recorder, tokens: GPUBuffer, state: BodyState, out: GPUBuffer): void {
    const where = `${WHERE}.recordStep`;
    const { store } = this.#params.live("recordStep");
    const st = this.#checkState(where, state, (state as LSTMState).batchSize);
    recordLSTMStep(rec, this, store, st, tokens, out);
  }

  /**
   * Releases every GPU buffer: parameters, gradients, saved activations, live states.
   * Idempotent; the body can't be used afterwards.
   */
  dispose(): void {
    this.#params.dispose();
  }

  /** `using body = await LSTMBody.create(...)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** `state` as this body's live state of `B` sequences, or a typed error. */
  #checkState(where: string, state: BodyState, B: number): LSTMState {
    if (!(state instanceof LSTMState) || (state.owner !== this && !state.disposed)) {
      const made = "a state made by this body's initState";
      throw new FWLInputError(where, "state", made, describeValue(state));
    }
    if (state.disposed) throw new FWLStateError(`${where}: the state was disposed`);
    if (B !== state.batchSize) {
      const want = `${state.batchSize} sequences (the state's batch size)`;
      throw new FWLInputError(where, "tokens", want, `${B}`);
    }
    return state;
  }

  #releaseSaved(ctx: GPUContext): void {
    const saved = this.#saved;
    this.#saved = undefined;
    if (saved) releaseLSTMSaved(ctx, saved);
  }
}
