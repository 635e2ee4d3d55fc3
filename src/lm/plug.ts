/**
 * The plug between a {@linkcode ModelBody} and a language model: checks of what a body
 * offers and returns, and the name prefixes of the head's and the body's parameters.
 *
 * @module
 */

import type { BodyParameter, ModelBody } from "../bodies/model_body.ts";
import { FWLError, FWLInputError } from "../errors.ts";
import { describeValue, Tensor } from "../tensor.ts";
import { shapeSize } from "../util/shape.ts";

/** Prefix of the head's parameter names in `LanguageModel.parameters()` and checkpoints. */
export const HEAD_PREFIX = "head/";
/** Prefix of the body's parameter names in `LanguageModel.parameters()` and checkpoints. */
export const BODY_PREFIX = "body/";

/**
 * Throws an {@linkcode FWLInputError} unless `body` looks like a {@linkcode ModelBody}:
 * a positive `hiddenSize`, a `forward` function, and functions (or nothing) for the
 * optional methods.
 */
export function checkBody(where: string, body: unknown): asserts body is ModelBody {
  const b = body as ModelBody;
  if (
    b === null || typeof b !== "object" || typeof b.forward !== "function" ||
    !(Number.isInteger(b.hiddenSize) && b.hiddenSize > 0)
  ) {
    const what = "a ModelBody { hiddenSize: positive integer, forward(tokens) }";
    throw new FWLInputError(where, "body", what, describeValue(body));
  }
  for (
    const m of ["backward", "parameters", "initState", "step", "forwardFrom", "dispose"] as const
  ) {
    if (b[m] !== undefined && typeof b[m] !== "function") {
      throw new FWLInputError(where, `body.${m}`, "a function or nothing", describeValue(b[m]));
    }
  }
}

/**
 * The body's parameters (none without `parameters()`), checked: unique names, positive
 * shapes, and buffers and gradients large enough.
 */
export function bodyParameters(where: string, body: ModelBody): BodyParameter[] {
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

/**
 * Throws an {@linkcode FWLError} naming the body's method unless `hidden` is a live
 * float32 tensor of exactly `shape`.
 */
export function checkHidden(
  where: string,
  hidden: unknown,
  shape: readonly number[],
  method: string,
): asserts hidden is Tensor<"float32"> {
  const ok = hidden instanceof Tensor && !hidden.disposed && hidden.dtype === "float32" &&
    hidden.shape.length === shape.length && shape.every((d, i) => hidden.shape[i] === d);
  if (!ok) {
    const got = hidden instanceof Tensor
      ? `a ${hidden.dtype} tensor [${hidden.shape.join(", ")}]`
      : describeValue(hidden);
    throw new FWLError(
      `${where}: body.${method} returned ${got}; expected float32 hidden states ` +
        `[${shape.join(", ")}]`,
    );
  }
}
