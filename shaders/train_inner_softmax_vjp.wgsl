// Second-order step through the inner softmax cross-entropy, one workgroup per row of a
// tile of slow logits. With p = softmax(z) and c = w/N (inner normalizer):
//   g_z = c · (p − y)                      (the inner gradient, recomputed)
//   dz  = c · p ⊙ (dg − ⟨p, dg⟩)            (the cotangent of z, given that of g_z)
// in place: z ← g_z, dg ← dz. Labels as in softmax_xent.wgsl.

var<workgroup> partial: array<vec2<f32>, WG>;

fn reduce_max(value: f32, lane: u32) -> f32 {
  partial[lane] = vec2<f32>(value);
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

fn reduce_sum(value: vec2<f32>, lane: u32) -> vec2<f32> {
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
  // x: Σ exp(z − max), y: Σ exp(z − max)·dg
  var s = vec2<f32>(0.0);
  for (var j = lane; j < p.vocab; j += WG) {
    let e = exp(z[base + j] - mx);
    s += vec2<f32>(e, e * dg[base + j]);
  }
  s = reduce_sum(s, lane);
  let inv = 1.0 / s.x;
  let pdg = s.y * inv;
  let c = w / norm[0];
  for (var j = lane; j < p.vocab; j += WG) {
    var y = 0.0;
    if (p.label_mode == IDS) {
      y = select(0.0, 1.0, i32(j) == id);
    } else {
      y = bitcast<f32>(labels[label_row + j]);
    }
    let pj = exp(z[base + j] - mx) * inv;
    z[base + j] = select(0.0, (pj - y) * c, w != 0.0);
    dg[base + j] = select(0.0, c * pj * (dg[base + j] - pdg), w != 0.0);
  }
}
