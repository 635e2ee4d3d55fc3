// FWLBlock on the WebGPU adapter against the float64 reference.

import { assert, assertEquals, assertGreater, assertRejects, assertThrows } from "@std/assert";
import { FWLBlock, FWLInputError, FWLStateError, makeLabels, tensor } from "../mod.ts";
import { gpuTensor, initParams, PARAM_NAMES } from "../gpu.ts";
import {
  referenceDefinition,
  referenceFastForward,
  referenceSlowForward,
} from "../src/reference/mod.ts";
import {
  assertClose,
  type CaseShape,
  maxAbsDiff,
  positionNll,
  type RandomCase,
  randomCase,
  readFloats,
  tiledForward,
  uploadTo,
} from "./helpers.ts";

const TOL = 2e-4;

async function gpuLogits(
  shape: CaseShape,
  c: RandomCase,
  form: "ids" | "one-hot" = "ids",
  normalizer: "batch" | number = "batch",
): Promise<Float32Array> {
  const { B, T, D, size, V, C } = shape;
  using block = new FWLBlock(size, V, C, { normalizer });
  await block.build(D);
  await block.setParams(c.params);
  const labels = form === "ids" ? tensor(c.ids, [B, T]) : tensor(c.oneHot, [B, T, V]);
  using logits = await block.forward(
    tensor(c.x, [B, T, D]),
    labels,
    tensor(c.weights, [B, T]),
  );
  assertEquals(logits.shape, [B, T, V]);
  return await logits.read();
}

const SHAPES: CaseShape[] = [
  { B: 1, T: 1, D: 5, size: 3, V: 7, C: 1 },
  { B: 2, T: 7, D: 5, size: 3, V: 11, C: 3 },
  { B: 3, T: 13, D: 9, size: 5, V: 17, C: 4 },
  { B: 1, T: 13, D: 4, size: 2, V: 5, C: 13 },
  { B: 2, T: 9, D: 7, size: 3, V: 97, C: 1 },
  { B: 2, T: 5, D: 3, size: 7, V: 13, C: 8 },
  { B: 3, T: 64, D: 48, size: 24, V: 97, C: 23 },
  { B: 1, T: 40, D: 33, size: 9, V: 65, C: 5 },
];

Deno.test("forward equals the definition (one SGD step per prefix) at odd shapes", async () => {
  for (const [i, shape] of SHAPES.entries()) {
    const c = randomCase(shape, 100 + i);
    c.ref.epsilon = 1e-6;
    const want = referenceDefinition(c.ref);
    const got = await gpuLogits(shape, c);
    assertClose(got, want, TOL, `shape ${JSON.stringify(shape)}`);
    // The fast-weight effect must dwarf the tolerance: a head that skipped the
    // update (slow logits) would fail.
    if (shape.T > 1) {
      const slow = referenceSlowForward(c.ref).logits;
      assertGreater(
        maxAbsDiff(slow, want),
        100 * TOL,
        `fast ≠ slow at ${JSON.stringify(shape)}`,
      );
    }
  }
});

Deno.test("one-hot labels and ids give the same logits", async () => {
  const shape = { B: 2, T: 11, D: 6, size: 4, V: 23, C: 3 };
  const c = randomCase(shape, 7);
  const ids = await gpuLogits(shape, c, "ids");
  const oneHot = await gpuLogits(shape, c, "one-hot");
  assertClose(oneHot, ids, 1e-6, "one-hot vs ids");
  assertClose(ids, referenceFastForward(c.ref), TOL, "ids vs reference");
});

Deno.test("all weights 0: fast logits equal slow logits", async () => {
  const shape = { B: 2, T: 6, D: 5, size: 3, V: 9, C: 2 };
  const c = randomCase(shape, 9);
  c.weights.fill(0);
  c.ids.fill(-1);
  const got = await gpuLogits(shape, c);
  assertClose(got, referenceSlowForward(c.ref).logits, TOL, "zero weights");
});

