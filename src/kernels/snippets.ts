/**
 * The shared WGSL snippets (`shaders/lib/`), listed by the kernels that use them.
 *
 * @module
 */

import type { Snippet } from "../gpu/program.ts";
import * as shaders from "./shaders.generated.ts";

/**
 * `group_index(wid)` / `invocation_index(gid)`: the flat index of a grid spread by
 * `spreadGroups` (src/gpu/grid.ts); the kernel declares the uniform `groups_x`.
 */
export const GRID: Snippet = { name: "grid", code: shaders.libGrid };

/** `workgroup_sum(value, lane)`: the f32 sum over the workgroup, to every lane. */
export const WORKGROUP_SUM: Snippet = { name: "workgroup_sum", code: shaders.libWorkgroupSum };

/** `scaled_grad` and `finish` of the optimizer updates (flags `CLIP`, `NON_NEGATIVE`). */
export const OPTIMIZER_STEP: Snippet = { name: "optimizer_step", code: shaders.libOptimizerStep };

/** Where a matmul batch lies and the fused epilogue (the matmul variants' shared part). */
export const MATMUL_EPILOGUE: Snippet = {
  name: "matmul_epilogue",
  code: shaders.libMatmulEpilogue,
};
