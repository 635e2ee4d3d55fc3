// The general matmul (see lib/matmul_batch.wgsl for the layout, lib/matmul_store.wgsl for
// the epilogue): any strides. Each invocation keeps a 4×4 block of C in registers
// (lavapipe rewards register blocking far more than workgroup memory).

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
  let b_off = bt.b_off;
  let c_off = bt.c_off;
  // Rows and columns past the edge read a valid element; their results are not stored.
  let ra = vec4<u32>(row0, min(row0 + 1u, m - 1u), min(row0 + 2u, m - 1u), min(row0 + 3u, m - 1u)) * p.a_row;
  let cb = vec4<u32>(col0, min(col0 + 1u, n - 1u), min(col0 + 2u, n - 1u), min(col0 + 3u, n - 1u)) * p.b_col;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var t = 0u; t < kk; t++) {
    let ak = a_off + t * p.a_col;
    let bk = b_off + t * p.b_row;
    let bv = vec4<f32>(b[bk + cb.x], b[bk + cb.y], b[bk + cb.z], b[bk + cb.w]);
    acc0 += a[ak + ra.x] * bv;
    acc1 += a[ak + ra.y] * bv;
    acc2 += a[ak + ra.z] * bv;
    acc3 += a[ak + ra.w] * bv;
  }
  let alpha = matmul_alpha();
  let beta = matmul_beta(bt);
  let rows = min(4u, m - row0);
  let cols = min(4u, n - col0);
  for (var i = 0u; i < rows; i++) {
    var acc: vec4<f32>;
    switch i {
      case 0u: { acc = acc0; }
      case 1u: { acc = acc1; }
      case 2u: { acc = acc2; }
      default: { acc = acc3; }
    }
    let r = row0 + i;
    let ra = row_alpha(bt, r, alpha);
    for (var j = 0u; j < cols; j++) {
      let col = col0 + j;
      store(c_off + r * p.c_row + col * p.c_col, r, col, acc[j], ra, beta);
    }
  }
}
