// The running-mean normalizer of docs/definition.md §6 on the GPU against the float64 reference: the
// parallel form at odd shapes and chunk counts, windows carried through a state (split at
// arbitrary points), the token-by-token stream, a sequence alone against it in a batch,
// the decay as a parameter, and the typed errors.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { FWLInputError } from "../src/errors.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import type { FWLState } from "../src/fwl/state.ts";
import { DECAY_NAME, type MeanNormalizerOptions } from "../src/fwl/normalizer.ts";
import { referenceDefinition, referenceFastForward } from "../src/reference/mod.ts";
import { tensor } from "../src/tensor.ts";
import {
  assertClose,
  caseBlock,
  caseInputs,
  type CaseShape,
  type RandomCase,
  randomCase,
  referenceNormalizerOf,
  relativeError,
  sliceCase,
} from "./helpers.ts";

const TOL = 2e-4;

const MEANS: MeanNormalizerOptions[] = [
  {},
  { decay: 0.8 },
  { decay: 0.9, prior: 3 },
  { prior: 1.5 },
  { decay: 0.85, learnDecay: true },
];

const SHAPES: CaseShape[] = [
  { B: 1, T: 1, D: 3, size: 2, V: 5, C: 1 },
  { B: 2, T: 7, D: 5, size: 3, V: 11, C: 3 },
  { B: 3, T: 13, D: 4, size: 3, V: 7, C: 4 }, // size 2 (n̂ = ±1) is ill-conditioned in float32
  { B: 1, T: 23, D: 6, size: 3, V: 5, C: 20 },
];

/** The reference case of `c` under a normalizer. */
function refCase(c: RandomCase, normalizer: MeanNormalizerOptions | number) {
  return { ...c.ref, normalizer: referenceNormalizerOf(normalizer) };
}

Deno.test("running mean: the forward equals the reference at odd shapes and chunk counts", async () => {
  for (const [k, s] of SHAPES.entries()) {
    for (const [m, mean] of MEANS.entries()) {
      const c = randomCase(s, 100 + 10 * k + m);
      using block = await caseBlock(c, s, mean);
      using logits = await block.forward(...caseInputs(c.ref));
      const got = await logits.read();
      const want = referenceFastForward(refCase(c, mean));
      assertClose(got, want, TOL, `shape ${k}, ${JSON.stringify(mean)}`);
      if (k === 1) assert(relativeError(want, referenceDefinition(refCase(c, mean))) < 1e-9);
      if (s.T > 2) {
        // The update is large: a block that skipped it (or normalized otherwise) fails.
        const plain = referenceFastForward({ ...refCase(c, mean), normalizer: 1e30 });
        assert(relativeError(got, plain) > 0.05, `shape ${k}: the update is visible`);
      }
    }
  }
});

/** The logits of `c` in windows `[bounds[i], bounds[i+1])` through `state`, as one array. */
async function carriedLogits(
  block: FWLBlock,
  c: RandomCase,
  s: CaseShape,
  bounds: number[],
  state: FWLState,
): Promise<Float32Array> {
  const out = new Float32Array(s.B * s.T * s.V);
  for (let i = 0; i + 1 < bounds.length; i++) {
    const [t0, t1] = [bounds[i], bounds[i + 1]];
    using logits = await block.forward(...caseInputs(sliceCase(c.ref, t0, t1)), { state });
    const got = await logits.read();
    const n = (t1 - t0) * s.V;
    for (let b = 0; b < s.B; b++) {
      out.set(got.subarray(b * n, (b + 1) * n), (b * s.T + t0) * s.V);
    }
  }
  return out;
}

Deno.test("running mean: windows carried through a state equal the reference over the whole sequence", async () => {
  const s = { B: 2, T: 19, D: 4, size: 3, V: 7, C: 3 };
  for (const [m, mean] of [...MEANS, 8].entries()) {
    const c = randomCase(s, 200 + m);
    using block = await caseBlock(c, s, mean);
    const want = referenceFastForward(refCase(c, mean));
    for (const cuts of [[0, 19], [0, 1, 2, 9, 18, 19], [0, 7, 14, 19]]) {
      using state = block.state(s.B);
      const got = await carriedLogits(block, c, s, cuts, state);
      assertClose(got, want, TOL, `${JSON.stringify(mean)}, windows at ${cuts}`);
      assertEquals(state.position, s.T);
    }
  }
});

