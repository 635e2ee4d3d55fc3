// Running per-row statistics of logits streamed over vocabulary tiles (an online
// log-sum-exp, as in cut cross-entropy), one workgroup per row of a [rows, cols] tile
// holding vocabulary columns col0 .. col0+cols of rows row_offset .. row_offset+rows:
//   stats[row] = (m, s, a, b) with m the running max, s = Σ exp(z − m) and
//   either (labels) a = Σ y·z, b = Σ y, or (DG) a = Σ exp(z − m)·dg (rescaled with m).
// FIRST starts the statistics at this tile; FINISH_NLL / FINISH_LOSS (on the last tile)
// write out[row] = b·lse − a (cross-entropy), times w/N for the loss, 0 where w = 0.
// Labels are ids (i32, bit-cast, [allRows]) or one-hot rows (f32, bit-cast): the label
// of (row, j) is labels[label_base + row·label_stride + j].

var<workgroup> partial: array<vec4<f32>, WG>;

// Merges two running statistics: (m, s, a, b); `a` rescales with m only in DG mode.
fn merge(x: vec4<f32>, y: vec4<f32>, dg_mode: bool) -> vec4<f32> {
  let m = max(x.x, y.x);
  let ex = exp(x.x - m);
  let ey = exp(y.x - m);
  if (dg_mode) {
    return vec4<f32>(m, x.y * ex + y.y * ey, x.z * ex + y.z * ey, 0.0);
  }
  return vec4<f32>(m, x.y * ex + y.y * ey, x.z + y.z, x.w + y.w);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x;
  if (row >= p.rows) {
    return;
  }
  let lane = lid.x;
  let base = row * p.cols;
  let global_row = p.row_offset + row;
  let dg_mode = (p.flags & DG) != 0u;
  let with_labels = (p.flags & LABELS) != 0u;
  let one_hot = (p.flags & ONE_HOT) != 0u;
  var id = -1;
  if (with_labels && !one_hot) {
    id = bitcast<i32>(labels[global_row]) - i32(p.col0);
  }
  let label_row = p.label_base + row * p.label_stride;
  var mx = -3.4e38;
  var s = 0.0;
  var a = 0.0;
  var b = 0.0;
  for (var j = lane; j < p.cols; j += WG) {
    let v = z[base + j];
    var d = 0.0;
    if (dg_mode) {
      d = dg[base + j];
    }
    if (v > mx) {
      let r = exp(mx - v);
      s = s * r + 1.0;
      if (dg_mode) {
        a = a * r + d;
      }
      mx = v;
    } else {
      let e = exp(v - mx);
      s += e;
      if (dg_mode) {
        a += e * d;
      }
    }
    if (with_labels) {
      var y = 0.0;
      if (one_hot) {
        y = bitcast<f32>(labels[label_row + j]);
      } else {
        y = select(0.0, 1.0, i32(j) == id);
      }
      a += y * v;
      b += y;
    }
  }
  partial[lane] = vec4<f32>(mx, s, a, b);
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] = merge(partial[lane], partial[lane + stride], dg_mode);
    }
    workgroupBarrier();
  }
  if (lane == 0u) {
    var t = partial[0];
    if ((p.flags & FIRST) == 0u) {
      t = merge(stats[global_row], t, dg_mode);
    }
    stats[global_row] = t;
    if ((p.flags & (FINISH_NLL | FINISH_LOSS)) != 0u) {
      let w = weights[global_row];
      var ce = t.w * (t.x + log(t.y)) - t.z;
      if ((p.flags & FINISH_LOSS) != 0u) {
        ce *= w / norm[0];
      }
      out[global_row] = select(0.0, ce, w != 0.0);
    }
  }
}
