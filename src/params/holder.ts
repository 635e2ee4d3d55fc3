/**
 * The one parameter lifecycle of every holder (the FWL head and the built-in bodies):
 * create, build, get/set, gradients, dispose, with one set of rules.
 *
 * - **build**: every size is checked against the device before anything is allocated;
 *   building again starts afresh (new initial values from the holder's seed), and the
 *   old buffers (with the saved activations and live states made from them) are released
 *   only once the new ones exist. A build that fails leaves the holder as it was.
 * - **get/set**: `getParams()` reads every parameter by name; `setParams(values)` takes
 *   any subset of the names; an unknown name, a wrong length or a non-finite value throws
 *   an `FWLInputError` before anything is written.
 * - **gradients**: a holder that trains keeps a zeroed gradient buffer per parameter
 *   (`getGrads()`, `parameters()`).
 * - **dispose**: idempotent; afterwards every other call throws an `FWLStateError`;
 *   `using` works.
 *
 * A holder composes a {@linkcode ParamLifecycle} and forwards to it; see
 * `src/bodies/model_body.ts` for a body written that way.
 *
 * @module
 */

import { FWLError, FWLStateError } from "../errors.ts";
import { GPUContext } from "../gpu/context.ts";
import type { BodyParameter } from "./parameter.ts";
import { type ParamSpec, ParamStore, specShapes } from "./store.ts";

/**
 * What the FWL head and the built-in bodies offer around their parameters (each holds
 * them in a {@linkcode ParamLifecycle}): every shape by name, reading them back, and
 * replacing any of them after checking everything. Checkpoints read and write through it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import type { ParamHolder } from "@x/fwl/gpu";
 * import { LSTMBody } from "@x/fwl";
 * using body = await LSTMBody.create({ vocabSize: 5, embedSize: 2, hiddenSize: 3 });
 * const holder: ParamHolder = body; // or an FWLBlock, a TransformerBody
 * await holder.setParams({ embedding: new Float32Array(10).fill(0.5) }); // any subset
 * assertEquals(holder.paramShapes.embedding, [5, 2]);
 * assertEquals((await holder.getParams()).embedding[0], 0.5);
 * ```
 */
export interface ParamHolder {
  /** Every parameter's shape, by name. */
  readonly paramShapes: Record<string, number[]>;
  /** Reads every parameter back from the GPU, by name. */
  getParams(): Promise<Record<string, Float32Array>>;
  /**
   * Replaces any subset of the parameters, by name; everything is checked before
   * anything is written.
   */
  setParams(params: Record<string, Float32Array>): Promise<void>;
}

/** A holder's parameter buffers and how they start. */
export interface ParamLayout {
  /** The buffers, in order (see {@linkcode ParamSpec}). */
  readonly specs: readonly ParamSpec[];
  /** The initial value of every parameter, by name (deterministic: from the holder's seed). */
  init(): Record<string, Float32Array>;
}

/**
 * A layout of plain (unpacked) buffers: one per `[name, shape]`, in order.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { layoutOf } from "./holder.ts";
 * const layout = layoutOf([["w", [2, 3]]], () => ({ w: new Float32Array(6) }));
 * assertEquals(layout.specs, [{ name: "w", shape: [2, 3] }]);
 * ```
 */
export function layoutOf(
  shapes: Iterable<readonly [string, readonly number[]]>,
  init: () => Record<string, Float32Array>,
): ParamLayout {
  return { specs: [...shapes].map(([name, shape]) => ({ name, shape })), init };
}

