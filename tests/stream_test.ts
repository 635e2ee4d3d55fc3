// Tests of FWLStream, the recurrent form (docs/definition.md §3): the logits streamed position by
// position equal the float64 reference and block.forward with the same fixed
// normalizer; clone branches; reset; every misuse raises a typed error; memory is flat.

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { FWLError, FWLInputError, FWLStateError } from "../src/errors.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { FWLStream } from "../src/fwl/stream.ts";
import {
  type ReferenceCase,
  referenceDefinition,
  referenceFastForward,
  referenceSlowForward,
} from "../src/reference/mod.ts";
import { gpuTensor, type Tensor, tensor } from "../src/tensor.ts";
import {
  assertClose,
  caseBlock,
  type CaseShape,
  maxAbsDiff,
  positions,
  type RandomCase,
  randomCase,
  uploadExact,
} from "./helpers.ts";

interface Spec extends CaseShape {
  N: number;
  labels: "ids" | "oneHot";
}

/** A random case (`randomCase`) with the spec it was made for. */
type Case = RandomCase & { spec: Spec };

/**
 * The spec's case: step sizes about 0.5 (so that a stream that ignored its state would
 * fail by far), position 0 of each sequence weighted, junk labels where the weight is 0.
 */
function makeCase(seed: number, spec: Spec): Case {
  const options = { normalizer: spec.N, labels: spec.labels, ignored: "junk" } as const;
  return { spec, ...randomCase(spec, seed, { ...options, firstWeighted: true }) };
}

/** The case for the reference, from the case's own arrays (which tests edit). */
function referenceCase(c: Case): ReferenceCase {
  const labels = c.spec.labels === "ids" ? { ids: c.ids } : { oneHot: c.oneHot };
  return { ...c.ref, x: c.x, labels, weights: c.weights, params: c.params };
}

/** The `[B, width]` slice of position t of a `[B, T, width]` array. */
function at<A extends Float32Array | Int32Array | Float64Array>(
  a: A,
  T: number,
  width: number,
  t: number,
): A {
  return positions(a, T, width, t, t + 1);
}

/** A block with the case's parameters under `normalizer` (default: the spec's). */
const makeBlock = (c: Case, normalizer: "batch" | number = c.spec.N) =>
  caseBlock(c, c.spec, normalizer);

/** Labels and weights of position t, as tensors. */
function labelsAt(c: Case, t: number): [Tensor, Tensor] {
  const { B, T, V } = c.spec;
  const labels = c.spec.labels === "ids"
    ? tensor(at(c.ids, T, 1, t), [B])
    : tensor(at(c.oneHot, T, V, t), [B, V]);
  return [labels, tensor(at(c.weights, T, 1, t), [B])];
}

/** Streams positions [from, to) of the case; returns the logits `[B, to−from, V]` row by row. */
async function streamRange(
  stream: FWLStream,
  c: Case,
  from: number,
  to: number,
): Promise<Float32Array[]> {
  const { B, T, D } = c.spec;
  const out: Float32Array[] = [];
  for (let t = from; t < to; t++) {
    const logits = await stream.predict(tensor(at(c.x, T, D, t), [B, D]));
    assertEquals(logits.shape, [B, c.spec.V]);
    assert(logits.isGPUResident);
    out.push(await logits.read());
    logits.dispose();
    await stream.observe(...labelsAt(c, t));
  }
  return out;
}

const SPECS: Spec[] = [
  { B: 1, T: 13, D: 5, size: 3, V: 7, C: 3, N: 1.5, labels: "ids" },
  { B: 3, T: 9, D: 7, size: 5, V: 11, C: 2, N: 2, labels: "oneHot" },
  { B: 3, T: 7, D: 1, size: 1, V: 3, C: 1, N: 0.75, labels: "ids" },
  { B: 2, T: 11, D: 33, size: 9, V: 67, C: 4, N: 3, labels: "ids" },
  { B: 1, T: 5, D: 3, size: 2, V: 130, C: 5, N: 1, labels: "oneHot" },
  // Every width a multiple of 4: the vec4 matmul kernels.
  { B: 2, T: 9, D: 8, size: 4, V: 20, C: 3, N: 2, labels: "ids" },
];

