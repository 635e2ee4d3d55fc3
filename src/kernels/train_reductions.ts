/**
 * Reductions of the outer backward: whole-tensor sums and dot products
 * (`shaders/train_reduce.wgsl`), column sums (`shaders/train_colsum.wgsl`) and the
 * reverse exclusive cumsum over time (`shaders/train_reverse_cumsum.wgsl`).
 *
 * @module
 */

import { spreadInvocations } from "../gpu/grid.ts";
import { program, read, readWrite } from "../gpu/program.ts";
import * as shaders from "./shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";

/** The two-stage sum / dot-product kernel. */
const TRAIN_REDUCE = program({
  name: "train_reduce",
  body: shaders.trainReduce,
  workgroupSize: [256],
  storage: [read("a"), read("b"), readWrite("partials"), readWrite("out")],
  uniforms: {
    count: "u32",
    flags: "u32",
    stage: "u32",
    groups: "u32",
    out_index: "u32",
    alpha: "f32",
  },
  constants: { HAS_B: 1, ACCUMULATE: 2 },
});
/** The column-sum kernel. */
const TRAIN_COLSUM = program({
  name: "train_colsum",
  body: shaders.trainColsum,
  workgroupSize: [64],
  storage: [read("a"), read("b"), readWrite("out")],
  uniforms: { rows: "u32", width: "u32", flags: "u32", alpha: "f32", groups_x: "u32" },
  snippets: [GRID],
  constants: { HAS_B: 1, ACCUMULATE: 2 },
});
/** The reverse exclusive cumsum kernel. */
const TRAIN_REVERSE_CUMSUM = program({
  name: "train_reverse_cumsum",
  body: shaders.trainReverseCumsum,
  workgroupSize: [64],
  storage: [read("u"), readWrite("out")],
  uniforms: { batch: "u32", time: "u32", width: "u32" },
});

const MAX_PARTIALS = 256;

/**
 * `out[index] = alpha · Σ_i a[i]·b[i]` (`b` optional: a plain sum) over `count`
 * elements, `+ out[index]` with `accumulate`. Uses a 256-float scratch for the partial
 * sums of its first stage.
 *
 * @example
 * ```ts ignore
 * // gradSteps[3] −= Σ gh2 ⊙ r2
 * dot(rec, { a: gh2, b: r2, count: n, out: gradSteps, index: 3, alpha: -1, accumulate: true });
 * ```
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
  },
): void {
  const ctx = rec.ctx;
  const groups = Math.max(
    1,
    Math.min(MAX_PARTIALS, Math.ceil(o.count / TRAIN_REDUCE.workgroupSize[0]), ctx.maxWorkgroups),
  );
  const partials = rec.scratch(MAX_PARTIALS * 4);
  const f = TRAIN_REDUCE.constants;
  const flags = (o.b ? f.HAS_B : 0) | (o.accumulate ? f.ACCUMULATE : 0);
  const bindings = [o.a, o.b ?? ctx.dummy(0), partials, o.out];
  for (const stage of [0, 1]) {
    rec.dispatch(
      TRAIN_REDUCE,
      bindings,
      TRAIN_REDUCE.uniforms({
        count: o.count,
        flags,
        stage,
        groups,
        out_index: o.index,
        alpha: o.alpha ?? 1,
      }),
      [stage === 0 ? groups : 1, 1, 1],
    );
  }
}

/**
 * `out[j] = alpha · Σ_r a[r,j] (· b[r,j])` over the rows of a `[rows, width]` matrix,
 * `+ out[j]` with `accumulate`.
 *
 * @example
 * ```ts ignore
 * colsum(rec, { a: dh1, rows: M, width: H, out: gradB0, accumulate: true });
 * ```
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
  const { workgroups, groupsX } = spreadInvocations(rec.ctx, o.width, TRAIN_COLSUM);
  const f = TRAIN_COLSUM.constants;
  rec.dispatch(
    TRAIN_COLSUM,
    [o.a, o.b ?? rec.ctx.dummy(0), o.out],
    TRAIN_COLSUM.uniforms({
      rows: o.rows,
      width: o.width,
      flags: (o.b ? f.HAS_B : 0) | (o.accumulate ? f.ACCUMULATE : 0),
      alpha: o.alpha ?? 1,
      groups_x: groupsX,
    }),
    workgroups,
  );
}

/**
 * `out[b,t,j] = Σ_{s>t} u[b,s,j]`: the backward of the exclusive cumsum over time.
 * `out` must not alias `u`.
 *
 * @example
 * ```ts ignore
 * reverseCumsum(rec, { u: df1, out: r1, batch: B, time: T, width: H });
 * ```
 */
export function reverseCumsum(
  rec: Recorder,
  o: { u: Binding; out: Binding; batch: number; time: number; width: number },
): void {
  rec.dispatch(
    TRAIN_REVERSE_CUMSUM,
    [o.u, o.out],
    TRAIN_REVERSE_CUMSUM.uniforms({ batch: o.batch, time: o.time, width: o.width }),
    [Math.ceil(o.width / TRAIN_REVERSE_CUMSUM.workgroupSize[0]), o.batch, 1],
  );
}
