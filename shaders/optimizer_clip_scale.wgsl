// Pass 2 of the global gradient norm: clip[0] = clip_norm / max(‖g‖, clip_norm) (1 when
// the norm is within bounds), clip[1] = ‖g‖, where ‖g‖² is the sum of the first `count`
// partials. A non-finite norm gives a non-finite scale, so the update shows it.

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < p.count; i += WG) {
    s += partials[i];
  }
  let total = workgroup_sum(s, lid.x);
  if (lid.x == 0u) {
    let norm = sqrt(total);
    clip[0] = p.clip_norm / max(norm, p.clip_norm);
    clip[1] = norm;
  }
}
