/**
 * `LSTMBody`: a trainable token-embedding + stacked-LSTM model body on WebGPU,
 * implementing {@linkcode ModelBody} (forward, backpropagation through time, parameters
 * with gradient buffers, and generation one token at a time).
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import { GPUContext } from "../gpu/context.ts";
import { Recorder } from "../gpu/recorder.ts";
import { type ParamHolder, ParamStore } from "../params/store.ts";
import { checkInteger, checkObject, checkPositiveInteger } from "../util/validate.ts";
import { matmulNN, matmulNT, matmulTN } from "../kernels/matmul.ts";
import { colsum } from "../kernels/reductions.ts";
import { segmentsByKey, segmentSum } from "../kernels/segment_sum.ts";
import { checkFiniteTensor } from "../kernels/validate.ts";
import { lstmBackward, lstmForward, lstmGather } from "../kernels/lstm.ts";
import { checkDType, checkTensor, ownedGPUTensor, type Tensor } from "../tensor.ts";
import { checkTokens, readTokenIds } from "./tokens.ts";
import { checkSequences } from "../util/validate.ts";
import { initLSTMParams, lstmParamNames, lstmParamShapes } from "./lstm_params.ts";
import type { BodyState, ModelBody } from "./model_body.ts";
import { describeValue } from "../util/describe.ts";
import type { BodyParameter } from "../params/parameter.ts";

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

/** What the last forward kept for the backward (padded row layout `[B, T+1, ·]`). */
interface Saved {
  B: number;
  T: number;
  tokens: Int32Array;
  /** The embedded tokens `[B, T+1, E]` (layer 0's input). */
  x0: GPUBuffer;
  /** Per layer: gate activations `[B, T+1, 4H]`, cells and hidden states `[B, T+1, H]`. */
  layers: { gates: GPUBuffer; c: GPUBuffer; h: GPUBuffer }[];
}

/**
 * The generation state of an {@linkcode LSTMBody}: each layer's `h` and `c` for
 * `batchSize` sequences, on the GPU. Made by `body.initState(batchSize)`.
 *
 * @example
 * ```ts
 * import { LSTMBody, tensor } from "@x/fwl";
 * using body = await LSTMBody.create({ vocabSize: 10, embedSize: 4, hiddenSize: 6 });
 * using state = body.initState(2); // 2 sequences
 * using h = await body.step(tensor(new Int32Array([3, 5]), [2]), state);
 * console.log(h.shape); // [2, 6]
 * ```
 */
export class LSTMState implements BodyState {
  /** Number of sequences. */
  readonly batchSize: number;
  #owner: LSTMBody | undefined;
  #ctx: GPUContext;
  #h: GPUBuffer[];
  #c: GPUBuffer[];
  #onDispose: (s: LSTMState) => void;

