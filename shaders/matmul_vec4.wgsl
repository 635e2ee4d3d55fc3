// A matmul variant (see lib/matmul_epilogue.wgsl for the layout and the epilogue).
// This variant reads B as vec4 (B row-major with n and every B stride a multiple of
// 4) and keeps an 8×4 block of C per invocation in registers: on lavapipe, register
// blocking and vector loads matter far more than workgroup memory.

@compute @workgroup_size(WG, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bt = matmul_batch(wid);
  let m = bt.m;
  let n = bt.n;
  let kk = bt.k;
  let row0 = wid.y * TILE_M + lid.y * (TILE_M / WG_Y);
  let col0 = wid.x * TILE_N + lid.x * 4u;
  if (row0 >= m || col0 >= n) {
    return;
  }
  let a_off = bt.a_off;
  // In vec4 units: every B stride and base is a multiple of 4.
  let b_off = (bt.b_off + col0) / 4u;
  let b_row = p.b_row / 4u;
  let c_off = bt.c_off;
  let last = m - 1u;
  let r0 = row0 * p.a_row;
  let r1 = min(row0 + 1u, last) * p.a_row;
  let r2 = min(row0 + 2u, last) * p.a_row;
  let r3 = min(row0 + 3u, last) * p.a_row;
  let r4 = min(row0 + 4u, last) * p.a_row;
  let r5 = min(row0 + 5u, last) * p.a_row;
  let r6 = min(row0 + 6u, last) * p.a_row;
  let r7 = min(row0 + 7u, last) * p.a_row;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);
  var ak = a_off;
  var bk = b_off;
  for (var t = 0u; t < kk; t++) {
    let bv = b[bk];
    acc0 += a[ak + r0] * bv;
    acc1 += a[ak + r1] * bv;
    acc2 += a[ak + r2] * bv;
    acc3 += a[ak + r3] * bv;
    acc4 += a[ak + r4] * bv;
    acc5 += a[ak + r5] * bv;
    acc6 += a[ak + r6] * bv;
    acc7 += a[ak + r7] * bv;
    ak += p.a_col;
    bk += b_row;
  }
  let alpha = matmul_alpha();
  let cols = min(4u, n - col0);
  store_row(c_off, row0, col0, cols, m, acc0, alpha);
  store_row(c_off, row0 + 1u, col0, cols, m, acc1, alpha);
  store_row(c_off, row0 + 2u, col0, cols, m, acc2, alpha);
  store_row(c_off, row0 + 3u, col0, cols, m, acc3, alpha);
  store_row(c_off, row0 + 4u, col0, cols, m, acc4, alpha);
  store_row(c_off, row0 + 5u, col0, cols, m, acc5, alpha);
  store_row(c_off, row0 + 6u, col0, cols, m, acc6, alpha);
  store_row(c_off, row0 + 7u, col0, cols, m, acc7, alpha);
}
