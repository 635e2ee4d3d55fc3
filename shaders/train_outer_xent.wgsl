// The outer loss on one tile of fast logits, in place, one workgroup per row:
//   loss_rows[r] = w/N · (lse(z)·Σy − Σ y⊙z)          (w/N · CE, N the outer normalizer)
//   z           ← w/N · (softmax(z)·Σy − y)            (its gradient with respect to z)
// Labels are token ids (i32, bit-cast; Σy = 1) or rows of a one-hot/distribution matrix
// (f32, bit-cast). A row of weight 0 gives 0 whatever its label (e.g. id −1).

var<workgroup> partial: array<vec4<f32>, WG>;

fn label(j: u32, id: i32, label_row: u32) -> f32 {
  if (p.label_mode == IDS) {
    return select(0.0, 1.0, i32(j) == id);
  }
  return bitcast<f32>(labels[label_row + j]);
}

fn reduce_max(value: f32, lane: u32) -> f32 {
  partial[lane] = vec4<f32>(value);
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] = max(partial[lane], partial[lane + stride]);
    }
    workgroupBarrier();
  }
  let m = partial[0].x;
  workgroupBarrier();
  return m;
}

fn reduce_sum(value: vec4<f32>, lane: u32) -> vec4<f32> {
  partial[lane] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] += partial[lane + stride];
    }
    workgroupBarrier();
  }
  let s = partial[0];
  workgroupBarrier();
  return s;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = group_index(wid);
  if (row >= p.rows) {
    return;
  }
  let lane = lid.x;
  let base = row * p.vocab;
  let w = weights[p.row_offset + row];
  let id = bitcast<i32>(labels[p.row_offset + row]);
  let label_row = p.label_base + row * p.vocab;
  var mx = -3.4e38;
  for (var j = lane; j < p.vocab; j += WG) {
    mx = max(mx, z[base + j]);
  }
  mx = reduce_max(mx, lane);
  // x: Σ exp(z − max), y: Σ y, z: Σ y·(z − max)
  var s = vec4<f32>(0.0);
  for (var j = lane; j < p.vocab; j += WG) {
    let zj = z[base + j] - mx;
    let y = label(j, id, label_row);
    s += vec4<f32>(exp(zj), y, y * zj, 0.0);
  }
  s = reduce_sum(s, lane);
  let scale = w / norm[0];
  let inv = 1.0 / s.x;
  let sum_y = s.y;
  if (lane == 0u) {
    // CE = lse·Σy − Σ y·z with lse = max + log Σ exp(z − max).
    loss_rows[p.row_offset + row] = select(0.0, scale * (log(s.x) * sum_y - s.z), w != 0.0);
  }
  for (var j = lane; j < p.vocab; j += WG) {
    let y = label(j, id, label_row);
    let g = (exp(z[base + j] - mx) * inv * sum_y - y) * scale;
    z[base + j] = select(0.0, g, w != 0.0);
  }
}
