/**
 * A dense layer fused with the layer norm after it (`shaders/linear_layer_norm.wgsl`):
 * bias and row statistics are computed where the product is, and the pre-norm
 * activations are never written.
 *
 * @module
 */

import { spreadGroups } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import { matmulNN } from "./matmul.ts";
import { layerNorm } from "./layer_norm.ts";

/** The fused dense + layer-norm kernel. */
const LINEAR_LAYER_NORM = program({
  name: "linear_layer_norm",
  body: shaders.linearLayerNorm,
  storage: [
    "a: vec4<f32>",
    "w: vec4<f32>",
    "bias",
    "scale",
    "ln_bias",
    "out: rw",
    "nhat: rw",
    "rstd: rw",
  ],
  uniforms: ["m", "n", "k", "groups_x", "eps: f32"],
  constants: { ROWS: 8 },
  snippets: [GRID],
});

/** Whether the fused kernel handles a `[k] → [n]` layer: n ≤ 256, n and k multiples of 4. */
export function linearLayerNormFits(k: number, n: number): boolean {
  return n <= 256 && n % 4 === 0 && k % 4 === 0;
}

/**
 * `out = layerNorm(x·w + bias) ⊙ scale + lnBias` for row-major `x [rows, k]` and
 * `w [k, n]`; also writes `nhat` `[rows, n]` and `rstd` `[rows]`. One fused pass when
 * {@linkcode linearLayerNormFits}; otherwise a matmul into scratch, then the layer norm.
 */
export function linearLayerNorm(
  rec: Recorder,
  o: {
    x: Binding;
    w: Binding;
    bias: Binding;
    scale: Binding;
    lnBias: Binding;
    out: Binding;
    nhat: Binding;
    rstd: Binding;
    rows: number;
    k: number;
    n: number;
    eps: number;
  },
): void {
  if (!linearLayerNormFits(o.k, o.n)) {
    const h = rec.scratch(o.rows * o.n * 4);
    matmulNN(rec, o.x, o.w, h, o.rows, o.k, o.n, { bias: { buffer: o.bias } });
    layerNorm(rec, {
      x: h,
      scale: o.scale,
      bias: o.lnBias,
      out: o.out,
      nhat: o.nhat,
      rstd: o.rstd,
      rows: o.rows,
      width: o.n,
      perRowAffine: false,
      eps: o.eps,
    });
    rec.reuse(h);
    return;
  }
  const { workgroups, groupsX } = spreadGroups(
    rec.ctx,
    Math.ceil(o.rows / LINEAR_LAYER_NORM.constants.ROWS),
  );
  rec.dispatch(
    LINEAR_LAYER_NORM,
    [o.x, o.w, o.bias, o.scale, o.lnBias, o.out, o.nhat, o.rstd],
    LINEAR_LAYER_NORM.uniforms({ m: o.rows, n: o.n, k: o.k, groups_x: groupsX, eps: o.eps }),
    workgroups,
  );
}
