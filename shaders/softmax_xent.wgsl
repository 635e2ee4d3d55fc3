// Gradient of the weighted cross-entropy with respect to the logits, in place, one
// workgroup per row:  g_z = (softmax(z) − y) · w / N.
// Labels are token ids (i32, bit-cast) or rows of a one-hot/distribution matrix (f32,
// bit-cast); a row whose weight is 0 becomes all zeros whatever its label.

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = group_index(wid);
  if (row >= p.rows) {
    return;
  }
  let lane = lid.x;
  let base = row * p.vocab;
  // A zero weight zeroes the row through `scale` (no early return: the barriers below
  // must stay in uniform control flow).
  let w = weights[p.row_offset + row];
  var mx = -3.4e38;
  for (var j = lane; j < p.vocab; j += WG) {
    mx = max(mx, z[base + j]);
  }
  partial[lane] = mx;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] = max(partial[lane], partial[lane + stride]);
    }
    workgroupBarrier();
  }
  mx = partial[0];
  workgroupBarrier();
  var s = 0.0;
  for (var j = lane; j < p.vocab; j += WG) {
    s += exp(z[base + j] - mx);
  }
  partial[lane] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] += partial[lane + stride];
    }
    workgroupBarrier();
  }
  let scale = w / norm[0];
  let inv = 1.0 / partial[0];
  let id = bitcast<i32>(labels[p.row_offset + row]);
  let label_row = p.label_base + row * p.vocab;
  for (var j = lane; j < p.vocab; j += WG) {
    var y = 0.0;
    if (p.label_mode == IDS) {
      y = select(0.0, 1.0, i32(j) == id);
    } else {
      y = bitcast<f32>(labels[label_row + j]);
    }
    z[base + j] = (exp(z[base + j] - mx) * inv - y) * scale;
  }
}
