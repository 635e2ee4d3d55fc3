/**
 * Adam on the GPU, with coupled (L2) or decoupled weight decay; {@linkcode AdamW} is
 * Adam with decoupled decay.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import type { Recorder } from "../gpu/recorder.ts";
import { adamUpdate, UPDATE_FLAGS } from "../kernels/optimizer.ts";
import { checkBoolean, checkFraction, checkPositive } from "../util/validate.ts";
import { Optimizer, type OptimizerOptions, type SegmentUpdate } from "./optimizer.ts";
import type { OptimParam } from "./params.ts";
import type { OptimizerKind } from "./state.ts";
import { describeValue } from "../util/describe.ts";

/** Options of {@linkcode Adam} and {@linkcode AdamW}. */
export interface AdamOptions extends OptimizerOptions {
  /** Decay of the first moment, in [0, 1) (default 0.9). */
  beta1?: number;
  /** Decay of the second moment, in [0, 1) (default 0.999). */
  beta2?: number;
  /** Added to `sqrt(v̂)` (default 1e-8). */
  eps?: number;
  /** Divide the moments by `1 − β^t` (default true). */
  biasCorrection?: boolean;
  /**
   * Decoupled weight decay, `p −= lr·wd·p` before the Adam step, instead of coupled L2
   * decay `g += wd·p` (default false; always true for {@linkcode AdamW}). An optimizer
   * with decoupled decay is of kind `"adamw"`.
   */
  decoupledWeightDecay?: boolean;
}

/**
 * Adam (Kingma & Ba): `m = β1·m + (1−β1)·g`, `v = β2·v + (1−β2)·g²`,
 * `p −= lr · m̂ / (sqrt(v̂) + ε)` with `m̂ = m / (1 − β1^t)`, `v̂ = v / (1 − β2^t)`
 * (bias correction on by default). A `weightDecay` here is coupled L2 (`g += wd·p`,
 * as PyTorch's `Adam`); for decoupled decay use {@linkcode AdamW}.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { Adam, tensor, warmupCosineSchedule } from "@x/fwl";
 * import { GPUContext, readBytes } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const w = ctx.pool.acquire(8);
 * ctx.device.queue.writeBuffer(w, 0, new Float32Array([1, 2]));
 * const lr = warmupCosineSchedule({ peak: 0.2, warmupSteps: 2, totalSteps: 100 });
 * using opt = new Adam(ctx, [{ name: "w", buffer: w, length: 2 }], { lr, clipNorm: 1 });
 * assertEquals(opt.learningRate, 0.1); // warm-up: step 0 of 2
 * await opt.step({ w: tensor(new Float32Array([3, -4]), [2]) });
 * assertAlmostEquals((await opt.lastGradNorm())!, 5, 1e-6); // before clipping
 * // The first bias-corrected step moves each value by lr against its gradient's sign.
 * const [a, b] = new Float32Array(await readBytes(ctx, w, 8));
 * assertAlmostEquals(a, 0.9, 1e-6);
 * assertAlmostEquals(b, 2.1, 1e-6);
 * const state = await opt.state(); // moments as Float32Arrays
 * assertEquals([state.kind, state.step, Object.keys(state.slots)], ["adam", 1, ["w/m", "w/v"]]);
 * ctx.pool.release(w);
 * ```
 */
export class Adam extends Optimizer {
  /** `"adam"`, or `"adamw"` with decoupled weight decay (as {@linkcode AdamW}). */
  readonly kind: OptimizerKind;
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #eps: number;
  readonly #biasCorrection: boolean;

