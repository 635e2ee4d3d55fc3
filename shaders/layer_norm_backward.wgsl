// Layer norm backward with respect to its input, one workgroup per row:
//   g' = g ⊙ scale        (scale: none, a shared vector [width], or per row [rows, width])
//   out = rstd · (g' − mean(g') − nhat · mean(g' ⊙ nhat))   (+ out with ACCUMULATE)
// and with G_SCALE also g_scale = g ⊙ nhat, the per-position gradient of the scale.
// FLAGS is a constant: each combination is its own pipeline.

fn scaled(base: u32, j: u32) -> f32 {
  var v = g[base + j];
  if ((FLAGS & SCALE_SHARED) != 0u) {
    v *= scale[j];
  }
  if ((FLAGS & SCALE_PER_ROW) != 0u) {
    v *= scale[base + j];
  }
  return v;
}

// One row of the tile (see lib/row_kernel.wgsl).
fn row_main(row: u32, lane: u32) {
  let base = row * p.width;
  var s = vec2<f32>(0.0);
  for (var j = lane; j < p.width; j += WG) {
    let v = scaled(base, j);
    s += vec2<f32>(v, v * nhat[base + j]);
  }
  let means = workgroup_sum2(s, lane) / f32(p.width);
  let r = rstd[row];
  for (var j = lane; j < p.width; j += WG) {
    let nh = nhat[base + j];
    var v = (scaled(base, j) - means.x - nh * means.y) * r;
    if ((FLAGS & ACCUMULATE) != 0u) {
      v += out[base + j];
    }
    out[base + j] = v;
    if ((FLAGS & G_SCALE) != 0u) {
      g_scale[base + j] = g[base + j] * nh;
    }
  }
}
