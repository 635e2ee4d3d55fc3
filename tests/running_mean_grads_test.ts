// Training through docs/definition.md §6's running mean on the GPU against the float64 reference's
// second-order gradients: every parameter's gradient, x's and the decay λ's, at odd
// shapes and chunk counts, first order, windows that read a carried state (a constant:
// truncated backpropagation) and advance it, and gradient accumulation.

import { assert, assertEquals } from "@std/assert";
import { DECAY_NAME, type MeanNormalizerOptions } from "../src/fwl/normalizer.ts";
import { referenceLossAndGrads } from "../src/reference/outer_grad.ts";
import { referenceAdvanceState } from "../src/reference/fast_forward.ts";
import type { ReferenceCase } from "../src/reference/types.ts";
import {
  caseBlock,
  caseInputs,
  type CaseShape,
  randomCase,
  referenceNormalizerOf,
  relativeNormError,
  sliceCase,
} from "./helpers.ts";

const TOLERANCE = 1e-3;

function compare(
  what: string,
  got: { loss: number; grads: Record<string, Float32Array> },
  want: { loss: number; grads: Record<string, Float64Array> },
  names: string[],
): void {
  assert(
    Math.abs(got.loss - want.loss) <= 1e-4 * (1 + Math.abs(want.loss)),
    `${what}: loss ${got.loss} vs ${want.loss}`,
  );
  for (const name of names) {
    const err = relativeNormError(got.grads[name], want.grads[name]);
    assert(err <= TOLERANCE, `${what}: ${name} relative error ${err.toExponential(2)}`);
  }
}

const SHAPES: CaseShape[] = [
  { B: 1, T: 1, D: 3, size: 3, V: 5, C: 1 },
  { B: 2, T: 7, D: 5, size: 3, V: 11, C: 3 },
  { B: 3, T: 13, D: 4, size: 3, V: 7, C: 4 },
  { B: 1, T: 17, D: 6, size: 4, V: 5, C: 20 },
];
const MEANS: MeanNormalizerOptions[] = [
  {},
  { decay: 0.8, learnDecay: true },
  { decay: 0.9, prior: 2, learnDecay: true },
  { decay: 0.85 },
];

Deno.test("running mean: the GPU's gradients (λ's too) equal the reference's at odd shapes", async () => {
  for (const [k, s] of SHAPES.entries()) {
    for (const [m, mean] of MEANS.entries()) {
      const c = randomCase(s, 700 + 10 * k + m);
      using block = await caseBlock(c, s, mean);
      const ref = { ...c.ref, normalizer: referenceNormalizerOf(mean) };
      const names = Object.keys(await block.getParams()).concat("x");
      const got = await block.lossAndGrads(...caseInputs(ref));
      compare(`shape ${k}, ${JSON.stringify(mean)}`, got, referenceLossAndGrads(ref), names);
      if (DECAY_NAME in got.grads && s.T > 2) {
        assert(Math.abs(got.grads[DECAY_NAME][0]) > 1e-4, "λ's gradient is not trivially 0");
      }
      const first = await block.lossAndGrads(...caseInputs(ref), { firstOrderOnly: true });
      const wantFirst = referenceLossAndGrads(ref, { firstOrderOnly: true });
      compare(`first order, shape ${k}, ${JSON.stringify(mean)}`, first, wantFirst, names);
    }
  }
});

Deno.test("running mean: training windows read a carried state as a constant and advance it", async () => {
  const s = { B: 2, T: 16, D: 4, size: 3, V: 7, C: 2 };
  for (const [m, mean] of [{ decay: 0.8, prior: 1, learnDecay: true }, {}, 5].entries()) {
    const c = randomCase(s, 800 + m);
    using block = await caseBlock(c, s, mean as MeanNormalizerOptions | number);
    const whole = { ...c.ref, normalizer: referenceNormalizerOf(mean as MeanNormalizerOptions) };
    const names = Object.keys(await block.getParams()).concat("x");
    using state = block.state(s.B);
    let carried: ReferenceCase["carried"];
    for (const [t0, t1] of [[0, 5], [5, 6], [6, 16]]) {
      const window = { ...sliceCase(whole, t0, t1), carried };
      const got = await block.lossAndGrads(...caseInputs(window), { state });
      compare(
        `${JSON.stringify(mean)}: window ${t0}…${t1}`,
        got,
        referenceLossAndGrads(window),
        names,
      );
      carried = referenceAdvanceState(window);
      assertEquals(state.position, t1);
    }
  }
});
