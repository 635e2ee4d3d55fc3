/**
 * A named trainable parameter on the GPU with its gradient buffer, as bodies hand them to
 * a language model, and the name prefixes that keep the head's and the body's apart in
 * `LanguageModel.parameters()` and checkpoints.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { describeValue } from "../util/describe.ts";
import { shapeSize } from "../util/shape.ts";

/** One trainable parameter of a body, with its gradient buffer. */
export interface BodyParameter {
  /** Unique name, used by optimizers and checkpoints (e.g. `"lstm_0/kernel"`). */
  name: string;
  /** Row-major shape. */
  shape: number[];
  /** The parameter on the GPU (float32, storage usage). */
  buffer: GPUBuffer;
  /** Its gradient, written by `backward` (same length). */
  grad: GPUBuffer;
}

/** Prefix of the head's parameter names in `LanguageModel.parameters()` and checkpoints. */
export const HEAD_PREFIX = "head/";
/** Prefix of the body's parameter names in `LanguageModel.parameters()` and checkpoints. */
export const BODY_PREFIX = "body/";

/**
 * The body's parameters (none without `parameters()`), checked: unique names, positive
 * shapes, and buffers and gradients large enough.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LSTMBody } from "@x/fwl";
 * import { bodyParameters } from "./parameter.ts";
 * assertEquals(bodyParameters("demo", {}), []); // a body without parameters
 * using body = await LSTMBody.create({ vocabSize: 4, embedSize: 2, hiddenSize: 2 });
 * assertEquals(bodyParameters("demo", body).length, 4);
 * ```
 *
 * @throws {FWLInputError} If `parameters()` gives anything else than such a list.
 */
export function bodyParameters(
  where: string,
  body: { parameters?(): BodyParameter[] },
): BodyParameter[] {
  if (!body.parameters) return [];
  const list = body.parameters();
  if (!Array.isArray(list)) {
    throw new FWLInputError(where, "body.parameters()", "an array", describeValue(list));
  }
  const seen = new Set<string>();
  for (const p of list) {
    const ok = p !== null && typeof p === "object" && typeof p.name === "string" &&
      p.name !== "" && Array.isArray(p.shape) &&
      p.shape.every((d) => Number.isInteger(d) && d >= 1) && p.buffer instanceof GPUBuffer &&
      p.grad instanceof GPUBuffer;
    if (!ok) {
      const what = "BodyParameter { name, shape, buffer: GPUBuffer, grad: GPUBuffer } entries";
      throw new FWLInputError(where, "body.parameters()", what, describeValue(p));
    }
    const bytes = shapeSize(p.shape) * 4;
    if (p.buffer.size < bytes || p.grad.size < bytes) {
      throw new FWLInputError(
        where,
        `body parameter ${JSON.stringify(p.name)}`,
        `buffer and grad of at least ${bytes} bytes (shape [${p.shape.join(", ")}])`,
        `${p.buffer.size} and ${p.grad.size} bytes`,
      );
    }
    if (seen.has(p.name)) {
      const twice = `${JSON.stringify(p.name)} twice`;
      throw new FWLInputError(where, "body.parameters()", "unique names", twice);
    }
    seen.add(p.name);
  }
  return list;
}
