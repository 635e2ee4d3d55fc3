// Causal multi-head attention without a score matrix (online softmax), one workgroup per
// (sequence·head, tile of WG queries), one invocation per query:
//   out[i] = Σ_{j ≤ i + offset} softmax_j(scale · q_i·k_j) v_j,   lse[i] = log Σ_j exp(scale · q_i·k_j)
// Keys are visited in tiles of KT: a tile's scores are kept in registers, the running
// maximum m and sum l of the row are rescaled once per tile, and the output is
// accumulated in registers. The key loop is the same for every lane of a workgroup (it
// runs to the tile's last visible key and masks per lane), so every key and value read
// is uniform across the workgroup. `lse` is what the backward recomputes the
// probabilities from. Training passes the packed [B, T, 3D] qkv as q, k and v (offset 0);
// a generation step passes its query and the key/value cache (offset = its position).
// Query `i` of sequence `b`, head `h` lives at q[q_base + b·q_batch + i·q_row + h·DH + d]
// (likewise k, v and out).

// A finite −∞: masked scores give exp(NEG − m) = 0 without inf − inf.
const NEG: f32 = -1e30;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = group_index(wid);
  let bh = g / p.tiles;
  let first = (g % p.tiles) * WG;
  let b = bh / p.heads;
  let col = (bh % p.heads) * DH;
  let i = first + lid.x;
  let iq = min(i, p.queries - 1u);
  // The last key this lane sees, and the last any lane of the workgroup sees.
  let mine = iq + p.offset;
  let last = min(first + WG, p.queries) - 1u + p.offset;

  let qa = p.q_base + b * p.q_batch + iq * p.q_row + col;
  let kb = p.k_base + b * p.k_batch + col;
  let vb = p.v_base + b * p.v_batch + col;
  var qs: array<f32, DH>;
  var acc: array<f32, DH>;
  for (var d = 0u; d < DH; d++) {
    qs[d] = q[qa + d] * p.scale;
    acc[d] = 0.0;
  }
  var m = NEG;
  var l = 0.0;
  for (var j0 = 0u; j0 <= last; j0 += KT) {
    var s: array<f32, KT>;
    var tile_max = m;
    for (var t = 0u; t < KT; t++) {
      let ka = kb + min(j0 + t, last) * p.k_row;
      var dot = 0.0;
      for (var d = 0u; d < DH; d++) {
        dot += qs[d] * k[ka + d];
      }
      s[t] = select(NEG, dot, j0 + t <= mine);
      tile_max = max(tile_max, s[t]);
    }
    let rescale = exp(m - tile_max);
    m = tile_max;
    l *= rescale;
    for (var d = 0u; d < DH; d++) {
      acc[d] *= rescale;
    }
    for (var t = 0u; t < KT; t++) {
      let e = exp(s[t] - m);
      l += e;
      let va = vb + min(j0 + t, last) * p.v_row;
      for (var d = 0u; d < DH; d++) {
        acc[d] += e * v[va + d];
      }
    }
  }
  if (i < p.queries) {
    let oa = p.o_base + b * p.o_batch + i * p.o_row + col;
    let inv = 1.0 / l;
    for (var d = 0u; d < DH; d++) {
      out[oa + d] = acc[d] * inv;
    }
    lse[bh * p.queries + i] = m + log(l);
  }
}