Deno.test("streamed logits equal the float64 reference and block.forward", async () => {
  for (const [k, spec] of SPECS.entries()) {
    const c = makeCase(10 + k, spec);
    const { B, T, D, V } = spec;
    const ref = referenceCase(c);
    const want = referenceFastForward(ref);
    // The reference itself: the efficient form equals the definition.
    assertClose(referenceDefinition(ref), want, 1e-9, `spec ${k}: definition`);
    // The fast-weight effect is large against the tolerance (a stateless stream fails).
    const slow = referenceSlowForward(ref).logits;
    assert(maxAbsDiff(slow, want) > 0.05, `spec ${k}: fast effect too small`);

    const block = await makeBlock(c);
    const stream = block.stream(B, { normalizer: spec.N }); // the public entry point
    assertEquals(stream.normalizer, spec.N);
    const rows = await streamRange(stream, c, 0, T);
    assertEquals(stream.position, T);
    const forward = await block.forward(
      tensor(c.x, [B, T, D]),
      spec.labels === "ids" ? tensor(c.ids, [B, T]) : tensor(c.oneHot, [B, T, V]),
      tensor(c.weights, [B, T]),
    );
    const par = await forward.read();
    forward.dispose();
    for (let t = 0; t < T; t++) {
      assertClose(rows[t], at(want, T, V, t), 2e-4, `spec ${k}: t=${t} vs reference`);
      assertClose(rows[t], at(par, T, V, t), 2e-4, `spec ${k}: t=${t} vs block.forward`);
    }
    stream.dispose();
    block.dispose();
  }
});

Deno.test("the stream's normalizer defaults to the block's numeric one", async () => {
  const spec = SPECS[0];
  const c = makeCase(30, spec);
  const block = await makeBlock(c);
  const stream = new FWLStream(block, spec.B);
  assertEquals(stream.normalizer, spec.N);
  const rows = await streamRange(stream, c, 0, spec.T);
  const want = referenceFastForward(referenceCase(c));
  for (let t = 0; t < spec.T; t++) {
    assertClose(rows[t], at(want, spec.T, spec.V, t), 2e-4, `t=${t}`);
  }
  stream.dispose();
  block.dispose();
});

Deno.test("a stream's own normalizer overrides the block's (and 'batch' blocks need one)", async () => {
  const spec = { ...SPECS[1], N: 4 };
  const c = makeCase(31, spec);
  const block = await makeBlock(c, "batch");
  const err = assertThrows(
    () => new FWLStream(block, spec.B),
    FWLInputError,
  );
  assertStringIncludes(err.message, "normalizer");
  assertStringIncludes(err.message, "{ normalizer:");
  assertStringIncludes(err.message, '"batch"');
  for (const bad of [0, -1, NaN, Infinity, "batch"]) {
    assertThrows(
      () => new FWLStream(block, spec.B, { normalizer: bad as number }),
      FWLInputError,
      "normalizer",
    );
  }
  const stream = new FWLStream(block, spec.B, { normalizer: 4 });
  const rows = await streamRange(stream, c, 0, spec.T);
  const want = referenceFastForward(referenceCase(c));
  for (let t = 0; t < spec.T; t++) {
    assertClose(rows[t], at(want, spec.T, spec.V, t), 2e-4, `t=${t}`);
  }
  stream.dispose();
  block.dispose();
});

Deno.test("clone() branches without disturbing the original", async () => {
  const spec: Spec = {
    B: 2,
    T: 10,
    D: 6,
    size: 4,
    V: 13,
    C: 3,
    N: 1.25,
    labels: "ids",
  };
  const split = 5;
  const a = makeCase(40, spec);
  // Branch b: the same first `split` positions, then other inputs and labels.
  const b = makeCase(41, spec);
  const { B, T, D, V } = spec;
  for (let s = 0; s < B; s++) {
    for (let t = 0; t < split; t++) {
      const p = s * T + t;
      b.x.set(a.x.subarray(p * D, (p + 1) * D), p * D);
      b.ids[p] = a.ids[p];
      b.weights[p] = a.weights[p];
    }
  }
  b.params = a.params;
  const block = await makeBlock(a);
  const wantA = referenceFastForward(referenceCase(a));
  const wantB = referenceFastForward(referenceCase(b));

  const original = new FWLStream(block, B);
  await streamRange(original, a, 0, split);
  // Clone between positions: interleave the two branches.
  const branch = original.clone();
  assertEquals(branch.position, split);
  assertEquals(branch.stateBytes, original.stateBytes);
  for (let t = split; t < T; t++) {
    const [rb] = await streamRange(branch, b, t, t + 1);
    const [ra] = await streamRange(original, a, t, t + 1);
    assertClose(ra, at(wantA, T, V, t), 2e-4, `original t=${t}`);
    assertClose(rb, at(wantB, T, V, t), 2e-4, `branch t=${t}`);
  }
  branch.dispose();

  // Clone with a prediction pending: the copy observes another label.
  original.reset();
  assertEquals(original.position, 0);
  await streamRange(original, a, 0, split);
  const logits = await original.predict(tensor(at(a.x, T, D, split), [B, D]));
  logits.dispose();
  const pending = original.clone();
  assert(pending.predicted);
  const other = makeCase(42, spec);
  const otherIds = at(other.ids, T, 1, split).map((v) => Math.abs(v) % V);
  await pending.observe(
    tensor(otherIds, [B]),
    tensor(new Float32Array(B).fill(1), [B]),
  );
  await original.observe(...labelsAt(a, split));
  pending.dispose();
  const rows = await streamRange(original, a, split + 1, T);
  for (let t = split + 1; t < T; t++) {
    assertClose(rows[t - split - 1], at(wantA, T, V, t), 2e-4, `after t=${t}`);
  }
  original.dispose();
  block.dispose();
});

