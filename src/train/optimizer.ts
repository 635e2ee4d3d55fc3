/**
 * Optimizers on the GPU: {@linkcode SGD}, {@linkcode Adam} and {@linkcode AdamW} over a
 * list of named parameters living in GPU buffers, with global-norm gradient clipping
 * computed on the GPU (no readback), learning-rate schedules, weight decay that skips
 * biases, layer-norm parameters and step sizes by default, and non-negative step sizes.
 *
 * One `step` records the clipping passes and every update into one command encoder and
 * submits it once.
 *
 * @module
 */

import { FWLInputError, FWLStateError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { readBytes } from "../gpu/readback.ts";
import { type Binding, Recorder } from "../gpu/recorder.ts";
import {
  adamUpdate,
  clipScale,
  sgdUpdate,
  sumOfSquares,
  sumsqGroups,
  UPDATE_FLAGS,
  type UpdateScalars,
} from "../kernels/optimizer.ts";
import { describeValue, Tensor } from "../tensor.ts";
import type { FWLBlock } from "../fwl/block.ts";
import { STEP_NAMES } from "../fwl/params.ts";
import type { Schedule } from "./schedules.ts";

const STORAGE = 0x80;

/**
 * One named parameter the optimizer updates in place: `length` float32 values of
 * `buffer` starting at element `offset`.
 *
 * A *packed* parameter (`elementNames` given, one name per element) holds several
 * scalars in one buffer, like the block's six step sizes: weight decay and
 * non-negativity are then decided per element from the element names, and the
 * optimizer state is reported per element name.
 */
export interface OptimParam {
  /** The parameter's name (unique in the list). */
  name: string;
  /** The GPU buffer holding it (storage usage). */
  buffer: GPUBuffer;
  /** Number of float32 elements. */
  length: number;
  /** First element in `buffer` (default 0). */
  offset?: number;
  /** For a packed parameter: the name of each of its `length` elements. */
  elementNames?: readonly string[];
}

/**
 * A gradient: a GPU buffer of float32 holding the gradient from element 0, or a
 * float32 {@linkcode Tensor} (GPU-resident on the optimizer's device, or host data).
 */
export type GradSource = GPUBuffer | Tensor;

/** Options shared by every optimizer. */
export interface OptimizerOptions {
  /** Learning rate: a number, or a schedule `step → lr` (step 0 is the first update). */
  lr: number | Schedule;
  /** Weight decay (default 0; 0.01 for {@linkcode AdamW}). */
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
   * Clip the gradients by their global L2 norm over every parameter: each gradient is
   * multiplied by `clipNorm / max(‖g‖, clipNorm)`. The norm is computed on the GPU.
   */
  clipNorm?: number;
}

/** Options of {@linkcode SGD}. */
export interface SGDOptions extends OptimizerOptions {
  /** Momentum μ in [0, 1) (default 0: plain SGD, no state). */
  momentum?: number;
  /** Use Nesterov momentum (needs `momentum > 0`; default false). */
  nesterov?: boolean;
}

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
}

/** The kind of an optimizer, as stored in its state. */
export type OptimizerKind = "sgd" | "adam" | "adamw";

/**
 * An optimizer's state on the host: the number of updates done and every state slot,
 * keyed `"<name>/<slot>"` (slots `m`, `v` for Adam/AdamW, `momentum` for SGD with
 * momentum; for a packed parameter, one key per element name, each of length 1).
 */
export interface OptimizerState {
  /** Which optimizer wrote it. */
  kind: OptimizerKind;
  /** Updates done so far. */
  step: number;
  /** The state slots. */
  slots: Record<string, Float32Array>;
}

/**
 * The default weight-decay filter: `false` for biases (`…/bias`), layer-norm parameters
 * (names containing `layer_norm`) and step sizes (`…_step`); `true` otherwise.
 *
 * @example
 * ```ts
 * import { defaultDecayFilter } from "./optimizer.ts";
 * console.log(defaultDecayFilter("dense_0/kernel")); // true
 * console.log(defaultDecayFilter("dense_0/bias")); // false
 * console.log(defaultDecayFilter("layer_norm/scale")); // false
 * ```
 */
export function defaultDecayFilter(name: string): boolean {
  return !(name.endsWith("/bias") || name.includes("layer_norm") ||
    name.endsWith("_step"));
}

