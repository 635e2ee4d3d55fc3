// Row-wise dot products of two [rows, width] matrices, one invocation per row:
//   out[row] = alpha · (steps[step_index] with STEP) · Σ_j a[row, j] · b[row, j]
//              (+ out[row] with ACCUMULATE)

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = invocation_index(gid);
  if (row >= p.rows) {
    return;
  }
  var s = 0.0;
  let base = row * p.width;
  for (var j = 0u; j < p.width; j++) {
    s += a[base + j] * b[base + j];
  }
  var alpha = p.alpha;
  if ((p.flags & STEP) != 0u) {
    alpha *= steps[p.step_index];
  }
  var v = alpha * s;
  if ((p.flags & ACCUMULATE) != 0u) {
    v += out[row];
  }
  out[row] = v;
}
