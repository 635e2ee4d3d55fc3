// Reverse exclusive cumulative sum over time, one invocation per (sequence, column):
//   out[b, t, j] = Σ_{s>t} u[b, s, j]
// the backward of the exclusive cumsum Σ_{s<t} of the fast-weight updates.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let b = gid.y;
  if (j >= p.width || b >= p.batch) {
    return;
  }
  var running = 0.0;
  for (var k = 0u; k < p.time; k++) {
    let t = p.time - 1u - k;
    let idx = (b * p.time + t) * p.width + j;
    let v = u[idx];
    out[idx] = running;
    running += v;
  }
}
