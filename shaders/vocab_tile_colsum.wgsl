// Column sums of a strided [rows, cols] tile into a range of a vector, one invocation
// per column:  out[out_base + j] += Σ_r a[a_base + r·a_row + j]  (a bias gradient
// accumulated over vocabulary tiles).

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.cols) {
    return;
  }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    s += a[p.a_base + r * p.a_row + j];
  }
  out[p.out_base + j] += s;
}
