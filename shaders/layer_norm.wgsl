// Layer norm forward, one workgroup per row:
//   nhat = (x − mean) · rstd,  rstd = 1 / sqrt(var + eps)  (biased variance)
//   out  = nhat ⊙ scale + bias
// scale and bias are either shared vectors [width] or, for the fast pass, per-row
// matrices [rows, width] (each position has its own fast scale and bias).

// One row of the tile (see lib/row_kernel.wgsl).
fn row_main(row: u32, lane: u32) {
  let base = row * p.width;
  var s = 0.0;
  for (var j = lane; j < p.width; j += WG) {
    s += x[base + j];
  }
  let mean = workgroup_sum(s, lane) / f32(p.width);
  var q = 0.0;
  for (var j = lane; j < p.width; j += WG) {
    let d = x[base + j] - mean;
    q += d * d;
  }
  let r = inverseSqrt(workgroup_sum(q, lane) / f32(p.width) + p.eps);
  let affine = select(0u, base, p.per_row_affine != 0u);
  for (var j = lane; j < p.width; j += WG) {
    let nh = (x[base + j] - mean) * r;
    nhat[base + j] = nh;
    out[base + j] = nh * scale[affine + j] + bias[affine + j];
  }
  if (lane == 0u) {
    rstd[row] = r;
  }
}