  /**
   * Creates the optimizer and its GPU state (zeroed).
   *
   * @param ctx the GPU context of the parameters (e.g. `block.context`)
   * @param params the parameters to update (e.g. {@linkcode blockParams}`(block)`)
   * @param options learning rate (or schedule), betas, ε, weight decay, clipping, …
   * @throws {FWLInputError} If `ctx`, a parameter or an option is bad: a beta not in
   * [0, 1), a non-positive `eps`, a negative `lr` or `weightDecay`, a non-positive
   * `clipNorm`, duplicate or overlapping parameters, weight decay on a log-space
   * parameter, and so on (the message names it).
   */
  constructor(ctx: GPUContext, params: readonly OptimParam[], options: AdamOptions) {
    const o = options ?? {} as AdamOptions;
    const where = o.decoupledWeightDecay === true ? "AdamW" : "Adam";
    const decoupled = checkBoolean(
      where,
      "options.decoupledWeightDecay",
      o.decoupledWeightDecay ?? false,
    );
    const beta1 = checkFraction(where, "options.beta1", o.beta1 ?? 0.9);
    const beta2 = checkFraction(where, "options.beta2", o.beta2 ?? 0.999);
    const eps = checkPositive(where, "options.eps", o.eps ?? 1e-8);
    const biasCorrection = checkBoolean(where, "options.biasCorrection", o.biasCorrection ?? true);
    super(where, ctx, params, options, {
      slots: ["m", "v"],
      flags: 0,
      decayFlag: decoupled ? UPDATE_FLAGS.decoupledDecay : UPDATE_FLAGS.l2Decay,
    });
    this.kind = decoupled ? "adamw" : "adam";
    this.#beta1 = beta1;
    this.#beta2 = beta2;
    this.#eps = eps;
    this.#biasCorrection = biasCorrection;
  }

  /** Records one Adam update of a segment. */
  protected encodeUpdate(rec: Recorder, u: SegmentUpdate, t: number): void {
    const b1 = this.#beta1, b2 = this.#beta2, bc = this.#biasCorrection;
    adamUpdate(rec, {
      grad: u.grad,
      clip: u.clip,
      param: u.param,
      m: u.state[0],
      v: u.state[1],
      scalars: {
        ...u.scalars,
        eps: this.#eps,
        beta1: b1,
        beta2: b2,
        bc1: bc ? 1 - b1 ** t : 1,
        bc2: bc ? 1 - b2 ** t : 1,
      },
    });
  }
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter, PyTorch's `AdamW`):
 * `p −= lr·wd·p` before the Adam step, for the parameters
 * {@linkcode OptimizerOptions.decayFilter} accepts (by default not biases, layer-norm
 * parameters or step sizes). `weightDecay` defaults to 0.01. The same optimizer as
 * `new Adam(ctx, params, { ...options, decoupledWeightDecay: true })` with that default.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { AdamW, tensor } from "@x/fwl";
 * import { GPUContext, readBytes } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const w = ctx.pool.acquire(8);
 * ctx.device.queue.writeBuffer(w, 0, new Float32Array([1, 2]));
 * using opt = new AdamW(ctx, [{ name: "w", buffer: w, length: 2 }], { lr: 0.1, weightDecay: 0.1 });
 * assertEquals(opt.kind, "adamw");
 * await opt.step({ w: tensor(new Float32Array([3, -4]), [2]) });
 * // w −= 0.1·0.1·w (decay), then the Adam step of 0.1 against the gradient's sign.
 * const [a, b] = new Float32Array(await readBytes(ctx, w, 8));
 * assertAlmostEquals(a, 0.99 - 0.1, 1e-6);
 * assertAlmostEquals(b, 1.98 + 0.1, 1e-6);
 * ctx.pool.release(w);
 * ```
 */
export class AdamW extends Adam {
  /**
   * Creates the optimizer and its GPU state (zeroed).
   *
   * @param ctx the GPU context of the parameters (e.g. `block.context`)
   * @param params the parameters to update (e.g. {@linkcode blockParams}`(block)`)
   * @param options learning rate (or schedule), betas, ε, weight decay, clipping, …
   * @throws {FWLInputError} If `options` is not an object, or `ctx`, a parameter or an
   * option is bad (as for {@linkcode Adam}).
   */
  constructor(
    ctx: GPUContext,
    params: readonly OptimParam[],
    options: Omit<AdamOptions, "decoupledWeightDecay">,
  ) {
    if (options === null || typeof options !== "object") {
      const expected = "an object with at least { lr }";
      throw new FWLInputError("AdamW", "options", expected, describeValue(options));
    }
    const weightDecay = options.weightDecay ?? 0.01;
    super(ctx, params, { ...options, weightDecay, decoupledWeightDecay: true });
  }
}
