// The inner loss normalizer N: max(Σ w, 1e-8) over the whole batch ("batch"), or a
// fixed positive number. One workgroup; the result is one float.

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < p.count; i += 256u) {
    s += weights[i];
  }
  partial[lid.x] = s;
  workgroupBarrier();
  for (var stride = 128u; stride > 0u; stride /= 2u) {
    if (lid.x < stride) {
      partial[lid.x] += partial[lid.x + stride];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    norm[0] = select(max(partial[0], 1e-8), p.value, p.fixed != 0u);
  }
}
