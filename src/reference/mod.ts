/**
 * The float64 CPU reference of everything the GPU computes: plain loops, no GPU, the
 * oracle this package's kernels are tested against. Each part follows a section of
 * `docs/definition.md`:
 *
 * - **The block (§1)**: {@linkcode referenceSlowForward} (the slow forward `f(θ, x)`),
 *   {@linkcode referenceDefinition} (the fast logits literally by the definition: one
 *   SGD step per position on the inner loss of the earlier ones), and the shared types
 *   ({@linkcode ReferenceCase}, {@linkcode Labels}); {@linkcode referenceCheckCase}
 *   validates a case.
 * - **How it is computed (§2)**: {@linkcode referenceInnerBackward} (the hand-written
 *   inner backward) and {@linkcode referenceNormalizer}, {@linkcode referenceFastForward}
 *   (the efficient form: causal linear attention by mixed chunks, from
 *   {@linkcode referenceChunkAttention} and {@linkcode referenceExclusiveCumsum}).
 * - **The recurrence (§3)**: {@linkcode referenceAdvanceState} (the state a window
 *   leaves, {@linkcode ReferenceFastState}), fed back as `carried`.
 * - **Training (§4)**: {@linkcode referenceLossAndGrads} (the outer loss and its exact
 *   second-order gradients by reverse-mode autodiff) and {@linkcode referenceOuterLoss}
 *   (the same loss with no tape, for finite differences).
 * - **Long documents (§6)**: the running-mean normalizer ({@linkcode ReferenceMean}),
 *   taken by every function above through `normalizer`.
 * - **Bodies**: {@linkcode referenceMakeLabels} (next-token labels of a batch),
 *   {@linkcode referenceLSTMForward} / {@linkcode referenceLSTMBackward} and
 *   {@linkcode referenceTransformerForward} / {@linkcode referenceTransformerBackward},
 *   the models the FWL head sits on.
 *
 * @example
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { referenceDefinition, referenceFastForward } from "./mod.ts";
 * import { initParams } from "../fwl/params.ts";
 * const c = {
 *   B: 1, T: 2, D: 2, size: 1, vocabSize: 3, attnChunks: 1,
 *   x: new Float64Array([0.5, -1, 1, 2]), labels: { ids: new Int32Array([2, -1]) },
 *   weights: new Float64Array([1, 0]),
 *   params: initParams({ inputSize: 2, size: 1, vocabSize: 3 }),
 * };
 * const a = referenceFastForward(c), b = referenceDefinition(c);
 * assertEquals(a.length, 2 * 3); // [B·T, V] logits
 * for (let i = 0; i < a.length; i++) assertAlmostEquals(a[i], b[i], 1e-12);
 * ```
 *
 * @module
 */

export type {
  Labels,
  ReferenceCase,
  ReferenceFastState,
  ReferenceInnerBackward,
  ReferenceMean,
  ReferenceSlowForward,
} from "./types.ts";
export { referenceCheckCase, referenceSlowForward } from "./slow_forward.ts";
export { referenceInnerBackward, referenceNormalizer } from "./inner_backward.ts";
export {
  referenceAdvanceState,
  referenceChunkAttention,
  referenceExclusiveCumsum,
  referenceFastForward,
} from "./fast_forward.ts";
export { referenceDefinition } from "./definition.ts";
export {
  type ReferenceGradOptions,
  type ReferenceLossAndGrads,
  referenceLossAndGrads,
  referenceOuterLoss,
} from "./outer_grad.ts";
export { referenceMakeLabels } from "./make_labels.ts";
export type { TransformerDims } from "../bodies/transformer_params.ts";
export {
  referenceGelu,
  referenceGeluGrad,
  referenceTransformerBackward,
  type ReferenceTransformerCase,
  referenceTransformerForward,
} from "./transformer.ts";
export type { LSTMDims } from "../bodies/lstm_params.ts";
export {
  referenceLSTMBackward,
  type ReferenceLSTMCase,
  type ReferenceLSTMForward,
  referenceLSTMForward,
  type ReferenceLSTMLayer,
} from "./lstm.ts";
