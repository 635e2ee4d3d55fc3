// Kernels declared once: generated headers, uniforms packed by name, compile errors
// with line and column, the dispatch grid, and checked buffer lifetimes.

import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { FWLInputError, FWLStateError, GPUKernelError } from "../src/errors.ts";
import { GPUContext } from "../src/gpu/context.ts";
import { spreadGroups, spreadInvocations } from "../src/gpu/grid.ts";
import { program } from "../src/gpu/program.ts";
import { readBytes } from "../src/gpu/readback.ts";
import { Recorder } from "../src/gpu/recorder.ts";
import { GRID, WORKGROUP_SUM } from "../src/kernels/snippets.ts";

const ctx = await GPUContext.default();

const SCALE = program({
  name: "test_scale",
  body: `
@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocation_index(gid);
  if (i < p.count) {
    var v = x[i] * p.alpha;
    if ((p.flags & NEGATE) != 0u) {
      v = -v;
    }
    out[i] = v + f32(p.offset);
  }
}`,
  workgroupSize: [64],
  storage: ["x", "out: rw"],
  uniforms: ["count", "alpha: f32", "offset: i32", "flags", "groups_x"],
  constants: { NEGATE: 4 },
  snippets: [GRID],
});

Deno.test("a declaration generates the WGSL header and packs uniforms by name", async () => {
  assertStringIncludes(SCALE.code, "@group(0) @binding(0) var<storage, read> x: array<f32>;");
  assertStringIncludes(
    SCALE.code,
    "@group(0) @binding(1) var<storage, read_write> out: array<f32>;",
  );
  assertStringIncludes(SCALE.code, "@group(0) @binding(2) var<uniform> p: Params;");
  assertStringIncludes(SCALE.code, "const NEGATE: u32 = 4u;");
  assertStringIncludes(SCALE.code, "const WG: u32 = 64u;");
  assertEquals(SCALE.constants.NEGATE, 4);
  // Packing follows the declared order, whatever the order of the object given.
  const packed = SCALE.uniforms({ groups_x: 7, flags: 4, offset: -2, alpha: 0.5, count: 3 });
  assertEquals(packed.byteLength, 32);
  assertEquals(new Uint32Array(packed, 0, 1)[0], 3);
  assertEquals(new Float32Array(packed, 4, 1)[0], 0.5);
  assertEquals(new Int32Array(packed, 8, 1)[0], -2);
  assertEquals(new Uint32Array(packed, 12, 2), new Uint32Array([4, 7]));
  assertThrows(
    () => SCALE.uniforms({ count: 1, alpha: 1, offset: 0, flags: 0 } as never),
    FWLInputError,
    "groups_x",
  );
  assertThrows(
    () =>
      SCALE.uniforms({ count: 1, alpha: 1, offset: 0, flags: 0, groups_x: 1, extra: 1 } as never),
    FWLInputError,
    "extra",
  );
  assertThrows(
    () => program({ name: "bad", body: "", workgroupSize: [1], storage: ["a b"] }),
    FWLInputError,
  );
  assertThrows(
    () => program({ name: "bad", body: "", workgroupSize: [1], storage: ["a: rw f16"] }),
    FWLInputError,
  );
  assertThrows(
    () => program({ name: "bad", body: "", workgroupSize: [1], storage: [], uniforms: ["n: f64"] }),
    FWLInputError,
  );

  const n = 150;
  const rec = new Recorder(ctx);
  const x = rec.scratch(n * 4);
  const out = rec.scratch(n * 4);
  ctx.device.queue.writeBuffer(x, 0, new Float32Array(n).map((_, i) => i));
  const grid = spreadInvocations(ctx, n, SCALE);
  rec.dispatch(
    SCALE,
    [x, out],
    SCALE.uniforms({
      count: n,
      alpha: 2,
      offset: -1,
      flags: SCALE.constants.NEGATE,
      groups_x: grid.groupsX,
    }),
    grid.workgroups,
  );
  const result = ctx.pool.acquire(n * 4);
  rec.copy(out, 0, result, 0, n * 4);
  await rec.submit("scale");
  const got = new Float32Array(await readBytes(ctx, result, n * 4, "scale"));
  ctx.pool.release(result);
  assertEquals(got, new Float32Array(n).map((_, i) => -2 * i - 1));
});

Deno.test("the grid spreads workgroups over x and y within the device limit", () => {
  const max = ctx.maxWorkgroups;
  assertEquals(spreadGroups(ctx, 10), { workgroups: [10, 1, 1], groupsX: 10 });
  assertEquals(spreadGroups(ctx, max + 1).workgroups, [max, 2, 1]);
  assertEquals(spreadGroups(ctx, 0).workgroups[0], 0);
  assertEquals(spreadInvocations(ctx, 65, SCALE).workgroups, [2, 1, 1]);
  assertThrows(() => spreadGroups(ctx, -1), FWLInputError);
});

Deno.test("a kernel that does not compile names the kernel, line and column", async () => {
  const broken = program({
    name: "deliberately_broken",
    body: "@compute @workgroup_size(WG)\nfn main() {\n  let y = x[0] + undefined_name;\n}\n",
    workgroupSize: [64],
    storage: ["x"],
    snippets: [WORKGROUP_SUM],
  });
  const line = broken.code.split("\n").findIndex((l) => l.includes("undefined_name")) + 1;
  const error = await assertRejects(() => ctx.pipeline(broken), GPUKernelError);
  assertEquals(error.kernel, "deliberately_broken");
  assertStringIncludes(error.message, `line ${line}:`);
  assertStringIncludes(error.message, "undefined_name");
  assertStringIncludes(error.message, "let y = x[0] + undefined_name;");
  // The device goes on.
  await ctx.pipeline(SCALE);
});

Deno.test("a scratch buffer used after reuse() throws, naming the kernel", async () => {
  const rec = new Recorder(ctx);
  const x = rec.scratch(64 * 4);
  const out = rec.scratch(64 * 4);
  const u = SCALE.uniforms({ count: 64, alpha: 1, offset: 0, flags: 0, groups_x: 1 });
  rec.dispatch(SCALE, [x, out], u, [1, 1, 1]);
  rec.reuse(out);
  // Bound again before anything handed it out again: the data is dead.
  const e = assertThrows(() => rec.dispatch(SCALE, [out, x], u, [1, 1, 1]), FWLStateError);
  assertStringIncludes(e.message, "test_scale");
  assertThrows(() => rec.copy(out, 0, x, 0, 16), FWLStateError, "reuse");
  assertThrows(() => rec.reuse(out), FWLStateError, "twice");
  // Handed out again: the new owner must write it before anything reads it.
  const again = rec.scratch(64 * 4);
  assertEquals(again, out);
  assertThrows(() => rec.dispatch(SCALE, [again, x], u, [1, 1, 1]), FWLStateError, "reads");
  rec.dispatch(SCALE, [x, again], u, [1, 1, 1]);
  rec.dispatch(SCALE, [again, x], u, [1, 1, 1]);
  await rec.submit("lifetimes");
});

Deno.test("releasing a pooled buffer twice, or a foreign one, throws", () => {
  const b = ctx.pool.acquire(1000);
  ctx.pool.release(b);
  assertThrows(() => ctx.pool.release(b), FWLStateError, "already released");
  const foreign = ctx.device.createBuffer({ size: 16, usage: 0x80 });
  assertThrows(() => ctx.pool.release(foreign), FWLStateError, "not from this pool");
  foreign.destroy();
  const c = ctx.pool.acquire(1000);
  assert(c === b);
  ctx.pool.release(c);
});
