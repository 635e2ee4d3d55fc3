/**
 * The optimizer base: what `SGD`, `Adam` and `AdamW` share. It holds the checked
 * parameter list, the state slots and the clipping state, and drives a step: the
 * clipping passes and every parameter's update are recorded into one command encoder
 * and submitted once; each optimizer only records its update.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { type Binding, Recorder } from "../gpu/recorder.ts";
import { UPDATE_FLAGS, type UpdateScalars } from "../kernels/optimizer.ts";
import { checkNonNegative, checkNumber, checkPositive } from "../util/validate.ts";
import { GlobalNormClip } from "./clipping.ts";
import { bindingOf, type GradSource, resolveGrads } from "./grads.ts";
import { checkParams, type OptimParam, type ParamEntry } from "./params.ts";
import type { Schedule } from "./schedules.ts";
import { type OptimizerKind, type OptimizerState, StateSlots } from "./state.ts";
import { describeValue } from "../util/describe.ts";

/** Options shared by every optimizer. */
export interface OptimizerOptions {
  /** Learning rate: a number, or a schedule `step → lr` (step 0 is the first update). */
  lr: number | Schedule;
  /** Weight decay (default 0; 0.01 for `AdamW`). */
  weightDecay?: number;
  /**
   * Which parameters (or packed elements) get weight decay; default
   * {@linkcode defaultDecayFilter}: all but biases, layer-norm parameters and step sizes.
   */
  decayFilter?: (name: string) => boolean;
  /**
   * Parameters (or packed elements) clamped to ≥ 0 after each update: a list of names,
   * or a predicate. Default {@linkcode defaultNonNegative}: names ending in `_step`.
   */
  nonNegative?: readonly string[] | ((name: string) => boolean);
  /**
   * Parameters (or packed elements) learned in log space: a list of names, or a
   * predicate. The optimizer's rule runs on `u = log p` (gradient `p·∂L/∂p`) and
   * writes back `p = exp(u)`, so the stored value stays `p` and moves by factors.
   * Default {@linkcode defaultLogSpace}: names ending in `_step`. Such elements may not
   * get weight decay.
   */
  logSpace?: readonly string[] | ((name: string) => boolean);
  /**
   * A learning-rate multiplier per parameter (or packed element), applied on top of
   * `lr` and its schedule. Default {@linkcode defaultLrScale}: 10 for names ending in
   * `_step`, 1 otherwise.
   */
  lrScale?: (name: string) => number;
  /**
   * Clip the gradients by their global L2 norm over every parameter: each gradient is
   * multiplied by `clipNorm / max(‖g‖, clipNorm)`. The norm is computed on the GPU.
   */
  clipNorm?: number;
}

/** What an optimizer's update of one segment binds (for writing an optimizer). */
export interface SegmentUpdate {
  /** The gradient. */
  grad: Binding;
  /** The clipping scale (a dummy without clipping). */
  clip: Binding;
  /** The parameter's buffer. */
  param: Binding;
  /** The parameter's state slots, in the optimizer's slot order. */
  state: GPUBuffer[];
  /** The segment's scalars (learning rate and weight decay set); the optimizer adds its own. */
  scalars: UpdateScalars;
}

/** The hyper-parameters an update kernel reads but the optimizer at hand doesn't set. */
const NEUTRAL_SCALARS = { eps: 1, beta1: 0, beta2: 0, bc1: 1, bc2: 1, momentum: 0 };

/**
 * What SGD, Adam and AdamW share: parameter bookkeeping, gradient resolution, global
 * norm clipping, state I/O and disposal. Use a subclass.
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { FWLInputError, FWLStateError, SGD, tensor } from "@x/fwl";
 * import { GPUContext } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const w = ctx.pool.acquire(12);
 * const params = [{ name: "w", buffer: w, length: 3 }];
 * const opt = new SGD(ctx, params, { lr: 0.1, momentum: 0.9 });
 * await opt.step({ w: tensor(new Float32Array([1, 2, 3]), [3]) });
 * const state = await opt.state(); // what a checkpoint saves
 * assertEquals([state.step, state.slots["w/momentum"]], [1, new Float32Array([1, 2, 3])]);
 * // The state goes into another optimizer of the same kind and parameters, checked first.
 * using again = new SGD(ctx, params, { lr: 0.1, momentum: 0.9 });
 * await again.loadState(state);
 * assertEquals(again.stepCount, 1);
 * await assertRejects(() => again.loadState({ ...state, kind: "adam" }), FWLInputError);
 * // A gradient must name a parameter's values: a missing one is refused before any work.
 * await assertRejects(() => again.step({}), FWLInputError);
 * opt.dispose();
 * await assertRejects(() => opt.state(), FWLStateError);
 * ctx.pool.release(w);
 * ```
 */
