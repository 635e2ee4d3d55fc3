// Softmax cross-entropy on a tile of logits z [rows, vocab], in place, one workgroup per
// row. With p = softmax(z), y the labels and c = w/N (w the row's weight, N the
// normalizer), by MODE (a constant: each mode is its own pipeline):
//   GRAD       z ← c·(p − y)                                  the gradient of the loss
//   LOSS_GRAD  z ← c·(p·Σy − y),  loss_rows[r] = c·(lse(z)·Σy − Σ y⊙z)   (the outer loss)
//   VJP        z ← c·(p − y),  dg ← c·p ⊙ (dg − ⟨p, dg⟩)       dg: the cotangent of g_z
// Labels are token ids (i32, bit-cast; Σy = 1) or rows of a one-hot/distribution matrix
// (f32, bit-cast). A row of weight 0 becomes 0 whatever its label (e.g. id −1).

// One row of the tile (see lib/row_kernel.wgsl).
fn row_main(row: u32, lane: u32) {
  let base = row * p.vocab;
  let w = weights[p.row_offset + row];
  let id = bitcast<i32>(labels[p.row_offset + row]);
  let label_row = p.label_base + row * p.vocab;
  var mx = -3.4e38;
  for (var j = lane; j < p.vocab; j += WG) {
    mx = max(mx, z[base + j]);
  }
  mx = workgroup_max(mx, lane);
  // x: Σ exp(z − max); LOSS_GRAD y: Σ y, z: Σ y·(z − max); VJP y: Σ exp(z − max)·dg
  var s = vec4<f32>(0.0);
  for (var j = lane; j < p.vocab; j += WG) {
    let zj = z[base + j] - mx;
    let e = exp(zj);
    if (MODE == LOSS_GRAD) {
      let y = label(j, id, label_row);
      s += vec4<f32>(e, y, y * zj, 0.0);
    } else if (MODE == VJP) {
      s += vec4<f32>(e, e * dg[base + j], 0.0, 0.0);
    } else {
      s.x += e;
    }
  }
  if (MODE == GRAD) {
    s.x = workgroup_sum(s.x, lane);
  } else {
    s = workgroup_sum4(s, lane);
  }
  let c = w / norm[0];
  let inv = 1.0 / s.x;
  if (MODE == LOSS_GRAD && lane == 0u) {
    // CE = lse·Σy − Σ y·z with lse = max + log Σ exp(z − max).
    loss_rows[p.row_offset + row] = select(0.0, c * (log(s.x) * s.y - s.z), w != 0.0);
  }
  for (var j = lane; j < p.vocab; j += WG) {
    let y = label(j, id, label_row);
    let pj = exp(z[base + j] - mx) * inv;
    var g = (pj - y) * c;
    if (MODE == LOSS_GRAD) {
      g = (pj * s.y - y) * c;
    } else if (MODE == VJP) {
      dg[base + j] = select(0.0, c * pj * (dg[base + j] - s.y * inv), w != 0.0);
    }
    z[base + j] = select(0.0, g, w != 0.0);
  }
}
