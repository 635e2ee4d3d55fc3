// Tests of fast weights carried across windows (docs/definition.md §3): windows scored one after
// another with an FWLState equal the float64 reference over the whole sequence, one long
// call, and the token-by-token stream; state and stream continue from each other; memory
// is flat over windows; misuse raises typed errors.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { FWLInputError, FWLStateError } from "../src/errors.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { FWLState } from "../src/fwl/state.ts";
import { referenceFastForward } from "../src/reference/mod.ts";
import { tensor } from "../src/tensor.ts";
import {
  assertClose,
  caseBlock,
  type CaseShape,
  maxAbsDiff,
  positionNll,
  positions,
  randomCase,
} from "./helpers.ts";

type Case = ReturnType<typeof randomCase>;

/** Window `[t0, t0 + len)` of a case as the block's inputs (ids or one-hot labels). */
function window(c: Case, s: CaseShape, t0: number, len: number, oneHot = false) {
  const { B, T, D, V } = s;
  return [
    tensor(positions(c.x, T, D, t0, t0 + len), [B, len, D]),
    oneHot
      ? tensor(positions(c.oneHot, T, V, t0, t0 + len), [B, len, V])
      : tensor(positions(c.ids, T, 1, t0, t0 + len), [B, len]),
    tensor(positions(c.weights, T, 1, t0, t0 + len), [B, len]),
  ] as const;
}

/** Scores `c` in consecutive windows of the given lengths, carrying `state`. */
async function scoreWindows(
  block: FWLBlock,
  c: Case,
  s: CaseShape,
  lengths: number[],
  state: FWLState | undefined,
): Promise<Float32Array> {
  const { B, T } = s;
  const nll = new Float32Array(B * T);
  let t0 = 0;
  for (const len of lengths) {
    const part = (await block.score(...window(c, s, t0, len), { state })).nll;
    for (let b = 0; b < B; b++) nll.set(part.subarray(b * len, (b + 1) * len), b * T + t0);
    t0 += len;
  }
  assertEquals(t0, T);
  return nll;
}

const N = 6;
const CASES: { shape: CaseShape; windows: number[][] }[] = [
  // One sequence: windows of 1, of a prime length, ragged; T not a multiple of C.
  {
    shape: { B: 1, T: 23, D: 5, size: 3, V: 11, C: 3 },
    windows: [[23], Array(23).fill(1), [7, 7, 7, 2], [5, 1, 11, 6]],
  },
  // Several sequences, attention chunks inside each window.
  { shape: { B: 3, T: 17, D: 4, size: 2, V: 7, C: 2 }, windows: [[13, 4], [3, 5, 9]] },
];

Deno.test("windows with a carried state equal the reference and one long call", async () => {
  for (const [i, { shape: s, windows }] of CASES.entries()) {
    const c = randomCase(s, 40 + i, { normalizer: N });
    const block = await caseBlock(c, s, "batch"); // the state's normalizer is used
    const want = positionNll(referenceFastForward(c.ref), c.ids, c.weights, s.V);
    const long = await caseBlock(c, s, N);
    const whole = (await long.score(...window(c, s, 0, s.T))).nll;
    assertClose(whole, want, 2e-4, `case ${i}: one call`);
    for (const lengths of windows) {
      using state = block.state(s.B, { normalizer: N });
      const got = await scoreWindows(block, c, s, lengths, state);
      assertClose(got, want, 2e-4, `case ${i}: windows ${lengths}`);
      assertEquals(state.position, s.T);
      if (lengths.length > 1) {
        // Without the state the later windows are far off: the test can tell.
        const fresh = await scoreWindows(long, c, s, lengths, undefined);
        assert(maxAbsDiff(fresh, want) > 0.05, `case ${i}: windows ${lengths} without state`);
      }
    }
    block.dispose();
    long.dispose();
  }
});