/**
 * The default non-negativity rule: names ending in `_step` (the learned step sizes).
 *
 * @example
 * ```ts
 * import { defaultNonNegative } from "./optimizer.ts";
 * console.log(defaultNonNegative("dense_1/kernel_step")); // true
 * ```
 */
export function defaultNonNegative(name: string): boolean {
  return name.endsWith("_step");
}

/**
 * The parameters of an {@linkcode FWLBlock} as an optimizer's list, read from
 * `block.buffers`: the eight tensors under their FWL.md §1 names, then the six step
 * sizes as ONE packed entry named `"steps"` (length 6, `elementNames` = `STEP_NAMES`),
 * since they share one buffer. Its gradient is a 6-float buffer in `STEP_NAMES` order
 * under `"steps"`, or one 1-float gradient per step name. Step sizes get no weight
 * decay and are kept ≥ 0 by default.
 *
 * The list refers to the block's current buffers: after `block.build()` again, make a
 * new optimizer.
 *
 * @example
 * ```ts ignore
 * import { Adam, blockParams } from "@x/fwl";
 * const opt = new Adam(block.context, blockParams(block), { lr: 1e-3 });
 * ```
 */
export function blockParams(block: FWLBlock): OptimParam[] {
  const b = block.buffers;
  const shapes = block.paramShapes;
  const n = (name: keyof typeof shapes) => shapes[name].reduce((x, y) => x * y, 1);
  return [
    { name: "dense_0/kernel", buffer: b.k0, length: n("dense_0/kernel") },
    { name: "dense_0/bias", buffer: b.b0, length: n("dense_0/bias") },
    { name: "dense_1/kernel", buffer: b.k1, length: n("dense_1/kernel") },
    { name: "dense_1/bias", buffer: b.b1, length: n("dense_1/bias") },
    {
      name: "layer_norm/scale",
      buffer: b.scale,
      length: n("layer_norm/scale"),
    },
    { name: "layer_norm/bias", buffer: b.bias, length: n("layer_norm/bias") },
    { name: "unembed/kernel", buffer: b.ku, length: n("unembed/kernel") },
    { name: "unembed/bias", buffer: b.bu, length: n("unembed/bias") },
    {
      name: "steps",
      buffer: b.steps,
      length: STEP_NAMES.length,
      elementNames: STEP_NAMES,
    },
  ];
}

/** A run of elements of one parameter sharing their flags. */
interface Segment {
  start: number;
  length: number;
  flags: number;
}

interface Entry {
  name: string;
  buffer: GPUBuffer;
  offset: number;
  length: number;
  elementNames: readonly string[] | undefined;
  segments: Segment[];
  /** One buffer per slot (same order as the optimizer's slot names). */
  state: GPUBuffer[];
}

/** One gradient segment resolved for a step. */
interface GradOp {
  entry: Entry;
  /** Element of the parameter (and state) where the op starts. */
  start: number;
  length: number;
  flags: number;
  grad: Binding;
  gOffset: number;
}

function checkNumber(
  where: string,
  name: string,
  value: unknown,
  ok: (v: number) => boolean,
  expected: string,
): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
    throw new FWLInputError(where, name, expected, describeValue(value));
  }
  return value;
}

function quote(name: string): string {
  return JSON.stringify(name);
}

/**
 * What SGD, Adam and AdamW share: parameter bookkeeping, gradient resolution, global
 * norm clipping, state I/O and disposal. Use a subclass.
 */
export abstract class Optimizer {
  /** The GPU context the parameters live on. */
  readonly context: GPUContext;
  /** The optimizer's kind. */
  abstract readonly kind: OptimizerKind;
  readonly #where: string;
  readonly #lr: number | Schedule;
  readonly #clipNorm: number | undefined;
  readonly #slots: readonly string[];
  readonly #entries: Entry[];
  #clip: GPUBuffer | undefined;
  #step = 0;
  #normValid = false;
  #disposed = false;

