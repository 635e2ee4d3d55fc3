/**
 * The elementwise update of the outer backward (`shaders/elementwise.wgsl`):
 * scaled products, squared-ReLU gates, step-size factors, accumulation and fills.
 *
 * @module
 */

import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import { dispatchPerElement } from "./per_element.ts";

/** The elementwise kernel. */
const ELEMENTWISE = program({
  name: "elementwise",
  body: shaders.elementwise,
  storage: ["a", "b", "c", "steps", "out: rw"],
  uniforms: ["count", "width", "flags", "step_index", "alpha: f32", "beta: f32", "groups_x"],
  constants: {
    HAS_A: 1,
    B_ELEMENT: 2,
    B_BROADCAST: 4,
    GATE_RELU: 8,
    GATE_STEP: 16,
    STEP: 32,
    ACCUMULATE: 64,
    B_ROWS: 128,
  },
  snippets: [GRID],
});

/**
 * `out[i] = alpha · steps[step.index] · a[i] · b(i) · gate(c[i]) (+ beta · out[i])`, every
 * factor optional: `b(i)` is `b[i]`, `b[i % width]` with `broadcastWidth` (a row vector
 * for every row), or `b[i / width]` with `rowWidth` (one factor per row); the gate
 * is `2·relu(c)` (`"relu"`, the squared-ReLU derivative) or `2·[c > 0]` (`"step"`).
 * `out` must not alias an input.
 */
export function elementwise(
  rec: Recorder,
  o: {
    count: number;
    out: Binding;
    a?: Binding;
    b?: Binding;
    broadcastWidth?: number;
    rowWidth?: number;
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
  const f = ELEMENTWISE.constants;
  if (o.broadcastWidth !== undefined && o.rowWidth !== undefined) {
    throw new Error("elementwise: broadcastWidth and rowWidth exclude each other");
  }
  const element = o.broadcastWidth === undefined && o.rowWidth === undefined;
  const flags = (o.a ? f.HAS_A : 0) |
    (o.b && element ? f.B_ELEMENT : 0) |
    (o.b && o.broadcastWidth !== undefined ? f.B_BROADCAST : 0) |
    (o.b && o.rowWidth !== undefined ? f.B_ROWS : 0) |
    (o.gate === "relu" ? f.GATE_RELU : 0) | (o.gate === "step" ? f.GATE_STEP : 0) |
    (o.step ? f.STEP : 0) | (o.beta !== undefined ? f.ACCUMULATE : 0);
  const dummy = ctx.dummy(0);
  const bindings = [o.a ?? dummy, o.b ?? dummy, o.c ?? dummy, o.step?.buffer ?? dummy, o.out];
  dispatchPerElement(rec, ELEMENTWISE, bindings, o.count, {
    width: o.broadcastWidth ?? o.rowWidth ?? 1,
    flags,
    step_index: o.step?.index ?? 0,
    alpha: o.alpha ?? 1,
    beta: o.beta ?? 0,
  });
}

/**
 * Fills the first `count` floats of `out` with `value` (default 0).
 */
export function fill(
  rec: Recorder,
  out: Binding,
  count: number,
  value = 0,
): void {
  elementwise(rec, { count, out, alpha: value });
}
