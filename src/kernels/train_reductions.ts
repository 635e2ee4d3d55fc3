/**
 * Reductions of the outer backward: whole-tensor sums and dot products
 * (`shaders/train_reduce.wgsl`), column sums (`shaders/train_colsum.wgsl`) and the
 * reverse exclusive cumsum over time (`shaders/train_reverse_cumsum.wgsl`).
 *
 * @module
 */

import reduceCode from "../../shaders/train_reduce.wgsl" with { type: "text" };
import colsumCode from "../../shaders/train_colsum.wgsl" with { type: "text" };
import reverseCumsumCode from "../../shaders/train_reverse_cumsum.wgsl" with {
  type: "text",
};
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";

/** The two-stage sum / dot-product kernel. */
export const TRAIN_REDUCE: KernelSpec = {
  name: "train_reduce",
  code: reduceCode,
  entryPoint: "main",
};
/** The column-sum kernel. */
export const TRAIN_COLSUM: KernelSpec = {
  name: "train_colsum",
  code: colsumCode,
  entryPoint: "main",
};
/** The reverse exclusive cumsum kernel. */
export const TRAIN_REVERSE_CUMSUM: KernelSpec = {
  name: "train_reverse_cumsum",
  code: reverseCumsumCode,
  entryPoint: "main",
};

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
    Math.min(MAX_PARTIALS, Math.ceil(o.count / 256), ctx.maxWorkgroups),
  );
  const partials = rec.scratch(MAX_PARTIALS * 4);
  const flags = (o.b ? 1 : 0) | (o.accumulate ? 2 : 0);
  const bindings = [o.a, o.b ?? ctx.dummy(0), partials, o.out];
  for (const stage of [0, 1]) {
    rec.dispatch(
      TRAIN_REDUCE,
      bindings,
      packUniforms({
        count: o.count,
        flags,
        stage,
        groups,
        out_index: o.index,
        alpha: o.alpha ?? 1,
        pad0: 0,
        pad1: 0,
      }, ["alpha"]),
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
  const groups = Math.ceil(o.width / 64);
  rec.dispatch(
    TRAIN_COLSUM,
    [o.a, o.b ?? rec.ctx.dummy(0), o.out],
    packUniforms({
      rows: o.rows,
      width: o.width,
      flags: (o.b ? 1 : 0) | (o.accumulate ? 2 : 0),
      alpha: o.alpha ?? 1,
    }, ["alpha"]),
    [Math.min(groups, 65535), Math.ceil(groups / 65535), 1],
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
    packUniforms({ batch: o.batch, time: o.time, width: o.width, pad0: 0 }),
    [Math.ceil(o.width / 64), o.batch, 1],
  );
}