Deno.test("reset() returns to position 0", async () => {
  const spec = SPECS[0];
  const c = makeCase(50, spec);
  const block = await makeBlock(c);
  const stream = new FWLStream(block, spec.B);
  await streamRange(stream, c, 0, 4);
  const logits = await stream.predict(
    tensor(at(c.x, spec.T, spec.D, 4), [spec.B, spec.D]),
  );
  logits.dispose();
  stream.reset();
  assertEquals(stream.position, 0);
  assert(!stream.predicted);
  const rows = await streamRange(stream, c, 0, spec.T);
  const want = referenceFastForward(referenceCase(c));
  for (let t = 0; t < spec.T; t++) {
    assertClose(rows[t], at(want, spec.T, spec.V, t), 2e-4, `t=${t}`);
  }
  stream.dispose();
  block.dispose();
});

Deno.test("GPU-resident inputs give the same logits as host inputs", async () => {
  const spec = SPECS[3];
  const c = makeCase(60, spec);
  const { B, T, D } = spec;
  const block = await makeBlock(c);
  const ctx = block.context;
  const upload = (data: Float32Array | Int32Array) => uploadExact(ctx, data);
  const stream = new FWLStream(block, B);
  const want = referenceFastForward(referenceCase(c));
  const made: GPUBuffer[] = [];
  for (let t = 0; t < T; t++) {
    const x = upload(at(c.x, T, D, t));
    const ids = upload(at(c.ids, T, 1, t));
    const w = upload(at(c.weights, T, 1, t));
    made.push(x, ids, w);
    const logits = await stream.predict(gpuTensor(ctx, x, [B, D]));
    assertClose(await logits.read(), at(want, T, spec.V, t), 2e-4, `t=${t}`);
    logits.dispose();
    await stream.observe(
      gpuTensor(ctx, ids, [B], "int32"),
      gpuTensor(ctx, w, [B]),
    );
  }
  for (const m of made) m.destroy();
  stream.dispose();
  block.dispose();
});