  /** Validates the parameters and options and allocates zeroed state. */
  protected constructor(
    where: string,
    ctx: GPUContext,
    params: readonly OptimParam[],
    options: OptimizerOptions,
    slots: readonly string[],
    flagsOf: (decays: boolean, nonNegative: boolean) => number,
  ) {
    this.#where = where;
    if (ctx === null || typeof ctx !== "object" || !ctx.device) {
      throw new FWLInputError(
        where,
        "ctx",
        "a GPUContext (e.g. block.context)",
        describeValue(ctx),
      );
    }
    this.context = ctx;
    if (options === null || typeof options !== "object") {
      throw new FWLInputError(
        where,
        "options",
        "an object with at least { lr }",
        describeValue(options),
      );
    }
    const lr = options.lr;
    if (typeof lr !== "function") {
      checkNumber(
        where,
        "options.lr",
        lr,
        (v) => v >= 0,
        "a finite number ≥ 0 or a schedule (step) => lr",
      );
    }
    this.#lr = lr;
    if (options.clipNorm !== undefined) {
      checkNumber(
        where,
        "options.clipNorm",
        options.clipNorm,
        (v) => v > 0,
        "a finite number > 0",
      );
    }
    this.#clipNorm = options.clipNorm;
    const decayFilter = options.decayFilter ?? defaultDecayFilter;
    if (typeof decayFilter !== "function") {
      throw new FWLInputError(
        where,
        "options.decayFilter",
        "a function (name) => boolean",
        describeValue(decayFilter),
      );
    }
    const nonNegative = nonNegativePredicate(where, options.nonNegative);
    this.#slots = slots;
    const checked = checkParams(where, ctx, params);
    this.#entries = checked.map((p) => {
      const names = p.elementNames ?? Array(p.length).fill(p.name);
      const flags = names.map((n) => flagsOf(Boolean(decayFilter(n)), Boolean(nonNegative(n))));
      return {
        ...p,
        segments: segmentsOf(flags),
        state: [],
      };
    });
    // Allocate last, so that a failed check leaks nothing.
    for (const e of this.#entries) {
      e.state = slots.map(() => ctx.pool.acquire(e.length * 4));
    }
    if (this.#clipNorm !== undefined) this.#clip = ctx.pool.acquire(16);
    const zeros = (b: GPUBuffer) =>
      ctx.device.queue.writeBuffer(b, 0, new Float32Array(b.size / 4));
    for (const e of this.#entries) e.state.forEach(zeros);
    if (this.#clip) zeros(this.#clip);
  }

  /** Updates done so far. */
  get stepCount(): number {
    return this.#step;
  }

  /** The learning rate the next `step` will use. */
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
   */
  async step(grads: Record<string, GradSource>): Promise<void> {
    const where = `${this.#where}.step`;
    this.#live("step");
    const ctx = this.context;
    const lr = this.#lrAt(this.#step);
    if (grads === null || typeof grads !== "object") {
      throw new FWLInputError(
        where,
        "grads",
        "a record of parameter name → GPUBuffer or Tensor",
        describeValue(grads),
      );
    }
    const rec = new Recorder(ctx);
    const ops = this.#resolveGrads(where, grads, rec);
    let clip: Binding = ctx.dummy(0);
    if (this.#clip && this.#clipNorm !== undefined) {
      const count = ops.reduce((s, op) => s + sumsqGroups(op.length), 0);
      const partials = rec.scratch(count * 4);
      let base = 0;
      for (const op of ops) {
        sumOfSquares(rec, {
          grad: op.grad,
          gOffset: op.gOffset,
          length: op.length,
          partials,
          partBase: base,
        });
        base += sumsqGroups(op.length);
      }
      clipScale(rec, {
        partials,
        count,
        clip: this.#clip,
        clipNorm: this.#clipNorm,
      });
      clip = this.#clip;
    }
    const t = this.#step + 1;
    for (const op of ops) {
      const e = op.entry;
      this.encodeUpdate(rec, {
        grad: op.grad,
        clip,
        param: bindingOf(ctx, e.buffer),
        state: e.state,
        scalars: {
          length: op.length,
          pOffset: e.offset + op.start,
          gOffset: op.gOffset,
          sOffset: op.start,
          flags: op.flags | (this.#clip ? UPDATE_FLAGS.clip : 0),
          lr,
          weightDecay: 0,
          eps: 1,
          beta1: 0,
          beta2: 0,
          bc1: 1,
          bc2: 1,
          momentum: 0,
        },
        t,
      });
    }
    await rec.submit(where);
    this.#step = t;
    this.#normValid = this.#clip !== undefined;
  }

  /**
   * The global gradient norm of the last `step` (before clipping), read back from the
   * GPU; `undefined` without `clipNorm`, or before the first step since construction or
   * `loadState`.
   */
  async lastGradNorm(): Promise<number | undefined> {
    this.#live("lastGradNorm");
    if (!this.#clip || !this.#normValid) return undefined;
    const bytes = await readBytes(
      this.context,
      this.#clip,
      8,
      `${this.#where}.lastGradNorm`,
    );
    return new Float32Array(bytes)[1];
  }

  /** Reads the optimizer state back to the host (for checkpoints). */
  async state(): Promise<OptimizerState> {
    const where = `${this.#where}.state`;
    this.#live("state");
    const slots: Record<string, Float32Array> = {};
    for (const e of this.#entries) {
      for (let s = 0; s < this.#slots.length; s++) {
        const data = new Float32Array(
          await readBytes(this.context, e.state[s], e.length * 4, where),
        );
        if (e.elementNames) {
          e.elementNames.forEach((n, i) => {
            slots[`${n}/${this.#slots[s]}`] = data.slice(i, i + 1);
          });
        } else {
          slots[`${e.name}/${this.#slots[s]}`] = data;
        }
      }
    }
    return { kind: this.kind, step: this.#step, slots };
  }

  /** The state keys this optimizer reads and writes, with their lengths. */
  get stateShape(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const e of this.#entries) {
      for (const slot of this.#slots) {
        if (e.elementNames) {
          for (const n of e.elementNames) out[`${n}/${slot}`] = 1;
        } else {
          out[`${e.name}/${slot}`] = e.length;
        }
      }
    }
    return out;
  }

  /**
   * Throws an {@linkcode FWLInputError} saying what is wrong unless `state` fits this
   * optimizer (same kind, every slot present with the right length and finite values,
   * no unknown slot). {@linkcode Optimizer.loadState} runs it first.
   */
  validateState(state: OptimizerState): void {
    const where = `${this.#where}.loadState`;
    if (state === null || typeof state !== "object") {
      throw new FWLInputError(
        where,
        "state",
        "an OptimizerState { kind, step, slots }",
        describeValue(state),
      );
    }
    if (state.kind !== this.kind) {
      throw new FWLInputError(
        where,
        "state.kind",
        quote(this.kind),
        describeValue(state.kind),
      );
    }
    checkNumber(
      where,
      "state.step",
      state.step,
      (v) => Number.isInteger(v) && v >= 0,
      "an integer ≥ 0",
    );
    const slots = state.slots;
    if (slots === null || typeof slots !== "object") {
      throw new FWLInputError(
        where,
        "state.slots",
        "a record of Float32Array",
        describeValue(slots),
      );
    }
    const shape = this.stateShape;
    for (const key of Object.keys(slots)) {
      if (!(key in shape)) {
        const known = Object.keys(shape);
        throw new FWLInputError(
          where,
          `state.slots[${quote(key)}]`,
          known.length
            ? `one of ${known.map(quote).join(", ")}`
            : "no slots (this optimizer has no state)",
          "an unknown slot",
        );
      }
    }
    for (const [key, length] of Object.entries(shape)) {
      const v = slots[key];
      const arg = `state.slots[${quote(key)}]`;
      if (v === undefined) {
        throw new FWLInputError(
          where,
          arg,
          `a Float32Array of ${length}`,
          "nothing (missing)",
        );
      }
      if (!(v instanceof Float32Array)) {
        throw new FWLInputError(
          where,
          arg,
          `a Float32Array of ${length}`,
          describeValue(v),
        );
      }
      if (v.length !== length) {
        throw new FWLInputError(
          where,
          arg,
          `${length} values`,
          `${v.length}`,
        );
      }
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) {
          throw new FWLInputError(
            where,
            arg,
            "finite values",
            `${v[i]} at index ${i}`,
          );
        }
      }
    }
  }

  /** Replaces the state (moments and step count) with `state`, after checking all of it. */
  async loadState(state: OptimizerState): Promise<void> {
    this.#live("loadState");
    this.validateState(state);
    const q = this.context.device.queue;
    for (const e of this.#entries) {
      for (let s = 0; s < this.#slots.length; s++) {
        const slot = this.#slots[s];
        const data = e.elementNames
          ? Float32Array.from(
            e.elementNames,
            (n) => state.slots[`${n}/${slot}`][0],
          )
          : state.slots[`${e.name}/${slot}`];
        q.writeBuffer(e.state[s], 0, data as Float32Array<ArrayBuffer>);
      }
    }
    this.#step = state.step;
    this.#normValid = false;
    await q.onSubmittedWorkDone();
    this.context.check(`${this.#where}.loadState`);
  }

  /** Releases the state's GPU memory. The optimizer can't be used afterwards. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    const pool = this.context.pool;
    for (const e of this.#entries) {
      for (const b of e.state) pool.release(b);
      e.state = [];
    }
    if (this.#clip) pool.release(this.#clip);
    this.#clip = undefined;
  }

  /** `using opt = new Adam(...)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Records the update of one segment (implemented by each optimizer). */
  protected abstract encodeUpdate(
    rec: Recorder,
    o: {
      grad: Binding;
      clip: Binding;
      param: Binding;
      state: GPUBuffer[];
      scalars: UpdateScalars;
      /** The 1-based number of this update. */
      t: number;
    },
  ): void;

  #live(what: string): void {
    if (this.#disposed) {
      throw new FWLStateError(
        `${this.#where}.${what}: the optimizer was disposed`,
      );
    }
  }

  #lrAt(step: number): number {
    const lr = this.#lr;
    if (typeof lr === "number") return lr;
    const value = lr(step);
    return checkNumber(
      this.#where,
      `options.lr(${step})`,
      value,
      (v) => v >= 0,
      "a finite learning rate ≥ 0 from the schedule",
    );
  }

  #resolveGrads(
    where: string,
    grads: Record<string, GradSource>,
    rec: Recorder,
  ): GradOp[] {
    const ctx = this.context;
    const own = new Set<GPUBuffer>();
    for (const e of this.#entries) {
      own.add(e.buffer);
      for (const b of e.state) own.add(b);
    }
    if (this.#clip) own.add(this.#clip);
    const checkBuffer = (arg: string, buffer: GPUBuffer): Binding => {
      if (own.has(buffer)) {
        throw new FWLInputError(
          where,
          arg,
          "a buffer other than the parameters and the optimizer state",
          "a parameter or state buffer",
        );
      }
      return bindingOf(ctx, buffer);
    };
    /** A GPU binding, or host data to upload once every check has passed. */
    const resolve = (
      key: string,
      value: unknown,
      length: number,
    ): Binding | Float32Array => {
      const arg = `grads[${quote(key)}]`;
      const expected = `a GPUBuffer or float32 Tensor of ${length} values`;
      if (value instanceof Tensor) {
        if (value.disposed) {
          throw new FWLInputError(where, arg, expected, "a disposed tensor");
        }
        if (value.dtype !== "float32" || value.size !== length) {
          throw new FWLInputError(
            where,
            arg,
            expected,
            `a ${value.dtype} tensor of shape [${value.shape.join(", ")}]`,
          );
        }
        const buffer = value.gpuBuffer(ctx);
        return buffer ? checkBuffer(arg, buffer) : value.hostData as Float32Array;
      }
      if (!(value instanceof GPUBuffer)) {
        throw new FWLInputError(
          where,
          arg,
          expected,
          value === undefined ? "nothing (missing)" : describeValue(value),
        );
      }
      if ((value.usage & STORAGE) === 0 || value.size < length * 4) {
        throw new FWLInputError(
          where,
          arg,
          `${expected} (storage usage, ≥ ${length * 4} bytes)`,
          `a buffer of ${value.size} bytes with usage ${value.usage}`,
        );
      }
      return checkBuffer(arg, value);
    };

    const planned: (Omit<GradOp, "grad"> & { src: Binding | Float32Array })[] = [];
    for (const e of this.#entries) {
      const whole = grads[e.name];
      if (whole !== undefined || !e.elementNames) {
        const src = resolve(e.name, whole, e.length);
        for (const s of e.segments) {
          planned.push({
            entry: e,
            start: s.start,
            length: s.length,
            flags: s.flags,
            gOffset: s.start,
            src,
          });
        }
        continue;
      }
      const names = e.elementNames;
      const missing = names.filter((n) => grads[n] === undefined);
      if (missing.length > 0) {
        const some = missing.length < names.length;
        throw new FWLInputError(
          where,
          `grads[${quote(some ? missing[0] : e.name)}]`,
          some
            ? `a gradient for every element of ${quote(e.name)} (or one for ${
              quote(e.name)
            } itself)`
            : `a GPUBuffer or float32 Tensor of ${e.length} values (or one of 1 value for each of ${
              names.map(quote).join(", ")
            })`,
          "nothing (missing)",
        );
      }
      for (const s of e.segments) {
        for (let i = s.start; i < s.start + s.length; i++) {
          planned.push({
            entry: e,
            start: i,
            length: 1,
            flags: s.flags,
            gOffset: 0,
            src: resolve(names[i], grads[names[i]], 1),
          });
        }
      }
    }
    // Every check passed: upload each distinct host array once, into scratch.
    const uploaded = new Map<Float32Array, GPUBuffer>();
    return planned.map(({ src, ...op }) => {
      if (!(src instanceof Float32Array)) return { ...op, grad: src };
      let b = uploaded.get(src);
      if (!b) {
        b = rec.scratch(src.byteLength);
        ctx.device.queue.writeBuffer(b, 0, src as Float32Array<ArrayBuffer>);
        uploaded.set(src, b);
      }
      return { ...op, grad: b };
    });
  }
}

