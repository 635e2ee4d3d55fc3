// Tests of the parameter store (src/params/store.ts) and of the one lifecycle every
// holder shares (src/params/holder.ts): sizes are checked against the device's limits
// before anything is initialized or allocated, a store round-trips its values (packed
// scalars included) and gradients, and the FWL head and both bodies follow the same
// rules for build, rebuild, get/set and dispose.

import { assert, assertEquals, assertRejects, assertStrictEquals, assertThrows } from "@std/assert";
import { LSTMBody } from "../src/bodies/lstm.ts";
import { TransformerBody } from "../src/bodies/transformer.ts";
import { FWLInputError, FWLSizeError, FWLStateError } from "../src/errors.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { GPUContext } from "../src/gpu/context.ts";
import type { ParamHolder } from "../src/params/holder.ts";
import { checkParamSizes, ParamStore } from "../src/params/store.ts";

const ctx = await GPUContext.default();
const limit = Math.min(
  ctx.device.limits.maxStorageBufferBindingSize,
  ctx.device.limits.maxBufferSize,
);

Deno.test("an unembedding over the device's limits throws FWLSizeError before anything is allocated", async () => {
  // The two sizes of the issue; where the first fits (a large adapter), the smallest that does not.
  const over = (vocab: number) => 256 * vocab * 4 > limit ? vocab : Math.floor(limit / 1024) + 1;
  for (const vocab of [over(1 << 20), 1 << 24]) {
    const before = ctx.pool.allocatedBytes;
    using block = new FWLBlock(256, vocab, 4);
    const e = await assertRejects(() => block.build(1024), FWLSizeError);
    assertEquals(e.parameter, "unembed/kernel");
    assertEquals(e.bytes, 256 * vocab * 4);
    assertEquals(e.limit, limit);
    assertEquals(block.built, false);
    assertEquals(ctx.pool.allocatedBytes, before);
  }
});

Deno.test("a body's embedding over the limits throws FWLSizeError naming it", async () => {
  const body = new LSTMBody({ vocabSize: Math.floor(limit / 32) + 1, embedSize: 8, hiddenSize: 4 });
  const e = await assertRejects(() => body.build(), FWLSizeError);
  assertEquals(e.parameter, "embedding");
  assertEquals(body.built, false);
  body.dispose();
});

Deno.test("checkParamSizes takes the smaller of the two limits; init never runs on failure", () => {
  const limits = { maxStorageBufferBindingSize: 64, maxBufferSize: 32 };
  checkParamSizes("demo", limits, [{ name: "a", shape: [8] }]);
  const e = assertThrows(
    () =>
      checkParamSizes("demo", limits, [{ name: "a", shape: [8] }, { name: "b", shape: [3, 3] }]),
    FWLSizeError,
  );
  assertEquals([e.parameter, e.bytes, e.limit], ["b", 36, 32]);
  const huge = [{ name: "w", shape: [limit / 4 + 1] }];
  assertThrows(
    () =>
      ParamStore.create(ctx, "demo", huge, () => {
        throw new Error("init ran");
      }, { grads: true }),
    FWLSizeError,
  );
});

Deno.test("a store round-trips values, packed scalars and zeroed gradients; bad values are refused whole", async () => {
  const specs = [
    { name: "w", shape: [2, 3] },
    { name: "s", shape: [2], elementNames: ["s_0", "s_1"] },
  ];
  const init = () => ({
    w: new Float32Array([1, 2, 3, 4, 5, 6]),
    s_0: new Float32Array([0.5]),
    s_1: new Float32Array([0.25]),
  });
  const store = ParamStore.create(ctx, "demo", specs, init, { grads: true });
  assertEquals(store.names, ["w", "s_0", "s_1"]);
  assertEquals(store.shapes, { w: [2, 3], s_0: [], s_1: [] });
  assertEquals(await store.read("demo"), init());
  assertEquals((await store.read("demo", "grad")).w, new Float32Array(6));
  await assertRejects(
    () => store.set("demo", { w: new Float32Array([1, 2, 3, 4, 5, NaN]) }),
    FWLInputError,
  );
  await assertRejects(
    () => store.set("demo", { v: new Float32Array(6) }),
    FWLInputError,
  );
  await assertRejects(
    () => store.set("demo", { toString: new Float32Array(1) }),
    FWLInputError,
  );
  assertEquals(await store.read("demo"), init());
  // One element of a packed buffer is written on its own; its neighbours keep their values.
  await store.set("demo", { s_1: new Float32Array([2]) });
  assertEquals(await store.read("demo"), { ...init(), s_1: new Float32Array([2]) });
  await store.set("demo", { s_1: new Float32Array([0.25]) });
  await store.set("demo", { w: new Float32Array(6).fill(7) });
  assertEquals((await store.read("demo")).w, new Float32Array(6).fill(7));
  assertEquals(store.bodyParameters().map((p) => [p.name, p.shape]), [["w", [2, 3]], ["s", [2]]]);
  store.dispose();
  // Everything went back to the pool: a second store reuses it.
  const before = ctx.pool.allocatedBytes;
  ParamStore.create(ctx, "demo", specs, init, { grads: true }).dispose();
  assertEquals(ctx.pool.allocatedBytes, before);
});