Deno.test("a fixed normalizer scales the update as the reference does", async () => {
  const shape = { B: 2, T: 8, D: 5, size: 3, V: 9, C: 3 };
  for (const N of [0.5, 3, 40]) {
    const c = randomCase(shape, 11, { normalizer: N });
    const got = await gpuLogits(shape, c, "ids", N);
    assertClose(got, referenceDefinition(c.ref), TOL, `normalizer ${N}`);
  }
  // N equal to Σw gives the batch result.
  const c = randomCase(shape, 11);
  const sum = c.weights.reduce((a, b) => a + b, 0);
  assertClose(
    await gpuLogits(shape, c, "ids", sum),
    await gpuLogits(shape, c),
    1e-5,
    "N = Σw",
  );
});

Deno.test("sequences of a batch interact only through N", async () => {
  const shape = { B: 3, T: 7, D: 4, size: 3, V: 8, C: 2 };
  const a = randomCase(shape, 21, { normalizer: 5 });
  const b = randomCase(shape, 22, { normalizer: 5 });
  // Sequence 0 the same, sequences 1 and 2 different.
  const T = 7, D = 4, V = 8;
  a.x.set(b.x.subarray(T * D), T * D);
  const first = await gpuLogits(shape, a, "ids", 5);
  const mixed = {
    ...a,
    x: new Float32Array(a.x),
    ids: new Int32Array(a.ids),
    weights: new Float32Array(a.weights),
  };
  mixed.x.set(b.x.subarray(T * D), T * D);
  mixed.ids.set(b.ids.subarray(T), T);
  mixed.weights.set(b.weights.subarray(T), T);
  const second = await gpuLogits(shape, mixed, "ids", 5);
  assertEquals(first.subarray(0, T * V), second.subarray(0, T * V));
  // With the batch normalizer, the other sequences change sequence 0 through N.
  const third = await gpuLogits(shape, { ...mixed }, "ids", "batch");
  const fourth = await gpuLogits(shape, a, "ids", "batch");
  assertGreater(
    maxAbsDiff(third.subarray(0, T * V), fourth.subarray(0, T * V)),
    1e-6,
  );
});

Deno.test("T not divisible by C, C = 1, C = T and C > T agree", async () => {
  const base = { B: 2, T: 10, D: 5, size: 3, V: 7 };
  const c = randomCase({ ...base, C: 1 }, 31);
  const want = referenceDefinition(c.ref);
  for (const C of [1, 3, 4, 7, 10, 16]) {
    assertClose(await gpuLogits({ ...base, C }, c), want, TOL, `C = ${C}`);
  }
});

Deno.test("tiled logits (slow and output) match the untiled result", async () => {
  const shape = { B: 3, T: 50, D: 5, size: 3, V: 19, C: 4 };
  const { B, T, D, size, V, C } = shape;
  const c = randomCase(shape, 41);
  using block = new FWLBlock(size, V, C);
  await block.build(D);
  await block.setParams(c.params);
  const ctx = block.context;
  for (const oneHot of [false, true]) {
    const labels = oneHot ? c.oneHot : c.ids;
    const [x, l, w] = [c.x, labels, c.weights].map((d) => uploadTo(ctx, d));
    const logits = ctx.pool.acquire(B * T * V * 4);
    await tiledForward(
      block,
      shape,
      { x, labels: l, labelsAreIds: !oneHot, weights: w },
      { kind: "logits", buffer: logits },
      { slow: 64 * V * 4, output: 64 * V * 4 },
    );
    const got = await readFloats(ctx, logits, B * T * V);
    assertClose(
      got,
      referenceFastForward(c.ref),
      TOL,
      `tiled, one-hot ${oneHot}`,
    );
    for (const b of [x, l, w, logits]) ctx.pool.release(b);
  }
});