Deno.test("running mean: the stream equals the reference and continues from windows", async () => {
  const s = { B: 2, T: 11, D: 4, size: 2, V: 7, C: 2 };
  for (const [m, mean] of [{ decay: 0.75, prior: 2 }, {}].entries()) {
    const c = randomCase(s, 300 + m);
    using block = await caseBlock(c, s, mean);
    const want = referenceFastForward(refCase(c, mean));
    using state = block.state(s.B);
    const first = await carriedLogits(block, c, s, [0, 4], state);
    const V = s.V;
    using stream = block.stream(s.B, { state });
    for (let t = 4; t < s.T; t++) {
      const [x, ids, w] = caseInputs(sliceCase(c.ref, t, t + 1));
      using logits = await stream.predict(tensor(x.hostData!, [s.B, s.D]));
      const got = await logits.read();
      for (let b = 0; b < s.B; b++) {
        const row = want.subarray((b * s.T + t) * V, (b * s.T + t + 1) * V);
        assertClose(got.subarray(b * V, (b + 1) * V), row, TOL, `${m}: stream t=${t}, b=${b}`);
      }
      await stream.observe(tensor(ids.hostData!, [s.B]), tensor(w.hostData!, [s.B]));
    }
    for (let b = 0; b < s.B; b++) {
      const rows = (a: ArrayLike<number>) => Array.from(a).slice(b * s.T * V, (b * s.T + 4) * V);
      assertClose(rows(first), rows(want), TOL, `${m}: windows before the stream`);
    }
  }
});

Deno.test("running mean: a sequence's logits do not change when others join the batch", async () => {
  const s = { B: 3, T: 9, D: 4, size: 2, V: 5, C: 2 };
  const c = randomCase(s, 400);
  const mean = { decay: 0.9, prior: 1 };
  using block = await caseBlock(c, s, mean);
  using all = await block.forward(...caseInputs(c.ref));
  const one = sliceCase(c.ref, 0, s.T, 1, 2);
  using alone = await block.forward(...caseInputs(one));
  const n = s.T * s.V;
  const together = (await all.read()).subarray(n, 2 * n);
  assertClose(await alone.read(), together, 1e-5, "sequence 1 alone and in the batch");
});

Deno.test("running mean: the decay is a parameter; bad normalizers and states throw typed errors", async () => {
  const s = { B: 1, T: 6, D: 3, size: 2, V: 5, C: 1 };
  const c = randomCase(s, 500);
  using block = await caseBlock(c, s, { decay: 0.9 });
  const params = await block.getParams();
  assert(Math.abs(params[DECAY_NAME][0] - 0.9) < 1e-7, "λ is read back");
  assertEquals(block.paramShapes[DECAY_NAME], []);
  // A new λ, and the logits follow it.
  params[DECAY_NAME] = new Float32Array([0.6]);
  await block.setParams(params);
  using logits = await block.forward(...caseInputs(c.ref));
  assertClose(await logits.read(), referenceFastForward(refCase(c, { decay: 0.6 })), TOL, "λ 0.6");
  // A plain running mean has no λ to set.
  using plain = await caseBlock(c, s, {});
  assertEquals(DECAY_NAME in (await plain.getParams()), false);
  for (
    const normalizer of [
      { decay: 0 },
      { decay: 1.2 },
      { prior: -1 },
      { prior: Infinity },
      { decay: 1, learnDecay: true },
      { decay: 0.5, learnDecay: "yes" },
      { decay: 0.5, lambda: 0.5 },
      "median",
      0,
    ]
  ) {
    assertThrows(
      // deno-lint-ignore no-explicit-any
      () => new FWLBlock(2, 5, 1, { normalizer: normalizer as any }),
      FWLInputError,
      "normalizer",
    );
  }
  using batch = new FWLBlock(2, 5, 1);
  await batch.build(3);
  assertThrows(() => batch.state(1), FWLInputError, "carried");
  assertThrows(() => batch.stream(1), FWLInputError, "carried");
  await assertRejects(
    // deno-lint-ignore no-explicit-any
    () => block.forward(...caseInputs(c.ref), { state: {} as any }),
    FWLInputError,
  );
});