/** A buffer bound whole, or its first `maxBindingBytes` when it is larger. */
function bindingOf(ctx: GPUContext, buffer: GPUBuffer): Binding {
  const max = ctx.maxBindingBytes;
  if (buffer.size <= max) return buffer;
  return { buffer, offset: 0, size: Math.floor(max / 4) * 4 };
}

function nonNegativePredicate(
  where: string,
  option: OptimizerOptions["nonNegative"],
): (name: string) => boolean {
  if (option === undefined) return defaultNonNegative;
  if (typeof option === "function") return option;
  if (Array.isArray(option) && option.every((n) => typeof n === "string")) {
    const set = new Set(option);
    return (name) => set.has(name);
  }
  throw new FWLInputError(
    where,
    "options.nonNegative",
    "an array of names or a function (name) => boolean",
    describeValue(option),
  );
}

/** Runs of equal flags. */
function segmentsOf(flags: number[]): Segment[] {
  const out: Segment[] = [];
  for (let i = 0; i < flags.length; i++) {
    const last = out[out.length - 1];
    if (last && last.flags === flags[i]) last.length++;
    else out.push({ start: i, length: 1, flags: flags[i] });
  }
  return out;
}

function checkParams(
  where: string,
  ctx: GPUContext,
  params: readonly OptimParam[],
): Omit<Entry, "segments" | "state">[] {
  if (!Array.isArray(params) || params.length === 0) {
    throw new FWLInputError(
      where,
      "params",
      "a non-empty array of { name, buffer, length }",
      describeValue(params),
    );
  }
  const names = new Set<string>();
  const claim = (arg: string, name: string) => {
    if (names.has(name)) {
      throw new FWLInputError(
        where,
        arg,
        "a name used once",
        `${quote(name)} again`,
      );
    }
    names.add(name);
  };
  const out = params.map((p, i) => {
    const arg = `params[${i}]`;
    if (p === null || typeof p !== "object") {
      throw new FWLInputError(
        where,
        arg,
        "{ name, buffer, length, offset?, elementNames? }",
        describeValue(p),
      );
    }
    if (typeof p.name !== "string" || p.name === "") {
      throw new FWLInputError(
        where,
        `${arg}.name`,
        "a non-empty string",
        describeValue(p.name),
      );
    }
    claim(`${arg}.name`, p.name);
    const at = `params[${quote(p.name)}]`;
    if (!(p.buffer instanceof GPUBuffer) || (p.buffer.usage & STORAGE) === 0) {
      throw new FWLInputError(
        where,
        `${at}.buffer`,
        "a GPUBuffer with storage usage",
        describeValue(p.buffer),
      );
    }
    const length = checkNumber(
      where,
      `${at}.length`,
      p.length,
      (v) => Number.isInteger(v) && v >= 1,
      "a positive integer",
    );
    const offset = checkNumber(
      where,
      `${at}.offset`,
      p.offset ?? 0,
      (v) => Number.isInteger(v) && v >= 0,
      "an integer ≥ 0",
    );
    const end = (offset + length) * 4;
    const limit = Math.min(p.buffer.size, ctx.maxBindingBytes);
    if (end > limit) {
      throw new FWLInputError(
        where,
        at,
        `elements [offset, offset + length) inside the buffer's first ${limit} bytes`,
        `bytes [${offset * 4}, ${end})`,
      );
    }
    let elementNames: readonly string[] | undefined;
    if (p.elementNames !== undefined) {
      const en = p.elementNames;
      if (
        !Array.isArray(en) || en.length !== length ||
        !en.every((n) => typeof n === "string" && n !== "")
      ) {
        throw new FWLInputError(
          where,
          `${at}.elementNames`,
          `${length} non-empty strings (one per element)`,
          Array.isArray(en) ? `${en.length} entries` : describeValue(en),
        );
      }
      for (const n of en) claim(`${at}.elementNames`, n);
      elementNames = [...en];
    }
    return { name: p.name, buffer: p.buffer, offset, length, elementNames };
  });
  for (let i = 0; i < out.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = out[i], b = out[j];
      if (
        a.buffer === b.buffer && a.offset < b.offset + b.length &&
        b.offset < a.offset + a.length
      ) {
        throw new FWLInputError(
          where,
          `params[${quote(a.name)}]`,
          "elements that no other parameter uses",
          `an overlap with ${quote(b.name)} in the same buffer`,
        );
      }
    }
  }
  return out;
}

