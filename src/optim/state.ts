/**
 * An optimizer's state: the per-parameter slots (Adam's moments, SGD's momentum) held
 * in GPU buffers, and their host form {@linkcode OptimizerState} that checkpoints save
 * and load.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import { readBuffers } from "../gpu/readback.ts";
import { checkCount, firstNonFinite, quote } from "../util/validate.ts";
import type { ParamEntry } from "./params.ts";
import { describeValue } from "../util/describe.ts";

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

function slotError(where: string, key: string, expected: string, got: string): never {
  throw new FWLInputError(where, `state.slots[${quote(key)}]`, expected, got);
}

/** The slot buffers of every parameter: `buffers[parameter][slot]`, zeroed at first. */
export class StateSlots {
  /** One buffer per parameter and slot, as long as the parameter. */
  readonly buffers: GPUBuffer[][];
  readonly #ctx: GPUContext;
  readonly #entries: readonly ParamEntry[];
  readonly #names: readonly string[];

  /** Allocates and zeroes the slots `names` of every parameter. */
  constructor(ctx: GPUContext, entries: readonly ParamEntry[], names: readonly string[]) {
    this.#ctx = ctx;
    this.#entries = entries;
    this.#names = names;
    this.buffers = entries.map((e) =>
      names.map(() => {
        const b = ctx.pool.acquire(e.length * 4);
        ctx.device.queue.writeBuffer(b, 0, new Float32Array(b.size / 4));
        return b;
      })
    );
  }

  /** Every host key `"<name>/<slot>"` with its parameter, slot and element (packed). */
  *#keys(): Generator<[key: string, entry: number, slot: number, element?: number]> {
    for (let e = 0; e < this.#entries.length; e++) {
      const { name, elementNames } = this.#entries[e];
      for (let s = 0; s < this.#names.length; s++) {
        const names = elementNames ?? [name];
        for (let i = 0; i < names.length; i++) {
          yield [`${names[i]}/${this.#names[s]}`, e, s, elementNames && i];
        }
      }
    }
  }

  /** The host keys with their lengths. */
  get shape(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, e, , i] of this.#keys()) {
      out[key] = i === undefined ? this.#entries[e].length : 1;
    }
    return out;
  }

  /** Reads every slot back to the host. */
  async read(where: string): Promise<Record<string, Float32Array>> {
    const parts = this.buffers.flatMap((slots, e) =>
      slots.map((buffer) => ({ buffer, bytes: this.#entries[e].length * 4 }))
    );
    const read = await readBuffers(this.#ctx, parts, where);
    let next = 0;
    const data = this.buffers.map((slots) => slots.map(() => new Float32Array(read[next++])));
    const out: Record<string, Float32Array> = {};
    for (const [key, e, s, i] of this.#keys()) {
      out[key] = i === undefined ? data[e][s] : data[e][s].slice(i, i + 1);
    }
    return out;
  }

  /**
   * Throws an {@linkcode FWLInputError} saying what is wrong unless `state` is of `kind`
   * and has every slot with the right length and finite values, and no other slot.
   *
   * @throws {FWLInputError} If `state` is not an object, of another kind, has a bad step
   * count, or a slot missing, unknown, of the wrong length or with a non-finite value.
   */
  validate(where: string, kind: OptimizerKind, state: OptimizerState): void {
    if (state === null || typeof state !== "object") {
      const expected = "an OptimizerState { kind, step, slots }";
      throw new FWLInputError(where, "state", expected, describeValue(state));
    }
    if (state.kind !== kind) {
      throw new FWLInputError(where, "state.kind", quote(kind), describeValue(state.kind));
    }
    checkCount(where, "state.step", state.step);
    const slots = state.slots;
    if (slots === null || typeof slots !== "object") {
      const expected = "a record of Float32Array";
      throw new FWLInputError(where, "state.slots", expected, describeValue(slots));
    }
    const shape = this.shape;
    const known = Object.keys(shape);
    const unknown = Object.keys(slots).find((key) => !Object.hasOwn(shape, key));
    if (unknown !== undefined) {
      throw new FWLInputError(
        where,
        `state.slots[${quote(unknown)}]`,
        known.length
          ? `one of ${known.map(quote).join(", ")}`
          : "no slots (this optimizer has no state)",
        "an unknown slot",
      );
    }
    for (const [key, length] of Object.entries(shape)) {
      const v = slots[key];
      const fail = (expected: string, got: string) => slotError(where, key, expected, got);
      if (v === undefined) fail(`a Float32Array of ${length}`, "nothing (missing)");
      if (!(v instanceof Float32Array)) fail(`a Float32Array of ${length}`, describeValue(v));
      if (v.length !== length) fail(`${length} values`, `${v.length}`);
      const bad = firstNonFinite(v);
      if (bad) fail("finite values", `${bad[1]} at index ${bad[0]}`);
    }
  }

  /** Writes checked host slots (see {@linkcode StateSlots.validate}) to the GPU. */
  write(slots: Record<string, Float32Array>): void {
    const data = this.buffers.map((b, e) => b.map(() => new Float32Array(this.#entries[e].length)));
    for (const [key, e, s, i] of this.#keys()) data[e][s].set(slots[key], i ?? 0);
    const q = this.#ctx.device.queue;
    this.buffers.forEach((b, e) => b.forEach((buf, s) => q.writeBuffer(buf, 0, data[e][s])));
  }

  /** Returns every buffer to the pool. */
  dispose(): void {
    for (const b of this.buffers.flat()) this.#ctx.pool.release(b);
  }
}