/** How a {@linkcode ParamLifecycle} names its holder and what it keeps. */
export interface ParamLifecycleOptions {
  /** The holder's name, the start of every message (e.g. `"LSTMBody"`). */
  readonly where: string;
  /** What the holder is, in the "was disposed" message (e.g. `"body"`). */
  readonly noun: string;
  /** What to do before use, in the "not built" message (e.g. `"call build() first"`). */
  readonly buildHint: string;
  /** Whether every parameter has a gradient buffer (a holder that trains). */
  readonly grads: boolean;
  /** The device to build on (default: the shared high-performance device). */
  readonly device?: GPUDevice;
  /** The layout, when it is known before `build` (a body's); else `build` is given one. */
  readonly layout?: () => ParamLayout;
  /**
   * Releases what the holder made from its parameters (e.g. a forward's saved
   * activations) to `ctx`'s pool: called when a rebuild replaces them and on dispose.
   */
  readonly release?: (ctx: GPUContext) => void;
}

/** Something made from a holder's parameters that dies with them (a generation state). */
export interface Dependent {
  /** Releases it (called at most once by the lifecycle; must tolerate repeats). */
  dispose(): void;
}

/**
 * The parameter lifecycle a holder composes (see the module notes for the rules).
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects, assertThrows } from "@std/assert";
 * import { FWLInputError, FWLStateError } from "@x/fwl";
 * import { ParamLifecycle } from "./holder.ts";
 * const layout = () => ({
 *   specs: [{ name: "w", shape: [2] }, { name: "b", shape: [1] }],
 *   init: () => ({ w: new Float32Array([1, 2]), b: new Float32Array([3]) }),
 * });
 * const params = new ParamLifecycle({
 *   where: "Demo", noun: "demo", buildHint: "call build() first", grads: true, layout,
 * });
 * assertEquals(params.built, false);
 * assertEquals(params.paramShapes, { w: [2], b: [1] }); // known before build here
 * await params.build();
 * await params.setParams({ b: new Float32Array([4]) }); // any subset
 * assertEquals(await params.getParams(), { w: new Float32Array([1, 2]), b: new Float32Array([4]) });
 * await assertRejects(() => params.setParams({ c: new Float32Array(1) }), FWLInputError);
 * await params.build(); // afresh
 * assertEquals((await params.getParams()).b, new Float32Array([3]));
 * assertEquals((await params.getGrads()).w, new Float32Array(2));
 * params.dispose();
 * params.dispose(); // idempotent
 * assertThrows(() => params.parameters(), FWLStateError, "Demo.parameters: the demo was disposed");
 * ```
 */
export class ParamLifecycle implements ParamHolder, Disposable {
  readonly #options: ParamLifecycleOptions;
  #ctx: GPUContext | undefined;
  #store: ParamStore | undefined;
  #disposed = false;
  readonly #dependents = new Set<Dependent>();

  /** An unbuilt lifecycle; {@linkcode build} allocates the parameters. */
  constructor(options: ParamLifecycleOptions) {
    this.#options = options;
  }

  /** Whether the parameters are allocated (false again after `dispose`). */
  get built(): boolean {
    return this.#store !== undefined;
  }

  /** Whether `dispose` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * The GPU context (needs `build`).
   *
   * @throws {FWLStateError} If the holder was disposed or is not built.
   */
  get context(): GPUContext {
    return this.live("context").ctx;
  }

