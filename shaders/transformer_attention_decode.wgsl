// Causal attention of one query per (sequence, head) — a generation step against the
// key/value cache — with the keys split across the workgroup: invocation `lane` runs the
// online softmax of transformer_attention.wgsl over keys lane, lane + WG, … ≤ offset,
// then the partial rows are merged through workgroup memory:
//   M = max m_lane,  L = Σ l_lane·exp(m_lane − M),  out = Σ acc_lane·exp(m_lane − M) / L.
// One workgroup per (sequence·head); layouts and uniforms as in transformer_attention.wgsl
// (queries = 1, tiles = 1).

const NEG: f32 = -1e30;

var<workgroup> part_m: array<f32, WG>;
var<workgroup> part_l: array<f32, WG>;
var<workgroup> part_acc: array<HeadVec, WG * DV>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let bh = group_index(wid);
  let b = bh / p.heads;
  let col = (bh % p.heads) * DV;
  let lane = lid.x;
  let last = p.offset;

  let qa = p.q_base + b * p.q_batch + col;
  let kb = p.k_base + b * p.k_batch + col;
  let vb = p.v_base + b * p.v_batch + col;
  var qs: array<HeadVec, DV>;
  var acc: array<HeadVec, DV>;
  for (var d = 0u; d < DV; d++) {
    qs[d] = q[qa + d] * p.scale;
    acc[d] = HeadVec(0.0);
  }
  var m = NEG;
  var l = 0.0;
  for (var j = lane; j <= last; j += WG) {
    let ka = kb + j * p.k_row;
    var dot = HeadVec(0.0);
    for (var d = 0u; d < DV; d++) {
      dot += qs[d] * k[ka + d];
    }
    let s = hsum(dot);
    if (s > m) {
      let rescale = exp(m - s);
      m = s;
      l *= rescale;
      for (var d = 0u; d < DV; d++) {
        acc[d] *= rescale;
      }
    }
    let e = exp(s - m);
    l += e;
    let va = vb + j * p.v_row;
    for (var d = 0u; d < DV; d++) {
      acc[d] += e * v[va + d];
    }
  }
  part_m[lane] = m;
  part_l[lane] = l;
  for (var d = 0u; d < DV; d++) {
    part_acc[lane * DV + d] = acc[d];
  }
  workgroupBarrier();
  // Invocation d < DV merges column d (every one finds M and L itself).
  var top = NEG;
  for (var r = 0u; r < WG; r++) {
    top = max(top, part_m[r]);
  }
  var total = 0.0;
  for (var r = 0u; r < WG; r++) {
    total += part_l[r] * exp(part_m[r] - top);
  }
  let inv = 1.0 / total;
  for (var d = lane; d < DV; d += WG) {
    var sum = HeadVec(0.0);
    for (var r = 0u; r < WG; r++) {
      sum += part_acc[r * DV + d] * exp(part_m[r] - top);
    }
    out[p.o_base + b * p.o_batch + col + d] = sum * inv;
  }
  if (lane == 0u) {
    lse[bh] = top + log(total);
  }
}
