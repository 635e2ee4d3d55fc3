/**
 * `@x/fwl/reference`: the float64 CPU reference of everything the GPU computes, the
 * oracle this package's kernels are tested against. Use it to check your own kernels or
 * a port. Each part follows a section of `docs/definition.md`:
 *
 * - the FWL block by its definition, {@linkcode referenceDefinition}, and its slow
 *   forward, {@linkcode referenceSlowForward} (§1);
 * - the efficient form: the inner backward {@linkcode referenceInnerBackward} and the
 *   parallel fast pass {@linkcode referenceFastForward} (§2);
 * - the state carried from window to window, {@linkcode referenceAdvanceState} (§3);
 * - the outer loss and its exact gradients, {@linkcode referenceLossAndGrads} and
 *   {@linkcode referenceOuterLoss} (§4);
 * - the running-mean normalizer of long documents, {@linkcode ReferenceMean} (§6);
 * - the LSTM and transformer bodies, {@linkcode referenceLSTMForward} and
 *   {@linkcode referenceTransformerForward} with their backwards, and next-token labels,
 *   {@linkcode referenceMakeLabels}.
 *
 * @example The parallel form equals the definition
 * ```ts
 * import { assertAlmostEquals, assertEquals } from "@std/assert";
 * import { referenceDefinition, referenceFastForward } from "@x/fwl/reference";
 * import { initParams } from "@x/fwl/gpu";
 * const c = {
 *   B: 1, T: 2, D: 2, size: 1, vocabSize: 3, attnChunks: 1,
 *   x: new Float64Array([0.5, -1, 1, 2]), labels: { ids: new Int32Array([2, -1]) },
 *   weights: new Float64Array([1, 0]),
 *   params: initParams({ inputSize: 2, size: 1, vocabSize: 3 }),
 * };
 * // The parallel (linear attention) form equals the definition, position by position.
 * const fast = referenceFastForward(c), slow = referenceDefinition(c);
 * assertEquals(fast.length, 2 * 3); // [B·T, V] logits
 * for (let i = 0; i < fast.length; i++) assertAlmostEquals(fast[i], slow[i], 1e-12);
 * ```
 *
 * @example The exact gradient against a finite difference
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
 * import { referenceLossAndGrads, referenceOuterLoss } from "@x/fwl/reference";
 * import { initParams } from "@x/fwl/gpu";
 * const params = initParams({ inputSize: 2, size: 1, vocabSize: 3 }, 1);
 * const c = {
 *   B: 1, T: 3, D: 2, size: 1, vocabSize: 3, attnChunks: 1,
 *   x: new Float64Array([0.5, -1, 1, 2, -0.3, 0.7]),
 *   labels: { ids: new Int32Array([2, 0, 1]) },
 *   weights: new Float64Array([1, 1, 1]),
 *   params,
 * };
 * const { loss, grads } = referenceLossAndGrads(c);
 * assertAlmostEquals(loss, referenceOuterLoss(c), 1e-12);
 * // d loss / d x[0] by central differences
 * const at = (v: number) => {
 *   const x = Float64Array.from(c.x);
 *   x[0] = v;
 *   return referenceOuterLoss({ ...c, x });
 * };
 * const h = 1e-5;
 * assertAlmostEquals(grads["x"][0], (at(0.5 + h) - at(0.5 - h)) / (2 * h), 1e-6);
 * ```
 *
 * @module
 */

export * from "./src/reference/mod.ts";
