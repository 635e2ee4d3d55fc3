/**
 * The parameter store of the head and the bodies: named float32 parameters on the GPU
 * (optionally with a gradient buffer each), sized against the device's limits before
 * anything is initialized or allocated, initialized from host values, read back and
 * replaced by name, and released together.
 *
 * @module
 */

import { FWLError, FWLInputError, FWLSizeError } from "../errors.ts";
import { checkFinite, checkObject } from "../util/validate.ts";
import type { GPUContext } from "../gpu/context.ts";
import { readBuffers } from "../gpu/readback.ts";
import { listSome } from "../util/names.ts";
import { shapeSize } from "../util/shape.ts";
import { describeValue } from "../util/describe.ts";
import type { BodyParameter } from "./parameter.ts";

/**
 * One parameter buffer: its name and shape. A *packed* buffer holds several scalar
 * parameters side by side (like the head's six step sizes): `elementNames` names each
 * element, and outside the GPU each element is a parameter of its own, shape `[]`.
 */
export interface ParamSpec {
  /** The buffer's name (the parameter's, unless packed). */
  readonly name: string;
  /** Row-major shape of the buffer. */
  readonly shape: readonly number[];
  /** For a packed buffer: one parameter name per element. */
  readonly elementNames?: readonly string[];
}

/** One stored parameter buffer with its gradient. */
export interface StoredParam {
  /** Row-major shape of the buffer. */
  readonly shape: readonly number[];
  /** The values (float32, storage usage). */
  readonly buffer: GPUBuffer;
  /** The gradient, same length. */
  readonly grad: GPUBuffer;
}

/** A buffer as the store keeps it (no gradient in a store made with `grads: false`). */
type Entry = { shape: readonly number[]; buffer: GPUBuffer; grad?: GPUBuffer };

// The interface the holders implement lives with their shared lifecycle; kept here too
// for the entry points that export it from this file.

/**
 * Throws an {@linkcode FWLSizeError} for the first parameter whose float32 values (and
 * so its gradient) would not fit one storage binding and one buffer of the device.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { FWLSizeError } from "@x/fwl";
 * import { checkParamSizes } from "./store.ts";
 * const limits = { maxStorageBufferBindingSize: 64, maxBufferSize: 128 };
 * checkParamSizes("demo", limits, [{ name: "w", shape: [4, 4] }]); // 64 bytes: fits
 * assertThrows(() => checkParamSizes("demo", limits, [{ name: "w", shape: [5, 4] }]), FWLSizeError);
 * ```
 *
 * @throws {FWLSizeError} For the first parameter over the limits.
 */
export function checkParamSizes(
  where: string,
  limits: { readonly maxStorageBufferBindingSize: number; readonly maxBufferSize: number },
  specs: readonly ParamSpec[],
): void {
  const limit = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
  for (const spec of specs) {
    if (shapeSize(spec.shape) * 4 > limit) {
      throw new FWLSizeError(where, spec.name, spec.shape, limit);
    }
  }
}

/**
 * Every parameter's shape by name (`[]` for each element of a packed buffer), in order.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { specShapes } from "./store.ts";
 * const specs = [{ name: "w", shape: [2, 3] }, { name: "s", shape: [2], elementNames: ["a", "b"] }];
 * assertEquals(specShapes(specs), { w: [2, 3], a: [], b: [] });
 * ```
 */
export function specShapes(specs: readonly ParamSpec[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of specs) {
    if (!s.elementNames) out[s.name] = [...s.shape];
    for (const n of s.elementNames ?? []) out[n] = [];
  }
  return out;
}

/**
 * Named GPU parameters (see the module notes). Made by {@linkcode ParamStore.create};
 * host-side records are keyed by parameter name (a packed buffer's elements by their own
 * names, as length-1 arrays).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { ParamStore } from "./store.ts";
 * import { GPUContext } from "../gpu/context.ts";
 * const ctx = await GPUContext.default();
 * const store = ParamStore.create(ctx, "demo", [{ name: "w", shape: [2, 3] }], () => ({
 *   w: new Float32Array([1, 2, 3, 4, 5, 6]),
 * }), { grads: true });
 * assertEquals((await store.read("demo")).w, new Float32Array([1, 2, 3, 4, 5, 6]));
 * assertEquals((await store.read("demo", "grad")).w, new Float32Array(6)); // zeroed
 * store.dispose();
 * ```
 */
export class ParamStore {
  /** The GPU context the buffers live on. */
  readonly ctx: GPUContext;
  /** The buffers, in order. */
  readonly specs: readonly ParamSpec[];
  /** Whether each buffer has a gradient buffer. */
  readonly grads: boolean;
  readonly #params: Map<string, Entry>;

  private constructor(
    ctx: GPUContext,
    specs: readonly ParamSpec[],
    grads: boolean,
    params: Map<string, Entry>,
  ) {
    this.ctx = ctx;
    this.specs = specs;
    this.grads = grads;
    this.#params = params;
  }

