// Per-element gradients on a [rows, cols] tile of logits (vocabulary columns col0 ..
// col0+cols of rows row_offset ..), from the row statistics of vocab_tile_stats.wgsl
// (stats[row] = (m, s, a, b), p = exp(z − m)/s the softmax over the whole vocabulary),
// c = w/N, in place:
//   INNER: z ← c·(p − y)                    (the inner gradient, as softmax_xent.wgsl)
//   OUTER: z ← c·(p·Σy − y), 0 where w = 0  (the outer loss gradient, Σy = b)
//   VJP:   z ← c·(p − y), dg ← c·p ⊙ (dg − a/s), 0 where w = 0  (a = Σ exp(z − m)·dg)
// Labels as in vocab_tile_stats.wgsl.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let row = gid.y;
  if (j >= p.cols || row >= p.rows) {
    return;
  }
  let global_row = p.row_offset + row;
  let idx = row * p.cols + j;
  var y = 0.0;
  if (p.one_hot != 0u) {
    y = bitcast<f32>(labels[p.label_base + row * p.label_stride + j]);
  } else {
    y = select(0.0, 1.0, bitcast<i32>(labels[global_row]) == i32(p.col0 + j));
  }
  let t = stats[global_row];
  let w = weights[global_row];
  let c = w / norm[0];
  let pj = exp(z[idx] - t.x) / t.y;
  if (p.mode == INNER) {
    z[idx] = (pj - y) * c;
  } else if (p.mode == OUTER) {
    z[idx] = select(0.0, (pj * t.w - y) * c, w != 0.0);
  } else {
    z[idx] = select(0.0, (pj - y) * c, w != 0.0);
    dg[idx] = select(0.0, c * pj * (dg[idx] - t.z / t.y), w != 0.0);
  }
}
