/**
 * `TransformerBody`: a small causal transformer on WebGPU behind the
 * {@linkcode ModelBody} plug — token and learned position embeddings, pre-layer-norm
 * blocks (multi-head causal softmax attention, GELU MLP), a final layer norm — with a
 * backward for every part and a key/value cache for generation one position at a time.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import { GPUContext } from "../gpu/context.ts";
import { Recorder } from "../gpu/recorder.ts";
import { type ParamHolder, ParamStore } from "../params/store.ts";
import { matmul, matmulNN, matmulNT, matmulTN } from "../kernels/matmul.ts";
import { layerNorm, layerNormBackwardInput } from "../kernels/layer_norm.ts";
import { colsum } from "../kernels/reductions.ts";
import { segmentsByKey, segmentSum } from "../kernels/segment_sum.ts";
import { causalAttention, causalAttentionBackward, embed, gelu } from "../kernels/transformer.ts";
import { checkFiniteTensor } from "../kernels/validate.ts";
import { checkInteger, checkObject, checkPositiveInteger } from "../util/validate.ts";
import { checkDType, checkShape, checkTensor, ownedGPUTensor, type Tensor } from "../tensor.ts";
import { checkTokens, readTokenIds } from "./tokens.ts";
import type { BodyState, ModelBody } from "./model_body.ts";
import {
  blockParamName,
  initTransformerParams,
  TRANSFORMER_EPSILON,
  type TransformerBlockParam,
  type TransformerDims,
  transformerParamShapes,
} from "./transformer_params.ts";
import { describeValue } from "../util/describe.ts";
import type { BodyParameter } from "../params/parameter.ts";

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

/** What one block's forward keeps for the backward. */
interface SavedBlock {
  nhat1: GPUBuffer;
  rstd1: GPUBuffer;
  ln1: GPUBuffer;
  qkv: GPUBuffer;
  /** Log-sum-exp of every query's attention scores `[B·heads, T]`. */
  lse: GPUBuffer;
  attn: GPUBuffer;
  nhat2: GPUBuffer;
  rstd2: GPUBuffer;
  ln2: GPUBuffer;
  pre: GPUBuffer;
  act: GPUBuffer;
}

/** What the last forward keeps for the backward. */
interface Saved {
  batch: number;
  time: number;
  ids: Int32Array;
  blocks: SavedBlock[];
  nhatF: GPUBuffer;
  rstdF: GPUBuffer;
  buffers: GPUBuffer[];
}

/** The key/value cache of a state, per block `[B, maxLength, D]`. */
interface StateInternals {
  body: TransformerBody;
  ctx: GPUContext;
  keys: GPUBuffer[];
  values: GPUBuffer[];
  length: number;
  disposed: boolean;
  /** Called once by `dispose()` (the body forgets the state). */
  onDispose: () => void;
}

const internals = new WeakMap<TransformerState, StateInternals>();

