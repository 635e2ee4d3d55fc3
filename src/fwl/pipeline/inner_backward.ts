/**
 * The inner backward of docs/definition.md §2 (`src/reference/inner_backward.ts`), shared by the
 * parallel forward, the training forward and the stream: the gradients of the inner
 * loss `Σ w·CE(n·Ku + bu, y) / N` at the slow activations, by position:
 * `g_n = g_z·Kuᵀ` with `g_z = w/N·(softmax(z) − y)` (the logits in tiles),
 * `g_h2` and `g_n ⊙ n̂` from the layer-norm backward, `g_h1 = (g_h2·K1ᵀ) ⊙ 2relu(h1)`.
 *
 * @module
 */

import type { Recorder } from "../../gpu/recorder.ts";
import { matmulNT } from "../../kernels/matmul.ts";
import { layerNormBackward } from "../../kernels/layer_norm.ts";
import type { ParamBuffers } from "../head.ts";
import { innerSoftmaxGrad, type Logits, type Targets } from "./logits_tiles.ts";
import type { SlowForward } from "./slow_forward.ts";

/** The inner gradients, `[rows, width]` scratch of the recorder. */
export interface InnerGrads {
  /** `g_n` `[rows, size]`. */
  gn: GPUBuffer;
  /** `g_h2` `[rows, size]`. */
  gh2: GPUBuffer;
  /** `g_n ⊙ n̂` `[rows, size]` (the gradient of the layer-norm scale per position). */
  gnNhat: GPUBuffer;
  /** `g_h1` `[rows, H]`. */
  gh1: GPUBuffer;
}

/**
 * Records the inner backward of the slow activations `slow` (the logits of `slow.n`
 * under `logits.tiling`, `targets.norm` the inner normalizer).
 */
export function recordInnerBackward(
  rec: Recorder,
  p: ParamBuffers,
  logits: Logits & Targets,
  slow: Pick<SlowForward, "h1" | "n" | "nhat" | "rstd">,
): InnerGrads {
  const M = logits.rows, S = logits.size, H = 4 * S;
  const buf = (elements: number) => rec.scratch(elements * 4);
  const gn = buf(M * S);
  innerSoftmaxGrad(rec, logits, slow.n, gn);
  const gh2 = buf(M * S), gnNhat = buf(M * S);
  layerNormBackward(rec, {
    gN: gn,
    nhat: slow.nhat,
    rstd: slow.rstd,
    scale: p.scale,
    gX: gh2,
    gScale: gnNhat,
    rows: M,
    width: S,
  });
  // g_h1 = (g_h2·K1ᵀ) ⊙ 2relu(h1), in one matmul.
  const gh1 = buf(M * H);
  matmulNT(rec, gh2, p.k1, gh1, M, S, H, { gateAux: slow.h1 });
  return { gn, gh2, gnNhat, gh1 };
}