/**
 * Stochastic gradient descent, optionally with momentum (PyTorch's form:
 * `buf = μ·buf + g`, `p −= lr·buf`; Nesterov: `p −= lr·(g + μ·buf)`) and coupled
 * weight decay (`g += wd·p` for the parameters {@linkcode OptimizerOptions.decayFilter}
 * accepts).
 *
 * @example
 * ```ts ignore
 * import { blockParams, SGD } from "@x/fwl";
 * const opt = new SGD(block.context, blockParams(block), { lr: 0.1, momentum: 0.9 });
 * await opt.step(grads);
 * ```
 */
export class SGD extends Optimizer {
  /** `"sgd"`. */
  readonly kind: OptimizerKind = "sgd";
  readonly #momentum: number;
  readonly #nesterov: boolean;
  readonly #weightDecay: number;

  /**
   * Creates the optimizer and its GPU state (zeroed).
   *
   * @param ctx the GPU context of the parameters (e.g. `block.context`)
   * @param params the parameters to update (e.g. {@linkcode blockParams}`(block)`)
   * @param options learning rate (or schedule), momentum, weight decay, clipping, …
   */
  constructor(
    ctx: GPUContext,
    params: readonly OptimParam[],
    options: SGDOptions,
  ) {
    const where = "SGD";
    const o = options ?? {} as SGDOptions;
    const momentum = checkNumber(
      where,
      "options.momentum",
      o.momentum ?? 0,
      (v) => v >= 0 && v < 1,
      "a number in [0, 1)",
    );
    const nesterov = o.nesterov ?? false;
    if (typeof nesterov !== "boolean" || (nesterov && momentum === 0)) {
      throw new FWLInputError(
        where,
        "options.nesterov",
        "a boolean (true needs momentum > 0)",
        describeValue(nesterov),
      );
    }
    const wd = checkNumber(
      where,
      "options.weightDecay",
      o.weightDecay ?? 0,
      (v) => v >= 0,
      "a finite number ≥ 0",
    );
    super(
      where,
      ctx,
      params,
      options,
      momentum > 0 ? ["momentum"] : [],
      (decays, nonNeg) =>
        (decays && wd > 0 ? UPDATE_FLAGS.l2Decay : 0) |
        (nonNeg ? UPDATE_FLAGS.nonNegative : 0) |
        (momentum > 0 ? UPDATE_FLAGS.momentum : 0) |
        (nesterov ? UPDATE_FLAGS.nesterov : 0),
    );
    this.#momentum = momentum;
    this.#nesterov = nesterov;
    this.#weightDecay = wd;
  }

