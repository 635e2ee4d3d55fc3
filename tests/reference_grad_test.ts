// Outer-loss gradients of the float64 reference (docs/definition.md §4) against central finite
// differences of the tape-free outer loss.

import { PARAM_NAMES, paramShapes } from "../src/fwl/params.ts";
import { SeededRandom } from "../src/util/random.ts";
import { shapeSize } from "../src/util/shape.ts";
import { referenceLossAndGrads, referenceOuterLoss } from "../src/reference/outer_grad.ts";
import type { ReferenceCase } from "../src/reference/types.ts";

function assert(cond: boolean, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const d = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) d[i] = a[i] - b[i];
  return norm(d) / Math.max(norm(a), norm(b), 1e-300);
}

interface Shape {
  B: number;
  T: number;
  D: number;
  size: number;
  V: number;
  oneHot: boolean;
  normalizer?: "batch" | number;
  epsilon?: number;
}

function makeCase(s: Shape, seed: number): ReferenceCase {
  const rng = new SeededRandom(seed);
  const { B, T, D, size, V } = s;
  const shapes = paramShapes({ inputSize: D, size, vocabSize: V });
  const params: Record<string, Float64Array> = {};
  for (const name of PARAM_NAMES) {
    const p = new Float64Array(shapeSize(shapes[name]));
    for (let i = 0; i < p.length; i++) {
      if (name.endsWith("_step")) p[i] = 0.3 + 0.4 * rng.uniform(); // ~0.5: large fast effect
      else if (name === "layer_norm/scale") p[i] = 1 + 0.3 * rng.normal();
      else if (name.endsWith("kernel")) {
        p[i] = (name.startsWith("unembed") ? 0.7 : 0.35) * rng.normal();
      } else p[i] = 0.2 * rng.normal();
    }
    params[name] = p;
  }
  const x = new Float64Array(B * T * D).map(() => rng.normal());
  const weights = new Float64Array(B * T).map(
    () => (rng.uniform() < 0.25 ? 0 : 0.5 + rng.uniform()),
  );
  if (weights.every((w) => w === 0)) weights[0] = 1;
  const ids = new Int32Array(B * T).map(() => Math.floor(rng.uniform() * V));
  for (let r = 0; r < B * T; r++) {
    if (weights[r] === 0) {
      ids[r] = r % 2 ? -1 : V + 3;
    }
  }
  let labels: ReferenceCase["labels"] = { ids };
  if (s.oneHot) {
    const oneHot = new Float64Array(B * T * V);
    for (let r = 0; r < B * T; r++) oneHot[r * V + ((ids[r] % V) + V) % V] = 1;
    labels = { oneHot };
  }
  return {
    B,
    T,
    D,
    size,
    vocabSize: V,
    attnChunks: 1,
    x,
    labels,
    weights,
    params,
    normalizer: s.normalizer,
    epsilon: s.epsilon,
  };
}

/** Central finite difference of the outer loss at one coordinate of `target`. */
function fdAt(
  c: ReferenceCase,
  target: Float64Array,
  i: number,
  h: number,
): number {
  const keep = target[i];
  target[i] = keep + h;
  const up = referenceOuterLoss(c);
  target[i] = keep - h;
  const down = referenceOuterLoss(c);
  target[i] = keep;
  return (up - down) / (2 * h);
}

/** Checks every gradient (at most `maxCoords` random coordinates of each) against finite differences. */
function checkCase(s: Shape, seed: number, maxCoords = 64): void {
  const c = makeCase(s, seed);
  const { grads } = referenceLossAndGrads(c);
  const rng = new SeededRandom(seed + 1000);
  const h = 1e-5;
  const names = [...PARAM_NAMES, "x"];
  assert(
    Object.keys(grads).length === 15,
    `expected 15 gradients, got ${Object.keys(grads).length}`,
  );
  for (const name of names) {
    const target = (name === "x" ? c.x : c.params[name]) as Float64Array;
    const g = grads[name];
    assert(
      g !== undefined && g.length === target.length,
      `${name}: gradient of wrong length`,
    );
    let coords = [...target.keys()];
    if (coords.length > maxCoords) {
      for (let i = coords.length - 1; i > 0; i--) {
        const j = Math.floor(rng.uniform() * (i + 1));
        [coords[i], coords[j]] = [coords[j], coords[i]];
      }
      coords = coords.slice(0, maxCoords);
    }
    const fd = coords.map((i) => fdAt(c, target, i, h));
    const an = coords.map((i) => g[i]);
    const err = relDiff(an, fd);
    const scale = Math.max(norm(an), norm(fd));
    // Relative error ≤ 1e-6, or (for a gradient that is ~0, e.g. the step sizes at T = 1)
    // an absolute difference under the finite-difference rounding floor.
    const ok = err <= 1e-6 || err * scale <= 1e-9;
    assert(
      ok,
      `${JSON.stringify(s)} ${name}: relative error ${err.toExponential(2)} (|g| ${
        scale.toExponential(2)
      })`,
    );
  }
}