export abstract class Optimizer {
  /** The GPU context the parameters live on. */
  readonly context: GPUContext;
  /** The optimizer's kind. */
  abstract readonly kind: OptimizerKind;
  readonly #where: string;
  readonly #lr: number | Schedule;
  readonly #weightDecay: number;
  readonly #entries: ParamEntry[];
  readonly #slots: StateSlots;
  readonly #clip: GlobalNormClip | undefined;
  #step = 0;
  #disposed = false;

  /**
   * Validates the parameters and options and allocates zeroed state: one buffer per
   * parameter for each slot. Every element's update carries `rule.flags`, plus
   * `rule.decayFlag` where it decays (and `weightDecay > 0`), the non-negative flag
   * where it is kept ≥ 0 and the log-space flag where it is learned in log space.
   *
   * @throws {FWLInputError} If `ctx`, `params` or `options` is bad (the message names it).
   */
  protected constructor(
    where: string,
    ctx: GPUContext,
    params: readonly OptimParam[],
    options: OptimizerOptions,
    rule: { slots: readonly string[]; flags: number; decayFlag: number },
  ) {
    this.#where = where;
    if (ctx === null || typeof ctx !== "object" || !ctx.device) {
      const expected = "a GPUContext (e.g. block.context)";
      throw new FWLInputError(where, "ctx", expected, describeValue(ctx));
    }
    this.context = ctx;
    if (options === null || typeof options !== "object") {
      const expected = "an object with at least { lr }";
      throw new FWLInputError(where, "options", expected, describeValue(options));
    }
    const { lr, clipNorm, weightDecay = 0 } = options;
    if (typeof lr !== "function") {
      const expected = "a finite number ≥ 0 or a schedule (step) => lr";
      checkNumber(where, "options.lr", lr, (v) => v >= 0, expected);
    }
    this.#lr = lr;
    const wd = this.#weightDecay = checkNonNegative(where, "options.weightDecay", weightDecay);
    if (clipNorm !== undefined) checkPositive(where, "options.clipNorm", clipNorm);
    this.#entries = checkParams(
      where,
      ctx,
      params,
      { ...options, decayOn: wd > 0 },
      (decays, nonNegative, logSpace, logComplement) =>
        rule.flags | (decays && wd > 0 ? rule.decayFlag : 0) |
        (nonNegative ? UPDATE_FLAGS.nonNegative : 0) | (logSpace ? UPDATE_FLAGS.logSpace : 0) |
        (logComplement ? UPDATE_FLAGS.logComplement : 0),
    );
    // Allocate last, so that a failed check leaks nothing.
    this.#slots = new StateSlots(ctx, this.#entries, rule.slots);
    this.#clip = clipNorm === undefined ? undefined : new GlobalNormClip(ctx, clipNorm);
  }

  /** Updates done so far. */
  get stepCount(): number {
    return this.#step;
  }

  /**
   * The learning rate the next `step` will use.
   *
   * @throws {FWLInputError} If the schedule gives a negative or non-finite rate.
   */
  get learningRate(): number {
    return this.#lrAt(this.#step);
  }

  /** The names of the parameters, in order. */
  get paramNames(): string[] {
    return this.#entries.map((e) => e.name);
  }

  /**
   * Applies one update to every parameter. `grads` maps each parameter's name to its
   * gradient (a packed parameter may instead get one 1-element gradient per element
   * name); other names are ignored. Everything is checked before anything runs.
   *
   * @throws {FWLStateError} (rejects) If the optimizer was disposed.
   * @throws {FWLInputError} (rejects) If a gradient is missing, of the wrong length or
   * dtype, disposed, one of the parameter or state buffers, or `grads` is not a record;
   * or the schedule gives a bad rate.
   * @throws {GPUKernelError} (rejects) If the GPU work fails.
   */
  async step(grads: Record<string, GradSource>): Promise<void> {
    const where = `${this.#where}.step`;
    this.#live("step");
    const lr = this.#lrAt(this.#step);
    const rec = new Recorder(this.context);
    const own = new Set([...this.#entries.map((e) => e.buffer), ...this.#slots.buffers.flat()]);
    if (this.#clip) own.add(this.#clip.buffer);
    const ops = resolveGrads(where, rec, this.#entries, own, grads);
    this.#clip?.record(rec, ops);
    const clip = this.#clip?.buffer ?? this.context.dummy(0);
    const t = this.#step + 1;
    for (const op of ops) {
      const e = op.entry;
      this.encodeUpdate(rec, {
        grad: op.grad,
        clip,
        param: bindingOf(rec, e.buffer),
        state: this.#slots.buffers[this.#entries.indexOf(e)],
        scalars: {
          ...NEUTRAL_SCALARS,
          length: op.length,
          pOffset: e.offset + op.start,
          gOffset: op.gOffset,
          sOffset: op.start,
          flags: op.flags | (this.#clip ? UPDATE_FLAGS.clip : 0),
          lr: lr * op.lrScale,
          weightDecay: this.#weightDecay,
        },
      }, t);
    }
    await rec.submit(where);
    this.#step = t;
    if (this.#clip) this.#clip.hasNorm = true;
  }

  /**
   * The global gradient norm of the last `step` (before clipping), read back from the
   * GPU; `undefined` without `clipNorm`, or before the first step since construction or
   * `loadState`.
   *
   * @throws {FWLStateError} (rejects) If the optimizer was disposed.
   */
  async lastGradNorm(): Promise<number | undefined> {
    this.#live("lastGradNorm");
    return await this.#clip?.lastNorm(`${this.#where}.lastGradNorm`);
  }

  /**
   * Reads the optimizer state back to the host (for checkpoints).
   *
   * @throws {FWLStateError} (rejects) If the optimizer was disposed.
   */
  async state(): Promise<OptimizerState> {
    this.#live("state");
    const slots = await this.#slots.read(`${this.#where}.state`);
    return { kind: this.kind, step: this.#step, slots };
  }

  /** The state keys this optimizer reads and writes, with their lengths. */
  get stateShape(): Record<string, number> {
    return this.#slots.shape;
  }

  /**
   * Throws an {@linkcode FWLInputError} saying what is wrong unless `state` fits this
   * optimizer (same kind, every slot present with the right length and finite values,
   * no unknown slot). {@linkcode Optimizer.loadState} runs it first.
   *
   * @throws {FWLInputError} If `state` does not fit this optimizer.
   */
  validateState(state: OptimizerState): void {
    this.#slots.validate(`${this.#where}.loadState`, this.kind, state);
  }

  /**
   * Replaces the state (moments and step count) with `state`, after checking all of it.
   *
   * @throws {FWLStateError} (rejects) If the optimizer was disposed.
   * @throws {FWLInputError} (rejects) If `state` does not fit this optimizer (see
   * {@linkcode Optimizer.validateState}).
   * @throws {GPUKernelError} (rejects) If writing it to the GPU fails.
   */
  async loadState(state: OptimizerState): Promise<void> {
    this.#live("loadState");
    this.validateState(state);
    this.#slots.write(state.slots);
    this.#step = state.step;
    if (this.#clip) this.#clip.hasNorm = false;
    await this.context.device.queue.onSubmittedWorkDone();
    this.context.check(`${this.#where}.loadState`);
  }

  /** Releases the state's GPU memory. The optimizer can't be used afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#slots.dispose();
    this.#clip?.dispose();
  }

  /** `using opt = new Adam(...)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Records the update of one segment; `t` is the 1-based number of this update. */
  protected abstract encodeUpdate(rec: Recorder, update: SegmentUpdate, t: number): void;

  #live(what: string): void {
    if (this.#disposed) {
      throw new FWLStateError(`${this.#where}.${what}: the optimizer was disposed`);
    }
  }

  #lrAt(step: number): number {
    const lr = this.#lr;
    if (typeof lr === "number") return lr;
    const expected = "a finite learning rate ≥ 0 from the schedule";
    return checkNumber(this.#where, `options.lr(${step})`, lr(step), (v) => v >= 0, expected);
  }
}
