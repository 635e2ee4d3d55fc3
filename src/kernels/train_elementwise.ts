/**
 * The elementwise update of the outer backward (`shaders/train_elementwise.wgsl`):
 * scaled products, squared-ReLU gates, step-size factors, accumulation and fills.
 *
 * @module
 */

import code from "../../shaders/train_elementwise.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";

/** The elementwise kernel. */
export const TRAIN_ELEMENTWISE: KernelSpec = {
  name: "train_elementwise",
  code,
  entryPoint: "main",
};

/**
 * `out[i] = alpha · steps[step.index] · a[i] · b(i) · gate(c[i]) (+ beta · out[i])`, every
 * factor optional: `b(i)` is `b[i]`, or `b[i % width]` with `broadcastWidth`; the gate
 * is `2·relu(c)` (`"relu"`, the squared-ReLU derivative) or `2·[c > 0]` (`"step"`).
 * `out` must not alias an input.
 *
 * @example
 * ```ts ignore
 * // y += −steps[2] · x
 * elementwise(rec, { count: n, out: y, a: x, alpha: -1, step: { buffer: steps, index: 2 }, beta: 1 });
 * ```
 */
export function elementwise(
  rec: Recorder,
  o: {
    count: number;
    out: Binding;
    a?: Binding;
    b?: Binding;
    broadcastWidth?: number;
    c?: Binding;
    gate?: "relu" | "step";
    step?: { buffer: GPUBuffer; index: number };
    alpha?: number;
    beta?: number;
  },
): void {
  if (o.count === 0) return;
  if ((o.gate === undefined) !== (o.c === undefined)) {
    throw new Error("elementwise: c and gate go together");
  }
  const ctx = rec.ctx;
  const flags = (o.a ? 1 : 0) |
    (o.b && o.broadcastWidth === undefined ? 2 : 0) |
    (o.b && o.broadcastWidth !== undefined ? 4 : 0) |
    (o.gate === "relu" ? 8 : 0) | (o.gate === "step" ? 16 : 0) |
    (o.step ? 32 : 0) | (o.beta !== undefined ? 64 : 0);
  const groups = Math.ceil(o.count / 64);
  const x = Math.min(groups, ctx.maxWorkgroups);
  rec.dispatch(
    TRAIN_ELEMENTWISE,
    [
      o.a ?? ctx.dummy(0),
      o.b ?? ctx.dummy(0),
      o.c ?? ctx.dummy(0),
      o.step?.buffer ?? ctx.dummy(0),
      o.out,
    ],
    packUniforms({
      count: o.count,
      width: o.broadcastWidth ?? 1,
      flags,
      step_index: o.step?.index ?? 0,
      alpha: o.alpha ?? 1,
      beta: o.beta ?? 0,
      per_y: x * 64,
      pad0: 0,
    }, ["alpha", "beta"]),
    [x, Math.ceil(groups / x), 1],
  );
}

/**
 * Fills the first `count` floats of `out` with `value` (default 0).
 *
 * @example
 * ```ts ignore
 * fill(rec, buffer, 1024);
 * ```
 */
export function fill(
  rec: Recorder,
  out: Binding,
  count: number,
  value = 0,
): void {
  elementwise(rec, { count, out, alpha: value });
}
