/**
 * The slow forward `f(θ, x)` of docs/definition.md §1 for every position, in float64.
 *
 * @module
 */

import { PARAM_NAMES, paramShapes } from "../fwl/params.ts";
import { shapeSize } from "../util/shape.ts";
import type { ReferenceCase, ReferenceSlowForward } from "./types.ts";

/**
 * Throws unless every array of the case has the length its sizes imply.
 */
export function referenceCheckCase(c: ReferenceCase): void {
  const { B, T, D, size, vocabSize: V } = c;
  // B and T may be 0 (nothing to compute); the widths must be positive
  const mins: [string, number, number][] = [
    ["B", B, 0],
    ["T", T, 0],
    ["D", D, 1],
    ["size", size, 1],
    ["vocabSize", V, 1],
  ];
  for (const [name, v, min] of mins) {
    if (!Number.isInteger(v) || v < min) {
      throw new RangeError(`${name} must be an integer >= ${min}, got ${v}`);
    }
  }
  if (!Number.isInteger(c.attnChunks) || c.attnChunks < 1) {
    throw new RangeError(`attnChunks must be a positive integer`);
  }
  const expect = (what: string, got: number, want: number) => {
    if (got !== want) {
      throw new RangeError(`${what} has length ${got}, expected ${want}`);
    }
  };
  expect("x", c.x.length, B * T * D);
  expect("weights", c.weights.length, B * T);
  if ("ids" in c.labels) expect("labels.ids", c.labels.ids.length, B * T);
  else expect("labels.oneHot", c.labels.oneHot.length, B * T * V);
  const shapes = paramShapes({ inputSize: D, size, vocabSize: V });
  for (const name of PARAM_NAMES) {
    const p = c.params[name];
    if (p === undefined) throw new RangeError(`missing parameter ${name}`);
    expect(name, p.length, shapeSize(shapes[name]));
  }
  referenceCheckNormalizer(c);
}

/**
 * Throws unless the case's normalizer is valid (`"batch"`, `N > 0`, or a running mean
 * with λ in (0, 1] and n0 ≥ 0) and a carried state, if any, fits it and the sizes.
 */
export function referenceCheckNormalizer(
  c: Pick<ReferenceCase, "B" | "D" | "size" | "normalizer" | "carried">,
): void {
  const n = c.normalizer ?? "batch";
  if (typeof n === "object") {
    const { decay = 1, prior = 0 } = n;
    if (!(decay > 0 && decay <= 1)) throw new RangeError(`decay must be in (0, 1], got ${decay}`);
    if (!(prior >= 0 && Number.isFinite(prior))) {
      throw new RangeError(`prior must be a finite number >= 0, got ${prior}`);
    }
  } else if (n !== "batch" && !(n > 0 && Number.isFinite(n))) {
    throw new RangeError(`normalizer must be "batch", a positive number or a running mean`);
  }
  const st = c.carried;
  if (st === undefined) return;
  if (n === "batch") throw new RangeError("the batch normalizer can't be carried");
  const { B, D, size: S } = c, H = 4 * S;
  const want = { s0: B * D * H, s1: B * H * S, sumH1: B * H, sumH2: B * S, sumGnNhat: B * S };
  for (const [k, len] of Object.entries({ ...want, sumGn: B * S, count: B })) {
    const got = st[k as keyof typeof st]?.length;
    if (got !== len) throw new RangeError(`carried.${k} has length ${got}, expected ${len}`);
  }
}

/**
 * Runs the slow forward of docs/definition.md §1 at every position and keeps the intermediates the
 * inner backward needs.
 */
export function referenceSlowForward(c: ReferenceCase): ReferenceSlowForward {
  referenceCheckCase(c);
  const { B, T, D, size: S, vocabSize: V } = c;
  const H = 4 * S;
  const eps = c.epsilon ?? 1e-6;
  const K0 = c.params["dense_0/kernel"], b0 = c.params["dense_0/bias"];
  const K1 = c.params["dense_1/kernel"], b1 = c.params["dense_1/bias"];
  const scale = c.params["layer_norm/scale"];
  const bias = c.params["layer_norm/bias"];
  const Ku = c.params["unembed/kernel"], bu = c.params["unembed/bias"];
  const P = B * T;
  const h1 = new Float64Array(P * H), a = new Float64Array(P * H);
  const h2 = new Float64Array(P * S), nhat = new Float64Array(P * S);
  const rstd = new Float64Array(P), n = new Float64Array(P * S);
  const logits = new Float64Array(P * V);
  for (let p = 0; p < P; p++) {
    // h1 = x·K0 + b0 ; a = relu(h1)²
    for (let j = 0; j < H; j++) {
      let acc = b0[j];
      for (let i = 0; i < D; i++) acc += c.x[p * D + i] * K0[i * H + j];
      h1[p * H + j] = acc;
      const r = Math.max(acc, 0);
      a[p * H + j] = r * r;
    }
    // h2 = a·K1 + b1
    for (let j = 0; j < S; j++) {
      let acc = b1[j];
      for (let i = 0; i < H; i++) acc += a[p * H + i] * K1[i * S + j];
      h2[p * S + j] = acc;
    }
    // layer norm with the biased variance
    let mu = 0;
    for (let j = 0; j < S; j++) mu += h2[p * S + j];
    mu /= S;
    let v = 0;
    for (let j = 0; j < S; j++) v += (h2[p * S + j] - mu) ** 2;
    v /= S;
    rstd[p] = 1 / Math.sqrt(v + eps);
    for (let j = 0; j < S; j++) {
      nhat[p * S + j] = (h2[p * S + j] - mu) * rstd[p];
      n[p * S + j] = nhat[p * S + j] * scale[j] + bias[j];
    }
    // logits = n·Ku + bu
    for (let u = 0; u < V; u++) {
      let acc = bu[u];
      for (let j = 0; j < S; j++) acc += n[p * S + j] * Ku[j * V + u];
      logits[p * V + u] = acc;
    }
  }
  return { h1, a, h2, nhat, rstd, n, logits };
}
