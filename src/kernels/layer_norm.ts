/**
 * Layer norm, one workgroup per row: the forward, the backward with respect to its input
 * (shared, per-row or no scale; optionally the per-position scale gradient), and the
 * backward through that backward (the second-order path of the inner loss).
 *
 * @module
 */

import { spreadGroups } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { ROW_KERNEL, WORKGROUP_SUM, WORKGROUP_SUM2, WORKGROUP_SUM4 } from "./snippets.ts";

/** Layer norm forward. */
const LAYER_NORM = program({
  name: "layer_norm",
  body: shaders.layerNorm,
  storage: ["x", "scale", "bias", "out: rw", "nhat: rw", "rstd: rw"],
  uniforms: ["rows", "width", "per_row_affine", "groups_x", "eps: f32"],
  snippets: [ROW_KERNEL, WORKGROUP_SUM],
});
/** The flag bits of the layer-norm backward. */
const BACKWARD_FLAGS = { SCALE_SHARED: 1, SCALE_PER_ROW: 2, ACCUMULATE: 4, G_SCALE: 8 } as const;

/**
 * Layer-norm backward with respect to its input (and the scale gradient per position),
 * specialized to its `FLAGS` (a constant: no per-element branch); one pipeline per
 * combination used.
 */
function backwardKernel(flags: number) {
  return program({
    name: "layer_norm_backward",
    body: shaders.layerNormBackward,
    storage: ["g", "scale", "nhat", "rstd", "out: rw", "g_scale: rw"],
    uniforms: ["rows", "width", "groups_x"],
    constants: { ...BACKWARD_FLAGS, FLAGS: flags },
    snippets: [ROW_KERNEL, WORKGROUP_SUM2],
  });
}
const backwardKernels = new Map<number, ReturnType<typeof backwardKernel>>();
/** Backward through the inner layer-norm backward. */
const LAYER_NORM_BACKWARD_VJP = program({
  name: "layer_norm_backward_vjp",
  body: shaders.layerNormBackwardVjp,
  storage: ["gam", "g_n", "scale", "nhat", "rstd", "du: rw", "dnhat: rw", "dh2: rw"],
  uniforms: ["rows", "width", "groups_x"],
  snippets: [ROW_KERNEL, WORKGROUP_SUM, WORKGROUP_SUM4],
});

/** `out = layerNorm(x) ⊙ scale + bias` per row; also writes `nhat` and `rstd`. */
export function layerNorm(
  rec: Recorder,
  o: {
    x: Binding;
    scale: Binding;
    bias: Binding;
    out: Binding;
    nhat: Binding;
    rstd: Binding;
    rows: number;
    width: number;
    perRowAffine: boolean;
    eps: number;
  },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    LAYER_NORM,
    [o.x, o.scale, o.bias, o.out, o.nhat, o.rstd],
    LAYER_NORM.uniforms({
      rows: o.rows,
      width: o.width,
      per_row_affine: o.perRowAffine ? 1 : 0,
      groups_x: groupsX,
      eps: o.eps,
    }),
    workgroups,
  );
}

/** Inner-loss layer norm backward: `g_x` and `g_n ⊙ nhat` from `g_n` (shared `scale`). */
export function layerNormBackward(
  rec: Recorder,
  o: {
    gN: Binding;
    nhat: Binding;
    rstd: Binding;
    scale: Binding;
    gX: Binding;
    gScale: Binding;
    rows: number;
    width: number;
  },
): void {
  const f = BACKWARD_FLAGS;
  dispatchBackward(rec, [o.gN, o.scale, o.nhat, o.rstd, o.gX, o.gScale], {
    rows: o.rows,
    width: o.width,
    flags: f.SCALE_SHARED | f.G_SCALE,
  });
}

/**
 * Layer-norm backward: `out (+)= rstd·(g' − mean(g') − nhat·mean(g'⊙nhat))` per row,
 * `g' = g ⊙ scale` with `scale` absent, shared `[width]` or per row `[rows, width]`.
 */
export function layerNormBackwardInput(
  rec: Recorder,
  o: {
    g: Binding;
    scale?: Binding;
    perRowScale?: boolean;
    nhat: Binding;
    rstd: Binding;
    out: Binding;
    rows: number;
    width: number;
    accumulate?: boolean;
  },
): void {
  const f = BACKWARD_FLAGS;
  const flags = (o.scale && !o.perRowScale ? f.SCALE_SHARED : 0) |
    (o.scale && o.perRowScale ? f.SCALE_PER_ROW : 0) | (o.accumulate ? f.ACCUMULATE : 0);
  const ctx = rec.ctx;
  dispatchBackward(rec, [o.g, o.scale ?? ctx.dummy(0), o.nhat, o.rstd, o.out, ctx.dummy(1)], {
    rows: o.rows,
    width: o.width,
    flags,
  });
}

function dispatchBackward(
  rec: Recorder,
  bindings: Binding[],
  o: { rows: number; width: number; flags: number },
): void {
  let kernel = backwardKernels.get(o.flags);
  if (!kernel) {
    kernel = backwardKernel(o.flags);
    backwardKernels.set(o.flags, kernel);
  }
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    kernel,
    bindings,
    kernel.uniforms({ rows: o.rows, width: o.width, groups_x: groupsX }),
    workgroups,
  );
}

/**
 * Backward through the inner layer-norm backward `g_h2 = LNᵀ(g_n ⊙ scale)`: from
 * `gam = dL/dg_h2` writes `du = dL/d(g_n⊙scale)`, `dnhat` (this path's part of
 * `dL/dnhat`) and `dh2` (the part of `dL/dh2` through `rstd`).
 */
export function layerNormInnerVJP(
  rec: Recorder,
  o: {
    gam: Binding;
    gN: Binding;
    scale: Binding;
    nhat: Binding;
    rstd: Binding;
    du: Binding;
    dnhat: Binding;
    dh2: Binding;
    rows: number;
    width: number;
  },
): void {
  const { workgroups, groupsX } = spreadGroups(rec.ctx, o.rows);
  rec.dispatch(
    LAYER_NORM_BACKWARD_VJP,
    [o.gam, o.gN, o.scale, o.nhat, o.rstd, o.du, o.dnhat, o.dh2],
    LAYER_NORM_BACKWARD_VJP.uniforms({ rows: o.rows, width: o.width, groups_x: groupsX }),
    workgroups,
  );
}
