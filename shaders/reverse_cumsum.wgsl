// Reverse exclusive cumulative sum over time, one invocation per (sequence, column):
//   out[b, t, j] = Σ_{s>t} λ^(s−1−t) · u[b, s, j]
// the backward of the (decayed) exclusive cumsum of the fast-weight updates; λ =
// steps[decay_index] with DECAY (docs/definition.md §6), else 1. With CARRY_OUT it also writes
// carry_out[b, j] = Σ_s λ^s · u[b, s, j], the cotangent of a carried sum that starts the
// forward's (its λ^t · carry term).

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let b = gid.y;
  if (j >= p.width || b >= p.batch) {
    return;
  }
  var lambda = 1.0;
  if ((p.flags & DECAY) != 0u) {
    lambda = steps[p.decay_index];
  }
  var running = 0.0;
  for (var k = 0u; k < p.time; k++) {
    let t = p.time - 1u - k;
    let idx = (b * p.time + t) * p.width + j;
    let v = u[idx];
    out[idx] = running;
    running = lambda * running + v;
  }
  if ((p.flags & CARRY_OUT) != 0u) {
    carry_out[b * p.width + j] = running;
  }
}