  /** Whether Nesterov momentum is used. */
  get nesterov(): boolean {
    return this.#nesterov;
  }

  /** Records one SGD update of a segment. */
  protected encodeUpdate(
    rec: Recorder,
    o: {
      grad: Binding;
      clip: Binding;
      param: Binding;
      state: GPUBuffer[];
      scalars: UpdateScalars;
    },
  ): void {
    sgdUpdate(rec, {
      grad: o.grad,
      clip: o.clip,
      param: o.param,
      buf: o.state[0] ?? rec.ctx.dummy(1),
      scalars: {
        ...o.scalars,
        weightDecay: this.#weightDecay,
        momentum: this.#momentum,
      },
    });
  }
}

/**
 * Adam (Kingma & Ba): `m = β1·m + (1−β1)·g`, `v = β2·v + (1−β2)·g²`,
 * `p −= lr · m̂ / (sqrt(v̂) + ε)` with `m̂ = m / (1 − β1^t)`, `v̂ = v / (1 − β2^t)`
 * (bias correction on by default). A `weightDecay` here is coupled L2 (`g += wd·p`,
 * as PyTorch's `Adam`); for decoupled decay use {@linkcode AdamW}.
 *
 * @example
 * ```ts ignore
 * import { Adam, blockParams, warmupCosineSchedule } from "@x/fwl";
 * const lr = warmupCosineSchedule({ peak: 1e-3, warmupSteps: 100, totalSteps: 10_000 });
 * const opt = new Adam(block.context, blockParams(block), { lr, clipNorm: 1 });
 * await opt.step(grads);
 * const state = await opt.state(); // moments as Float32Arrays
 * ```
 */
