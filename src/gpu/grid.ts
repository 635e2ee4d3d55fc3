/**
 * The one dispatch-grid helper: a 1-D number of workgroups spread over x and y within the
 * device's `maxComputeWorkgroupsPerDimension`. Shaders map the grid back to a flat index
 * with `group_index` / `invocation_index` of `shaders/lib/grid.wgsl` (the `GRID` snippet
 * of src/kernels/snippets.ts), which read the grid's row length from the uniform `groups_x`.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { GPUContext } from "./context.ts";
import type { Program } from "./program.ts";

/** Workgroups per grid dimension that every WebGPU device allows (the default limit). */
export const MIN_WORKGROUPS_PER_DIMENSION = 65535;

/** A grid of workgroups and the `groups_x` uniform its shader needs. */
export interface Grid {
  /** Workgroups along x, y, z. */
  readonly workgroups: [number, number, number];
  /** Workgroups along x: the stride of one grid row, passed as `groups_x`. */
  readonly groupsX: number;
}

/**
 * Spreads `groups` workgroups over x and y (and `z` along z), x being as long as the
 * device allows.
 *
 * @throws {FWLInputError} If `groups` is not a non-negative integer, or needs more than
 * `maxWorkgroups²` workgroups.
 */
export function spreadGroups(ctx: GPUContext, groups: number, z = 1): Grid {
  if (!Number.isInteger(groups) || groups < 0) {
    throw new FWLInputError("spreadGroups", "groups", "a non-negative integer", String(groups));
  }
  const max = ctx.maxWorkgroups;
  const groupsX = Math.max(1, Math.min(groups, max));
  const rows = Math.ceil(groups / groupsX);
  if (rows > max) {
    throw new FWLInputError("spreadGroups", "groups", `at most ${max}² workgroups`, String(groups));
  }
  return { workgroups: [groups === 0 ? 0 : groupsX, rows, z], groupsX };
}

/**
 * {@linkcode spreadGroups} for `count` invocations of `kernel`, one per element.
 *
 * @throws {FWLInputError} If `count` is negative or not a number, or needs more than
 * `maxWorkgroups²` workgroups.
 */
export function spreadInvocations(
  ctx: GPUContext,
  count: number,
  kernel: Pick<Program, "workgroupSize">,
): Grid {
  return spreadGroups(ctx, Math.ceil(count / kernel.workgroupSize[0]));
}