Deno.test("forward with a carried state gives the reference logits (one-hot labels)", async () => {
  const s = CASES[1].shape;
  const c = randomCase(s, 50, { normalizer: N });
  const block = await caseBlock(c, s, N);
  const want = referenceFastForward(c.ref);
  using state = block.state(s.B);
  for (const [t0, len] of [[0, 6], [6, 11]]) {
    using logits = await block.forward(...window(c, s, t0, len, true), { state });
    assertClose(
      await logits.read(),
      positions(Float32Array.from(want), s.T, s.V, t0, t0 + len),
      2e-4,
      `window at ${t0}`,
    );
  }
  block.dispose();
});

Deno.test("a stream continues from windows, and windows from a stream", async () => {
  const s = { B: 2, T: 12, D: 4, size: 3, V: 9, C: 2 };
  const c = randomCase(s, 60, { normalizer: N });
  const block = await caseBlock(c, s, N);
  const want = referenceFastForward(c.ref);
  const { B, T, D, V } = s;
  const row = (t: number, a: Float32Array | Float64Array | Int32Array, width: number) =>
    positions(a instanceof Float64Array ? Float32Array.from(a) : a, T, width, t, t + 1);
  // Windows for positions 0…4, the stream for 5…8, a window again for 9…11.
  using state = block.state(B);
  await block.score(...window(c, s, 0, 5), { state });
  const stream = block.stream(B, { state });
  assertEquals(stream.position, 5);
  for (let t = 5; t < 9; t++) {
    using logits = await stream.predict(tensor(row(t, c.x, D), [B, D]));
    assertClose(await logits.read(), row(t, want, V), 2e-4, `stream t=${t}`);
    await stream.observe(tensor(row(t, c.ids, 1), [B]), tensor(row(t, c.weights, 1), [B]));
  }
  stream.dispose();
  assert(!state.disposed, "the stream leaves a state it did not make");
  assertEquals(state.position, 9);
  using logits = await block.forward(...window(c, s, 9, 3), { state });
  assertClose(await logits.read(), positions(Float32Array.from(want), T, V, 9, 12), 2e-4, "window");
  // A stream's own state, carried into a window.
  const own = block.stream(B);
  for (let t = 0; t < 4; t++) {
    (await own.predict(tensor(row(t, c.x, D), [B, D]))).dispose();
    await own.observe(tensor(row(t, c.ids, 1), [B]), tensor(row(t, c.weights, 1), [B]));
  }
  const nll = (await block.score(...window(c, s, 4, 8), { state: own.state })).nll;
  const ce = positionNll(want, c.ids, c.weights, V);
  for (let b = 0; b < B; b++) {
    assertClose(nll.subarray(b * 8, b * 8 + 8), ce.subarray(b * T + 4, b * T + 12), 2e-4, "own");
  }
  own.dispose();
  assert(own.state.disposed, "a stream disposes the state it made");
  block.dispose();
});

Deno.test("windows with a carried state equal the token-by-token stream", async () => {
  const s = { B: 2, T: 14, D: 5, size: 3, V: 8, C: 3 };
  const c = randomCase(s, 65, { normalizer: N });
  const block = await caseBlock(c, s, N);
  const { B, T, D, V } = s;
  const logits = new Float32Array(B * T * V);
  const stream = block.stream(B);
  for (let t = 0; t < T; t++) {
    const [x, ids, w] = window(c, s, t, 1);
    const out = await stream.predict(tensor(x.hostData!, [B, D]));
    const row = await out.read();
    out.dispose();
    for (let b = 0; b < B; b++) logits.set(row.subarray(b * V, (b + 1) * V), (b * T + t) * V);
    await stream.observe(tensor(ids.hostData!, [B]), tensor(w.hostData!, [B]));
  }
  stream.dispose();
  using state = block.state(B);
  const windows = await scoreWindows(block, c, s, [3, 2, 9], state);
  assertClose(windows, positionNll(logits, c.ids, c.weights, V), 2e-4, "windows vs stream");
  block.dispose();
});

