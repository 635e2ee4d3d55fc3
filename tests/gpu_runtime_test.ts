// The GPU runtime: errors become exceptions that name the kernel, pooling, tensors.

import { assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import { FWLBlock, FWLInputError, FWLStateError, GPUKernelError, tensor } from "../mod.ts";
import { gpuTensor, KernelProfiler, readBuffers } from "../gpu.ts";
import { STAGING_BYTES } from "../src/gpu/readback.ts";
import { bucketSize } from "../src/gpu/buffer_pool.ts";
import { GPUContext } from "../src/gpu/context.ts";
import { Recorder } from "../src/gpu/recorder.ts";
import { MATMUL } from "../src/kernels/matmul.ts";

const ctx = await GPUContext.default();

Deno.test("a shader that does not compile throws a GPUKernelError naming the kernel", async () => {
  const error = await assertRejects(
    () => ctx.pipeline({ name: "broken_kernel", code: "fn main( {", entryPoint: "main" }),
    GPUKernelError,
    "broken_kernel",
  );
  assertEquals(error.kernel, "broken_kernel");
  assertEquals(error.kind, "validation");
});

Deno.test("a bad dispatch throws a GPUKernelError naming the kernel, and the device goes on", async () => {
  const rec = new Recorder(ctx);
  const small = rec.scratch(16);
  // The matmul kernel needs six storage bindings and a uniform; give it too few.
  rec.dispatch(MATMUL, [small, small], undefined, [1, 1, 1]);
  const error = await assertRejects(() => rec.submit("bad dispatch"), Error);
  assertInstanceOf(error, GPUKernelError);
  assertEquals(error.kernel, "matmul");
  // Still usable afterwards.
  const t = tensor(new Float32Array([1, 2, 3]), [3]);
  assertEquals(await t.read(), new Float32Array([1, 2, 3]));
});

Deno.test("an error in encodeNow's copy is thrown by the next submit, naming it", async () => {
  const a = ctx.pool.acquire(16), b = ctx.pool.acquire(16);
  // Far past the end of both buffers: a validation error, caught by encodeNow's scopes.
  ctx.encodeNow("oversized copy", (encoder) => encoder.copyBufferToBuffer(a, 0, b, 0, 1 << 20));
  const error = await assertRejects(() => ctx.submit("next", () => {}), GPUKernelError);
  assertEquals([error.kernel, error.kind], ["oversized copy", "validation"]);
  // Thrown once: the device goes on.
  await ctx.submit("after", () => {});
  ctx.pool.release(a);
  ctx.pool.release(b);
});

Deno.test("the pool reuses released buffers by size bucket", () => {
  const a = ctx.pool.acquire(1000);
  const before = ctx.pool.allocatedBytes;
  ctx.pool.release(a);
  const b = ctx.pool.acquire(1024);
  assertEquals(b, a);
  assertEquals(ctx.pool.allocatedBytes, before);
  ctx.pool.release(b);
  assertEquals(bucketSize(1), 256);
  assertEquals(bucketSize(65537), 73728);
});

Deno.test("tensors: shapes, dtypes, read, dispose, GPU-resident wrapping", async () => {
  assertThrows(() => tensor(new Float32Array(5), [2, 3]), FWLInputError, "6 elements");
  assertThrows(() => tensor([1, 2] as unknown as Float32Array, [2]), FWLInputError, "Float32Array");
  assertThrows(() => tensor(new Float32Array(2), [2, -1]), FWLInputError, "shape");
  const ids = tensor(new Int32Array([4, -1]), [1, 2]);
  assertEquals(ids.dtype, "int32");
  assertEquals(await ids.read(), new Int32Array([4, -1]));
  const buffer = ctx.device.createBuffer({ size: 16, usage: 0x80 | 0x04 | 0x08 });
  ctx.device.queue.writeBuffer(buffer, 0, new Float32Array([1, 2, 3, 4]));
  const t = gpuTensor(ctx, buffer, [2, 2]);
  assertEquals(t.isGPUResident, true);
  assertEquals(await t.read(), new Float32Array([1, 2, 3, 4]));
  t.dispose();
  await assertRejects(() => t.read(), FWLStateError, "disposed");
  assertThrows(() => gpuTensor(ctx, buffer, [5]), FWLInputError, "20 bytes");
});

Deno.test("a kernel profiler times every op of a recording and changes no result", async () => {
  const block = new FWLBlock(4, 11, 2, { seed: 3, normalizer: 8 });
  await block.build(5);
  const x = tensor(new Float32Array(3 * 5).map((_, i) => Math.cos(i)), [1, 3, 5]);
  const ids = tensor(new Int32Array([1, 7, 10]), [1, 3]);
  const w = tensor(new Float32Array([1, 1, 0]), [1, 3]);
  const plain = await block.score(x, ids, w);
  const profiler = new KernelProfiler();
  block.context.profiler = profiler;
  try {
    const profiled = await block.score(x, ids, w);
    assertEquals(profiled.nll, plain.nll);
  } finally {
    block.context.profiler = undefined;
  }
  const kernels = profiler.kernels;
  assertEquals(kernels.length > 3, true);
  assertEquals(kernels.some((k) => k.name.startsWith("matmul")), true);
  assertEquals(kernels.every((k) => k.ms >= 0 && k.count >= 1), true);
  const families = profiler.byFamily((name) => name.startsWith("matmul") ? "matmul" : "other");
  assertEquals(
    families.map((f) => f.count).reduce((a, b) => a + b),
    profiler.kernels.map((k) => k.count).reduce((a, b) => a + b),
  );
  profiler.clear();
  assertEquals(profiler.totalMs, 0);
  block.dispose();
});

Deno.test("readBuffers reads many buffers in staging buffers of a bounded size", async () => {
  const ctx = await GPUContext.default();
  const sizes = [3, 1, 5, 0, 2, 4];
  const buffers = sizes.map((n, k) => {
    const b = ctx.pool.acquire(Math.max(4, n * 4));
    // (Deno 2.9.6 panics on writing an empty array.)
    if (n > 0) {
      ctx.device.queue.writeBuffer(
        b,
        0,
        Int32Array.from({ length: n }, (_, i) => 10 * k + i),
      );
    }
    return b;
  });
  const parts = buffers.map((buffer, k) => ({ buffer, bytes: sizes[k] * 4 }));
  const staged: number[] = [];
  const acquire = ctx.pool.acquire.bind(ctx.pool);
  ctx.pool.acquire = (bytes: number, usage?: number) => {
    if (usage !== undefined && (usage & 0x01) !== 0) staged.push(bytes); // MAP_READ
    return acquire(bytes, usage);
  };
  try {
    for (const cap of [STAGING_BYTES, 24, 4]) {
      staged.length = 0;
      const read = await readBuffers(ctx, parts, "test", cap);
      assertEquals(
        read.map((b) => [...new Int32Array(b)]),
        sizes.map((n, k) => Array.from({ length: n }, (_, i) => 10 * k + i)),
      );
      // Several parts share a staging buffer when they fit; none is larger than the cap
      // unless one part alone is.
      assertEquals(staged.every((b) => b <= Math.max(cap, 5 * 4)), true);
      assertEquals(staged.length, cap === STAGING_BYTES ? 1 : cap === 24 ? 3 : 5);
    }
  } finally {
    ctx.pool.acquire = acquire;
    for (const b of buffers) ctx.pool.release(b);
  }
});