  /**
   * Checks every size against the device's limits (before `init` runs), allocates the
   * buffers (and zeroed gradients with `options.grads`) and uploads `init()`'s values,
   * which must name every parameter.
   *
   * @throws {FWLSizeError} If a parameter is larger than the device's buffer or binding limit.
   */
  static create(
    ctx: GPUContext,
    where: string,
    specs: readonly ParamSpec[],
    init: () => Record<string, Float32Array>,
    options: { grads: boolean },
  ): ParamStore {
    checkParamSizes(where, ctx.device.limits, specs);
    const values = init();
    const params = new Map<string, Entry>();
    for (const spec of specs) {
      const bytes = shapeSize(spec.shape) * 4;
      const buffer = ctx.pool.acquire(bytes);
      let grad: GPUBuffer | undefined;
      if (options.grads) {
        grad = ctx.pool.acquire(bytes);
        ctx.device.queue.writeBuffer(grad, 0, new Float32Array(bytes / 4));
      }
      params.set(spec.name, { shape: spec.shape, buffer, grad });
    }
    const store = new ParamStore(ctx, specs, options.grads, params);
    store.#write(values);
    return store;
  }

  /** Every parameter name (a packed buffer's element names in its place), in order. */
  get names(): string[] {
    return this.specs.flatMap((s) => s.elementNames ? [...s.elementNames] : [s.name]);
  }

  /** Every parameter's shape by name (`[]` for each element of a packed buffer). */
  get shapes(): Record<string, number[]> {
    return specShapes(this.specs);
  }

  /**
   * The values' buffer named `name`.
   *
   * @throws {FWLError} If there is no such buffer (or the store was disposed).
   */
  buffer(name: string): GPUBuffer {
    return this.#entry(name).buffer;
  }

  /**
   * The buffer named `name` with its gradient (a store made with `grads: true`).
   *
   * @throws {FWLError} If there is no such buffer, or the store keeps no gradients.
   */
  get(name: string): StoredParam {
    const { shape, buffer, grad } = this.#entry(name);
    if (!grad) throw new FWLError(`ParamStore: ${name}: this store keeps no gradients`);
    return { shape, buffer, grad };
  }

  /**
   * The buffers as {@linkcode BodyParameter}s (a store with gradients), in order.
   *
   * @throws {FWLError} If the store keeps no gradients.
   */
  bodyParameters(): BodyParameter[] {
    return this.specs.map((s) => {
      const p = this.get(s.name);
      return { name: s.name, shape: [...s.shape], buffer: p.buffer, grad: p.grad };
    });
  }

  /**
   * Checks `values` (any of the parameter names, no unknown one; a `Float32Array` of the
   * right length with finite values each), then writes them and
   * waits for the queue. Nothing is written unless everything checks out. Each element
   * of a packed buffer is written on its own, so any of them may be given.
   *
   * @throws {FWLInputError} For an unknown name, a value
   * that is not a `Float32Array` of the parameter's length, or a non-finite value.
   */
  async set(
    where: string,
    values: Record<string, Float32Array>,
  ): Promise<void> {
    checkObject(where, "params", values, "a record of Float32Array");
    const shapes = this.shapes;
    const names = this.names;
    for (const name of Object.keys(values)) {
      if (!Object.hasOwn(shapes, name)) {
        throw new FWLInputError(
          where,
          name,
          `one of the parameter names ${listSome(names, 14)}`,
          "an unknown name",
        );
      }
    }
    for (const name of names) {
      const value = values[name];
      if (value === undefined) continue;
      if (!(value instanceof Float32Array)) {
        throw new FWLInputError(where, name, "a Float32Array", describeValue(value));
      }
      const length = shapeSize(shapes[name]);
      if (value.length !== length) {
        throw new FWLInputError(
          where,
          name,
          `${length} values (shape [${shapes[name].join(", ")}])`,
          `${value.length}`,
        );
      }
      checkFinite(where, name, value);
    }
    this.#write(values);
    await this.ctx.device.queue.onSubmittedWorkDone();
    this.ctx.check(where);
  }

  /**
   * Reads every parameter (or, with `"grad"`, its gradient) back by name.
   *
   * @throws {FWLError} For `"grad"` when the store keeps no gradients.
   */
  async read(
    where: string,
    which: "value" | "grad" = "value",
  ): Promise<Record<string, Float32Array>> {
    const parts = this.specs.map((spec) => ({
      buffer: which === "grad" ? this.get(spec.name).grad : this.buffer(spec.name),
      bytes: shapeSize(spec.shape) * 4,
    }));
    const read = await readBuffers(this.ctx, parts, where);
    const out: Record<string, Float32Array> = {};
    this.specs.forEach((spec, k) => {
      const data = new Float32Array(read[k]);
      if (spec.elementNames) spec.elementNames.forEach((e, i) => out[e] = data.slice(i, i + 1));
      else out[spec.name] = data;
    });
    return out;
  }

  /** Returns every buffer to the context's pool. The store can't be used afterwards. */
  dispose(): void {
    for (const p of this.#params.values()) {
      this.ctx.pool.release(p.buffer);
      if (p.grad) this.ctx.pool.release(p.grad);
    }
    this.#params.clear();
  }

  #entry(name: string): Entry {
    const p = this.#params.get(name);
    if (!p) throw new FWLError(`ParamStore: no parameter buffer ${JSON.stringify(name)}`);
    return p;
  }

  /** Uploads the values present in `values` (a packed buffer's elements each at its offset). */
  #write(values: Record<string, Float32Array>): void {
    const queue = this.ctx.device.queue;
    for (const spec of this.specs) {
      const buffer = this.buffer(spec.name);
      if (spec.elementNames) {
        spec.elementNames.forEach((e, i) => {
          if (values[e] !== undefined) {
            queue.writeBuffer(buffer, i * 4, values[e] as Float32Array<ArrayBuffer>, 0, 1);
          }
        });
      } else if (values[spec.name] !== undefined) {
        queue.writeBuffer(buffer, 0, values[spec.name] as Float32Array<ArrayBuffer>);
      }
    }
  }
}
