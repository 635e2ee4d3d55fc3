/**
 * The slow forward of docs/definition.md §2 (`src/reference/slow_forward.ts`), shared by the
 * parallel forward, the training forward and the stream's per-token step:
 * `h1 = x·K0 + b0`, `a = relu(h1)²`, `n = LN(a·K1 + b1) ⊙ scale + bias`.
 *
 * @module
 */

import type { Binding, Recorder } from "../../gpu/recorder.ts";
import { linearLayerNorm } from "../../kernels/linear_layer_norm.ts";
import { matmulNN } from "../../kernels/matmul.ts";
import type { ParamBuffers } from "../head.ts";

/** The slow activations, `[rows, width]` row-major. */
export interface SlowForward {
  /** `x·K0 + b0` `[rows, H]`. */
  h1: GPUBuffer;
  /** `relu(h1)²` `[rows, H]`. */
  a: GPUBuffer;
  /** The normalized `h2` `[rows, size]`. */
  nhat: GPUBuffer;
  /** `1 / σ(h2)` `[rows]`. */
  rstd: GPUBuffer;
  /** The slow layer norm's output `[rows, size]`. */
  n: GPUBuffer;
}

/** Rows and widths of a slow forward. */
export interface SlowDims {
  rows: number;
  inputSize: number;
  size: number;
  epsilon: number;
}

/** The first layer, `h1 = x·K0 + b0` and `a = relu(h1)²`, in one matmul. */
export function slowFirstLayer(
  rec: Recorder,
  p: ParamBuffers,
  d: SlowDims,
  x: Binding,
  out: Pick<SlowForward, "h1" | "a">,
): void {
  const H = 4 * d.size;
  matmulNN(rec, x, p.k0, out.h1, d.rows, d.inputSize, H, {
    bias: { buffer: p.b0 },
    sqreluAux: out.a,
  });
}

/**
 * The second layer and the layer norm, `n = LN(a·K1 + b1) ⊙ scale + bias` (also `nhat`
 * and `rstd`), fused when the width allows: `h2` never reaches memory.
 */
export function slowSecondLayer(
  rec: Recorder,
  p: ParamBuffers,
  d: SlowDims,
  a: Binding,
  out: Pick<SlowForward, "n" | "nhat" | "rstd">,
): void {
  linearLayerNorm(rec, {
    x: a,
    w: p.k1,
    bias: p.b1,
    scale: p.scale,
    lnBias: p.bias,
    out: out.n,
    nhat: out.nhat,
    rstd: out.rstd,
    rows: d.rows,
    k: 4 * d.size,
    n: d.size,
    eps: d.epsilon,
  });
}

/** The whole slow forward of `x` `[rows, inputSize]` into fresh scratch of `rec`. */
export function recordSlowForward(
  rec: Recorder,
  p: ParamBuffers,
  d: SlowDims,
  x: Binding,
): SlowForward {
  const buf = (elements: number) => rec.scratch(elements * 4);
  const M = d.rows, S = d.size, H = 4 * S;
  const first = { h1: buf(M * H), a: buf(M * H) };
  slowFirstLayer(rec, p, d, x, first);
  const second = { nhat: buf(M * S), rstd: buf(M), n: buf(M * S) };
  slowSecondLayer(rec, p, d, first.a, second);
  return { ...first, ...second };
}