export class Adam extends Optimizer {
  /** `"adam"` (or `"adamw"` for {@linkcode AdamW}). */
  readonly kind: OptimizerKind;
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #eps: number;
  readonly #biasCorrection: boolean;
  readonly #weightDecay: number;

  /**
   * Creates the optimizer and its GPU state (zeroed).
   *
   * @param ctx the GPU context of the parameters (e.g. `block.context`)
   * @param params the parameters to update (e.g. {@linkcode blockParams}`(block)`)
   * @param options learning rate (or schedule), betas, ε, weight decay, clipping, …
   */
  constructor(
    ctx: GPUContext,
    params: readonly OptimParam[],
    options: AdamOptions,
  ) {
    const decoupled = new.target === AdamW;
    const where = decoupled ? "AdamW" : "Adam";
    const o = options ?? {} as AdamOptions;
    const unit = (name: string, value: number) =>
      checkNumber(
        where,
        `options.${name}`,
        value,
        (v) => v >= 0 && v < 1,
        "a number in [0, 1)",
      );
    const beta1 = unit("beta1", o.beta1 ?? 0.9);
    const beta2 = unit("beta2", o.beta2 ?? 0.999);
    const eps = checkNumber(
      where,
      "options.eps",
      o.eps ?? 1e-8,
      (v) => v > 0,
      "a finite number > 0",
    );
    const biasCorrection = o.biasCorrection ?? true;
    if (typeof biasCorrection !== "boolean") {
      throw new FWLInputError(
        where,
        "options.biasCorrection",
        "a boolean",
        describeValue(biasCorrection),
      );
    }
    const wd = checkNumber(
      where,
      "options.weightDecay",
      o.weightDecay ?? (decoupled ? 0.01 : 0),
      (v) => v >= 0,
      "a finite number ≥ 0",
    );
    const decayFlag = decoupled ? UPDATE_FLAGS.decoupledDecay : UPDATE_FLAGS.l2Decay;
    super(
      where,
      ctx,
      params,
      options,
      ["m", "v"],
      (decays, nonNeg) =>
        (decays && wd > 0 ? decayFlag : 0) |
        (nonNeg ? UPDATE_FLAGS.nonNegative : 0),
    );
    this.kind = decoupled ? "adamw" : "adam";
    this.#beta1 = beta1;
    this.#beta2 = beta2;
    this.#eps = eps;
    this.#biasCorrection = biasCorrection;
    this.#weightDecay = wd;
  }

