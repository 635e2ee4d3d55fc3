/**
 * The backward recording of an `LSTMBody`: backpropagation through time over a
 * forward's saved activations, writing (overwriting) every parameter's gradient.
 *
 * @module
 */

import type { GPUContext } from "../gpu/context.ts";
import { Recorder } from "../gpu/recorder.ts";
import { matmulNT, matmulTN } from "../kernels/matmul.ts";
import { colsum } from "../kernels/reductions.ts";
import { segmentsByKey, segmentSum } from "../kernels/segment_sum.ts";
import { lstmBackward } from "../kernels/lstm.ts";
import type { ParamStore } from "../params/store.ts";
import type { Tensor } from "../tensor.ts";
import type { LSTMSaved } from "./lstm_forward.ts";
import type { LSTMDims } from "./lstm_params.ts";

/**
 * Runs the backward of the forward that `saved` kept, for dLoss/dHidden `[B, T, H]`
 * (checked by the caller): per layer, from the top, one recurrence dispatch back through
 * time, the weight gradients as one matmul each over all rows, and the input gradient;
 * then the embedding gradient as a deterministic per-token sum (no atomics).
 */
export async function runLSTMBackward(
  where: string,
  ctx: GPUContext,
  dims: LSTMDims,
  params: ParamStore,
  saved: LSTMSaved,
  dHidden: Tensor<"float32">,
): Promise<void> {
  const { B, T } = saved;
  const H = dims.hiddenSize, E = dims.embedSize, G = 4 * H, V = dims.vocabSize;
  const R = B * (T + 1);
  const rec = new Recorder(ctx);
  const dh0 = dHidden.gpuBuffer(ctx) ?? rec.upload(dHidden.hostData!);
  const dz = rec.scratch(R * G * 4);
  let dh: GPUBuffer = dh0;
  let dhLayout = { base: 0, seq: T * H };
  for (let l = dims.layers - 1; l >= 0; l--) {
    const { gates, c, h } = saved.layers[l];
    const width = l === 0 ? E : H;
    const input = l === 0 ? saved.x0 : saved.layers[l - 1].h;
    const W = params.get(`lstm_${l}/kernel`);
    const U = params.get(`lstm_${l}/recurrent_kernel`);
    const bias = params.get(`lstm_${l}/bias`);
    lstmBackward(rec, {
      batch: B,
      time: T,
      hidden: H,
      gates,
      gatesLayout: { base: G, seq: (T + 1) * G },
      c,
      cLayout: { base: H, seq: (T + 1) * H },
      recurrent: U.buffer,
      dh,
      dhLayout,
      dz,
      dzLayout: { base: G, seq: (T + 1) * G },
      zeroRow: true,
    });
    // dW = Σ_rows x_rowᵀ dz_row (rows of the initial slots pair zeros with zeros).
    matmulTN(rec, { x: input, g: dz, out: W.grad, rows: R, m: width, n: G });
    // dU = Σ_t h_{t−1}ᵀ dz_t: row r−1 of h (h_{−1} = 0 at the initial slot) with row r of dz.
    matmulTN(rec, { x: h, g: dz, out: U.grad, rows: R - 1, m: H, n: G, gBase: G });
    colsum(rec, { a: dz, rows: R, width: G, out: bias.grad });
    // dx = dz·Wᵀ, in the padded layout (zero at the initial slots).
    const dx = rec.scratch(R * width * 4);
    matmulNT(rec, dz, W.buffer, dx, R, G, width);
    dh = dx;
    dhLayout = { base: H, seq: (T + 1) * H };
  }
  // Position b·T + t sits at padded row b·(T+1) + 1 + t.
  const rowOf = (n: number) => n + Math.floor(n / T) + 1;
  const { offsets, index } = segmentsByKey(saved.tokens, V, rowOf);
  segmentSum(rec, {
    offsets: rec.upload(offsets),
    index: rec.upload(index),
    src: dh,
    out: params.get("embedding").grad,
    segments: V,
    width: E,
  });
  await rec.submit(where);
}