  /** Use `body.initState(batchSize)`. */
  constructor(
    owner: LSTMBody,
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
  get owner(): LSTMBody | undefined {
    return this.#owner;
  }

  /** Layer `l`'s `h` and `c` buffers `[batchSize, H]`, for the body's own use. */
  buffers(l: number): { h: GPUBuffer; c: GPUBuffer } {
    if (this.#owner === undefined) {
      throw new FWLStateError("LSTMState: the state was disposed");
    }
    return { h: this.#h[l], c: this.#c[l] };
  }

  /**
   * Back to zero (the start of a document): every sequence, or only `sequences`
   * (indices in `[0, batchSize)`).
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

  /** Makes this state a copy of `from`, a state of the same body and batch size (on the GPU). */
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

  /** Returns the state's buffers to the pool. Idempotent. */
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
 * the next `forward` (or `dispose`). Calls must not overlap: await each one.
 *
 * @example
 * ```ts
 * import { LSTMBody, tensor } from "@x/fwl";
 * using body = await LSTMBody.create({ vocabSize: 10, embedSize: 4, hiddenSize: 6 });
 * const tokens = tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * using hidden = await body.forward(tokens); // [2, 3, 6] on the GPU
 * await body.backward(tensor(new Float32Array(2 * 3 * 6).fill(0.1), [2, 3, 6])); // fills the grads
 * for (const p of body.parameters()) console.log(p.name, p.shape);
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
  readonly #device: GPUDevice | undefined;
  #ctx: GPUContext | undefined;
  #params: ParamStore | undefined;
  #saved: Saved | undefined;
  readonly #states = new Set<LSTMState>();
  #disposed = false;

  /** Creates an unbuilt body; `build()` allocates and initializes its parameters. */
  constructor(options: LSTMBodyOptions) {
    checkObject(WHERE, "options", options, "an object");
    const { layers = 1, seed = 0, device } = options;
    this.vocabSize = checkPositiveInteger(WHERE, "options.vocabSize", options.vocabSize);
    this.embedSize = checkPositiveInteger(WHERE, "options.embedSize", options.embedSize);
    this.hiddenSize = checkPositiveInteger(WHERE, "options.hiddenSize", options.hiddenSize);
    this.layers = checkPositiveInteger(WHERE, "options.layers", layers);
    this.seed = checkInteger(WHERE, "options.seed", seed);
    this.#device = device;
  }

  /** Constructs and builds a body. */
  static async create(options: LSTMBodyOptions): Promise<LSTMBody> {
    const body = new LSTMBody(options);
    await body.build();
    return body;
  }

  /** Whether `build` has run. */
  get built(): boolean {
    return this.#params !== undefined;
  }

  /** The GPU context, once built. */
  get context(): GPUContext {
    return this.#state("context").ctx;
  }

  /** Every parameter's shape, by name (see `parameters()` for the order). */
  get paramShapes(): Record<string, number[]> {
    return lstmParamShapes(this);
  }

  /**
   * Allocates the parameters and their (zeroed) gradients on the GPU and initializes the
   * parameters from `seed`: embedding N(0, 0.1²), kernels uniform in ±1/√H, biases 0
   * except the forget gate's, 1. Building again starts afresh.
   */
  async build(): Promise<void> {
    if (this.#disposed) {
      throw new FWLStateError(`${WHERE}.build: the body was disposed`);
    }
    const ctx = this.#device ? GPUContext.forDevice(this.#device) : await GPUContext.default();
    const shapes = this.paramShapes;
    const params = ParamStore.create(
      ctx,
      `${WHERE}.build`,
      lstmParamNames(this.layers).map((name) => ({ name, shape: shapes[name] })),
      () => initLSTMParams(this, this.seed),
      { grads: true },
    );
    this.#release();
    this.#ctx = ctx;
    this.#params = params;
    await ctx.device.queue.onSubmittedWorkDone();
    ctx.check(`${WHERE}.build`);
  }

  /**
   * The trainable parameters, in the order `"embedding"`, then per layer `l`
   * `"lstm_l/kernel"`, `"lstm_l/recurrent_kernel"`, `"lstm_l/bias"`.
   */
  parameters(): BodyParameter[] {
    return this.#state("parameters").params.bodyParameters();
  }

  /** Reads every parameter back from the GPU, by name. */
  getParams(): Promise<Record<string, Float32Array>> {
    return this.#state("getParams").params.read(`${WHERE}.getParams`);
  }

  /** Reads every parameter's gradient (as written by the last `backward`), by name. */
  getGrads(): Promise<Record<string, Float32Array>> {
    return this.#state("getGrads").params.read(`${WHERE}.getGrads`, "grad");
  }

  /**
   * Replaces parameters. `params` may name any subset of the parameters, each with a
   * `Float32Array` of the right length and finite values; everything is checked before
   * anything is written.
   */
  async setParams(params: Record<string, Float32Array>): Promise<void> {
    const store = this.#state("setParams").params;
    await store.set(`${WHERE}.setParams`, params, { partial: true });
  }

  /**
   * Hidden states `[B, T, H]` (GPU-resident; dispose it when done) for token ids
   * `[B, T]` (int32, each in `[0, vocabSize)`). Keeps the activations `backward` needs.
   * GPU-resident ids are read back (B·T int32) for validation and the embedding gradient.
   */
  forward(tokens: Tensor<"int32">): Promise<Tensor<"float32">> {
    return this.#forward(`${WHERE}.forward`, tokens);
  }

  /**
   * `forward`, with the sequences continuing from `state` (from `initState`, advanced by
   * `step` or earlier calls) rather than from zero, and `state` left at their end: a long
   * sequence in consecutive pieces gives the hidden states of one call (the gradient of
   * `backward` stops at the piece's start).
   */
  forwardFrom(tokens: Tensor<"int32">, state: BodyState): Promise<Tensor<"float32">> {
    return this.#forward(`${WHERE}.forwardFrom`, tokens, state);
  }

  async #forward(
    where: string,
    tokens: Tensor<"int32">,
    from?: BodyState,
  ): Promise<Tensor<"float32">> {
    const { ctx, params } = this.#state("forward");
    const [B, T] = checkTokens(where, tokens, 2);
    const state = from === undefined ? undefined : this.#checkState(where, from, B);
    const ids = await readTokenIds(where, tokens, this.vocabSize);
    const H = this.hiddenSize, E = this.embedSize, G = 4 * H;
    const R = B * (T + 1);
    const widest = R * Math.max(G, E) * 4;
    if (widest > ctx.maxBindingBytes) {
      throw new FWLInputError(
        where,
        "tokens",
        `B·(T+1)·max(4·hiddenSize, embedSize)·4 ≤ ${ctx.maxBindingBytes} bytes ` +
          "(the device's binding limit)",
        `[${B}, ${T}] (${widest} bytes)`,
      );
    }
    this.#releaseSaved();
    const acquired: GPUBuffer[] = [];
    const acquire = (bytes: number) => {
      const b = ctx.pool.acquire(bytes);
      acquired.push(b);
      return b;
    };
    try {
      const rec = new Recorder(ctx);
      const tokenBuffer = tokens.gpuBuffer(ctx) ?? rec.upload(ids);
      const x0 = acquire(R * E * 4);
      const out = acquire(B * T * H * 4);
      lstmGather(rec, {
        tokens: tokenBuffer,
        embedding: params.get("embedding")!.buffer,
        x: x0,
        rows: R,
        width: E,
        time: T,
        padded: true,
      });
      const layers: Saved["layers"] = [];
      let input = x0, width = E;
      for (let l = 0; l < this.layers; l++) {
        const gates = acquire(R * G * 4);
        const c = acquire(R * H * 4);
        const h = acquire(R * H * 4);
        matmulNN(rec, input, params.get(`lstm_${l}/kernel`)!.buffer, gates, R, width, G, {
          bias: { buffer: params.get(`lstm_${l}/bias`)!.buffer },
        });
        // A carried state goes in as row 0 of each sequence and comes back from row T.
        const carry = (toState: boolean) => {
          const st = state!.buffers(l), seq = (T + 1) * H * 4, row = H * 4;
          for (let b = 0; b < B; b++) {
            for (const [rows, at] of [[h, st.h], [c, st.c]] as const) {
              if (toState) rec.copy(rows, b * seq + T * row, at, b * row, row);
              else rec.copy(at, b * row, rows, b * seq, row);
            }
          }
        };
        if (state) carry(false);
        lstmForward(rec, {
          batch: B,
          time: T,
          hidden: H,
          gates,
          gatesLayout: { base: G, seq: (T + 1) * G },
          recurrent: params.get(`lstm_${l}/recurrent_kernel`)!.buffer,
          h,
          c,
          stateLayout: { base: H, seq: (T + 1) * H },
          initLayout: { base: 0, seq: (T + 1) * H },
          zeroInit: !state,
          out: l === this.layers - 1 ? { buffer: out, layout: { base: 0, seq: T * H } } : undefined,
        });
        if (state) carry(true);
        layers.push({ gates, c, h });
        input = h;
        width = H;
      }
      await rec.submit(where);
      this.#saved = { B, T, tokens: ids, x0, layers };
      acquired.splice(acquired.indexOf(out), 1);
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
   */
  async backward(dHidden: Tensor<"float32">): Promise<void> {
    const where = `${WHERE}.backward`;
    const { ctx, params } = this.#state("backward");
    const saved = this.#saved;
    if (!saved) {
      throw new FWLStateError(`${where}: call forward(tokens) first`);
    }
    const { B, T } = saved;
    const H = this.hiddenSize, E = this.embedSize, G = 4 * H, V = this.vocabSize;
    const R = B * (T + 1);
    checkTensor(where, "dHidden", dHidden);
    checkDType(where, "dHidden", dHidden, "float32");
    const s = dHidden.shape;
    if (s.length !== 3 || s[0] !== B || s[1] !== T || s[2] !== H) {
      throw new FWLInputError(
        where,
        "dHidden",
        `shape [${B}, ${T}, ${H}] (the last forward's [B, T, hiddenSize])`,
        `[${s.join(", ")}]`,
      );
    }
    await checkFiniteTensor(where, "dHidden", ctx, dHidden);
    if (this.#saved !== saved) {
      throw new FWLStateError(`${where}: a forward ran while the backward was checking its inputs`);
    }
    const rec = new Recorder(ctx);
    const dh0 = dHidden.gpuBuffer(ctx) ?? rec.upload(dHidden.hostData!);
    const dz = rec.scratch(R * G * 4);
    let dh: GPUBuffer = dh0;
    let dhLayout = { base: 0, seq: T * H };
    for (let l = this.layers - 1; l >= 0; l--) {
      const { gates, c, h } = saved.layers[l];
      const width = l === 0 ? E : H;
      const input = l === 0 ? saved.x0 : saved.layers[l - 1].h;
      const W = params.get(`lstm_${l}/kernel`)!;
      const U = params.get(`lstm_${l}/recurrent_kernel`)!;
      const bias = params.get(`lstm_${l}/bias`)!;
      lstmBackward(rec, {
        batch: B,
        time: T,
        hidden: H,
        gates,
        gatesLayout: { base: G, seq: (T + 1) * G },
        c,
        cLayout: { base: H, seq: (T + 1) * H },
        recurrent: U.buffer,
        dh,
        dhLayout,
        dz,
        dzLayout: { base: G, seq: (T + 1) * G },
        zeroRow: true,
      });
      // dW = Σ_rows x_rowᵀ dz_row (rows of the initial slots pair zeros with zeros).
      matmulTN(rec, { x: input, g: dz, out: W.grad, rows: R, m: width, n: G });
      // dU = Σ_t h_{t−1}ᵀ dz_t: row r−1 of h (h_{−1} = 0 at the initial slot) with row r of dz.
      matmulTN(rec, { x: h, g: dz, out: U.grad, rows: R - 1, m: H, n: G, gBase: G });
      colsum(rec, { a: dz, rows: R, width: G, out: bias.grad });
      // dx = dz·Wᵀ, in the padded layout (zero at the initial slots).
      const dx = rec.scratch(R * width * 4);
      matmulNT(rec, dz, W.buffer, dx, R, G, width);
      dh = dx;
      dhLayout = { base: H, seq: (T + 1) * H };
    }
    // Position b·T + t sits at padded row b·(T+1) + 1 + t.
    const rowOf = (n: number) => n + Math.floor(n / T) + 1;
    const { offsets, index } = segmentsByKey(saved.tokens, V, rowOf);
    segmentSum(rec, {
      offsets: rec.upload(offsets),
      index: rec.upload(index),
      src: dh,
      out: params.get("embedding")!.grad,
      segments: V,
      width: E,
    });
    await rec.submit(where);
  }

