/**
 * Reductions: whole-tensor sums and dot products (`shaders/dot.wgsl`), row-wise dot
 * products (`shaders/row_dot.wgsl`) and column sums (`shaders/colsum.wgsl`).
 *
 * @module
 */

import { spreadInvocations } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID, WORKGROUP_SUM } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";

/** The two-stage sum / dot-product kernel. */
const DOT = program({
  name: "dot",
  body: shaders.dot,
  workgroupSize: [256],
  storage: ["a", "b", "steps", "partials: rw", "out: rw"],
  uniforms: [
    "count",
    "flags",
    "stage",
    "groups",
    "out_index",
    "width",
    "time",
    "offset",
    "step_index",
    "alpha: f32",
  ],
  constants: { HAS_B: 1, ACCUMULATE: 2, POSITION: 4, STEP: 8 },
  snippets: [WORKGROUP_SUM],
});
/** The row-wise dot-product kernel. */
const ROW_DOT = program({
  name: "row_dot",
  body: shaders.rowDot,
  storage: ["a", "b", "steps", "out: rw"],
  uniforms: ["rows", "width", "flags", "step_index", "alpha: f32", "groups_x"],
  constants: { ACCUMULATE: 1, STEP: 2 },
  snippets: [GRID],
});
/** The column-sum kernel. */
const COLSUM = program({
  name: "colsum",
  body: shaders.colsum,
  storage: ["a", "b", "out: rw"],
  uniforms: ["rows", "width", "flags", "alpha: f32", "groups_x"],
  snippets: [GRID],
  constants: { HAS_B: 1, ACCUMULATE: 2 },
});

const MAX_PARTIALS = 256;

/**
 * `out[index] = alpha · Σ_i a[i]·b[i]` (`b` optional: a plain sum) over `count`
 * elements, `+ out[index]` with `accumulate`; `alpha` times `step.buffer[step.index]`
 * with `step`; with `position`, element `i` of a `[B, time, width]` tensor weighted by
 * its position `(i / width) % time + offset`. Uses a 256-float scratch for the partial
 * sums of its first stage.
 */
export function dot(
  rec: Recorder,
  o: {
    a: Binding;
    b?: Binding;
    count: number;
    out: Binding;
    index: number;
    alpha?: number;
    accumulate?: boolean;
    step?: { buffer: GPUBuffer; index: number };
    position?: { width: number; time: number; offset: number };
  },
): void {
  const ctx = rec.ctx;
  const groups = Math.max(
    1,
    Math.min(MAX_PARTIALS, Math.ceil(o.count / DOT.workgroupSize[0]), ctx.maxWorkgroups),
  );
  const partials = rec.scratch(MAX_PARTIALS * 4);
  const f = DOT.constants;
  const flags = (o.b ? f.HAS_B : 0) | (o.accumulate ? f.ACCUMULATE : 0) |
    (o.position ? f.POSITION : 0) | (o.step ? f.STEP : 0);
  const bindings = [o.a, o.b ?? ctx.dummy(0), o.step?.buffer ?? ctx.dummy(0), partials, o.out];
  for (const stage of [0, 1]) {
    rec.dispatch(
      DOT,
      bindings,
      DOT.uniforms({
        count: o.count,
        flags,
        stage,
        groups,
        out_index: o.index,
        width: o.position?.width ?? 1,
        time: o.position?.time ?? 1,
        offset: o.position?.offset ?? 0,
        step_index: o.step?.index ?? 0,
        alpha: o.alpha ?? 1,
      }),
      [stage === 0 ? groups : 1, 1, 1],
    );
  }
}

/**
 * `out[r] = alpha · Σ_j a[r,j]·b[r,j]` for each row of two `[rows, width]` matrices,
 * `alpha` times `step.buffer[step.index]` with `step`, `+ out[r]` with `accumulate`.
 */
export function rowDot(
  rec: Recorder,
  o: {
    a: Binding;
    b: Binding;
    rows: number;
    width: number;
    out: Binding;
    alpha?: number;
    accumulate?: boolean;
    step?: { buffer: GPUBuffer; index: number };
  },
): void {
  const { workgroups, groupsX } = spreadInvocations(rec.ctx, o.rows, ROW_DOT);
  const f = ROW_DOT.constants;
  rec.dispatch(
    ROW_DOT,
    [o.a, o.b, o.step?.buffer ?? rec.ctx.dummy(0), o.out],
    ROW_DOT.uniforms({
      rows: o.rows,
      width: o.width,
      flags: (o.accumulate ? f.ACCUMULATE : 0) | (o.step ? f.STEP : 0),
      step_index: o.step?.index ?? 0,
      alpha: o.alpha ?? 1,
      groups_x: groupsX,
    }),
    workgroups,
  );
}

/**
 * `out[j] = alpha · Σ_r a[r,j] (· b[r,j])` over the rows of a `[rows, width]` matrix,
 * `+ out[j]` with `accumulate`.
 */
export function colsum(
  rec: Recorder,
  o: {
    a: Binding;
    b?: Binding;
    rows: number;
    width: number;
    out: Binding;
    alpha?: number;
    accumulate?: boolean;
  },
): void {
  const { workgroups, groupsX } = spreadInvocations(rec.ctx, o.width, COLSUM);
  const f = COLSUM.constants;
  rec.dispatch(
    COLSUM,
    [o.a, o.b ?? rec.ctx.dummy(0), o.out],
    COLSUM.uniforms({
      rows: o.rows,
      width: o.width,
      flags: (o.b ? f.HAS_B : 0) | (o.accumulate ? f.ACCUMULATE : 0),
      alpha: o.alpha ?? 1,
      groups_x: groupsX,
    }),
    workgroups,
  );
}
