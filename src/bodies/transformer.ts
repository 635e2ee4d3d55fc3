/**
 * `TransformerBody`: a small causal transformer on WebGPU behind the
 * {@linkcode ModelBody} plug — token and learned position embeddings, pre-layer-norm
 * blocks (multi-head causal softmax attention, GELU MLP), a final layer norm — with a
 * backward for every part and a key/value cache for generation one position at a time.
 * Its parameters follow the shared lifecycle of `src/params/holder.ts`; the recordings
 * live in `transformer_forward.ts`, `transformer_backward.ts` and `transformer_step.ts`,
 * the generation state in `transformer_state.ts`.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { Recorder } from "../gpu/recorder.ts";
import { layoutOf, type ParamHolder, ParamLifecycle } from "../params/holder.ts";
import type { BodyParameter } from "../params/parameter.ts";
import { checkFiniteTensor } from "../kernels/validate.ts";
import { checkInteger, checkObject, checkPositiveInteger } from "../util/validate.ts";
import { checkDType, checkShape, checkTensor, ownedGPUTensor, type Tensor } from "../tensor.ts";
import { describeValue } from "../util/describe.ts";
import { checkBindingSizes, checkTokens, readTokenIds } from "./tokens.ts";
import type { BodyState, ModelBody } from "./model_body.ts";
import {
  initTransformerParams,
  type TransformerDims,
  transformerParamShapes,
} from "./transformer_params.ts";
import { recordTransformerForward, type TransformerSaved } from "./transformer_forward.ts";
import { runTransformerBackward } from "./transformer_backward.ts";
import { recordTransformerStep } from "./transformer_step.ts";
import { checkRoom, emptyState, liveState, TransformerState } from "./transformer_state.ts";

export { TransformerState };

/** Options of a {@linkcode TransformerBody}. */
export interface TransformerBodyOptions {
  /** Vocabulary size `V`. */
  vocabSize: number;
  /** Width `D` of the residual stream and of the hidden states. */
  hiddenSize: number;
  /** Number of transformer blocks. */
  layers: number;
  /** Attention heads per block; `hiddenSize` must be a multiple of it. */
  heads: number;
  /** Width of each block's MLP (default `4·hiddenSize`). */
  mlpSize?: number;
  /** The longest sequence the body takes (learned positions, key/value cache length). */
  maxLength: number;
  /** Seed of the deterministic initialization (default 0). */
  seed?: number;
  /** A GPUDevice to run on (default: a shared high-performance device). */
  device?: GPUDevice;
}

const WHERE = "TransformerBody";

/**
 * A causal transformer body: token ids `[B, T]` in, hidden states `[B, T, hiddenSize]`
 * out (GPU-resident), through
 *
 * ```
 * x = E_tok[id] + E_pos[t]
 * per block:  x += Attn(LN1(x))·W_o + b_o;   x += GELU(LN2(x)·W_1 + b_1)·W_2 + b_2
 * hidden = LN_f(x)
 * ```
 *
 * with multi-head causal softmax attention (`qkv = LN1(x)·W_qkv + b_qkv`, scale
 * `1/√(D/heads)`). Attention is computed by an online softmax over the keys and never
 * stores the `[T, T]` scores (the backward recomputes them from each query's saved
 * log-sum-exp), so memory grows linearly with `T`. `backward` writes the gradient of
 * every parameter; `initState` and `step` generate one position at a time from a
 * key/value cache, at a cost that grows with the position only through the attention
 * over the cached keys. Sequences longer than `maxLength` are refused with a typed error.
 * `forward` keeps what `backward` needs until the next `forward` (or a rebuild, or
 * `dispose`).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { tensor, TransformerBody } from "@x/fwl";
 * using body = await TransformerBody.create({
 *   vocabSize: 10, hiddenSize: 8, layers: 1, heads: 2, maxLength: 4, seed: 1,
 * });
 * using hidden = await body.forward(tensor(new Int32Array(2 * 4).fill(3), [2, 4]));
 * assertEquals(hidden.shape, [2, 4, 8]);
 * await body.backward(tensor(new Float32Array(2 * 4 * 8).fill(0.01), [2, 4, 8]));
 * const params = body.parameters();
 * assertEquals(params.length, 2 + 12 + 2); // embeddings, one block, final layer norm
 * assertEquals(params[0].name, "embedding/tokens");
 * assertEquals((await body.getGrads())["layer_0/mlp/dense_1/kernel"].length, 32 * 8);
 * ```
 */