Deno.test("misuse raises typed errors and leaves the stream usable", async () => {
  const spec = SPECS[1]; // B = 3, D = 7, V = 11
  const c = makeCase(70, spec);
  const { B, T, D, V } = spec;
  const block = await makeBlock(c);
  const stream = new FWLStream(block, B);
  const x0 = tensor(at(c.x, T, D, 0), [B, D]);
  const ones = tensor(new Float32Array(B).fill(1), [B]);
  const ids = tensor(new Int32Array([0, 1, 2]), [B]);

  // Order of calls.
  const early = await assertRejects(
    () => stream.observe(ids, ones),
    FWLStateError,
  );
  assertStringIncludes(early.message, "predict(x)");
  (await stream.predict(x0)).dispose();
  const twice = await assertRejects(() => stream.predict(x0), FWLStateError);
  assertStringIncludes(twice.message, "observe(labels, weights)");

  // Bad observe arguments: nothing changes, the position stays predicted.
  const bad: [Tensor, Tensor, string][] = [
    [tensor(new Int32Array([0, 1]), [2]), ones, "labels"],
    [tensor(new Float32Array(B), [B]), ones, "labels"],
    [tensor(new Float32Array(B * (V + 1)), [B, V + 1]), ones, "labels"],
    [ids, tensor(new Int32Array(B), [B]), "weights"],
    [ids, tensor(new Float32Array(B + 1), [B + 1]), "weights"],
    [ids, tensor(new Float32Array([1, -0.5, 1]), [B]), "weights"],
    [ids, tensor(new Float32Array([1, NaN, 1]), [B]), "weights"],
    [tensor(new Int32Array([0, V, 1]), [B]), ones, "labels"],
    [tensor(new Int32Array([0, -1, 1]), [B]), ones, "labels"],
    [
      tensor(new Float32Array(B * V).fill(Infinity), [B, V]),
      ones,
      "labels",
    ],
  ];
  for (const [labels, weights, arg] of bad) {
    const e = await assertRejects(
      () => stream.observe(labels, weights),
      FWLInputError,
    );
    assertEquals(e.argument, arg);
  }
  await assertRejects(
    () => stream.observe("ids" as unknown as Tensor, ones),
    FWLInputError,
  );
  // A junk id where the weight is 0 is fine.
  await stream.observe(
    tensor(new Int32Array([c.ids[0], -1, V + 7]), [B]),
    tensor(new Float32Array([c.weights[0], 0, 0]), [B]),
  );

  // Bad predict arguments.
  for (
    const x of [
      tensor(new Float32Array(B * (D + 1)), [B, D + 1]),
      tensor(new Float32Array(D), [1, D]),
      tensor(new Float32Array(B * D), [B, 1, D]),
      tensor(new Int32Array(B * D), [B, D]),
      tensor(new Float32Array(B * D).fill(NaN), [B, D]),
    ]
  ) {
    const e = await assertRejects(() => stream.predict(x), FWLInputError);
    assertEquals(e.argument, "x");
  }
  const disposedX = tensor(new Float32Array(B * D), [B, D]);
  disposedX.dispose();
  await assertRejects(() => stream.predict(disposedX), FWLInputError);

  // Two calls at once.
  const first = stream.predict(tensor(at(c.x, T, D, 1), [B, D]));
  await assertRejects(
    () => stream.observe(ids, ones),
    FWLStateError,
    "still running",
  );
  assertThrows(() => stream.clone(), FWLStateError, "still running");
  (await first).dispose();
  await stream.observe(...labelsAt(c, 1));

  // The stream is still on the sequence, with position 0's labels as observed above:
  // sequences 1 and 2 had weight 0 there.
  const c2: Case = { ...c, weights: c.weights.slice() };
  for (const s of [1, 2]) c2.weights[s * T] = 0;
  const want = referenceFastForward(referenceCase(c2));
  const rows = await streamRange(stream, c, 2, 4);
  assertClose(rows[0], at(want, T, V, 2), 2e-4, "t=2");
  assertClose(rows[1], at(want, T, V, 3), 2e-4, "t=3");

  // Constructor arguments.
  assertThrows(() => new FWLStream(block, 0), FWLInputError, "batchSize");
  assertThrows(() => new FWLStream(block, 1.5), FWLInputError, "batchSize");
  assertThrows(
    () => new FWLStream({} as FWLBlock, 1, { normalizer: 1 }),
    FWLInputError,
    "block",
  );
  assertThrows(
    () => new FWLStream(block, 1, null as unknown as { normalizer: number }),
    FWLInputError,
    "options",
  );
  const unbuilt = new FWLBlock(3, 5, 1, { normalizer: 1 });
  assertThrows(() => new FWLStream(unbuilt, 1), FWLStateError, "build");
  // S0 of 9 sequences: 9 × 2048 × 2048 floats = 144 MiB, over a 128 MiB binding.
  const huge = new FWLBlock(512, 8, 1, { normalizer: 1 });
  await huge.build(2048);
  const perSequence = 2048 * 2048 * 4;
  const over = Math.floor(block.context.maxBindingBytes / perSequence) + 1;
  assertThrows(() => new FWLStream(huge, over), FWLError, "binding limit");
  huge.dispose();

  // Dispose: every call throws FWLStateError; dispose is idempotent.
  stream.dispose();
  stream.dispose();
  assert(stream.disposed);
  await assertRejects(() => stream.predict(x0), FWLStateError, "disposed");
  await assertRejects(() => stream.observe(ids, ones), FWLStateError);
  assertThrows(() => stream.reset(), FWLStateError);
  assertThrows(() => stream.clone(), FWLStateError);

  // A disposed block: the stream's calls throw FWLStateError.
  const orphan = new FWLStream(block, B);
  block.dispose();
  await assertRejects(() => orphan.predict(x0), FWLStateError);
  orphan.dispose();
});

Deno.test("memory does not grow with the position, and dispose returns it", async () => {
  const spec = SPECS[3];
  const c = makeCase(80, spec);
  const block = await makeBlock(c);
  const pool = block.context.pool;
  const stream = new FWLStream(block, spec.B);
  const { B, D, size } = spec;
  const H = 4 * size;
  assertEquals(stream.stateBytes, 4 * B * (D * H + H * size + H + 3 * size));
  await streamRange(stream, c, 0, 2);
  const before = pool.allocatedBytes;
  await streamRange(stream, c, 2, spec.T);
  assertEquals(pool.allocatedBytes, before);
  const bytes = stream.stateBytes;
  assertEquals(bytes, 4 * B * (D * H + H * size + H + 3 * size));
  stream.dispose();
  const again = new FWLStream(block, B);
  assertEquals(pool.allocatedBytes, before);
  // A clone holds a second state; cloning and disposing again reuses it.
  again.clone().dispose();
  const withClone = pool.allocatedBytes;
  for (let i = 0; i < 3; i++) again.clone().dispose();
  assertEquals(pool.allocatedBytes, withClone);
  again.dispose();
  block.dispose();
});
