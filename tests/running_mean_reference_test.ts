// The float64 reference of docs/definition.md §6 (the running-mean normalizer): the efficient form
// against the literal definition, windows carried against one long case, batch
// independence, and the outer gradients (the decay λ included) against central finite
// differences, with and without a carried state.

import { assert, assertThrows } from "@std/assert";
import {
  type ReferenceCase,
  referenceDefinition,
  referenceFastForward,
} from "../src/reference/mod.ts";
import { referenceAdvanceState } from "../src/reference/fast_forward.ts";
import { referenceLossAndGrads, referenceOuterLoss } from "../src/reference/outer_grad.ts";
import type { ReferenceMean } from "../src/reference/types.ts";
import { DECAY_NAME } from "../src/fwl/normalizer.ts";
import { type CaseShape, randomCase, relativeError, sliceCase } from "./helpers.ts";

const MEANS: ReferenceMean[] = [
  {},
  { decay: 0.7 },
  { decay: 0.9, prior: 3 },
  { prior: 0.5 },
];
const SHAPES: CaseShape[] = [
  { B: 1, T: 1, D: 3, size: 2, V: 5, C: 1 },
  { B: 2, T: 7, D: 4, size: 3, V: 5, C: 3 },
  { B: 3, T: 13, D: 3, size: 2, V: 7, C: 4 },
  { B: 1, T: 11, D: 5, size: 3, V: 3, C: 20 },
];

Deno.test("running mean: the efficient form equals the definition (λ, n0, chunks)", () => {
  for (const [k, shape] of SHAPES.entries()) {
    for (const [m, mean] of MEANS.entries()) {
      const c = randomCase(shape, 10 * k + m, { normalizer: mean }).ref;
      const fast = referenceFastForward(c);
      const err = relativeError(fast, referenceDefinition(c));
      assert(err <= 1e-10, `shape ${k}, mean ${JSON.stringify(mean)}: ${err}`);
      // not the slow head: the update moved the logits
      const none = referenceFastForward({ ...c, params: zeroSteps(c.params) });
      if (shape.T > 2) assert(relativeError(none, fast) > 1e-2, "the update is visible");
    }
  }
});

Deno.test("running mean: windows carried through the state equal one long case", () => {
  const shape = { B: 2, T: 17, D: 4, size: 3, V: 5, C: 3 };
  for (const normalizer of [...MEANS, 16] as (ReferenceMean | number)[]) {
    const c = randomCase(shape, 3, { normalizer }).ref;
    const whole = referenceFastForward(c);
    const V = c.vocabSize;
    for (const cuts of [[5], [1, 2, 9, 16], [8, 12]]) {
      let carried: ReferenceCase["carried"];
      const bounds = [0, ...cuts, c.T];
      for (let i = 0; i + 1 < bounds.length; i++) {
        const part = { ...sliceCase(c, bounds[i], bounds[i + 1]), carried };
        const got = referenceFastForward(part);
        for (let b = 0; b < c.B; b++) {
          const want = whole.slice((b * c.T + bounds[i]) * V, (b * c.T + bounds[i + 1]) * V);
          const rows = got.slice(b * part.T * V, (b + 1) * part.T * V);
          const err = relativeError(rows, want);
          assert(err <= 1e-11, `${JSON.stringify(normalizer)} cuts ${cuts}: window ${i}: ${err}`);
        }
        // the definition agrees on the carried window too
        const def = referenceDefinition(part);
        assert(relativeError(got, def) <= 1e-10, `definition, window ${i}`);
        carried = referenceAdvanceState(part);
      }
    }
  }
});

Deno.test("running mean: a sequence's logits do not depend on the rest of the batch", () => {
  const normalizer = { decay: 0.8, prior: 1 };
  const c = randomCase({ B: 3, T: 9, D: 4, size: 2, V: 5, C: 2 }, 8, { normalizer }).ref;
  const all = referenceFastForward(c);
  const one = referenceFastForward(sliceCase(c, 0, c.T, 1, 2));
  const V = c.vocabSize;
  assert(relativeError(one, all.slice(c.T * V, 2 * c.T * V)) <= 1e-13, "sequence 1 alone");
  // while under the batch normalizer it does
  const batch = { ...c, normalizer: "batch" as const };
  const oneBatch = referenceFastForward(sliceCase(batch, 0, c.T, 1, 2));
  const allBatch = referenceFastForward(batch).slice(c.T * V, 2 * c.T * V);
  assert(relativeError(oneBatch, allBatch) > 1e-3, "the batch normalizer couples sequences");
});

