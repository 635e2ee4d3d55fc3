// Causal multi-head attention without a score matrix (online softmax), one workgroup per
// (sequence·head, tile of WG queries), one invocation per query:
//   out_i = Σ_{j ≤ i + offset} softmax_j(scale · q_i·k_j) v_j,   lse_i = log Σ_j exp(scale · q_i·k_j)
// Each invocation keeps its scaled query, the running maximum m and sum l of its row and
// its output in registers, and visits the keys in order; the sums are rescaled only when
// the maximum grows. The key loop is the same for every invocation of a workgroup (to the
// tile's last visible key, masked per query), so each key and value read is the same
// address across the workgroup. `lse` is what the backward recomputes the probabilities
// from. Training passes the packed [B, T, 3D] qkv as q, k and v (offset 0); a generation
// step passes its query and the key/value cache (offset = its position). Head rows are
// read as HeadVec (f32 or vec4, transformer_lanes_*.wgsl), DV of them per head; query i of
// sequence b, head h starts at q[q_base + b·q_batch + i·q_row + h·DV] (likewise k, v, out).

// A finite −∞: masked scores give exp(NEG − m) = 0 without inf − inf.
const NEG: f32 = -1e30;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = group_index(wid);
  let bh = g / p.tiles;
  let first = (g % p.tiles) * WG;
  let b = bh / p.heads;
  let col = (bh % p.heads) * DV;
  let i = first + lid.x;
  let iq = min(i, p.queries - 1u);
  // The last key this query sees, and the last any query of the workgroup sees.
  let mine = iq + p.offset;
  let last = min(first + WG, p.queries) - 1u + p.offset;

  let qa = p.q_base + b * p.q_batch + iq * p.q_row + col;
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
  for (var j = 0u; j <= last; j++) {
    let ka = kb + j * p.k_row;
    var dot = HeadVec(0.0);
    for (var d = 0u; d < DV; d++) {
      dot += qs[d] * k[ka + d];
    }
    let s = select(NEG, hsum(dot), j <= mine);
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
  if (i < p.queries) {
    let oa = p.o_base + b * p.o_batch + i * p.o_row + col;
    let inv = 1.0 / l;
    for (var d = 0u; d < DV; d++) {
      out[oa + d] = acc[d] * inv;
    }
    lse[bh * p.queries + i] = m + log(l);
  }
}
