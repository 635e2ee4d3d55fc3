/**
 * The shared WGSL snippets (`shaders/lib/`), listed by the kernels that use them.
 *
 * @module
 */

import type { Snippet } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";

/**
 * `group_index(wid)` / `invocation_index(gid)`: the flat index of a grid spread by
 * `spreadGroups` (src/gpu/grid.ts); the kernel declares the uniform `groups_x`.
 */
export const GRID: Snippet = { name: "grid", code: shaders.libGrid };

/**
 * The entry point of a row kernel (one workgroup per row of `p.rows`): the body defines
 * `fn row_main(row: u32, lane: u32)`.
 */
export const ROW_KERNEL: Snippet = {
  name: "row_kernel",
  code: shaders.libRowKernel,
  requires: [GRID],
};

/**
 * A tree reduction over the WG lanes of a workgroup, returning the result to every lane:
 * `fn_name(value, lane)`. Call it in uniform control flow; it may be called again right
 * away. Each lane's stride halves from WG/2, so every kernel sums in the same order.
 */
function workgroupReduce(
  fn: string,
  type: string,
  combine: (a: string, b: string) => string,
): Snippet {
  const lanes = `${fn}_lanes`;
  const code = `var<workgroup> ${lanes}: array<${type}, WG>;

fn ${fn}(value: ${type}, lane: u32) -> ${type} {
  ${lanes}[lane] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      ${lanes}[lane] = ${combine(`${lanes}[lane]`, `${lanes}[lane + stride]`)};
    }
    workgroupBarrier();
  }
  let total = ${lanes}[0];
  workgroupBarrier();
  return total;
}
`;
  return { name: fn, code };
}

const add = (a: string, b: string) => `${a} + ${b}`;
/** `workgroup_sum(value: f32, lane)`: the sum over the workgroup. */
export const WORKGROUP_SUM: Snippet = workgroupReduce("workgroup_sum", "f32", add);
/** `workgroup_sum2(value: vec2<f32>, lane)`. */
export const WORKGROUP_SUM2: Snippet = workgroupReduce("workgroup_sum2", "vec2<f32>", add);
/** `workgroup_sum4(value: vec4<f32>, lane)`. */
export const WORKGROUP_SUM4: Snippet = workgroupReduce("workgroup_sum4", "vec4<f32>", add);
/** `workgroup_max(value: f32, lane)`: the maximum over the workgroup. */
export const WORKGROUP_MAX: Snippet = workgroupReduce(
  "workgroup_max",
  "f32",
  (a, b) => `max(${a}, ${b})`,
);

/** `workgroup_max_u32(value: u32, lane)`. */
export const WORKGROUP_MAX_U32: Snippet = workgroupReduce(
  "workgroup_max_u32",
  "u32",
  (a, b) => `max(${a}, ${b})`,
);

/**
 * `counter_uniform(key0, key1, position, sequence)`: src/util/random.ts's
 * `counterUniform` on the GPU, the key from `counterKey(seed)`.
 */
export const COUNTER_RANDOM: Snippet = { name: "counter_random", code: shaders.libCounterRandom };

/**
 * `label(j, id, label_row)`: the label of vocabulary entry `j` of a row, from its id
 * (`p.label_mode == IDS`) or its one-hot row at `labels[label_row + j]`.
 */
export const LABELS: Snippet = { name: "labels", code: shaders.libLabels };

/** `scaled_grad` and `finish` of the optimizer updates (flags `CLIP`, `NON_NEGATIVE`). */
export const OPTIMIZER_STEP: Snippet = { name: "optimizer_step", code: shaders.libOptimizerStep };

/** Where a matmul batch lies, its clipped extents and alpha (every matmul kernel's part). */
export const MATMUL_BATCH: Snippet = { name: "matmul_batch", code: shaders.libMatmulBatch };

/** The fused matmul epilogue, C by element: `store`, `store_row`. */
export const MATMUL_STORE: Snippet = {
  name: "matmul_store",
  code: shaders.libMatmulStore,
  requires: [MATMUL_BATCH],
};

/** The fused matmul epilogue, C (and aux) as vec4: `store4`. */
export const MATMUL_STORE4: Snippet = {
  name: "matmul_store4",
  code: shaders.libMatmulStore4,
  requires: [MATMUL_BATCH],
};
