// The entry point of a row kernel: one workgroup per row of `p.rows`, spread over the
// grid (lib/grid.wgsl); the kernel's body defines `row_main(row, lane)`. The row is the
// same for the whole workgroup, so `row_main` may use barriers.
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = group_index(wid);
  if (row < p.rows) {
    row_main(row, lid.x);
  }
}