Deno.test("outer gradients match finite differences: B=1, T=1, ids", () => {
  checkCase({ B: 1, T: 1, D: 3, size: 3, V: 5, oneHot: false }, 1);
});

Deno.test("outer gradients match finite differences: B=2, T=5, one-hot", () => {
  checkCase({ B: 2, T: 5, D: 4, size: 3, V: 6, oneHot: true }, 2);
});

Deno.test("outer gradients match finite differences: B=3, T=7, ids", () => {
  checkCase({ B: 3, T: 7, D: 5, size: 3, V: 7, oneHot: false }, 3);
});

// With size = 2 the layer norm maps every row to ±1 up to ε, so everything below it has
// ε-sized gradients; a large ε keeps them measurable by finite differences.
Deno.test("outer gradients match finite differences: B=2, T=6, size=2, fixed N, ε=0.1", () => {
  checkCase({
    B: 2,
    T: 6,
    D: 3,
    size: 2,
    V: 5,
    oneHot: true,
    normalizer: 3.5,
    epsilon: 0.1,
  }, 4);
});

Deno.test("outer gradients match finite differences: B=1, T=4, size=2, ids, ε=0.1", () => {
  checkCase(
    { B: 1, T: 4, D: 6, size: 2, V: 7, oneHot: false, epsilon: 0.1 },
    5,
  );
});

Deno.test("tape loss equals the tape-free outer loss", () => {
  const shapes: Shape[] = [
    { B: 1, T: 1, D: 3, size: 2, V: 5, oneHot: false },
    { B: 2, T: 5, D: 4, size: 3, V: 6, oneHot: true },
    { B: 3, T: 7, D: 5, size: 3, V: 7, oneHot: false, normalizer: 11 },
  ];
  shapes.forEach((s, k) => {
    const c = makeCase(s, 10 + k);
    const tape = referenceLossAndGrads(c).loss;
    const plain = referenceOuterLoss(c);
    assert(Number.isFinite(plain) && plain > 0, `loss ${plain}`);
    assert(
      Math.abs(tape - plain) <= 1e-12 * Math.max(1, Math.abs(plain)),
      `tape ${tape} vs plain ${plain}`,
    );
  });
});

Deno.test("first-order gradients differ from the full second-order ones", () => {
  const c = makeCase({ B: 2, T: 6, D: 4, size: 3, V: 6, oneHot: false }, 21);
  const full = referenceLossAndGrads(c);
  const first = referenceLossAndGrads(c, { firstOrderOnly: true });
  assert(
    full.loss === first.loss,
    "the loss must not depend on firstOrderOnly",
  );
  // The step-size gradients agree (each pairs the outer gradient with the same update);
  // everything else also flows through the inner gradients and must change.
  for (
    const name of [...PARAM_NAMES.filter((n) => !n.endsWith("_step")), "x"]
  ) {
    const d = relDiff(full.grads[name], first.grads[name]);
    assert(
      d > 1e-2,
      `${name}: first-order differs by only ${d.toExponential(2)}`,
    );
  }
});

Deno.test("weight-0 positions with out-of-range ids contribute nothing", () => {
  const c = makeCase({ B: 2, T: 4, D: 3, size: 2, V: 5, oneHot: false }, 31);
  const ids = (c.labels as { ids: Int32Array }).ids;
  const base = referenceLossAndGrads(c);
  const w = c.weights as Float64Array;
  for (let r = 0; r < ids.length; r++) {
    if (w[r] === 0) {
      ids[r] = r % 2 ? -7 : 1000;
    }
  }
  const again = referenceLossAndGrads(c);
  assert(
    base.loss === again.loss,
    "loss changed with ids at weight-0 positions",
  );
  for (const name of Object.keys(base.grads)) {
    assert(
      relDiff(base.grads[name], again.grads[name]) === 0,
      `${name} changed`,
    );
  }
});
