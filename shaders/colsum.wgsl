// Column sums of a [rows, width] matrix (the gradient of a bias or of a shared scale),
// one invocation per column:  out[j] = alpha · Σ_r a[r, j] (· b[r, j] with HAS_B)
// (+ out[j] with ACCUMULATE).

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = invocation_index(gid);
  if (j >= p.width) {
    return;
  }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let idx = r * p.width + j;
    var v = a[idx];
    if ((p.flags & HAS_B) != 0u) {
      v *= b[idx];
    }
    s += v;
  }
  var v = p.alpha * s;
  if ((p.flags & ACCUMULATE) != 0u) {
    v += out[j];
  }
  out[j] = v;
}
