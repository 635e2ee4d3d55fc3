// Layer norm backward with respect to its input, one workgroup per row:
//   g' = g ⊙ scale        (scale: none, a shared vector [width], or per row [rows, width])
//   out = rstd · (g' − mean(g') − nhat · mean(g' ⊙ nhat))   (+ out with ACCUMULATE)

var<workgroup> partial: array<vec2<f32>, WG>;

fn scaled(base: u32, j: u32) -> f32 {
  var v = g[base + j];
  if ((p.flags & SCALE_SHARED) != 0u) {
    v *= scale[j];
  }
  if ((p.flags & SCALE_PER_ROW) != 0u) {
    v *= scale[base + j];
  }
  return v;
}

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
    let v = scaled(base, j);
    s += vec2<f32>(v, v * nhat[base + j]);
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
    var v = (scaled(base, j) - means.x - nhat[base + j] * means.y) * r;
    if ((p.flags & ACCUMULATE) != 0u) {
      v += out[base + j];
    }
    out[base + j] = v;
  }
}
