/**
 * Validation of GPU-resident inputs on the GPU (finite values, non-negative weights, ids
 * in range): only the index of the first violation comes back to the host.
 *
 * @module
 */

import { spreadInvocations } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { GPUContext } from "../gpu/context.ts";
import { readBytes } from "../gpu/readback.ts";
import { Recorder } from "../gpu/recorder.ts";
import { FWLInputError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { checkFinite } from "../util/validate.ts";

/** The validation kernel. */
const VALIDATE = program({
  name: "validate",
  body: shaders.validate,
  storage: ["data: u32", "weights", "result: rw atomic<u32>"],
  uniforms: ["count", "mode", "vocab", "slot", "groups_x"],
  snippets: [GRID],
});

/** One check: `finite` f32 values, `weights` (finite, ≥ 0), or `ids` in [0, vocab) where the weight ≠ 0. */
export interface GPUCheck {
  /** What is checked. */
  kind: "finite" | "weights" | "ids";
  /** The values (f32, or i32 ids). */
  data: GPUBuffer;
  /** Number of values. */
  count: number;
  /** For `ids`: the weights buffer. */
  weights?: GPUBuffer;
  /** For `ids`: the vocabulary size. */
  vocab?: number;
}

/**
 * Runs the checks; returns, per check, the flat index of its first violation or
 * `undefined`.
 */
export async function runGPUChecks(
  ctx: GPUContext,
  checks: GPUCheck[],
): Promise<(number | undefined)[]> {
  if (checks.length === 0) return [];
  const rec = new Recorder(ctx);
  const result = ctx.pool.acquire(checks.length * 4);
  ctx.device.queue.writeBuffer(result, 0, new Uint32Array(checks.length).fill(0xffffffff));
  checks.forEach((c, slot) => {
    const grid = spreadInvocations(ctx, c.count, VALIDATE);
    rec.dispatch(
      VALIDATE,
      [c.data, c.weights ?? ctx.dummy(0), result],
      VALIDATE.uniforms({
        count: c.count,
        mode: c.kind === "finite" ? 0 : c.kind === "weights" ? 1 : 2,
        vocab: c.vocab ?? 0,
        slot,
        groups_x: grid.groupsX,
      }),
      grid.workgroups,
    );
  });
  try {
    await rec.submit("validate inputs");
    const bytes = await readBytes(ctx, result, checks.length * 4, "validate inputs");
    return Array.from(new Uint32Array(bytes), (v) => v === 0xffffffff ? undefined : v);
  } finally {
    ctx.pool.release(result);
  }
}

/**
 * Throws an {@linkcode FWLInputError} unless every value of the float32 tensor `t` is
 * finite: checked where it lives, on the host or on the GPU.
 *
 * @throws {FWLInputError} If a value is not finite.
 */
export async function checkFiniteTensor(
  where: string,
  name: string,
  ctx: GPUContext,
  t: Tensor<"float32">,
): Promise<void> {
  const resident = t.gpuBuffer(ctx);
  if (!resident) return checkFinite(where, name, t.hostData!);
  const [bad] = await runGPUChecks(ctx, [{ kind: "finite", data: resident, count: t.size }]);
  if (bad !== undefined) {
    throw new FWLInputError(where, name, "finite values", `a violation at flat index ${bad}`);
  }
}
