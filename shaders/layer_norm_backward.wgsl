// Layer norm backward of the inner loss, one workgroup per row:
//   g_nhat = g_n ⊙ scale
//   g_x    = (g_nhat − mean(g_nhat) − nhat · mean(g_nhat ⊙ nhat)) · rstd
// and g_n ⊙ nhat, the per-position gradient of the layer-norm scale.

var<workgroup> partial: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = group_index(wid);
  if (row >= p.rows) {
    return;
  }
  let lane = lid.x;
  let base = row * p.width;
  var s = vec2<f32>(0.0);
  for (var j = lane; j < p.width; j += WG) {
    let gh = g_n[base + j] * scale[j];
    s += vec2<f32>(gh, gh * nhat[base + j]);
  }
  partial[lane] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] += partial[lane + stride];
    }
    workgroupBarrier();
  }
  let means = partial[0] / f32(p.width);
  let r = rstd[row];
  for (var j = lane; j < p.width; j += WG) {
    let gn = g_n[base + j];
    let nh = nhat[base + j];
    g_x[base + j] = (gn * scale[j] - means.x - nh * means.y) * r;
    g_scale[base + j] = gn * nh;
  }
}
