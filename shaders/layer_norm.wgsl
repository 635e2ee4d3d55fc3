// Layer norm forward, one workgroup per row:
//   nhat = (x − mean) · rstd,  rstd = 1 / sqrt(var + eps)  (biased variance)
//   out  = nhat ⊙ scale + bias
// scale and bias are either shared vectors [width] or, for the fast pass, per-row
// matrices [rows, width] (each position has its own fast scale and bias).

var<workgroup> partial: array<f32, WG>;

fn workgroup_sum(value: f32, lane: u32) -> f32 {
  partial[lane] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] += partial[lane + stride];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = group_index(wid);
  if (row >= p.rows) {
    return;
  }
  let lane = lid.x;
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
