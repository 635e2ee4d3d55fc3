// Pass 1 of the global gradient norm: partials[part_base + w] = Σ grad² over workgroup
// w's share of the segment grad[g_off .. g_off + len).

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  var s = 0.0;
  let stride = p.groups * WG;
  for (var i = wid.x * WG + lid.x; i < p.len; i += stride) {
    let g = grad[p.g_off + i];
    s += g * g;
  }
  let total = workgroup_sum(s, lid.x);
  if (lid.x == 0u) {
    partials[p.part_base + wid.x] = total;
  }
}
