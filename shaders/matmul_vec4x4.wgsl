// A matmul variant (see lib/matmul_epilogue.wgsl for the layout and the epilogue).
// This variant reads A as vec4 along k and B as vec4 along n (both row-major, k, n and
// every stride a multiple of 4): per 4 steps of k, 8 + 4 vector loads feed 128 FMAs of
// an 8×4 register block.

@compute @workgroup_size(WG, WG_Y)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bt = matmul_batch(wid);
  let m = bt.m;
  let n = bt.n;
  let k4 = p.k / 4u;
  let row0 = wid.y * TILE_M + lid.y * (TILE_M / WG_Y);
  let col0 = wid.x * TILE_N + lid.x * 4u;
  if (row0 >= m || col0 >= n) {
    return;
  }
  // In vec4 units.
  let a_off = bt.a_off / 4u;
  let b_off = (bt.b_off + col0) / 4u;
  let a_row = p.a_row / 4u;
  let b_row = p.b_row / 4u;
  let c_off = bt.c_off;
  let last = m - 1u;
  let r0 = a_off + row0 * a_row;
  let r1 = a_off + min(row0 + 1u, last) * a_row;
  let r2 = a_off + min(row0 + 2u, last) * a_row;
  let r3 = a_off + min(row0 + 3u, last) * a_row;
  let r4 = a_off + min(row0 + 4u, last) * a_row;
  let r5 = a_off + min(row0 + 5u, last) * a_row;
  let r6 = a_off + min(row0 + 6u, last) * a_row;
  let r7 = a_off + min(row0 + 7u, last) * a_row;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  var acc4 = vec4<f32>(0.0);
  var acc5 = vec4<f32>(0.0);
  var acc6 = vec4<f32>(0.0);
  var acc7 = vec4<f32>(0.0);
  var bk = b_off;
  for (var t = 0u; t < k4; t++) {
    let b0 = b[bk];
    let b1 = b[bk + b_row];
    let b2 = b[bk + 2u * b_row];
    let b3 = b[bk + 3u * b_row];
    bk += 4u * b_row;
    var av = a[r0 + t];
    acc0 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r1 + t];
    acc1 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r2 + t];
    acc2 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r3 + t];
    acc3 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r4 + t];
    acc4 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r5 + t];
    acc5 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r6 + t];
    acc6 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
    av = a[r7 + t];
    acc7 += av.x * b0 + av.y * b1 + av.z * b2 + av.w * b3;
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