  /**
   * The context and the store, for the holder's own methods; `what` names the method in
   * the error.
   *
   * @throws {FWLStateError} If the holder was disposed or is not built.
   */
  live(what: string): { ctx: GPUContext; store: ParamStore } {
    this.checkNotDisposed(what);
    if (!this.#store || !this.#ctx) {
      throw new FWLStateError(`${this.#options.where}.${what}: ${this.#options.buildHint}`);
    }
    return { ctx: this.#ctx, store: this.#store };
  }

  /**
   * Throws unless the holder is live (built or not).
   *
   * @throws {FWLStateError} If the holder was disposed.
   */
  checkNotDisposed(what: string): void {
    if (this.#disposed) {
      throw new FWLStateError(
        `${this.#options.where}.${what}: the ${this.#options.noun} was disposed`,
      );
    }
  }

  /**
   * Every parameter's shape by name (a packed buffer's elements as `[]`): the built
   * layout's, or before `build` the layout given at construction.
   *
   * @throws {FWLStateError} If the holder was disposed, or is not built and its layout
   * comes with `build`.
   */
  get paramShapes(): Record<string, number[]> {
    this.checkNotDisposed("paramShapes");
    if (this.#store) return this.#store.shapes;
    const layout = this.#options.layout;
    if (!layout) return this.live("paramShapes").store.shapes; // throws "not built"
    return specShapes(layout().specs);
  }

  /**
   * Allocates and initializes the parameters: `plan()` (called once the holder is known
   * to be live, so it may check the build's arguments) or the layout given at
   * construction. Sizes are checked before anything is allocated; building again starts
   * afresh, and the old buffers, with the dependents and saved activations made from
   * them, are released only once the new ones exist. Nothing changes when it throws.
   *
   * @throws {FWLStateError} If the holder was disposed (before or during the build).
   * @throws {FWLSizeError} If a parameter is larger than the device's buffer or binding limit.
   */
  async build(plan?: () => ParamLayout): Promise<ParamStore> {
    const { where, device, grads } = this.#options;
    this.checkNotDisposed("build");
    const layout = (plan ?? this.#options.layout)?.();
    if (!layout) throw new FWLError(`${where}.build: no parameter layout`);
    const ctx = device ? GPUContext.forDevice(device) : await GPUContext.default();
    const store = ParamStore.create(ctx, `${where}.build`, layout.specs, layout.init, { grads });
    try {
      await ctx.device.queue.onSubmittedWorkDone();
      ctx.check(`${where}.build`);
      this.checkNotDisposed("build"); // disposed while building
    } catch (e) {
      store.dispose();
      throw e;
    }
    this.#releaseDependents();
    this.#store?.dispose();
    this.#store = store;
    this.#ctx = ctx;
    return store;
  }

  /**
   * Reads every parameter back from the GPU, by name.
   *
   * @throws {FWLStateError} If the holder was disposed or is not built.
   */
  async getParams(): Promise<Record<string, Float32Array>> {
    return await this.live("getParams").store.read(`${this.#options.where}.getParams`);
  }

  /**
   * Reads every parameter's gradient back, by name (a holder that trains).
   *
   * @throws {FWLStateError} If the holder was disposed or is not built.
   */
  async getGrads(): Promise<Record<string, Float32Array>> {
    return await this.live("getGrads").store.read(`${this.#options.where}.getGrads`, "grad");
  }

  /**
   * Replaces any subset of the parameters by name: each a `Float32Array` of the right
   * length with finite values (a scalar as a length-1 array). Everything is checked
   * before anything is written.
   *
   * @throws {FWLStateError} If the holder was disposed or is not built.
   * @throws {FWLInputError} For an unknown name, a value that is not a `Float32Array` of
   * the parameter's length, or a non-finite value.
   */
  async setParams(values: Record<string, Float32Array>): Promise<void> {
    const { store } = this.live("setParams");
    await store.set(`${this.#options.where}.setParams`, values);
  }

  /**
   * The parameters with their gradient buffers, in order (a holder that trains). The
   * buffers are the current build's: after a rebuild, ask again.
   *
   * @throws {FWLStateError} If the holder was disposed or is not built.
   */
  parameters(): BodyParameter[] {
    return this.live("parameters").store.bodyParameters();
  }

  /**
   * Ties `dependent` (e.g. a generation state) to the current parameters: a rebuild or
   * `dispose` disposes it. {@linkcode forget} unties it (when it is disposed first).
   */
  track(dependent: Dependent): void {
    this.#dependents.add(dependent);
  }

  /** Unties a dependent (see {@linkcode track}). */
  forget(dependent: Dependent): void {
    this.#dependents.delete(dependent);
  }

  /** Releases the parameters, their dependents and saved activations. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#releaseDependents();
    this.#store?.dispose();
    this.#store = undefined;
  }

  /** `using` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #releaseDependents(): void {
    for (const d of [...this.#dependents]) d.dispose();
    this.#dependents.clear();
    if (this.#ctx) this.#options.release?.(this.#ctx);
  }
}
