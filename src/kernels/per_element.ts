/**
 * Kernels with one invocation per element of a flat range: their workgroups are spread
 * over the 2-D grid of `gpu/grid.ts` (the device allows only so many per dimension), so
 * the shader reads its flat index through the `GRID` snippet and the uniform `groups_x`.
 * {@linkcode dispatchPerElement} records such a kernel over `count` elements.
 *
 * @module
 */

import { spreadInvocations } from "../gpu/grid.ts";
import type { Program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";

/**
 * Records `kernel` with one invocation per element of `count`, its workgroups spread
 * over the grid: the uniforms are `fields` plus `count` and the grid's `groups_x`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GPUContext, readBytes, Recorder } from "@x/fwl/gpu";
 * import { program } from "../gpu/program.ts";
 * import { GRID } from "./snippets.ts";
 * import { dispatchPerElement } from "./per_element.ts";
 * const DOUBLE = program({
 *   name: "double",
 *   storage: ["x: rw"],
 *   uniforms: ["count", "groups_x"],
 *   snippets: [GRID],
 *   body: `@compute @workgroup_size(WG) fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
 *     let i = invocation_index(gid);
 *     if (i < p.count) { x[i] = 2.0 * x[i]; }
 *   }`,
 * });
 * const ctx = await GPUContext.default();
 * const x = ctx.pool.acquire(12);
 * ctx.device.queue.writeBuffer(x, 0, new Float32Array([1, 2, 3]));
 * const rec = new Recorder(ctx);
 * dispatchPerElement(rec, DOUBLE, [x], 3, {});
 * await rec.submit("double");
 * assertEquals([...new Float32Array(await readBytes(ctx, x, 12))], [2, 4, 6]);
 * ctx.pool.release(x);
 * ```
 */
export function dispatchPerElement<U extends string>(
  rec: Recorder,
  kernel: Program<U | "count" | "groups_x">,
  bindings: Binding[],
  count: number,
  fields: { readonly [K in Exclude<U, "count" | "groups_x">]: number },
): void {
  const { workgroups, groupsX } = spreadInvocations(rec.ctx, count, kernel);
  const uniforms = { ...fields, count, groups_x: groupsX } as {
    readonly [K in U | "count" | "groups_x"]: number;
  };
  rec.dispatch(kernel, bindings, kernel.uniforms(uniforms), workgroups);
}