Deno.test("getParams returns exactly what setParams set; init is deterministic", async () => {
  using block = new FWLBlock(4, 13, 2, { seed: 5 });
  await block.build(6);
  const init = await block.getParams();
  assertEquals(init, initParams({ inputSize: 6, size: 4, vocabSize: 13 }, 5));
  assertEquals(Object.keys(init).sort(), [...PARAM_NAMES].sort());
  const c = randomCase({ B: 1, T: 1, D: 6, size: 4, V: 13, C: 2 }, 3);
  c.params["unembed/bias"][0] = Math.fround(Math.PI);
  await block.setParams(c.params);
  assertEquals(await block.getParams(), c.params);
  // A partial set: one step size (an element of the packed buffer), the rest unchanged.
  const half = new Float32Array([0.5]);
  await block.setParams({ "layer_norm/bias_step": half });
  assertEquals(await block.getParams(), { ...c.params, "layer_norm/bias_step": half });
  await block.build(6); // building again starts afresh
  assertEquals(await block.getParams(), init);
});

Deno.test("repeated forwards do not grow GPU memory", async () => {
  const shape = { B: 2, T: 9, D: 5, size: 3, V: 11, C: 3 };
  const c = randomCase(shape, 51);
  using block = new FWLBlock(3, 11, 3);
  await block.build(5);
  const run = async () => {
    const out = await block.forward(
      tensor(c.x, [2, 9, 5]),
      tensor(c.ids, [2, 9]),
      tensor(c.weights, [2, 9]),
    );
    await out.read();
    out.dispose();
  };
  await run();
  const before = block.context.pool.allocatedBytes;
  for (let i = 0; i < 5; i++) await run();
  assertEquals(block.context.pool.allocatedBytes, before);
});

Deno.test("makeLabels feeds forward (ids and one-hot agree)", async () => {
  const tokens = tensor(new Int32Array([1, 4, 2, 0, 0, 3, 3, 1, 4, 2]), [2, 5]);
  const ids = makeLabels(tokens, 5, { padId: 0 });
  const oneHot = makeLabels(tokens, 5, { padId: 0, form: "one-hot" });
  assertEquals(
    ids.labels.hostData,
    new Int32Array([4, 2, -1, -1, -1, 3, 1, 4, 2, -1]),
  );
  assertEquals(
    ids.weights.hostData,
    new Float32Array([1, 1, 0, 0, 0, 1, 1, 1, 1, 0]),
  );
  using block = new FWLBlock(3, 5, 2);
  await block.build(4);
  const x = tensor(new Float32Array(40).map((_, i) => Math.sin(i)), [2, 5, 4]);
  const a = await (await block.forward(x, ids.labels, ids.weights)).read();
  const b = await (await block.forward(x, oneHot.labels, oneHot.weights))
    .read();
  assertClose(a, b, 1e-6, "makeLabels ids vs one-hot");
});

