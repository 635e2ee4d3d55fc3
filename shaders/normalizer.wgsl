// The inner loss normalizer N: max(Σ w, 1e-8) over the whole batch ("batch"), or a
// fixed positive number. One workgroup; the result is one float.

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < p.count; i += WG) {
    s += weights[i];
  }
  let total = workgroup_sum(s, lid.x);
  if (lid.x == 0u) {
    norm[0] = select(max(total, 1e-8), p.value, p.fixed != 0u);
  }
}
