/**
 * The plug between a {@linkcode ModelBody} and a language model's head: checks of what
 * a body offers and returns, and of a head put on a body.
 *
 * @module
 */

import type { ModelBody } from "../bodies/model_body.ts";
import { FWLError, FWLInputError, FWLStateError } from "../errors.ts";
import { FWLBlock } from "../fwl/block.ts";
import { Tensor } from "../tensor.ts";
import { describeValue } from "../util/describe.ts";

/**
 * Throws an {@linkcode FWLInputError} unless `body` looks like a {@linkcode ModelBody}:
 * a positive `hiddenSize`, a `forward` function, and functions (or nothing) for the
 * optional methods.
 *
 * @throws {FWLInputError} If `body` is no ModelBody.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { FWLInputError } from "@x/fwl";
 * import { checkBody } from "./plug.ts";
 * const body = { hiddenSize: 8, forward: () => Promise.reject(new Error("not run here")) };
 * checkBody("demo", body); // a ModelBody: nothing thrown
 * assertThrows(() => checkBody("demo", { ...body, hiddenSize: 0 }), FWLInputError, "demo: body:");
 * assertThrows(() => checkBody("demo", { ...body, step: 1 }), FWLInputError, "body.step");
 * ```
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
 * Throws an {@linkcode FWLError} naming the body's method unless `hidden` is a live
 * float32 tensor of exactly `shape`.
 *
 * @throws {FWLError} If `hidden` is not float32 hidden states of `shape`.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { FWLError, tensor } from "@x/fwl";
 * import { checkHidden } from "./plug.ts";
 * const hidden = tensor(new Float32Array(6), [1, 2, 3]);
 * checkHidden("demo", hidden, [1, 2, 3], "forward"); // the shape asked for: nothing thrown
 * assertThrows(
 *   () => checkHidden("demo", hidden, [1, 3, 2], "forward"),
 *   FWLError,
 *   "demo: body.forward returned a float32 tensor [1, 2, 3]; expected float32 hidden states [1, 3, 2]",
 * );
 * ```
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

/**
 * Throws unless `head` is an {@linkcode FWLBlock} built for `body`'s hidden states
 * (`inputSize = body.hiddenSize`).
 *
 * @throws {FWLInputError} If `head` is no FWLBlock or was built for another width.
 * @throws {FWLStateError} If `head` is not built.
 */
export function checkHead(where: string, head: unknown, body: ModelBody): asserts head is FWLBlock {
  if (!(head instanceof FWLBlock)) {
    throw new FWLInputError(where, "head", "an FWLBlock", describeValue(head));
  }
  if (!head.built) {
    throw new FWLStateError(`${where}: the head is not built: call head.build(body.hiddenSize)`);
  }
  if (head.inputSize !== body.hiddenSize) {
    const want = `a head built with inputSize = body.hiddenSize = ${body.hiddenSize}`;
    throw new FWLInputError(where, "head", want, `a head with inputSize ${head.inputSize}`);
  }
}