Deno.test("running mean: bad λ, n0 and a carried batch normalizer throw", () => {
  const c = randomCase({ B: 1, T: 3, D: 2, size: 1, V: 3, C: 1 }, 1).ref;
  for (const normalizer of [{ decay: 0 }, { decay: 1.5 }, { prior: -1 }, { prior: NaN }]) {
    assertThrows(() => referenceFastForward({ ...c, normalizer }), RangeError);
  }
  const carried = referenceAdvanceState({ ...c, normalizer: {} });
  assertThrows(() => referenceFastForward({ ...c, carried }), RangeError, "batch");
  assertThrows(() => referenceAdvanceState(c), RangeError, "batch");
});

/** Central differences of the outer loss at a few coordinates of each parameter and x. */
function checkGradients(c: ReferenceCase, what: string, firstOrderOnly = false): void {
  const { loss, grads } = referenceLossAndGrads(c, { firstOrderOnly });
  const literal = referenceOuterLoss(c);
  assert(Math.abs(loss - literal) <= 1e-12 * (1 + Math.abs(literal)), `${what}: loss`);
  if (firstOrderOnly) return;
  const h = 1e-6;
  const fd = (set: (delta: number) => void): number => {
    set(h);
    const up = referenceOuterLoss(c);
    set(-2 * h);
    const down = referenceOuterLoss(c);
    set(h);
    return (up - down) / (2 * h);
  };
  const check = (name: string, analytic: number, numeric: number) => {
    const err = Math.abs(analytic - numeric);
    assert(
      err <= 2e-6 * Math.max(1, Math.abs(numeric)),
      `${what}: ${name}: analytic ${analytic}, central difference ${numeric}`,
    );
  };
  for (const [name, p] of Object.entries(c.params)) {
    for (const i of [0, Math.floor(p.length / 2), p.length - 1]) {
      check(`${name}[${i}]`, grads[name][i], fd((d) => (p[i] += d)));
    }
  }
  const x = c.x as Float64Array;
  for (const i of [0, 7, x.length - 1]) check(`x[${i}]`, grads.x[i], fd((d) => (x[i] += d)));
  if (typeof c.normalizer === "object") {
    const mean = c.normalizer;
    const lambda = mean.decay ?? 1;
    const at = (d: number) =>
      referenceOuterLoss({ ...c, normalizer: { ...mean, decay: lambda + d } });
    // λ = 1 is the edge of its range: a one-sided difference there (second order too)
    const numeric = lambda < 1
      ? (at(h) - at(-h)) / (2 * h)
      : (3 * at(0) - 4 * at(-h) + at(-2 * h)) / (2 * h);
    check(DECAY_NAME, grads[DECAY_NAME][0], numeric);
    assert(Math.abs(numeric) > 1e-4, `${what}: λ matters`);
  }
}

Deno.test("running mean: outer gradients, λ included, equal central differences", () => {
  const shape = { B: 2, T: 6, D: 3, size: 2, V: 4, C: 1 };
  for (const [m, mean] of [{ decay: 0.8 }, { decay: 0.95, prior: 2 }, {}].entries()) {
    const c = randomCase(shape, 30 + m, { normalizer: { ...mean }, float64: true }).ref;
    checkGradients(c, `mean ${JSON.stringify(mean)}`);
    checkGradients(c, `first order ${JSON.stringify(mean)}`, true);
  }
});

Deno.test("running mean: outer gradients with a carried state (a constant) equal central differences", () => {
  const shape = { B: 2, T: 9, D: 3, size: 2, V: 4, C: 1 };
  for (const normalizer of [{ decay: 0.85, prior: 1 }, 6] as (ReferenceMean | number)[]) {
    const c = randomCase(shape, 41, { normalizer, float64: true }).ref;
    const carried = referenceAdvanceState(sliceCase(c, 0, 4));
    const window = { ...sliceCase(c, 4, 9), carried };
    checkGradients(window, `carried, ${JSON.stringify(normalizer)}`);
  }
});

function zeroSteps(params: ReferenceCase["params"]): ReferenceCase["params"] {
  return Object.fromEntries(
    Object.entries(params).map(([k, v]) => [k, k.endsWith("_step") ? v.map(() => 0) : v]),
  );
}
