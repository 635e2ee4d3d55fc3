/**
 * @x/fwl/reference — the float64 CPU reference of everything the GPU computes: the FWL
 * block by its definition and by the parallel fast pass, the inner backward, the outer
 * gradients, the running mean, and the LSTM and transformer bodies. It is the oracle
 * this package's kernels are tested against; use it to check your own kernels or a port
 * (docs/definition.md gives the math it follows, section by section).
 *
 * @example
 * ```ts
 * import { assertAlmostEquals } from "@std/assert";
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
 * assertAlmostEquals(fast[3], slow[3], 1e-12);
 * ```
 *
 * @module
 */

export * from "./src/reference/mod.ts";
