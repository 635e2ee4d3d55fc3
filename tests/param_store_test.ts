// Tests of the parameter store (src/params/store.ts): sizes are checked against the
// device's limits before anything is initialized or allocated, and a store round-trips
// its values (packed scalars included) and gradients.

import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { LSTMBody } from "../src/bodies/lstm.ts";
import { FWLInputError, FWLSizeError } from "../src/errors.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { GPUContext } from "../src/gpu/context.ts";
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
    () => store.set("demo", { w: new Float32Array([1, 2, 3, 4, 5, NaN]) }, { partial: true }),
    FWLInputError,
  );
  await assertRejects(
    () => store.set("demo", { w: new Float32Array(6) }, { partial: false }),
    FWLInputError,
  );
  await assertRejects(
    () => store.set("demo", { v: new Float32Array(6) }, { partial: true }),
    FWLInputError,
  );
  await assertRejects(
    () => store.set("demo", { s_0: new Float32Array([1]) }, { partial: true }),
    FWLInputError,
    "s_0, s_1: expected all of the values held together in s, or none, got 1 of 2",
  );
  await assertRejects(
    () => store.set("demo", { toString: new Float32Array(1) }, { partial: true }),
    FWLInputError,
  );
  assertEquals(await store.read("demo"), init());
  await store.set("demo", { w: new Float32Array(6).fill(7) }, { partial: true });
  assertEquals((await store.read("demo")).w, new Float32Array(6).fill(7));
  assertEquals(store.bodyParameters().map((p) => [p.name, p.shape]), [["w", [2, 3]], ["s", [2]]]);
  store.dispose();
  // Everything went back to the pool: a second store reuses it.
  const before = ctx.pool.allocatedBytes;
  ParamStore.create(ctx, "demo", specs, init, { grads: true }).dispose();
  assertEquals(ctx.pool.allocatedBytes, before);
});