Deno.test("memory is flat over carried windows; clone and reset", async () => {
  const s = { B: 1, T: 16, D: 8, size: 4, V: 13, C: 2 };
  const c = randomCase(s, 70, { normalizer: N });
  const block = await caseBlock(c, s, N);
  const pool = block.context.pool;
  const state = block.state(1);
  const { D, size } = s, H = 4 * size;
  assertEquals(state.bytes, 4 * (D * H + H * size + H + 3 * size));
  await block.score(...window(c, s, 0, 8), { state });
  const before = pool.allocatedBytes;
  for (let i = 0; i < 20; i++) await block.score(...window(c, s, 8, 8), { state });
  assertEquals(pool.allocatedBytes, before);
  assertEquals(state.position, 8 + 20 * 8);
  // reset: back to the slow weights; clone: a copy that moves on its own.
  state.reset();
  await block.score(...window(c, s, 0, 8), { state });
  const copy = state.clone();
  const a = (await block.score(...window(c, s, 8, 8), { state })).nll;
  const b = (await block.score(...window(c, s, 8, 8), { state: copy })).nll;
  assertEquals(a, b);
  assertEquals(copy.position, 16);
  copy.dispose();
  state.dispose();
  block.dispose();
});

Deno.test("misuse of a state raises typed errors", async () => {
  const s = { B: 2, T: 4, D: 3, size: 2, V: 5, C: 1 };
  const c = randomCase(s, 80, { normalizer: N });
  const block = await caseBlock(c, s, "batch");
  const args = window(c, s, 0, 4);
  // The "batch" normalizer can't be carried; bad normalizers and sizes.
  assertThrows(() => block.state(2), FWLInputError, "normalizer");
  for (const bad of [0, -1, NaN, "batch"]) {
    assertThrows(() => block.state(2, { normalizer: bad as number }), FWLInputError, "normalizer");
  }
  assertThrows(() => block.state(0, { normalizer: N }), FWLInputError, "batchSize");
  assertThrows(() => new FWLState({} as FWLBlock, 1), FWLInputError, "block");
  assertThrows(() => new FWLBlock(2, 5, 1, { normalizer: 1 }).state(1), FWLStateError, "build");
  const state = block.state(2, { normalizer: N });
  // Wrong kind, wrong batch, another block, the plain head, a stream's normalizer.
  await assertRejects(
    () => block.score(...args, { state: {} as FWLState }),
    FWLInputError,
    "options.state",
  );
  const one = block.state(1, { normalizer: N });
  await assertRejects(() => block.score(...args, { state: one }), FWLInputError, "2 sequences");
  const other = await caseBlock(c, s, N);
  await assertRejects(() => other.score(...args, { state }), FWLInputError, "another block");
  assertThrows(() => other.stream(2, { state }), FWLInputError, "another block");
  await assertRejects(
    () => block.score(...args, { state, fastWeights: false }),
    FWLInputError,
    "plain head",
  );
  assertThrows(() => block.stream(2, { state, normalizer: N + 1 }), FWLInputError, "normalizer");
  assertEquals(state.position, 0);
  // Disposed: every use throws FWLStateError; dispose is idempotent.
  one.dispose();
  one.dispose();
  await assertRejects(() => block.score(...args, { state: one }), FWLStateError, "disposed");
  assertThrows(() => one.clone(), FWLStateError, "disposed");
  assertThrows(() => one.reset(), FWLStateError, "disposed");
  assertThrows(() => block.stream(1, { state: one }), FWLStateError, "disposed");
  // Rebuilt at the same width (fresh parameters): old states and streams belong to the
  // old weights and are refused, as after a rebuild at another width.
  const stream = block.stream(2, { normalizer: N });
  await block.build(s.D);
  await assertRejects(() => block.score(...args, { state }), FWLStateError, "rebuilt");
  const x1 = tensor(new Float32Array(2 * s.D), [2, s.D]);
  await assertRejects(() => stream.predict(x1), FWLStateError, "rebuilt");
  stream.dispose();
  // A rebuilt block: its old states no longer fit.
  await block.build(s.D + 1);
  const wider = tensor(new Float32Array(2 * 4 * (s.D + 1)), [2, 4, s.D + 1]);
  await assertRejects(
    () => block.score(wider, args[1], args[2], { state }),
    FWLStateError,
    "rebuilt",
  );
  state.dispose();
  block.dispose();
  other.dispose();
});