  /** A fresh (zero) generation state for `batchSize` sequences. */
  initState(batchSize: number): LSTMState {
    const { ctx } = this.#state("initState");
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
    const state = new LSTMState(this, ctx, batchSize, h, c, (s) => this.#states.delete(s));
    this.#states.add(state);
    return state;
  }

  /**
   * Hidden states `[B, H]` (GPU-resident) for one token per sequence (`[B]` int32, `B`
   * the state's batch size), advancing `state`: step `t` equals position `t` of
   * `forward` on the same tokens.
   */
  async step(tokens: Tensor<"int32">, from: BodyState): Promise<Tensor<"float32">> {
    const where = `${WHERE}.step`;
    const { ctx, params } = this.#state("step");
    const [B] = checkTokens(where, tokens, 1);
    const state = this.#checkState(where, from, B);
    const ids = await readTokenIds(where, tokens, this.vocabSize);
    if (state.disposed) {
      throw new FWLStateError(`${where}: the state was disposed`);
    }
    const out = ctx.pool.acquire(B * this.hiddenSize * 4);
    try {
      const rec = new Recorder(ctx);
      this.#recordStep(rec, params, state, tokens.gpuBuffer(ctx) ?? rec.upload(ids), out);
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
   * import { LSTMBody } from "@x/fwl";
   * import { readBytes, Recorder } from "@x/fwl/gpu";
   * using body = await LSTMBody.create({ vocabSize: 10, embedSize: 4, hiddenSize: 4 });
   * using state = body.initState(1);
   * const ctx = body.context, rec = new Recorder(ctx), out = ctx.pool.acquire(16);
   * body.recordStep(rec, rec.upload(new Int32Array([7])), state, out);
   * await rec.submit("one step");
   * console.log(new Float32Array(await readBytes(ctx, out, 16)).length); // 4
   * ctx.pool.release(out);
   * ```
   */
  recordStep(rec: Recorder, tokens: GPUBuffer, state: BodyState, out: GPUBuffer): void {
    const where = `${WHERE}.recordStep`;
    const { params } = this.#state("recordStep");
    const st = this.#checkState(where, state, (state as LSTMState).batchSize);
    this.#recordStep(rec, params, st, tokens, out);
  }

  #recordStep(
    rec: Recorder,
    params: ParamStore,
    state: LSTMState,
    tokens: GPUBuffer,
    out: GPUBuffer,
  ): void {
    const B = state.batchSize, H = this.hiddenSize, E = this.embedSize, G = 4 * H;
    const x = rec.scratch(B * E * 4);
    lstmGather(rec, {
      tokens,
      embedding: params.get("embedding")!.buffer,
      x,
      rows: B,
      width: E,
      time: 1,
      padded: false,
    });
    let input = x, width = E;
    for (let l = 0; l < this.layers; l++) {
      const { h, c } = state.buffers(l);
      const gates = rec.scratch(B * G * 4);
      matmulNN(rec, input, params.get(`lstm_${l}/kernel`)!.buffer, gates, B, width, G, {
        bias: { buffer: params.get(`lstm_${l}/bias`)!.buffer },
      });
      const layout = { base: 0, seq: H };
      lstmForward(rec, {
        batch: B,
        time: 1,
        hidden: H,
        gates,
        gatesLayout: { base: 0, seq: G },
        recurrent: params.get(`lstm_${l}/recurrent_kernel`)!.buffer,
        h,
        c,
        stateLayout: layout,
        initLayout: layout,
        zeroInit: false,
        out: l === this.layers - 1 ? { buffer: out, layout } : undefined,
      });
      input = h;
      width = H;
    }
  }

  /** Releases every GPU buffer: parameters, gradients, saved activations, live states. */
  dispose(): void {
    this.#release();
    this.#disposed = true;
  }

  /** `using body = await LSTMBody.create(...)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #state(what: string): {
    ctx: GPUContext;
    params: ParamStore;
  } {
    if (this.#disposed) {
      throw new FWLStateError(`${WHERE}.${what}: the body was disposed`);
    }
    if (!this.#params || !this.#ctx) {
      throw new FWLStateError(`${WHERE}.${what}: call build() first`);
    }
    return { ctx: this.#ctx, params: this.#params };
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

  #releaseSaved(): void {
    const saved = this.#saved;
    this.#saved = undefined;
    if (!saved || !this.#ctx) return;
    this.#ctx.pool.release(saved.x0);
    for (const l of saved.layers) {
      for (const b of [l.gates, l.c, l.h]) this.#ctx.pool.release(b);
    }
  }

  #release(): void {
    this.#releaseSaved();
    for (const s of [...this.#states]) s.dispose();
    this.#params?.dispose();
    this.#params = undefined;
  }
}
