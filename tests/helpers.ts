// Shared helpers of the GPU tests: random cases and comparisons against the reference.

import { SeededRandom } from "../src/util/random.ts";
import { initParams, type ParamName } from "../src/fwl/params.ts";
import type { ReferenceCase } from "../src/reference/types.ts";

/** Throws unless |actual − expected| ≤ tol·(1 + |expected|) everywhere; returns the worst ratio. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
): number {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: length ${actual.length} ≠ ${expected.length}`);
  }
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const r = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    if (!(r <= worst)) {
      worst = r;
      at = i;
    }
  }
  if (!(worst <= tol)) {
    throw new Error(
      `${what}: max |Δ|/(1+|ref|) = ${worst} at ${at} (got ${actual[at]}, want ${
        expected[at]
      }), tolerance ${tol}`,
    );
  }
  return worst;
}

/** Largest |a − b|. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A random array of normals. */
export function randomNormal(
  rng: SeededRandom,
  n: number,
  scale = 1,
): Float32Array {
  return new Float32Array(n).map(() => scale * rng.normal());
}

/** Shape of a random FWL case. */
export interface CaseShape {
  B: number;
  T: number;
  D: number;
  size: number;
  V: number;
  C: number;
}

/** A random case: params with step sizes near 0.5, random weights (some 0, id -1 there). */
export function randomCase(
  shape: CaseShape,
  seed: number,
  normalizer: "batch" | number = "batch",
): {
  params: Record<ParamName, Float32Array>;
  x: Float32Array;
  ids: Int32Array;
  oneHot: Float32Array;
  weights: Float32Array;
  ref: ReferenceCase;
} {
  const { B, T, D, size, V, C } = shape;
  const rng = new SeededRandom(seed);
  const params = initParams({ inputSize: D, size, vocabSize: V }, seed + 1);
  // Larger slow weights than the default init so the fast update is large.
  for (const k of ["dense_0/kernel", "dense_1/kernel"] as const) {
    params[k] = params[k].map((v) => v * 6);
  }
  for (
    const k of [
      "dense_0/bias",
      "dense_1/bias",
      "layer_norm/bias",
      "unembed/bias",
    ] as const
  ) {
    params[k] = randomNormal(rng, params[k].length, 0.1);
  }
  params["layer_norm/scale"] = params["layer_norm/scale"].map(() => 1 + 0.2 * rng.normal());
  for (const k of Object.keys(params) as ParamName[]) {
    if (k.endsWith("_step")) {
      params[k] = new Float32Array([0.4 + 0.2 * rng.uniform()]);
    }
  }
  const x = randomNormal(rng, B * T * D);
  const weights = new Float32Array(B * T).map(() => rng.uniform() < 0.25 ? 0 : 0.5 + rng.uniform());
  const ids = new Int32Array(B * T).map((_, i) =>
    weights[i] === 0 ? -1 : Math.floor(rng.uniform() * V)
  );
  const oneHot = new Float32Array(B * T * V);
  ids.forEach((id, i) => {
    if (id >= 0) oneHot[i * V + id] = 1;
  });
  const ref: ReferenceCase = {
    B,
    T,
    D,
    size,
    vocabSize: V,
    attnChunks: C,
    x,
    labels: { ids },
    weights,
    params,
    normalizer,
  };
  return { params, x, ids, oneHot, weights, ref };
}
