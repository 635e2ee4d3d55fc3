/**
 * `FWLStream`: the recurrent form of the FWL block, for generation (FWL.md §3).
 *
 * With a fixed normalizer `N`, the fast logits at position `t` depend on the earlier
 * positions only through a state of fixed size per sequence:
 *
 * ```
 * S0 = Σ_{s<t} x_s ⊗ g_h1_s   [D, H]      S1 = Σ_{s<t} a_s ⊗ g_h2_s   [H, size]
 * Σ g_h1 [H],  Σ g_h2 [size],  Σ g_n ⊙ n̂ [size],  Σ g_n [size]
 * ```
 *
 * `predict` reads the state; `observe` runs the slow forward and the inner backward of
 * the one position just predicted and adds its terms. Both run entirely on the GPU, one
 * command submission each, at a cost that does not grow with the position.
 *
 * @module
 */

import { FWLError, FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { type Binding, Recorder } from "../gpu/recorder.ts";
import { matmul, matmulNN, matmulNT } from "../kernels/matmul.ts";
import { layerNorm, layerNormBackward } from "../kernels/layer_norm.ts";
import { softmaxXentGrad } from "../kernels/softmax_xent.ts";
import { vectorUpdate } from "../kernels/vector_update.ts";
import { describeValue, ownedGPUTensor, type Tensor } from "../tensor.ts";
import { FWLBlock } from "./block.ts";
import type { ParamBuffers } from "./forward.ts";
import {
  checkDType,
  checkFinite,
  checkIds,
  checkPositiveInteger,
  checkShape,
  checkTensor,
  checkWeights,
} from "./validate.ts";

/**
 * Options of an {@linkcode FWLStream}.
 *
 * @example
 * ```ts ignore
 * const stream = block.stream(4, { normalizer: 2048 }); // N = tokens per training batch
 * ```
 */
export interface FWLStreamOptions {
  /**
   * The fixed inner-loss normalizer `N` (a finite positive number). Defaults to the
   * block's `normalizer` when that is a number; the `"batch"` normalizer can't stream,
   * since it sums the weights of tokens not seen yet.
   */
  normalizer?: number;
}

const WHERE = "FWLStream";

/** The recurrent state of every sequence: fixed size, independent of the position. */
interface State {
  /** `Σ x_s ⊗ g_h1_s`, `[B, D, H]`. */
  s0: GPUBuffer;
  /** `Σ a_s ⊗ g_h2_s`, `[B, H, size]`. */
  s1: GPUBuffer;
  /** `Σ g_h1`, `[B, H]`. */
  sumH1: GPUBuffer;
  /** `Σ g_h2`, `[B, size]`. */
  sumH2: GPUBuffer;
  /** `Σ g_n ⊙ n̂`, `[B, size]`. */
  sumGnNhat: GPUBuffer;
  /** `Σ g_n`, `[B, size]`. */
  sumGn: GPUBuffer;
}

/** What `predict` keeps for `observe`: the input and the slow first layer. */
interface Pending {
  /** `x_t`, `[B, D]`. */
  x: GPUBuffer;
  /** `h1 = x·K0 + b0`, `[B, H]`. */
  h1: GPUBuffer;
  /** `a = relu(h1)²`, `[B, H]`. */
  a: GPUBuffer;
}

/**
 * A batch of `B` sequences generated token by token with an FWL block, its state on the
 * GPU. For each position: `predict(x_t)` gives the fast logits from the state, then
 * `observe(labels_t, weights_t)` learns from that position. The logits equal those of
 * `block.forward` over the whole sequence with the same fixed normalizer.
 *
 * Usually made with `block.stream(batchSize, options)`.
 *
 * @example
 * ```ts ignore
 * import { FWLBlock, FWLStream, greedy, tensor } from "@x/fwl";
 * const block = new FWLBlock(16, 50, 4, { normalizer: 64 });
 * await block.build(32);
 * const stream = new FWLStream(block, 1);
 * let x = tensor(new Float32Array(32).fill(0.1), [1, 32]);
 * for (let t = 0; t < 8; t++) {
 *   const logits = await stream.predict(x);
 *   const token = greedy(await logits.read());
 *   logits.dispose();
 *   await stream.observe(tensor(new Int32Array([token]), [1]), tensor(new Float32Array([1]), [1]));
 *   // x = the body's hidden state after `token` ...
 * }
 * stream.dispose();
 * ```
 */
export class FWLStream {
  /** Number of sequences `B`. */
  readonly batchSize: number;
  /** The fixed inner-loss normalizer `N`. */
  readonly normalizer: number;
  readonly #block: FWLBlock;
  readonly #ctx: GPUContext;
  readonly #D: number;
  readonly #S: number;
  readonly #H: number;
  readonly #V: number;
  readonly #eps: number;
  readonly #state: State;
  readonly #pending: Pending;
  /** `N` in a one-float buffer, as the softmax-gradient kernel reads it. */
  readonly #norm: GPUBuffer;
  #position = 0;
  #predicted = false;
  #busy = false;
  #disposed = false;
  #released = false;

  /**
   * Makes a stream at position 0 with its state zeroed on the GPU.
   *
   * @param block a built {@linkcode FWLBlock}
   * @param batchSize number of sequences `B`
   * @param options the fixed normalizer `N` (default: the block's, when it is a number)
   */
  constructor(
    block: FWLBlock,
    batchSize: number,
    options: FWLStreamOptions = {},
  ) {
    if (!(block instanceof FWLBlock)) {
      throw new FWLInputError(
        WHERE,
        "block",
        "an FWLBlock",
        describeValue(block),
      );
    }
    checkPositiveInteger(WHERE, "batchSize", batchSize);
    if (options === null || typeof options !== "object") {
      throw new FWLInputError(
        WHERE,
        "options",
        "an object",
        describeValue(options),
      );
    }
    this.normalizer = streamNormalizer(block, options.normalizer);
    if (!block.built) {
      throw new FWLStateError(
        `${WHERE}: the block is not built: call block.build(inputSize) first`,
      );
    }
    const ctx = block.context;
    const B = batchSize, D = block.inputSize!, S = block.size, H = 4 * S;
    const V = block.vocabSize;
    if (B > ctx.maxWorkgroups) {
      throw new FWLInputError(
        WHERE,
        "batchSize",
        `at most ${ctx.maxWorkgroups} sequences (the device's workgroup limit)`,
        `${B}`,
      );
    }
    const widest = Math.max(B * D * H, B * H * S, B * V) * 4;
    if (widest > ctx.maxBindingBytes) {
      throw new FWLError(
        `${WHERE}: a batch of ${B} sequences needs a ${widest}-byte buffer, over the ` +
          `device's ${ctx.maxBindingBytes}-byte binding limit; use fewer sequences per stream`,
      );
    }
    this.batchSize = B;
    this.#block = block;
    this.#ctx = ctx;
    this.#D = D;
    this.#S = S;
    this.#H = H;
    this.#V = V;
    this.#eps = block.epsilon;
    const get = (elements: number) => ctx.pool.acquire(elements * 4);
    this.#state = {
      s0: get(B * D * H),
      s1: get(B * H * S),
      sumH1: get(B * H),
      sumH2: get(B * S),
      sumGnNhat: get(B * S),
      sumGn: get(B * S),
    };
    this.#pending = { x: get(B * D), h1: get(B * H), a: get(B * H) };
    this.#norm = get(1);
    ctx.device.queue.writeBuffer(
      this.#norm,
      0,
      new Float32Array([this.normalizer]),
    );
    this.#clearState();
  }

  /** The next position to predict (the number of positions observed so far). */
  get position(): number {
    return this.#position;
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
    const B = this.batchSize, D = this.#D, H = this.#H, S = this.#S;
    return 4 * B * (D * H + H * S + H + 3 * S);
  }

  /**
   * The fast logits `[B, V]` of the current position from the state.
   *
   * @param x the hidden states of this position, `[B, D]` float32 (host or GPU-resident)
   * @returns a GPU-resident tensor (dispose it when done); `await logits.read()` gives the values
   */
  async predict(x: Tensor): Promise<Tensor<"float32">> {
    const where = `${WHERE}.predict`;
    const { ctx, params } = this.#enter("predict");
    try {
      if (this.#predicted) {
        throw new FWLStateError(
          `${where}: position ${this.#position} was already predicted; call ` +
            `observe(labels, weights) for it before predicting the next position`,
        );
      }
      const B = this.batchSize, D = this.#D, S = this.#S, H = this.#H;
      const V = this.#V;
      checkTensor(where, "x", x);
      checkDType(where, "x", x, "float32");
      checkShape(where, "x", x, [B, D], "hidden states [B, D]");
      checkFinite(where, "x", x.hostData ?? await x.read());

      const st = this.#state, pend = this.#pending;
      const rec = new Recorder(ctx);
      const buf = (elements: number) => rec.scratch(elements * 4);
      const resident = x.gpuBuffer(ctx);
      if (resident) rec.copy(resident, 0, pend.x, 0, B * D * 4);
      else {
        ctx.device.queue.writeBuffer(
          pend.x,
          0,
          x.hostData as ArrayBufferView<ArrayBuffer>,
        );
      }
      const f1 = buf(B * H), fa = buf(B * H), f2 = buf(B * S);
      const scaleT = buf(B * S), biasT = buf(B * S), nf = buf(B * S);
      const nhat = buf(B * S), rstd = buf(B);

      // Slow first layer (kept for observe), then f1 = h1 − step0·x·S0 − step1·Σg_h1.
      matmulNN(rec, pend.x, params.k0, pend.h1, B, D, H, {
        bias: { buffer: params.b0 },
        sqreluAux: pend.a,
      });
      rec.copy(pend.h1, 0, f1, 0, B * H * 4);
      perSequence(rec, B, pend.x, st.s0, f1, D, H, params.steps, 0);
      vectorUpdate(rec, {
        u: st.sumH1,
        out: f1,
        rows: B,
        width: H,
        alpha: -1,
        step: { buffer: params.steps, index: 1 },
        sqreluAux: fa,
      });
      // f2 = fa·K1 + b1 − step2·fa·S1 − step3·Σg_h2 (query fa, keys the slow a).
      matmulNN(rec, fa, params.k1, f2, B, H, S, {
        bias: { buffer: params.b1 },
      });
      perSequence(rec, B, fa, st.s1, f2, H, S, params.steps, 2);
      const row = { rows: B, width: S, alpha: -1 };
      vectorUpdate(rec, {
        ...row,
        u: st.sumH2,
        out: f2,
        step: { buffer: params.steps, index: 3 },
      });
      // Fast layer-norm affine: scale − step4·Σ(g_n⊙n̂), bias − step5·Σg_n.
      vectorUpdate(rec, {
        ...row,
        u: st.sumGnNhat,
        out: scaleT,
        broadcastBase: params.scale,
        step: { buffer: params.steps, index: 4 },
      });
      vectorUpdate(rec, {
        ...row,
        u: st.sumGn,
        out: biasT,
        broadcastBase: params.bias,
        step: { buffer: params.steps, index: 5 },
      });
      layerNorm(rec, {
        x: f2,
        scale: scaleT,
        bias: biasT,
        out: nf,
        nhat,
        rstd,
        rows: B,
        width: S,
        perRowAffine: true,
        eps: this.#eps,
      });
      const logits = ctx.pool.acquire(B * V * 4);
      matmulNN(rec, nf, params.ku, logits, B, S, V, {
        bias: { buffer: params.bu },
      });
      try {
        await rec.submit(where);
      } catch (e) {
        ctx.pool.release(logits);
        throw e;
      }
      this.#predicted = true;
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
   */
  async observe(labels: Tensor, weights: Tensor): Promise<void> {
    const where = `${WHERE}.observe`;
    const { ctx, params } = this.#enter("observe");
    try {
      if (!this.#predicted) {
        throw new FWLStateError(
          `${where}: position ${this.#position} has not been predicted; call ` +
            `predict(x) for it first`,
        );
      }
      const B = this.batchSize, D = this.#D, S = this.#S, H = this.#H;
      const V = this.#V;
      checkTensor(where, "labels", labels);
      checkTensor(where, "weights", weights);
      const labelsAreIds = labels.dtype === "int32";
      if (labelsAreIds) {
        checkShape(where, "labels", labels, [B], "token ids [B]");
      } else {
        checkShape(
          where,
          "labels",
          labels,
          [B, V],
          "one-hot labels [B, V] float32, or int32 ids [B]",
        );
      }
      checkDType(where, "weights", weights, "float32");
      checkShape(where, "weights", weights, [B], "[B]");
      const w = weights.hostData ?? await weights.read();
      checkWeights(where, "weights", w);
      const l = labels.hostData ?? await labels.read();
      if (labelsAreIds) checkIds(where, "labels", l, w, V);
      else checkFinite(where, "labels", l);

      const st = this.#state, pend = this.#pending;
      const rec = new Recorder(ctx);
      const buf = (elements: number) => rec.scratch(elements * 4);
      const upload = (t: Tensor): GPUBuffer => {
        const resident = t.gpuBuffer(ctx);
        if (resident) return resident;
        const host = t.hostData!;
        const b = rec.scratch(host.byteLength);
        ctx.device.queue.writeBuffer(b, 0, host as ArrayBufferView<ArrayBuffer>);
        return b;
      };
      const labelsBuf = upload(labels), weightsBuf = upload(weights);
      const h2 = buf(B * S), nhat = buf(B * S), rstd = buf(B), n = buf(B * S);
      const z = buf(B * V), gn = buf(B * S), gh2 = buf(B * S);
      const gnNhat = buf(B * S), gh1 = buf(B * H);

      // Slow forward of this position (h1 and a came from predict).
      matmulNN(rec, pend.a, params.k1, h2, B, H, S, {
        bias: { buffer: params.b1 },
      });
      layerNorm(rec, {
        x: h2,
        scale: params.scale,
        bias: params.bias,
        out: n,
        nhat,
        rstd,
        rows: B,
        width: S,
        perRowAffine: false,
        eps: this.#eps,
      });
      matmulNN(rec, n, params.ku, z, B, S, V, { bias: { buffer: params.bu } });
      // Inner backward: g_z (in place), g_n, layer norm, g_h2, g_h1.
      softmaxXentGrad(rec, {
        z,
        labels: labelsBuf,
        labelsAreIds,
        weights: weightsBuf,
        norm: this.#norm,
        rows: B,
        vocab: V,
        rowOffset: 0,
        labelBase: 0,
      });
      matmulNT(rec, z, params.ku, gn, B, V, S);
      layerNormBackward(rec, {
        gN: gn,
        nhat,
        rstd,
        scale: params.scale,
        gX: gh2,
        gScale: gnNhat,
        rows: B,
        width: S,
      });
      matmulNT(rec, gh2, params.k1, gh1, B, S, H, { gateAux: pend.h1 });
      // Add this position's terms to the state.
      outerAccumulate(rec, B, pend.x, gh1, st.s0, D, H);
      outerAccumulate(rec, B, pend.a, gh2, st.s1, H, S);
      vectorUpdate(rec, { u: gh1, out: st.sumH1, rows: B, width: H });
      vectorUpdate(rec, { u: gh2, out: st.sumH2, rows: B, width: S });
      vectorUpdate(rec, { u: gnNhat, out: st.sumGnNhat, rows: B, width: S });
      vectorUpdate(rec, { u: gn, out: st.sumGn, rows: B, width: S });
      await rec.submit(where);
      this.#predicted = false;
      this.#position++;
    } finally {
      this.#leave();
    }
  }

  /** Forgets every observed position: back to position 0 (the slow parameters). */
  reset(): void {
    this.#enter("reset");
    try {
      this.#clearState();
      this.#predicted = false;
      this.#position = 0;
    } finally {
      this.#leave();
    }
  }

  /**
   * An independent copy of this stream (state, position, and a pending prediction),
   * copied on the GPU: observing different tokens on the copy and on the original
   * branches the sequences, e.g. for beam search.
   */
  clone(): FWLStream {
    this.#enter("clone");
    try {
      const copy = new FWLStream(this.#block, this.batchSize, {
        normalizer: this.normalizer,
      });
      const encoder = this.#ctx.device.createCommandEncoder({
        label: `${WHERE}.clone`,
      });
      const pairs: [GPUBuffer, GPUBuffer][] = [
        ...Object.keys(this.#state).map((k) =>
          [
            this.#state[k as keyof State],
            copy.#state[k as keyof State],
          ] as [GPUBuffer, GPUBuffer]
        ),
        ...Object.keys(this.#pending).map((k) =>
          [
            this.#pending[k as keyof Pending],
            copy.#pending[k as keyof Pending],
          ] as [GPUBuffer, GPUBuffer]
        ),
      ];
      for (const [src, dst] of pairs) {
        encoder.copyBufferToBuffer(src, 0, dst, 0, src.size);
      }
      this.#ctx.device.queue.submit([encoder.finish()]);
      copy.#position = this.#position;
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
    if (this.#disposed) {
      throw new FWLStateError(`${where}: the stream was disposed`);
    }
    if (this.#busy) {
      throw new FWLStateError(
        `${where}: another call on this stream is still running; await it first`,
      );
    }
    const block = this.#block;
    if (!block.built || block.inputSize !== this.#D) {
      throw new FWLStateError(
        `${where}: the block was disposed or rebuilt since the stream was made`,
      );
    }
    const params = block.buffers;
    if (block.context !== this.#ctx) {
      throw new FWLStateError(
        `${where}: the block moved to another device since the stream was made`,
      );
    }
    this.#busy = true;
    return { ctx: this.#ctx, params };
  }

  #leave(): void {
    this.#busy = false;
    if (this.#disposed) this.#release();
  }

  #clearState(): void {
    const encoder = this.#ctx.device.createCommandEncoder({
      label: `${WHERE}.reset`,
    });
    for (const b of Object.values(this.#state)) encoder.clearBuffer(b);
    this.#ctx.device.queue.submit([encoder.finish()]);
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    const pool = this.#ctx.pool;
    for (const b of Object.values(this.#state)) pool.release(b);
    for (const b of Object.values(this.#pending)) pool.release(b);
    pool.release(this.#norm);
  }
}

/**
 * The normalizer a stream uses: `requested`, else the block's when it is a number.
 * Throws an {@linkcode FWLInputError} that says why and what to pass otherwise.
 */
function streamNormalizer(block: FWLBlock, requested: unknown): number {
  const where = "FWLBlock.stream";
  if (requested === undefined) {
    if (typeof block.normalizer === "number") return block.normalizer;
    throw new FWLInputError(
      where,
      "options.normalizer",
      "a fixed positive number N: streaming can't use the block's \"batch\" " +
        "normalizer, which sums the weights of the whole batch, tokens not seen yet " +
        "included. Pass it, as in block.stream(batchSize, { normalizer: 512 }), or " +
        "build the block with { normalizer: N }",
      'nothing, and the block\'s normalizer is "batch"',
    );
  }
  if (
    typeof requested !== "number" || !Number.isFinite(requested) ||
    requested <= 0
  ) {
    throw new FWLInputError(
      where,
      "options.normalizer",
      "a finite positive number N (streaming needs a fixed normalizer; " +
        '"batch" depends on tokens not seen yet)',
      describeValue(requested),
    );
  }
  return requested;
}

/**
 * `out[b] −= steps[index] · q[b] · state[b]` for each sequence `b`: `q` is `[B, k]`,
 * `state` is `[B, k, n]`, `out` is `[B, n]`.
 */
function perSequence(
  rec: Recorder,
  B: number,
  q: Binding,
  state: Binding,
  out: Binding,
  k: number,
  n: number,
  steps: GPUBuffer,
  index: number,
): void {
  matmul(rec, {
    m: 1,
    n,
    k,
    batches: B,
    a: { buffer: q, outer: k, row: k, col: 1 },
    b: { buffer: state, outer: k * n, row: n, col: 1 },
    c: { buffer: out, outer: n, row: n, col: 1 },
    alpha: -1,
    step: { buffer: steps, index },
    beta: 1,
  });
}

/**
 * `state[b] += key[b] ⊗ value[b]` for each sequence `b`: `key` is `[B, m]`, `value` is
 * `[B, n]`, `state` is `[B, m, n]` (a matmul with k = 1, accumulating).
 */
function outerAccumulate(
  rec: Recorder,
  B: number,
  key: Binding,
  value: Binding,
  state: Binding,
  m: number,
  n: number,
): void {
  matmul(rec, {
    m,
    n,
    k: 1,
    batches: B,
    a: { buffer: key, outer: m, row: 1, col: 1 },
    b: { buffer: value, outer: n, row: n, col: 1 },
    c: { buffer: state, outer: m * n, row: n, col: 1 },
    beta: 1,
  });
}