export class TransformerBody implements ModelBody, ParamHolder {
  /** Vocabulary size `V`. */
  readonly vocabSize: number;
  /** Width `D` of the hidden states. */
  readonly hiddenSize: number;
  /** Number of transformer blocks. */
  readonly layers: number;
  /** Attention heads per block. */
  readonly heads: number;
  /** Width of each block's MLP. */
  readonly mlpSize: number;
  /** The longest sequence the body takes. */
  readonly maxLength: number;
  /** Initialization seed. */
  readonly seed: number;
  readonly #params: ParamLifecycle;
  #saved: TransformerSaved | undefined;

  /**
   * Checks the options and creates an unbuilt body; `build()` allocates its parameters.
   *
   * @throws {FWLInputError} If a size is not a positive integer, `heads` does not divide
   * `hiddenSize`, the seed is not an integer or `device` is not a GPUDevice.
   */
  constructor(options: TransformerBodyOptions) {
    const o = checkObject(WHERE, "options", options, "an object");
    this.vocabSize = checkPositiveInteger(WHERE, "options.vocabSize", o.vocabSize);
    this.hiddenSize = checkPositiveInteger(WHERE, "options.hiddenSize", o.hiddenSize);
    this.layers = checkPositiveInteger(WHERE, "options.layers", o.layers);
    this.heads = checkPositiveInteger(WHERE, "options.heads", o.heads);
    if (this.hiddenSize % this.heads !== 0) {
      throw new FWLInputError(
        WHERE,
        "options.heads",
        `a divisor of hiddenSize = ${this.hiddenSize}`,
        `${this.heads}`,
      );
    }
    this.mlpSize = o.mlpSize === undefined
      ? 4 * this.hiddenSize
      : checkPositiveInteger(WHERE, "options.mlpSize", o.mlpSize);
    this.maxLength = checkPositiveInteger(WHERE, "options.maxLength", o.maxLength);
    this.seed = checkInteger(WHERE, "options.seed", o.seed ?? 0);
    if (o.device !== undefined && !(o.device instanceof GPUDevice)) {
      throw new FWLInputError(WHERE, "options.device", "a GPUDevice", describeValue(o.device));
    }
    const dims = this.dims;
    this.#params = new ParamLifecycle({
      where: WHERE,
      noun: "body",
      buildHint: "call await body.build() first (or use TransformerBody.create)",
      grads: true,
      device: o.device,
      layout: () =>
        layoutOf(transformerParamShapes(dims), () => initTransformerParams(dims, this.seed)),
      release: (ctx) => this.#releaseSaved(ctx),
    });
  }

  /**
   * A built body (parameters allocated and initialized on the GPU); see the class example.
   *
   * @throws {FWLInputError} If an option is invalid.
   * @throws {FWLSizeError} If a parameter is larger than the device's buffer or binding limit.
   */
  static async create(options: TransformerBodyOptions): Promise<TransformerBody> {
    const body = new TransformerBody(options);
    await body.build();
    return body;
  }

  /** The sizes that fix every parameter shape. */
  get dims(): TransformerDims {
    return {
      vocabSize: this.vocabSize,
      hiddenSize: this.hiddenSize,
      layers: this.layers,
      heads: this.heads,
      mlpSize: this.mlpSize,
      maxLength: this.maxLength,
    };
  }

  /** Whether the parameters are allocated (and `dispose` has not run). */
  get built(): boolean {
    return this.#params.built;
  }

  /**
   * The GPU context (needs `build`).
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   */
  get context(): GPUContext {
    return this.#params.context;
  }

  /**
   * Allocates the parameters and their (zeroed) gradients on the GPU and initializes the
   * parameters from `seed` (see `initTransformerParams`). Building again starts afresh:
   * new buffers (ask {@linkcode parameters} again), live states disposed, the saved
   * activations dropped; a build that throws leaves the body as it was.
   *
   * @throws {FWLStateError} If the body was disposed.
   * @throws {FWLSizeError} If a parameter is larger than the device's buffer or binding limit.
   */
  async build(): Promise<void> {
    await this.#params.build();
  }

  /**
   * Every parameter's shape, by name, in the order of {@linkcode parameters}.
   *
   * @throws {FWLStateError} If the body was disposed.
   */
  get paramShapes(): Record<string, number[]> {
    return this.#params.paramShapes;
  }

  /**
   * The trainable parameters and their gradient buffers (needs `build`).
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   */
  parameters(): BodyParameter[] {
    return this.#params.parameters();
  }

  /**
   * Replaces any subset of the parameters (by name; see {@linkcode paramShapes}).
   * Everything is checked before anything is written.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   * @throws {FWLInputError} For an unknown name, a wrong length or a non-finite value.
   */
  setParams(values: Record<string, Float32Array>): Promise<void> {
    return this.#params.setParams(values);
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
   * Hidden states `[B, T, hiddenSize]` (a GPU tensor the caller disposes) for token ids
   * `[B, T]` (int32, each in `[0, vocabSize)`, `T ≤ maxLength`). Keeps what `backward`
   * needs until the next `forward`.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   * @throws {FWLInputError} If `tokens` is not an int32 `[B, T]` tensor of valid ids with
   * `T ≤ maxLength`, or the batch is too large for the device's binding limit.
   */
  async forward(tokens: Tensor<"int32">): Promise<Tensor<"float32">> {
    const where = `${WHERE}.forward`;
    const { ctx, store } = this.#params.live("forward");
    const [B, T] = checkTokens(where, tokens, 2);
    if (T > this.maxLength) {
      throw new FWLInputError(
        where,
        "tokens",
        `at most maxLength = ${this.maxLength} positions (the body was built for that length)`,
        `T = ${T}`,
      );
    }
    const ids = await readTokenIds(where, tokens, this.vocabSize);
    const D = this.hiddenSize, M = this.mlpSize, N = B * T;
    checkBindingSizes(ctx, where, [
      ["MLP activations [B, T, mlpSize]", N * M],
      ["qkv [B, T, 3·hiddenSize]", N * 3 * D],
    ]);

    // The previous forward's activations go first: peak memory holds one set.
    this.#releaseSaved(ctx);
    const pool = ctx.pool;
    const owned: GPUBuffer[] = [];
    const acquire = (floats: number) => {
      const b = pool.acquire(floats * 4);
      owned.push(b);
      return b;
    };
    const out = pool.acquire(N * D * 4);
    try {
      const rec = new Recorder(ctx);
      const args = { ids, batch: B, time: T, out, acquire };
      const saved = recordTransformerForward(rec, this, store, args);
      await rec.submit(where);
      this.#saved = { ...saved, buffers: owned };
    } catch (e) {
      for (const b of owned) pool.release(b);
      pool.release(out);
      throw e;
    }
    return ownedGPUTensor(ctx, out, [B, T, D], "float32");
  }

  /**
   * Given dLoss/dHidden `[B, T, hiddenSize]` for the last `forward`, writes (overwrites)
   * the gradient of every parameter into its `grad` buffer (see {@linkcode parameters},
   * {@linkcode getGrads}).
   *
   * @throws {FWLStateError} If the body is not built or was disposed, no forward ran
   * since the last build, or a forward (or a rebuild) ran while the inputs were being checked.
   * @throws {FWLInputError} If `dHidden` is not a finite float32 `[B, T, hiddenSize]` tensor.
   */
  async backward(dHidden: Tensor<"float32">): Promise<void> {
    const where = `${WHERE}.backward`;
    const { ctx, store } = this.#params.live("backward");
    const saved = this.#saved;
    if (!saved) throw new FWLStateError(`${where}: call forward(tokens) first`);
    const { batch: B, time: T } = saved;
    checkTensor(where, "dHidden", dHidden);
    checkDType(where, "dHidden", dHidden, "float32");
    checkShape(
      where,
      "dHidden",
      dHidden,
      [B, T, this.hiddenSize],
      "dLoss/dHidden of the last forward",
    );
    await checkFiniteTensor(where, "dHidden", ctx, dHidden);
    if (this.#saved !== saved) {
      throw new FWLStateError(`${where}: a forward ran while the backward was checking its inputs`);
    }
    await runTransformerBackward(where, ctx, this, store, saved, dHidden);
  }

  /**
   * A fresh generation state for `batchSize` sequences: an empty key/value cache of
   * `maxLength` positions per block (needs `build`). It lives until its `dispose`, a
   * rebuild or the body's `dispose`.
   *
   * @throws {FWLStateError} If the body is not built or was disposed.
   * @throws {FWLInputError} If `batchSize` is not a positive integer or the cache would
   * not fit the device's binding limit.
   */
  initState(batchSize: number): TransformerState {
    const where = `${WHERE}.initState`;
    const { ctx } = this.#params.live("initState");
    checkPositiveInteger(where, "batchSize", batchSize);
    const floats = batchSize * this.maxLength * this.hiddenSize;
    checkBindingSizes(ctx, where, [["key/value cache [B, maxLength, hiddenSize]", floats]]);
    const state = emptyState(this, ctx, batchSize, (s) => this.#params.forget(s));
    this.#params.track(state);
    return state;
  }

  /**
   * Hidden states `[B, hiddenSize]` (a GPU tensor the caller disposes) of one token per
   * sequence (`[B]` int32) at the state's next position, attending to the cached keys
   * and values; advances the state.
   *
   * @throws {FWLStateError} If the body is not built or was disposed, `state` was
   * disposed, or it already holds `maxLength` positions.
   * @throws {FWLInputError} If `state` is not this body's, or `tokens` is not `[B]` int32
   * valid ids.
   */
  async step(tokens: Tensor<"int32">, state: BodyState): Promise<Tensor<"float32">> {
    const where = `${WHERE}.step`;
    const { ctx, store } = this.#params.live("step");
    const st = liveState(where, this, state);
    const B = (state as TransformerState).batchSize;
    checkTensor(where, "tokens", tokens);
    checkDType(where, "tokens", tokens, "int32");
    checkShape(where, "tokens", tokens, [B], "one token id per sequence of the state");
    checkRoom(where, st, this.maxLength);
    const ids = await readTokenIds(where, tokens, this.vocabSize);
    const out = ctx.pool.acquire(B * this.hiddenSize * 4);
    try {
      const rec = new Recorder(ctx);
      recordTransformerStep(rec, this, store, st, B, rec.upload(ids), out);
      await rec.submit(where);
    } catch (e) {
      ctx.pool.release(out);
      st.length--;
      throw e;
    }
    return ownedGPUTensor(ctx, out, [B, this.hiddenSize], "float32");
  }

  /**
   * Records `step` into `rec` without submitting: the token ids `[B]` (int32, valid ids:
   * not checked) are read from a GPU buffer and the hidden states `[B, hiddenSize]`
   * written to `out`; the state's length advances now (each recorded step gets the next
   * position). Past `maxLength` it throws and records nothing. Lets a whole token loop
   * run on the GPU (`LanguageModel.generate`).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { TransformerBody } from "@x/fwl";
   * import { readBytes, Recorder } from "@x/fwl/gpu";
   * using body = await TransformerBody.create({
   *   vocabSize: 10, hiddenSize: 8, layers: 1, heads: 2, maxLength: 4,
   * });
   * using state = body.initState(1);
   * const ctx = body.context, rec = new Recorder(ctx), out = ctx.pool.acquire(32);
   * body.recordStep(rec, rec.upload(new Int32Array([7])), state, out);
   * await rec.submit("one step");
   * assertEquals(state.length, 1);
   * assertEquals(new Float32Array(await readBytes(ctx, out, 32)).length, 8);
   * ctx.pool.release(out);
   * ```
   *
   * @throws {FWLStateError} If the body is not built or was disposed, `state` was
   * disposed, or it already holds `maxLength` positions.
   * @throws {FWLInputError} If `state` is not a state made by this body.
   */
  recordStep(rec: Recorder, tokens: GPUBuffer, state: BodyState, out: GPUBuffer): void {
    const where = `${WHERE}.recordStep`;
    const { store } = this.#params.live("recordStep");
    const st = liveState(where, this, state);
    checkRoom(where, st, this.maxLength);
    const B = (state as TransformerState).batchSize;
    recordTransformerStep(rec, this, store, st, B, tokens, out);
  }

  /**
   * Releases every GPU buffer of the body, its generation states' too. Idempotent; the
   * body can't be used afterwards.
   */
  dispose(): void {
    this.#params.dispose();
  }

  /** `using body = …` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #releaseSaved(ctx: GPUContext): void {
    if (this.#saved) {
      for (const b of this.#saved.buffers) ctx.pool.release(b);
    }
    this.#saved = undefined;
  }
}
