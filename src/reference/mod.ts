/**
 * The plain float64 CPU reference of an FWL block: the oracle the GPU kernels are
 * tested against (docs/definition.md §1–§2).
 *
 * @example
 * ```ts
 * import { referenceDefinition, referenceFastForward } from "./mod.ts";
 * import { initParams } from "../fwl/params.ts";
 * const c = {
 *   B: 1, T: 2, D: 2, size: 1, vocabSize: 3, attnChunks: 1,
 *   x: new Float64Array([0.5, -1, 1, 2]), labels: { ids: new Int32Array([2, -1]) },
 *   weights: new Float64Array([1, 0]),
 *   params: initParams({ inputSize: 2, size: 1, vocabSize: 3 }),
 * };
 * const a = referenceFastForward(c), b = referenceDefinition(c);
 * console.log(Math.abs(a[3] - b[3]) < 1e-12); // true
 * ```
 *
 * @module
 */

export type {
  Labels,
  ReferenceCase,
  ReferenceInnerBackward,
  ReferenceSlowForward,
} from "./types.ts";
export { referenceCheckCase, referenceSlowForward } from "./slow_forward.ts";
export { referenceInnerBackward, referenceNormalizer } from "./inner_backward.ts";
export {
  referenceChunkAttention,
  referenceExclusiveCumsum,
  referenceFastForward,
} from "./fast_forward.ts";
export { referenceDefinition } from "./definition.ts";
export { referenceMakeLabels } from "./make_labels.ts";
export {
  referenceGelu,
  referenceGeluGrad,
  referenceTransformerBackward,
  type ReferenceTransformerCase,
  referenceTransformerForward,
} from "./transformer.ts";
export {
  referenceLSTMBackward,
  type ReferenceLSTMCase,
  type ReferenceLSTMForward,
  referenceLSTMForward,
  type ReferenceLSTMLayer,
} from "./lstm.ts";
