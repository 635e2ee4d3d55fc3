/**
 * The gradients of one optimizer step: checks each against its parameter, uploads host
 * data, and splits them into the segments the update kernels run over.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import { Tensor } from "../tensor.ts";
import { quote } from "../util/validate.ts";
import { type ParamEntry, type Segment, STORAGE_USAGE } from "./params.ts";
import { describeValue } from "../util/describe.ts";

/**
 * A gradient: a GPU buffer of float32 holding the gradient from element 0, or a
 * float32 {@linkcode Tensor} (GPU-resident on the optimizer's device, or host data).
 */
export type GradSource = GPUBuffer | Tensor;

/** One segment of one parameter with its gradient, ready to update. */
export interface GradOp extends Segment {
  /** The parameter. */
  entry: ParamEntry;
  /** The gradient. */
  grad: Binding;
  /** Element of `grad` where the segment's gradient starts. */
  gOffset: number;
}

/** A buffer bound whole, or its first `maxBindingBytes` when it is larger. */
export function bindingOf(rec: Recorder, buffer: GPUBuffer): Binding {
  const max = rec.ctx.maxBindingBytes;
  if (buffer.size <= max) return buffer;
  return { buffer, offset: 0, size: Math.floor(max / 4) * 4 };
}

/**
 * Resolves `grads` (parameter name → gradient; a packed parameter may instead get one
 * 1-element gradient per element name) into update segments. Every gradient is checked
 * before host data is uploaded (into `rec`'s scratch, each distinct array once); a
 * gradient may not be one of the buffers in `own` (parameters and optimizer state).
 *
 * @throws {FWLInputError} If `grads` is not a record, or a gradient is missing, disposed,
 * not float32, of the wrong length, without storage usage, or one of the `own` buffers.
 */
export function resolveGrads(
  where: string,
  rec: Recorder,
  entries: readonly ParamEntry[],
  own: ReadonlySet<GPUBuffer>,
  grads: Record<string, GradSource>,
): GradOp[] {
  if (grads === null || typeof grads !== "object") {
    const expected = "a record of parameter name → GPUBuffer or Tensor";
    throw new FWLInputError(where, "grads", expected, describeValue(grads));
  }
  const checkBuffer = (arg: string, buffer: GPUBuffer): Binding => {
    if (own.has(buffer)) {
      const expected = "a buffer other than the parameters and the optimizer state";
      throw new FWLInputError(where, arg, expected, "a parameter or state buffer");
    }
    return bindingOf(rec, buffer);
  };
  /** A GPU binding, or host data to upload once every check has passed. */
  const resolve = (key: string, value: unknown, length: number): Binding | Float32Array => {
    const arg = `grads[${quote(key)}]`;
    const expected = `a GPUBuffer or float32 Tensor of ${length} values`;
    if (value instanceof Tensor) {
      if (value.disposed) throw new FWLInputError(where, arg, expected, "a disposed tensor");
      if (value.dtype !== "float32" || value.size !== length) {
        const got = `a ${value.dtype} tensor of shape [${value.shape.join(", ")}]`;
        throw new FWLInputError(where, arg, expected, got);
      }
      const buffer = value.gpuBuffer(rec.ctx);
      return buffer ? checkBuffer(arg, buffer) : value.hostData as Float32Array;
    }
    if (!(value instanceof GPUBuffer)) {
      const got = value === undefined ? "nothing (missing)" : describeValue(value);
      throw new FWLInputError(where, arg, expected, got);
    }
    if ((value.usage & STORAGE_USAGE) === 0 || value.size < length * 4) {
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
  for (const entry of entries) {
    const whole = grads[entry.name];
    const names = entry.elementNames;
    if (whole !== undefined || !names) {
      const src = resolve(entry.name, whole, entry.length);
      for (const s of entry.segments) planned.push({ entry, ...s, gOffset: s.start, src });
      continue;
    }
    const missing = names.filter((n) => grads[n] === undefined);
    if (missing.length > 0) {
      const some = missing.length < names.length;
      throw new FWLInputError(
        where,
        `grads[${quote(some ? missing[0] : entry.name)}]`,
        some
          ? `a gradient for every element of ${quote(entry.name)} (or one for ${
            quote(entry.name)
          } itself)`
          : `a GPUBuffer or float32 Tensor of ${entry.length} values (or one of 1 value for each of ${
            names.map(quote).join(", ")
          })`,
        "nothing (missing)",
      );
    }
    for (const s of entry.segments) {
      for (let i = s.start; i < s.start + s.length; i++) {
        const src = resolve(names[i], grads[names[i]], 1);
        planned.push({ entry, ...s, start: i, length: 1, gOffset: 0, src });
      }
    }
  }
  // Every check passed: upload each distinct host array once, into scratch.
  const uploaded = new Map<Float32Array, GPUBuffer>();
  return planned.map(({ src, ...op }) => {
    if (!(src instanceof Float32Array)) return { ...op, grad: src };
    let b = uploaded.get(src);
    if (!b) {
      b = rec.upload(src);
      uploaded.set(src, b);
    }
    return { ...op, grad: b };
  });
}
