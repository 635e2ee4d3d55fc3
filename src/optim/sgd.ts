/**
 * Stochastic gradient descent on the GPU, with optional (Nesterov) momentum.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import type { Recorder } from "../gpu/recorder.ts";
import { sgdUpdate, UPDATE_FLAGS } from "../kernels/optimizer.ts";
import { checkFraction } from "../util/validate.ts";
import { Optimizer, type OptimizerOptions, type SegmentUpdate } from "./optimizer.ts";
import type { OptimParam } from "./params.ts";
import type { OptimizerKind } from "./state.ts";
import { describeValue } from "../util/describe.ts";

/** Options of {@linkcode SGD}. */
export interface SGDOptions extends OptimizerOptions {
  /** Momentum μ in [0, 1) (default 0: plain SGD, no state). */
  momentum?: number;
  /** Use Nesterov momentum (needs `momentum > 0`; default false). */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent, optionally with momentum (PyTorch's form:
 * `buf = μ·buf + g`, `p −= lr·buf`; Nesterov: `p −= lr·(g + μ·buf)`) and coupled
 * weight decay (`g += wd·p` for the parameters {@linkcode OptimizerOptions.decayFilter}
 * accepts).
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError, SGD, tensor } from "@x/fwl";
 * import { GPUContext, readBytes } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const w = ctx.pool.acquire(8); // one parameter of 2 values
 * ctx.device.queue.writeBuffer(w, 0, new Float32Array([1, 2]));
 * const params = [{ name: "w", buffer: w, length: 2 }];
 * using opt = new SGD(ctx, params, { lr: 0.5, momentum: 0.5 });
 * const grad = tensor(new Float32Array([1, -2]), [2]);
 * await opt.step({ w: grad }); // buf = g; w −= 0.5·buf
 * await opt.step({ w: grad }); // buf = 0.5·buf + g = 1.5·g; w −= 0.5·buf
 * assertEquals([...new Float32Array(await readBytes(ctx, w, 8))], [-0.25, 4.5]);
 * assertEquals(opt.stateShape, { "w/momentum": 2 });
 * assertThrows(() => new SGD(ctx, params, { lr: 0.5, nesterov: true }), FWLInputError);
 * ctx.pool.release(w);
 * ```
 */
export class SGD extends Optimizer {
  /** `"sgd"`. */
  readonly kind: OptimizerKind = "sgd";
  readonly #momentum: number;
  readonly #nesterov: boolean;

  /**
   * Creates the optimizer and its GPU state (zeroed).
   *
   * @param ctx the GPU context of the parameters (e.g. `block.context`)
   * @param params the parameters to update (e.g. {@linkcode blockParams}`(block)`)
   * @param options learning rate (or schedule), momentum, weight decay, clipping, …
   * @throws {FWLInputError} If `ctx`, a parameter or an option is bad: `momentum` not
   * in [0, 1), `nesterov` without momentum, a negative `lr` or `weightDecay`, a
   * non-positive `clipNorm`, duplicate or overlapping parameters, weight decay on a
   * log-space parameter, and so on (the message names it).
   */
  constructor(ctx: GPUContext, params: readonly OptimParam[], options: SGDOptions) {
    const where = "SGD";
    const o = options ?? {} as SGDOptions;
    const momentum = checkFraction(where, "options.momentum", o.momentum ?? 0);
    const nesterov = o.nesterov ?? false;
    if (typeof nesterov !== "boolean" || (nesterov && momentum === 0)) {
      const expected = "a boolean (true needs momentum > 0)";
      throw new FWLInputError(where, "options.nesterov", expected, describeValue(nesterov));
    }
    super(where, ctx, params, options, {
      slots: momentum > 0 ? ["momentum"] : [],
      flags: (momentum > 0 ? UPDATE_FLAGS.momentum : 0) | (nesterov ? UPDATE_FLAGS.nesterov : 0),
      decayFlag: UPDATE_FLAGS.l2Decay,
    });
    this.#momentum = momentum;
    this.#nesterov = nesterov;
  }

  /** Whether Nesterov momentum is used. */
  get nesterov(): boolean {
    return this.#nesterov;
  }

  /** Records one SGD update of a segment. */
  protected encodeUpdate(rec: Recorder, u: SegmentUpdate): void {
    sgdUpdate(rec, {
      grad: u.grad,
      clip: u.clip,
      param: u.param,
      buf: u.state[0] ?? rec.ctx.dummy(1),
      scalars: { ...u.scalars, momentum: this.#momentum },
    });
  }
}
