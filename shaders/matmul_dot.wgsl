// A matmul variant (see lib/matmul_epilogue.wgsl for the layout and the epilogue).
// This variant is for A·Bᵀ-like layouts where A's rows and B's columns are both
// contiguous along k (k, and every A/B stride, a multiple of 4): both are read as vec4
// and each invocation keeps a 4×4 block of C in registers.

@compute @workgroup_size(WG, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bt = matmul_batch(wid);
  let m = bt.m;
  let n = bt.n;
  let kk = p.k / 4u;
  let row0 = wid.y * TILE_M + lid.y * (TILE_M / WG_Y);
  let col0 = wid.x * TILE_N + lid.x * 4u;
  if (row0 >= m || col0 >= n) {
    return;
  }
  // In vec4 units.
  let a_off = bt.a_off / 4u;
  let b_off = bt.b_off / 4u;
  let c_off = bt.c_off;
  let a_row = p.a_row / 4u;
  let b_col = p.b_col / 4u;
  let ra0 = a_off + row0 * a_row;
  let ra1 = a_off + min(row0 + 1u, m - 1u) * a_row;
  let ra2 = a_off + min(row0 + 2u, m - 1u) * a_row;
  let ra3 = a_off + min(row0 + 3u, m - 1u) * a_row;
  let cb0 = b_off + col0 * b_col;
  let cb1 = b_off + min(col0 + 1u, n - 1u) * b_col;
  let cb2 = b_off + min(col0 + 2u, n - 1u) * b_col;
  let cb3 = b_off + min(col0 + 3u, n - 1u) * b_col;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var t = 0u; t < kk; t++) {
    let b0 = b[cb0 + t];
    let b1 = b[cb1 + t];
    let b2 = b[cb2 + t];
    let b3 = b[cb3 + t];
    let a0 = a[ra0 + t];
    let a1 = a[ra1 + t];
    let a2 = a[ra2 + t];
    let a3 = a[ra3 + t];
    acc0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
    acc1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
    acc2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
    acc3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
  }
  let alpha = matmul_alpha();
  let cols = min(4u, n - col0);
  store_row(c_off, row0, col0, cols, m, acc0, alpha);
  store_row(c_off, row0 + 1u, col0, cols, m, acc1, alpha);
  store_row(c_off, row0 + 2u, col0, cols, m, acc2, alpha);
  store_row(c_off, row0 + 3u, col0, cols, m, acc3, alpha);
}