/** A holder under test, with how to build it and a parameter to change. */
interface Case {
  what: string;
  make(): ParamHolder & Disposable & { built: boolean; build(): Promise<void>; dispose(): void };
  /** A parameter every holder of the kind has. */
  name: string;
  /** Makes a dependent (a generation state) that a rebuild and a dispose must dispose. */
  dependent?(holder: unknown): { disposed: boolean };
}

const cases: Case[] = [
  {
    what: "FWLBlock",
    make() {
      const block = new FWLBlock(2, 5, 1, { seed: 4 });
      return Object.assign(block, { build: () => FWLBlock.prototype.build.call(block, 3) });
    },
    name: "dense_0/bias_step", // one element of the packed step sizes
  },
  {
    what: "LSTMBody",
    make: () => new LSTMBody({ vocabSize: 5, embedSize: 2, hiddenSize: 3, seed: 4 }),
    name: "lstm_0/bias",
    dependent: (h) => (h as LSTMBody).initState(2),
  },
  {
    what: "TransformerBody",
    make: () =>
      new TransformerBody({ vocabSize: 5, hiddenSize: 4, layers: 1, heads: 2, maxLength: 3 }),
    name: "layer_0/attention/out/bias",
    dependent: (h) => (h as TransformerBody).initState(1),
  },
];

for (const c of cases) {
  Deno.test(`${c.what}: the shared lifecycle (partial set, unknown names, rebuild, dispose)`, async () => {
    const holder = c.make();
    assertEquals(holder.built, false);
    await assertRejects(() => holder.getParams(), FWLStateError, "first");
    await holder.build();
    assert(holder.built);
    const init = await holder.getParams();
    assertEquals(Object.keys(init), Object.keys(holder.paramShapes));

    // Any subset of the names; the others keep their values.
    const changed = new Float32Array(init[c.name].length).fill(0.5);
    await holder.setParams({ [c.name]: changed });
    const after = await holder.getParams();
    assertEquals(after, { ...init, [c.name]: changed });

    // Unknown names, wrong lengths and non-finite values: typed errors, nothing written.
    const bad = [
      { [c.name]: changed, nope: new Float32Array(1) },
      { [c.name]: new Float32Array(changed.length + 1) },
      { [c.name]: new Float32Array(changed.length).fill(NaN) },
    ];
    for (const values of bad) {
      await assertRejects(() => holder.setParams(values), FWLInputError);
    }
    assertEquals(await holder.getParams(), after);

    // Building again starts afresh, disposes what was made from the old parameters and
    // releases the old buffers (a second rebuild takes nothing more from the device).
    const state = c.dependent?.(holder);
    await holder.build();
    assertEquals(await holder.getParams(), init);
    if (state) assert(state.disposed);
    const allocated = ctx.pool.allocatedBytes;
    await holder.build();
    assertEquals(ctx.pool.allocatedBytes, allocated);

    // Dispose: idempotent, later calls throw FWLStateError, `using` works.
    const later = c.dependent?.(holder);
    holder.dispose();
    holder.dispose();
    if (later) assert(later.disposed);
    assertEquals(holder.built, false);
    await assertRejects(() => holder.getParams(), FWLStateError, "disposed");
    await assertRejects(() => holder.setParams({}), FWLStateError, "disposed");
    await assertRejects(() => holder.build(), FWLStateError, "disposed");
    assertThrows(() => holder.paramShapes, FWLStateError, "disposed");
    {
      using scoped = c.make();
      await scoped.build();
    }
    assertEquals(ctx.pool.allocatedBytes, allocated);
  });
}

Deno.test("a rebuild that fails leaves the holder as it was", async () => {
  using block = new FWLBlock(2, 5, 1);
  await block.build(2);
  const before = await block.getParams();
  const buffers = block.buffers;
  // dense_0/kernel [D, 8] over the limits
  const e = await assertRejects(() => block.build(Math.floor(limit / 32) + 1), FWLSizeError);
  assertEquals(e.parameter, "dense_0/kernel");
  assertEquals([block.built, block.inputSize], [true, 2]);
  assertStrictEquals(block.buffers, buffers); // the same buffers
  assertEquals(await block.getParams(), before);
  await block.build(3); // afresh at another width: new buffers
  assertEquals(block.inputSize, 3);
  assert(block.buffers.k0 !== buffers.k0);
});