  /** Records one Adam update of a segment. */
  protected encodeUpdate(
    rec: Recorder,
    o: {
      grad: Binding;
      clip: Binding;
      param: Binding;
      state: GPUBuffer[];
      scalars: UpdateScalars;
      t: number;
    },
  ): void {
    const b1 = this.#beta1, b2 = this.#beta2;
    adamUpdate(rec, {
      grad: o.grad,
      clip: o.clip,
      param: o.param,
      m: o.state[0],
      v: o.state[1],
      scalars: {
        ...o.scalars,
        weightDecay: this.#weightDecay,
        eps: this.#eps,
        beta1: b1,
        beta2: b2,
        bc1: this.#biasCorrection ? 1 - b1 ** o.t : 1,
        bc2: this.#biasCorrection ? 1 - b2 ** o.t : 1,
      },
    });
  }
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter, PyTorch's `AdamW`):
 * `p −= lr·wd·p` before the Adam step, for the parameters
 * {@linkcode OptimizerOptions.decayFilter} accepts (by default not biases, layer-norm
 * parameters or step sizes). `weightDecay` defaults to 0.01.
 *
 * @example
 * ```ts ignore
 * import { AdamW, blockParams } from "@x/fwl";
 * const opt = new AdamW(block.context, blockParams(block), { lr: 1e-3, weightDecay: 0.1 });
 * await opt.step(grads);
 * ```
 */
export class AdamW extends Adam {}