/**
 * The generation state of a {@linkcode TransformerBody}: every block's keys and values
 * of the positions seen so far (`[B, maxLength, hiddenSize]` each), and how many there
 * are. Made by `body.initState(batchSize)`; `dispose()` frees its GPU memory.
 *
 * @example
 * ```ts
 * import { tensor, TransformerBody } from "@x/fwl";
 * using body = await TransformerBody.create({
 *   vocabSize: 10, hiddenSize: 8, layers: 1, heads: 2, maxLength: 4,
 * });
 * using state = body.initState(2); // 2 sequences
 * using h = await body.step(tensor(new Int32Array([5, 9]), [2]), state);
 * console.log(h.shape, state.length); // [2, 8] 1
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

  /** Releases the key/value cache. Idempotent. */
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
 *
 * @example
 * ```ts
 * import { tensor, TransformerBody } from "@x/fwl";
 * using body = await TransformerBody.create({
 *   vocabSize: 10, hiddenSize: 8, layers: 1, heads: 2, maxLength: 4, seed: 1,
 * });
 * using hidden = await body.forward(tensor(new Int32Array(2 * 4).fill(3), [2, 4]));
 * console.log(hidden.shape); // [2, 4, 8]
 * await body.backward(tensor(new Float32Array(2 * 4 * 8).fill(0.01), [2, 4, 8]));
 * for (const p of body.parameters()) console.log(p.name, p.shape);
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
  readonly #device: GPUDevice | undefined;
  #ctx: GPUContext | undefined;
  #params: ParamStore | undefined;
  #saved: Saved | undefined;
  readonly #states = new Set<TransformerState>();
  #disposed = false;

  /** Checks the options and creates an unbuilt body; `build()` allocates its parameters. */
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
    this.#device = o.device;
  }

  /**
   * A built body (parameters allocated and initialized on the GPU); see the class example.
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

  /** Whether the parameters are allocated. */
  get built(): boolean {
    return this.#params !== undefined;
  }

  /** The GPU context (needs `build`). */
  get context(): GPUContext {
    return this.#state("context").ctx;
  }

  /**
   * Allocates the parameters and their (zeroed) gradients on the GPU and initializes the
   * parameters from `seed` (see `initTransformerParams`). Once: building a built body
   * does nothing, so the buffers handed out by {@linkcode parameters} stay valid.
   */
  async build(): Promise<void> {
    if (this.#disposed) throw new FWLStateError(`${WHERE}.build: the body was disposed`);
    if (this.#params) return;
    const ctx = this.#device ? GPUContext.forDevice(this.#device) : await GPUContext.default();
    if (this.#params) return;
    this.#params = ParamStore.create(
      ctx,
      `${WHERE}.build`,
      [...transformerParamShapes(this.dims)].map(([name, shape]) => ({ name, shape })),
      () => initTransformerParams(this.dims, this.seed),
      { grads: true },
    );
    this.#ctx = ctx;
    await ctx.device.queue.onSubmittedWorkDone();
    ctx.check(`${WHERE}.build`);
  }

  /** Every parameter's shape, by name, in the order of {@linkcode parameters}. */
  get paramShapes(): Record<string, number[]> {
    return Object.fromEntries(transformerParamShapes(this.dims));
  }

  /** The trainable parameters and their gradient buffers (needs `build`). */
  parameters(): BodyParameter[] {
    return this.#state("parameters").params.bodyParameters();
  }

  /**
   * Replaces every parameter (by name; see {@linkcode paramShapes}). Everything is
   * checked before anything is written.
   */
  async setParams(values: Record<string, Float32Array>): Promise<void> {
    const store = this.#state("setParams").params;
    await store.set(`${WHERE}.setParams`, values, { partial: false });
  }

  /** Reads every parameter back from the GPU, by name. */
  async getParams(): Promise<Record<string, Float32Array>> {
    return await this.#state("getParams").params.read(`${WHERE}.getParams`);
  }

  /** Reads every parameter's gradient (as written by the last `backward`), by name. */
  async getGrads(): Promise<Record<string, Float32Array>> {
    return await this.#state("getGrads").params.read(`${WHERE}.getGrads`, "grad");
  }

  /**
   * Hidden states `[B, T, hiddenSize]` (a GPU tensor the caller disposes) for token ids
   * `[B, T]` (int32, each in `[0, vocabSize)`, `T ≤ maxLength`). Keeps what `backward`
   * needs until the next `forward`.
   */
  async forward(tokens: Tensor<"int32">): Promise<Tensor<"float32">> {
    const where = `${WHERE}.forward`;
    const { ctx, params } = this.#state("forward");
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
    const D = this.hiddenSize, H = this.heads, M = this.mlpSize, N = B * T;
    this.#checkBindings(where, [
      ["MLP activations [B, T, mlpSize]", N * M],
      ["qkv [B, T, 3·hiddenSize]", N * 3 * D],
    ]);

    // The previous forward's activations go first: peak memory holds one set.
    this.#releaseSaved();
    const pool = ctx.pool;
    const owned: GPUBuffer[] = [];
    const get = (floats: number) => {
      const b = pool.acquire(floats * 4);
      owned.push(b);
      return b;
    };
    const out = pool.acquire(N * D * 4);
    try {
      const blocks: SavedBlock[] = [];
      for (let l = 0; l < this.layers; l++) {
        blocks.push({
          nhat1: get(N * D),
          rstd1: get(N),
          ln1: get(N * D),
          qkv: get(N * 3 * D),
          lse: get(B * H * T),
          attn: get(N * D),
          nhat2: get(N * D),
          rstd2: get(N),
          ln2: get(N * D),
          pre: get(N * M),
          act: get(N * M),
        });
      }
      const nhatF = get(N * D), rstdF = get(N);
      const rec = new Recorder(ctx);
      const idsBuffer = rec.upload(ids);
      const x = rec.scratch(N * D * 4);
      const p = (name: string) => params.get(name)!.buffer;
      embed(rec, {
        ids: idsBuffer,
        tokens: p("embedding/tokens"),
        positions: p("embedding/positions"),
        out: x,
        rows: N,
        width: D,
        time: T,
        posBase: 0,
        vocab: this.vocabSize,
      });
      blocks.forEach((s, l) => this.#recordBlock(rec, l, x, s, B, T));
      normRows(rec, x, p("final_layer_norm/scale"), p("final_layer_norm/bias"), {
        out,
        nhat: nhatF,
        rstd: rstdF,
        rows: N,
        width: D,
      });
      await rec.submit(where);
      this.#saved = { batch: B, time: T, ids, blocks, nhatF, rstdF, buffers: owned };
    } catch (e) {
      for (const b of owned) pool.release(b);
      pool.release(out);
      throw e;
    }
    return ownedGPUTensor(ctx, out, [B, T, D], "float32");
  }

  /** Records one block of the parallel forward, updating the residual stream `x` in place. */
  #recordBlock(
    rec: Recorder,
    l: number,
    x: GPUBuffer,
    s: SavedBlock,
    B: number,
    T: number,
  ): void {
    const D = this.hiddenSize, H = this.heads, M = this.mlpSize, N = B * T, dh = D / H;
    const p = this.#blockParam(l);
    normRows(rec, x, p("layer_norm_1/scale"), p("layer_norm_1/bias"), {
      out: s.ln1,
      nhat: s.nhat1,
      rstd: s.rstd1,
      rows: N,
      width: D,
    });
    matmulNN(rec, s.ln1, p("attention/qkv/kernel"), s.qkv, N, D, 3 * D, {
      bias: { buffer: p("attention/qkv/bias") },
    });
    // attn = causal softmax(Q Kᵀ / √dh) V per head, heads side by side
    const packed = (base: number) => ({ buffer: s.qkv, base, batch: T * 3 * D, row: 3 * D });
    causalAttention(rec, {
      q: packed(0),
      k: packed(D),
      v: packed(2 * D),
      out: { buffer: s.attn, base: 0, batch: T * D, row: D },
      lse: s.lse,
      sequences: B,
      heads: H,
      headWidth: dh,
      queries: T,
      offset: 0,
    });
    matmulNN(rec, s.attn, p("attention/out/kernel"), x, N, D, D, {
      bias: { buffer: p("attention/out/bias") },
      beta: 1,
    });
    normRows(rec, x, p("layer_norm_2/scale"), p("layer_norm_2/bias"), {
      out: s.ln2,
      nhat: s.nhat2,
      rstd: s.rstd2,
      rows: N,
      width: D,
    });
    matmulNN(rec, s.ln2, p("mlp/dense_0/kernel"), s.pre, N, D, M, {
      bias: { buffer: p("mlp/dense_0/bias") },
    });
    gelu(rec, { x: s.pre, g: s.act, count: N * M, mode: "forward" });
    matmulNN(rec, s.act, p("mlp/dense_1/kernel"), x, N, M, D, {
      bias: { buffer: p("mlp/dense_1/bias") },
      beta: 1,
    });
  }

  /**
   * Given dLoss/dHidden `[B, T, hiddenSize]` for the last `forward`, writes (overwrites)
   * the gradient of every parameter into its `grad` buffer (see {@linkcode parameters},
   * {@linkcode getGrads}).
   */
  async backward(dHidden: Tensor<"float32">): Promise<void> {
    const where = `${WHERE}.backward`;
    const { ctx, params } = this.#state("backward");
    const saved = this.#saved;
    if (!saved) throw new FWLStateError(`${where}: call forward(tokens) first`);
    const { batch: B, time: T } = saved;
    const D = this.hiddenSize, H = this.heads, M = this.mlpSize, N = B * T, dh = D / H;
    const V = this.vocabSize, L = this.maxLength;
    checkTensor(where, "dHidden", dHidden);
    checkDType(where, "dHidden", dHidden, "float32");
    checkShape(where, "dHidden", dHidden, [B, T, D], "dLoss/dHidden of the last forward");
    await checkFiniteTensor(where, "dHidden", ctx, dHidden);

    const rec = new Recorder(ctx);
    const dh0 = dHidden.gpuBuffer(ctx) ?? rec.upload(dHidden.hostData!);
    // Segments of the embedding gradients: rows of dx grouped by token id and by position.
    const tokenSegments = segmentsByKey(saved.ids, V);
    const positionOffsets = new Uint32Array(L + 1).map((_, t) => Math.min(t, T) * B);
    const positionIndex = new Uint32Array(N).map((_, k) => (k % B) * T + Math.floor(k / B));

    const dx = rec.scratch(N * D * 4);
    const dLn = rec.scratch(N * D * 4);
    const dAct = rec.scratch(N * M * 4);
    const dAttn = rec.scratch(N * D * 4);
    const deltas = rec.scratch(B * H * T * 4);
    const dQkv = rec.scratch(N * 3 * D * 4);
    const grad = (name: string) => params.get(name)!.grad;
    const param = (name: string) => params.get(name)!.buffer;

    colsum(rec, { a: dh0, b: saved.nhatF, rows: N, width: D, out: grad("final_layer_norm/scale") });
    colsum(rec, { a: dh0, rows: N, width: D, out: grad("final_layer_norm/bias") });
    layerNormBackwardInput(rec, {
      g: dh0,
      scale: param("final_layer_norm/scale"),
      nhat: saved.nhatF,
      rstd: saved.rstdF,
      out: dx,
      rows: N,
      width: D,
    });
    for (let l = this.layers - 1; l >= 0; l--) {
      const s = saved.blocks[l];
      const p = this.#blockParam(l);
      const g = (name: TransformerBlockParam) => grad(blockParamName(l, name));
      // MLP: x += GELU(LN2(x)·W1 + b1)·W2 + b2
      colsum(rec, { a: dx, rows: N, width: D, out: g("mlp/dense_1/bias") });
      matmulTN(rec, { x: s.act, g: dx, out: g("mlp/dense_1/kernel"), rows: N, m: M, n: D });
      matmulNT(rec, dx, p("mlp/dense_1/kernel"), dAct, N, D, M);
      gelu(rec, { x: s.pre, g: dAct, count: N * M, mode: "backward" });
      colsum(rec, { a: dAct, rows: N, width: M, out: g("mlp/dense_0/bias") });
      matmulTN(rec, { x: s.ln2, g: dAct, out: g("mlp/dense_0/kernel"), rows: N, m: D, n: M });
      matmulNT(rec, dAct, p("mlp/dense_0/kernel"), dLn, N, M, D);
      this.#layerNormBackward(rec, dLn, dx, s.nhat2, s.rstd2, p("layer_norm_2/scale"), {
        scale: g("layer_norm_2/scale"),
        bias: g("layer_norm_2/bias"),
      }, N);
      // attention: x += Attn(LN1(x))·Wo + bo
      colsum(rec, { a: dx, rows: N, width: D, out: g("attention/out/bias") });
      matmulTN(rec, { x: s.attn, g: dx, out: g("attention/out/kernel"), rows: N, m: D, n: D });
      matmulNT(rec, dx, p("attention/out/kernel"), dAttn, N, D, D);
      causalAttentionBackward(rec, {
        qkv: s.qkv,
        out: s.attn,
        lse: s.lse,
        dOut: dAttn,
        deltas,
        dqkv: dQkv,
        sequences: B,
        time: T,
        heads: H,
        headWidth: dh,
      });
      colsum(rec, { a: dQkv, rows: N, width: 3 * D, out: g("attention/qkv/bias") });
      matmulTN(rec, { x: s.ln1, g: dQkv, out: g("attention/qkv/kernel"), rows: N, m: D, n: 3 * D });
      matmulNT(rec, dQkv, p("attention/qkv/kernel"), dLn, N, 3 * D, D);
      this.#layerNormBackward(rec, dLn, dx, s.nhat1, s.rstd1, p("layer_norm_1/scale"), {
        scale: g("layer_norm_1/scale"),
        bias: g("layer_norm_1/bias"),
      }, N);
    }
    segmentSum(rec, {
      offsets: rec.upload(tokenSegments.offsets),
      index: rec.upload(tokenSegments.index),
      src: dx,
      out: grad("embedding/tokens"),
      segments: V,
      width: D,
    });
    segmentSum(rec, {
      offsets: rec.upload(positionOffsets),
      index: rec.upload(positionIndex),
      src: dx,
      out: grad("embedding/positions"),
      segments: L,
      width: D,
    });
    await rec.submit(where);
  }

  /** Scale and bias gradients of a layer norm, and `dx += LNᵀ(g ⊙ scale)`. */
  #layerNormBackward(
    rec: Recorder,
    g: GPUBuffer,
    dx: GPUBuffer,
    nhat: GPUBuffer,
    rstd: GPUBuffer,
    scale: GPUBuffer,
    grads: { scale: GPUBuffer; bias: GPUBuffer },
    rows: number,
  ): void {
    const D = this.hiddenSize;
    colsum(rec, { a: g, b: nhat, rows, width: D, out: grads.scale });
    colsum(rec, { a: g, rows, width: D, out: grads.bias });
    layerNormBackwardInput(rec, {
      g,
      scale,
      nhat,
      rstd,
      out: dx,
      rows,
      width: D,
      accumulate: true,
    });
  }

  /**
   * A fresh generation state for `batchSize` sequences: an empty key/value cache of
   * `maxLength` positions per block (needs `build`).
   */
  initState(batchSize: number): TransformerState {
    const where = `${WHERE}.initState`;
    const { ctx } = this.#state("initState");
    checkPositiveInteger(where, "batchSize", batchSize);
    const floats = batchSize * this.maxLength * this.hiddenSize;
    this.#checkBindings(where, [["key/value cache [B, maxLength, hiddenSize]", floats]]);
    const alloc = () => Array.from({ length: this.layers }, () => ctx.pool.acquire(floats * 4));
    const state: TransformerState = new TransformerState(batchSize, {
      body: this,
      ctx,
      keys: alloc(),
      values: alloc(),
      length: 0,
      disposed: false,
      onDispose: () => this.#states.delete(state),
    });
    this.#states.add(state);
    return state;
  }

  /**
   * Hidden states `[B, hiddenSize]` (a GPU tensor the caller disposes) of one token per
   * sequence (`[B]` int32) at the state's next position, attending to the cached keys
   * and values; advances the state. Past `maxLength` positions it throws an
   * {@linkcode FWLStateError}.
   */
  async step(tokens: Tensor<"int32">, state: BodyState): Promise<Tensor<"float32">> {
    const where = `${WHERE}.step`;
    const { ctx, params } = this.#state("step");
    const st = this.#stepState(where, state);
    const B = (state as TransformerState).batchSize;
    checkTensor(where, "tokens", tokens);
    checkDType(where, "tokens", tokens, "int32");
    checkShape(where, "tokens", tokens, [B], "one token id per sequence of the state");
    this.#checkRoom(where, st);
    const ids = await readTokenIds(where, tokens, this.vocabSize);
    const out = ctx.pool.acquire(B * this.hiddenSize * 4);
    try {
      const rec = new Recorder(ctx);
      this.#recordStep(rec, params, st, B, rec.upload(ids), out);
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
   * position). Past `maxLength` it throws an {@linkcode FWLStateError} and records
   * nothing. Lets a whole token loop run on the GPU (`LanguageModel.generate`).
   *
   * @example
   * ```ts
   * import { TransformerBody } from "@x/fwl";
   * import { readBytes, Recorder } from "@x/fwl/gpu";
   * using body = await TransformerBody.create({
   *   vocabSize: 10, hiddenSize: 8, layers: 1, heads: 2, maxLength: 4,
   * });
   * using state = body.initState(1);
   * const ctx = body.context, rec = new Recorder(ctx), out = ctx.pool.acquire(32);
   * body.recordStep(rec, rec.upload(new Int32Array([7])), state, out);
   * await rec.submit("one step");
   * console.log(state.length, new Float32Array(await readBytes(ctx, out, 32)).length); // 1 8
   * ctx.pool.release(out);
   * ```
   */
  recordStep(rec: Recorder, tokens: GPUBuffer, state: BodyState, out: GPUBuffer): void {
    const where = `${WHERE}.recordStep`;
    const { params } = this.#state("recordStep");
    const st = this.#stepState(where, state);
    this.#checkRoom(where, st);
    this.#recordStep(rec, params, st, (state as TransformerState).batchSize, tokens, out);
  }

  /** `state`'s internals, when it is a live state of this body. */
  #stepState(where: string, state: BodyState): StateInternals {
    const st = state instanceof TransformerState ? internals.get(state) : undefined;
    if (!st || st.body !== this) {
      throw new FWLInputError(
        where,
        "state",
        "a state made by this body's initState",
        describeValue(state),
      );
    }
    if (st.disposed) throw new FWLStateError(`${where}: the state was disposed`);
    return st;
  }

  #checkRoom(where: string, st: StateInternals): void {
    if (st.length >= this.maxLength) {
      throw new FWLStateError(
        `${where}: the state already holds maxLength = ${this.maxLength} positions, the ` +
          `most the body was built for; start a new state or build a body with a larger maxLength`,
      );
    }
  }

  /** One position of `B` sequences at the state's next position; advances its length. */
  #recordStep(
    rec: Recorder,
    params: ParamStore,
    st: StateInternals,
    B: number,
    idsBuffer: GPUBuffer,
    out: GPUBuffer,
  ): void {
    const pos = st.length;
    const D = this.hiddenSize, H = this.heads, M = this.mlpSize, dh = D / H, L = this.maxLength;
    const x = rec.scratch(B * D * 4);
    const ln = rec.scratch(B * D * 4);
    const nhat = rec.scratch(B * D * 4);
    const rstd = rec.scratch(B * 4);
    const q = rec.scratch(B * D * 4);
    const lse = rec.scratch(B * H * 4);
    const attn = rec.scratch(B * D * 4);
    const pre = rec.scratch(B * M * 4);
    const act = rec.scratch(B * M * 4);
    const param = (name: string) => params.get(name)!.buffer;
    embed(rec, {
      ids: idsBuffer,
      tokens: param("embedding/tokens"),
      positions: param("embedding/positions"),
      out: x,
      rows: B,
      width: D,
      time: 1,
      posBase: pos,
      vocab: this.vocabSize,
    });
    const norm = (scale: GPUBuffer, bias: GPUBuffer, out: GPUBuffer) =>
      normRows(rec, x, scale, bias, { out, nhat, rstd, rows: B, width: D });
    for (let l = 0; l < this.layers; l++) {
      const p = this.#blockParam(l);
      norm(p("layer_norm_1/scale"), p("layer_norm_1/bias"), ln);
      // q, k, v of this position; k and v go straight into the cache at `pos`
      const project = (part: number, c: { buffer: GPUBuffer; base: number; row: number }) =>
        matmul(rec, {
          m: B,
          n: D,
          k: D,
          a: { buffer: ln, row: D, col: 1 },
          b: { buffer: p("attention/qkv/kernel"), base: part * D, row: 3 * D, col: 1 },
          c: { ...c, col: 1 },
          bias: { buffer: p("attention/qkv/bias"), base: part * D },
        });
      project(0, { buffer: q, base: 0, row: D });
      project(1, { buffer: st.keys[l], base: pos * D, row: L * D });
      project(2, { buffer: st.values[l], base: pos * D, row: L * D });
      // this position's query against the cache's keys 0 … pos
      const cache = (buffer: GPUBuffer) => ({ buffer, base: 0, batch: L * D, row: D });
      causalAttention(rec, {
        q: { buffer: q, base: 0, batch: D, row: D },
        k: cache(st.keys[l]),
        v: cache(st.values[l]),
        out: { buffer: attn, base: 0, batch: D, row: D },
        lse,
        sequences: B,
        heads: H,
        headWidth: dh,
        queries: 1,
        offset: pos,
      });
      matmulNN(rec, attn, p("attention/out/kernel"), x, B, D, D, {
        bias: { buffer: p("attention/out/bias") },
        beta: 1,
      });
      norm(p("layer_norm_2/scale"), p("layer_norm_2/bias"), ln);
      matmulNN(rec, ln, p("mlp/dense_0/kernel"), pre, B, D, M, {
        bias: { buffer: p("mlp/dense_0/bias") },
      });
      gelu(rec, { x: pre, g: act, count: B * M, mode: "forward" });
      matmulNN(rec, act, p("mlp/dense_1/kernel"), x, B, M, D, {
        bias: { buffer: p("mlp/dense_1/bias") },
        beta: 1,
      });
    }
    norm(param("final_layer_norm/scale"), param("final_layer_norm/bias"), out);
    st.length = pos + 1;
  }

  /** Releases every GPU buffer of the body, its generation states' too. It can't be used afterwards. */
  dispose(): void {
    for (const state of [...this.#states]) state.dispose();
    this.#releaseSaved();
    this.#params?.dispose();
    this.#params = undefined;
    this.#disposed = true;
  }

  /** `using body = …` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #blockParam(l: number): (name: TransformerBlockParam) => GPUBuffer {
    const params = this.#params!;
    return (name) => params.buffer(blockParamName(l, name));
  }

  #state(what: string): { ctx: GPUContext; params: ParamStore } {
    if (this.#disposed) throw new FWLStateError(`${WHERE}.${what}: the body was disposed`);
    if (!this.#params || !this.#ctx) {
      throw new FWLStateError(
        `${WHERE}.${what}: call await body.build() first (or use TransformerBody.create)`,
      );
    }
    return { ctx: this.#ctx, params: this.#params };
  }

  #checkBindings(where: string, sizes: [string, number][]): void {
    const max = this.#ctx!.maxBindingBytes;
    for (const [what, floats] of sizes) {
      if (floats * 4 > max) {
        throw new FWLInputError(
          where,
          "tokens",
          `a batch whose ${what} fits the device's ${max}-byte binding limit`,
          `${floats * 4} bytes (use a smaller batch or shorter sequences)`,
        );
      }
    }
  }

  #releaseSaved(): void {
    if (this.#saved && this.#ctx) {
      for (const b of this.#saved.buffers) this.#ctx.pool.release(b);
    }
    this.#saved = undefined;
  }
}

/** The body's layer norm of the `[rows, width]` residual stream `x` (per-column affine). */
function normRows(
  rec: Recorder,
  x: GPUBuffer,
  scale: GPUBuffer,
  bias: GPUBuffer,
  o: { out: GPUBuffer; nhat: GPUBuffer; rstd: GPUBuffer; rows: number; width: number },
): void {
  layerNorm(rec, { x, scale, bias, ...o, perRowAffine: false, eps: TRANSFORMER_EPSILON });
}
