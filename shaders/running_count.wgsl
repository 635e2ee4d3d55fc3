// The running mean's count of docs/definition.md §6, one invocation per sequence b, scanning its
// positions t of weights w[b, t]:
//   count_t = λ^t · count[b] + Σ_{s<t} λ^(t−1−s) · w[b, s]     (count[b] carried, with CARRY)
// QUERY_SCALE writes out[b, t] = 1 / max(prior + count_t, 1e-8), what a query's update is
// divided by; ADVANCE writes count_T back to count[b] (the state after the window).
// λ = steps[decay_index] with DECAY, else 1.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x;
  if (b >= p.batch) {
    return;
  }
  var lambda = 1.0;
  if ((p.flags & DECAY) != 0u) {
    lambda = steps[p.decay_index];
  }
  var n = 0.0;
  if ((p.flags & CARRY) != 0u) {
    n = count[b];
  }
  for (var t = 0u; t < p.time; t++) {
    if ((p.flags & QUERY_SCALE) != 0u) {
      out[b * p.time + t] = 1.0 / max(p.prior + n, 1e-8);
    }
    n = lambda * n + weights[b * p.time + t];
  }
  if ((p.flags & ADVANCE) != 0u) {
    count[b] = n;
  }
}