Deno.test("bad input throws typed errors that name the argument", async () => {
  assertThrows(() => new FWLBlock(0, 5, 1), FWLInputError, "size");
  assertThrows(() => new FWLBlock(2.5, 5, 1), FWLInputError, "size");
  assertThrows(() => new FWLBlock(3, -5, 1), FWLInputError, "vocabSize");
  assertThrows(() => new FWLBlock(3, 5, 0), FWLInputError, "attnChunks");
  assertThrows(
    () => new FWLBlock(3, 5, 1, { normalizer: -1 }),
    FWLInputError,
    "normalizer",
  );
  assertThrows(
    () => new FWLBlock(3, 5, 1, { epsilon: 0 }),
    FWLInputError,
    "epsilon",
  );
  const block = new FWLBlock(3, 5, 2);
  const x = tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]);
  const ids = tensor(new Int32Array(6), [2, 3]);
  const w = tensor(new Float32Array(6).fill(1), [2, 3]);
  await assertRejects(() => block.forward(x, ids, w), FWLStateError, "build");
  await assertRejects(() => block.setParams({}), FWLStateError, "build");
  await assertRejects(() => block.build(0), FWLInputError, "inputSize");
  await block.build(4);
  await assertRejects(
    () => block.forward(tensor(new Float32Array(2 * 3 * 5), [2, 3, 5]), ids, w),
    FWLInputError,
    "inputSize = 4",
  );
  await assertRejects(
    () => block.forward(tensor(new Float32Array(24), [6, 4]), ids, w),
    FWLInputError,
    "x",
  );
  await assertRejects(
    () => block.forward(x, tensor(new Int32Array(3), [1, 3]), w),
    FWLInputError,
    "labels",
  );
  await assertRejects(
    () => block.forward(x, tensor(new Float32Array(2 * 3 * 6), [2, 3, 6]), w),
    FWLInputError,
    "labels",
  );
  await assertRejects(
    () => block.forward(x, ids, tensor(new Float32Array(3), [3])),
    FWLInputError,
    "weights",
  );
  const nanX = new Float32Array(24);
  nanX[5] = NaN;
  await assertRejects(
    () => block.forward(tensor(nanX, [2, 3, 4]), ids, w),
    FWLInputError,
    "x: expected finite",
  );
  await assertRejects(
    () =>
      block.forward(
        x,
        ids,
        tensor(new Float32Array([1, 1, Infinity, 1, 1, 1]), [2, 3]),
      ),
    FWLInputError,
    "weights",
  );
  await assertRejects(
    () =>
      block.forward(
        x,
        ids,
        tensor(new Float32Array([1, -1, 1, 1, 1, 1]), [2, 3]),
      ),
    FWLInputError,
    "weights ≥ 0",
  );
  await assertRejects(
    () => block.forward(x, tensor(new Int32Array([0, 5, 0, 0, 0, 0]), [2, 3]), w),
    FWLInputError,
    "[0, 5)",
  );
  // An out-of-range id where the weight is 0 is fine.
  const w0 = tensor(new Float32Array([1, 0, 1, 1, 1, 1]), [2, 3]);
  (await block.forward(
    x,
    tensor(new Int32Array([0, -1, 0, 0, 0, 0]), [2, 3]),
    w0,
  )).dispose();
  await assertRejects(
    () => block.forward(x, ids, "w" as never),
    FWLInputError,
    "weights",
  );

  // setParams: unknown, wrong length, wrong type, even beside good values (a set may name
  // any subset); nothing written on failure.
  const before = await block.getParams();
  const good = initParams({ inputSize: 4, size: 3, vocabSize: 5 }, 9);
  await assertRejects(
    () => block.setParams({ ...good, "dense_2/kernel": new Float32Array(1) }),
    FWLInputError,
    "dense_2/kernel",
  );
  await assertRejects(
    () =>
      block.setParams({
        "unembed/bias": good["unembed/bias"],
        "unembed/kernel": new Float32Array(2),
      }),
    FWLInputError,
    "unembed/kernel",
  );
  await assertRejects(
    () => block.setParams({ ...good, "dense_0/kernel": new Float32Array(5) }),
    FWLInputError,
    "48 values",
  );
  await assertRejects(
    () =>
      block.setParams({
        ...good,
        "dense_0/bias_step": [0.1] as unknown as Float32Array,
      }),
    FWLInputError,
    "Float32Array",
  );
  assertEquals(await block.getParams(), before);
  block.dispose();
  await assertRejects(
    () => block.forward(x, ids, w),
    FWLStateError,
    "disposed",
  );
  assert(true);
});

