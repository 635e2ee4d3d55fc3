// A dense layer fused with the layer norm after it, for rows up to 256 wide: one
// workgroup owns 8 whole rows, so the bias add and the row statistics happen in
// registers and workgroup memory, and the pre-norm activations never reach memory.
//   h    = a·w + bias                      [8 rows, n], never stored
//   nhat = (h − mean(h)) · rstd,  rstd = 1 / sqrt(var(h) + eps)   (biased variance)
//   out  = nhat ⊙ scale + ln_bias
// a is [m, k] and w [k, n], both row-major and read as vec4 (k and n multiples of 4);
// lane t of the 64 computes columns 4t..4t+3 of the 8 rows.

// Per lane, the partial sums of rows 0–3 and 4–7.
var<workgroup> partial: array<vec4<f32>, 128>;

fn row_sums(lane: u32, lo: vec4<f32>, hi: vec4<f32>) -> array<vec4<f32>, 2> {
  partial[2u * lane] = lo;
  partial[2u * lane + 1u] = hi;
  workgroupBarrier();
  for (var stride = 32u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[2u * lane] += partial[2u * (lane + stride)];
      partial[2u * lane + 1u] += partial[2u * (lane + stride) + 1u];
    }
    workgroupBarrier();
  }
  let sums = array<vec4<f32>, 2>(partial[0], partial[1]);
  workgroupBarrier();
  return sums;
}

fn hsum(v: vec4<f32>) -> f32 {
  return v.x + v.y + v.z + v.w;
}

fn store_row(row: u32, col0: u32, h: vec4<f32>, mean: f32, r: f32) {
  if (row >= p.m) {
    return;
  }
  let base = row * p.n + col0;
  let nh = (h - vec4<f32>(mean)) * r;
  for (var j = 0u; j < 4u; j++) {
    nhat[base + j] = nh[j];
    out[base + j] = nh[j] * scale[col0 + j] + ln_bias[col0 + j];
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row0 = group_index(wid) * ROWS;
  if (row0 >= p.m) {
    return;
  }
  let lane = lid.x;
  let col0 = lane * 4u;
  let in_row = col0 < p.n;
  let k4 = p.k / 4u;
  let n4 = p.n / 4u;
  let last = p.m - 1u;
  let r0 = row0 * k4;
  let r1 = min(row0 + 1u, last) * k4;
  let r2 = min(row0 + 2u, last) * k4;
  let r3 = min(row0 + 3u, last) * k4;
  let r4 = min(row0 + 4u, last) * k4;
  let r5 = min(row0 + 5u, last) * k4;
  let r6 = min(row0 + 6u, last) * k4;
  let r7 = min(row0 + 7u, last) * k4;
  var h0 = vec4<f32>(0.0);
  var h1 = vec4<f32>(0.0);
  var h2 = vec4<f32>(0.0);
  var h3 = vec4<f32>(0.0);
  var h4 = vec4<f32>(0.0);
  var h5 = vec4<f32>(0.0);
  var h6 = vec4<f32>(0.0);
  var h7 = vec4<f32>(0.0);
  // Inactive lanes read column group 0 and discard the result.
  var wk = select(0u, lane, in_row);
  for (var t = 0u; t < k4; t++) {
    let b0 = w[wk];
    let b1 = w[wk + n4];
    let b2 = w[wk + 2u * n4];
    let b3 = w[wk + 3u * n4];
    wk += 4u * n4;
    var av = a[r0 + t];
    h0 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r1 + t];
    h1 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r2 + t];
    h2 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r3 + t];
    h3 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r4 + t];
    h4 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r5 + t];
    h5 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r6 + t];
    h6 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r7 + t];
    h7 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
  }
  var bv = vec4<f32>(0.0);
  if (in_row) {
    bv = vec4<f32>(bias[col0], bias[col0 + 1u], bias[col0 + 2u], bias[col0 + 3u]);
  }
  let on = select(0.0, 1.0, in_row);
  h0 = (h0 + bv) * on;
  h1 = (h1 + bv) * on;
  h2 = (h2 + bv) * on;
  h3 = (h3 + bv) * on;
  h4 = (h4 + bv) * on;
  h5 = (h5 + bv) * on;
  h6 = (h6 + bv) * on;
  h7 = (h7 + bv) * on;
  let inv_n = 1.0 / f32(p.n);
  let s = row_sums(
    lane,
    vec4<f32>(hsum(h0), hsum(h1), hsum(h2), hsum(h3)),
    vec4<f32>(hsum(h4), hsum(h5), hsum(h6), hsum(h7)),
  );
  let mlo = s[0] * inv_n;
  let mhi = s[1] * inv_n;
  // Centered second moments (two passes: robust when |mean| ≫ the spread).
  let d0 = (h0 - vec4<f32>(mlo.x)) * on;
  let d1 = (h1 - vec4<f32>(mlo.y)) * on;
  let d2 = (h2 - vec4<f32>(mlo.z)) * on;
  let d3 = (h3 - vec4<f32>(mlo.w)) * on;
  let d4 = (h4 - vec4<f32>(mhi.x)) * on;
  let d5 = (h5 - vec4<f32>(mhi.y)) * on;
  let d6 = (h6 - vec4<f32>(mhi.z)) * on;
  let d7 = (h7 - vec4<f32>(mhi.w)) * on;
  let q = row_sums(
    lane,
    vec4<f32>(dot(d0, d0), dot(d1, d1), dot(d2, d2), dot(d3, d3)),
    vec4<f32>(dot(d4, d4), dot(d5, d5), dot(d6, d6), dot(d7, d7)),
  );
  let rlo = inverseSqrt(q[0] * inv_n + vec4<f32>(p.eps));
  let rhi = inverseSqrt(q[1] * inv_n + vec4<f32>(p.eps));
  if (in_row) {
    store_row(row0, col0, h0, mlo.x, rlo.x);
    store_row(row0 + 1u, col0, h1, mlo.y, rlo.y);
    store_row(row0 + 2u, col0, h2, mlo.z, rlo.z);
    store_row(row0 + 3u, col0, h3, mlo.w, rlo.w);
    store_row(row0 + 4u, col0, h4, mhi.x, rhi.x);
    store_row(row0 + 5u, col0, h5, mhi.y, rhi.y);
    store_row(row0 + 6u, col0, h6, mhi.z, rhi.z);
    store_row(row0 + 7u, col0, h7, mhi.w, rhi.w);
  }
  if (lane < ROWS && row0 + lane < p.m) {
    let rl = select(rhi, rlo, lane < 4u);
    rstd[row0 + lane] = rl[lane % 4u];
  }
}
