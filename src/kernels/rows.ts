/**
 * Row-wise and column-scan kernels: layer norm and its backward, the softmax
 * cross-entropy gradient, the loss normalizer, and the exclusive-cumsum update.
 *
 * @module
 */

import layerNormCode from "../../shaders/layer_norm.wgsl" with { type: "text" };
import layerNormBackwardCode from "../../shaders/layer_norm_backward.wgsl" with {
  type: "text",
};
import softmaxXentCode from "../../shaders/softmax_xent.wgsl" with {
  type: "text",
};
import normalizerCode from "../../shaders/normalizer.wgsl" with {
  type: "text",
};
import cumsumUpdateCode from "../../shaders/cumsum_update.wgsl" with {
  type: "text",
};
import xentLossCode from "../../shaders/xent_loss.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";

/** Layer norm forward. */
export const LAYER_NORM: KernelSpec = {
  name: "layer_norm",
  code: layerNormCode,
  entryPoint: "main",
};
/** Layer norm backward of the inner loss. */
export const LAYER_NORM_BACKWARD: KernelSpec = {
  name: "layer_norm_backward",
  code: layerNormBackwardCode,
  entryPoint: "main",
};
/** Softmax cross-entropy gradient. */
export const SOFTMAX_XENT: KernelSpec = {
  name: "softmax_xent",
  code: softmaxXentCode,
  entryPoint: "main",
};
/** The inner-loss normalizer. */
export const NORMALIZER: KernelSpec = {
  name: "normalizer",
  code: normalizerCode,
  entryPoint: "main",
};
/** Exclusive cumsum update. */
export const CUMSUM_UPDATE: KernelSpec = {
  name: "cumsum_update",
  code: cumsumUpdateCode,
  entryPoint: "main",
};

/** Per-position cross-entropy of a logits tile. */
export const XENT_LOSS: KernelSpec = {
  name: "xent_loss",
  code: xentLossCode,
  entryPoint: "main",
};

/**
 * `nll[rowOffset + r] = logsumexp(z[r]) − Σ_v y_v·z[r, v]` for the `rows × vocab` tile
 * `z` (0 where the weight is 0). Labels as in {@linkcode softmaxXentGrad}.
 */
export function xentLoss(
  rec: Recorder,
  o: {
    z: Binding;
    labels: Binding;
    labelsAreIds: boolean;
    weights: Binding;
    nll: Binding;
    rows: number;
    vocab: number;
    rowOffset: number;
    labelBase: number;
  },
): void {
  const { grid, perY } = rowGrid(o.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(
    XENT_LOSS,
    [o.z, o.labels, o.weights, o.nll],
    packUniforms({
      rows: o.rows,
      vocab: o.vocab,
      label_mode: o.labelsAreIds ? 0 : 1,
      rows_per_y: perY,
      row_offset: o.rowOffset,
      label_base: o.labelBase,
    }),
    grid,
  );
}

/** Workgroup grid for one workgroup per row, past the 65535-per-dimension limit. */
function rowGrid(
  rows: number,
  max: number,
): { grid: [number, number, number]; perY: number } {
  const perY = Math.max(1, Math.min(rows, max));
  return { grid: [perY, Math.ceil(rows / perY), 1], perY };
}

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
  const { grid, perY } = rowGrid(o.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(
    LAYER_NORM,
    [o.x, o.scale, o.bias, o.out, o.nhat, o.rstd],
    packUniforms({
      rows: o.rows,
      width: o.width,
      per_row_affine: o.perRowAffine ? 1 : 0,
      rows_per_y: perY,
      eps: o.eps,
    }, ["eps"]),
    grid,
  );
}

/** Inner-loss layer norm backward: `g_x` and `g_n ⊙ nhat` from `g_n`. */
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
  const { grid, perY } = rowGrid(o.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(
    LAYER_NORM_BACKWARD,
    [o.gN, o.nhat, o.rstd, o.scale, o.gX, o.gScale],
    packUniforms({ rows: o.rows, width: o.width, rows_per_y: perY }),
    grid,
  );
}

/**
 * In place on `z` (`rows × vocab` logits starting at global row `rowOffset`):
 * `z ← (softmax(z) − y) · w / N`. Labels are ids (`[allRows]` i32) or one-hot rows
 * (`labelBase` is the element offset of this tile's first label row).
 */
export function softmaxXentGrad(
  rec: Recorder,
  o: {
    z: Binding;
    labels: Binding;
    labelsAreIds: boolean;
    weights: Binding;
    norm: Binding;
    rows: number;
    vocab: number;
    rowOffset: number;
    labelBase: number;
  },
): void {
  const { grid, perY } = rowGrid(o.rows, rec.ctx.maxWorkgroups);
  rec.dispatch(
    SOFTMAX_XENT,
    [o.z, o.labels, o.weights, o.norm],
    packUniforms({
      rows: o.rows,
      vocab: o.vocab,
      label_mode: o.labelsAreIds ? 0 : 1,
      rows_per_y: perY,
      row_offset: o.rowOffset,
      label_base: o.labelBase,
    }),
    grid,
  );
}

/** Writes the normalizer N (batch: `max(Σ w, 1e-8)`, or the fixed number) to `norm[0]`. */
export function normalizer(
  rec: Recorder,
  o: {
    weights: Binding;
    norm: Binding;
    count: number;
    fixed: number | undefined;
  },
): void {
  rec.dispatch(
    NORMALIZER,
    [o.weights, o.norm],
    packUniforms({
      count: o.count,
      fixed: o.fixed === undefined ? 0 : 1,
      value: o.fixed ?? 0,
    }, ["value"]),
    [1, 1, 1],
  );
}

/**
 * `out[b,t,j] = (broadcast ? base[j] : out[b,t,j]) − steps[stepIndex] · Σ_{s<t} u[b,s,j]`,
 * optionally writing `aux = relu(out)²`.
 */
export function cumsumUpdate(
  rec: Recorder,
  o: {
    u: Binding;
    out: Binding;
    steps: GPUBuffer;
    stepIndex: number;
    batch: number;
    time: number;
    width: number;
    broadcastBase?: Binding;
    sqreluAux?: Binding;
  },
): void {
  const ctx = rec.ctx;
  rec.dispatch(
    CUMSUM_UPDATE,
    [
      o.u,
      o.broadcastBase ?? ctx.dummy(0),
      o.steps,
      o.out,
      o.sqreluAux ?? ctx.dummy(1),
    ],
    packUniforms({
      batch: o.batch,
      time: o.time,
      width: o.width,
      flags: (o.broadcastBase ? 1 : 0) | (o.sqreluAux ? 2 : 0),
      step_index: o.stepIndex,
    }),
    [Math.ceil(o.width / 64), o.batch, 1],
  );
}