Deno.test("GPU-resident inputs are used in place and checked on the GPU", async () => {
  const shape = { B: 2, T: 6, D: 5, size: 3, V: 9, C: 2 };
  const c = randomCase(shape, 61);
  using block = new FWLBlock(3, 9, 2);
  await block.build(5);
  await block.setParams(c.params);
  const ctx = block.context;
  const onGPU = (data: Float32Array | Int32Array, shape: number[]) => {
    const b = ctx.device.createBuffer({ size: data.byteLength, usage: 0x80 | 0x08 | 0x04 });
    ctx.device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
    return gpuTensor(ctx, b, shape, data instanceof Int32Array ? "int32" : "float32");
  };
  const x = onGPU(c.x, [2, 6, 5]);
  const ids = onGPU(c.ids, [2, 6]);
  const w = onGPU(c.weights, [2, 6]);
  const got = await (await block.forward(x, ids, w)).read();
  assertClose(got, referenceDefinition(c.ref), TOL, "GPU-resident inputs");
  const badX = c.x.slice();
  badX[17] = Infinity;
  await assertRejects(
    () => block.forward(onGPU(badX, [2, 6, 5]), ids, w),
    FWLInputError,
    "x: expected finite values, got a violation at flat index 17",
  );
  const badW = c.weights.slice();
  badW[3] = -0.5;
  await assertRejects(() => block.forward(x, ids, onGPU(badW, [2, 6])), FWLInputError, "index 3");
  const badIds = c.ids.slice();
  const at = c.weights.findIndex((v) => v > 0);
  badIds[at] = 9;
  await assertRejects(
    () => block.forward(x, onGPU(badIds, [2, 6]), w),
    FWLInputError,
    `index ${at}`,
  );
  // Host ids with GPU weights are checked too.
  await assertRejects(
    () => block.forward(x, tensor(badIds, [2, 6]), w),
    FWLInputError,
    `index ${at}`,
  );
});

Deno.test("score: per-position cross-entropy of the fast logits, no [B, T, V] buffer", async () => {
  const shape = { B: 2, T: 45, D: 6, size: 3, V: 29, C: 4 };
  const { B, T, D, size, V, C } = shape;
  const c = randomCase(shape, 71);
  const want = positionNll(referenceFastForward(c.ref), c.ids, c.weights, V);
  let total = 0, weight = 0;
  for (let i = 0; i < B * T; i++) {
    if (c.weights[i] === 0) continue;
    total += c.weights[i] * want[i];
    weight += c.weights[i];
  }
  using block = new FWLBlock(size, V, C);
  await block.build(D);
  await block.setParams(c.params);
  const x = tensor(c.x, [B, T, D]), w = tensor(c.weights, [B, T]);
  const byIds = await block.score(x, tensor(c.ids, [B, T]), w);
  assertClose(byIds.nll, want, TOL, "nll (ids)");
  assertClose([byIds.loss], [total / weight], TOL, "loss");
  const byOneHot = await block.score(x, tensor(c.oneHot, [B, T, V]), w);
  assertClose(byOneHot.nll, want, TOL, "nll (one-hot)");
  // Tiled: 64-row tiles over 90 rows.
  const ctx = block.context;
  const [xb, lb, wb] = [c.x, c.ids, c.weights].map((d) => uploadTo(ctx, d));
  const nll = ctx.pool.acquire(B * T * 4);
  await tiledForward(
    block,
    shape,
    { x: xb, labels: lb, labelsAreIds: true, weights: wb },
    { kind: "nll", buffer: nll },
    { slow: 64 * V * 4, output: 64 * V * 4 },
  );
  assertClose(await readFloats(ctx, nll, B * T), want, TOL, "nll tiled");
  for (const b of [xb, lb, wb, nll]) ctx.pool.release(b);
});

Deno.test("fastWeights: false runs the plain head (the slow logits)", async () => {
  const shape = { B: 2, T: 9, D: 5, size: 3, V: 11, C: 2 };
  const { B, T, D, size, V, C } = shape;
  const c = randomCase(shape, 81);
  using block = new FWLBlock(size, V, C);
  await block.build(D);
  await block.setParams(c.params);
  const x = tensor(c.x, [B, T, D]), ids = tensor(c.ids, [B, T]), w = tensor(c.weights, [B, T]);
  const slow = referenceSlowForward(c.ref).logits;
  const plain = await (await block.forward(x, ids, w, { fastWeights: false })).read();
  assertClose(plain, slow, TOL, "plain head");
  const { nll } = await block.score(x, ids, w, { fastWeights: false });
  const want = positionNll(slow, c.ids, c.weights, V);
  for (let i = 0; i < B * T; i++) {
    if (c.weights[i] === 0) continue;
    assertClose([nll[i]], [want[i]], TOL, `plain nll ${i}`);
  }
  await assertRejects(
    () => block.forward(x, ids, w, { fastWeights: 1 as unknown as boolean }),
    FWLInputError,
    "fastWeights",
  );
});
