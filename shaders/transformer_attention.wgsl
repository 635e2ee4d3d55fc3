// Causal multi-head attention without a score matrix (online softmax), one workgroup per
// (sequence·head, tile of WG·ROWS queries), ROWS adjacent queries per invocation:
//   out_i = Σ_{j ≤ i + offset} softmax_j(scale · q_i·k_j) v_j,   lse_i = log Σ_j exp(scale · q_i·k_j)
// Each invocation keeps its scaled queries, the running maximum m and sum l of each row
// and its outputs in registers, and visits the keys in order, each key and value read
// once for its ROWS queries; a row's sums are rescaled only when its maximum grows. The
// key loop is the same for every invocation of a workgroup (to the tile's last visible
// key, masked per query), so each key and value read is the same address across the
// workgroup. `lse` is what the backward recomputes the probabilities from. Training
// passes the packed [B, T, 3D] qkv as q, k and v (offset 0). Head rows are read as
// HeadVec (f32 or vec4, transformer_lanes_*.wgsl), DV of them per head; query i of
// sequence b, head h starts at q[q_base + b·q_batch + i·q_row + h·DV] (likewise k, v, out).

// A finite −∞: masked scores give exp(NEG − m) = 0 without inf − inf.
const NEG: f32 = -1e30;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tile = attention_tile(wid, lid);
  let bh = tile.bh;
  let b = tile.b;
  let col = tile.col;
  let first = tile.first;
  let i0 = tile.row0;
  // The last key any query of the workgroup sees.
  let last = min(first + WG * ROWS, p.queries) - 1u + p.offset;

  let kb = p.k_base + b * p.k_batch + col;
  let vb = p.v_base + b * p.v_batch + col;
  var qs: array<HeadVec, ROWS * DV>;
  var acc: array<HeadVec, ROWS * DV>;
  var m: array<f32, ROWS>;
  var l: array<f32, ROWS>;
  var mine: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    let iq = min(i0 + r, p.queries - 1u);
    mine[r] = iq + p.offset;
    let qa = p.q_base + b * p.q_batch + iq * p.q_row + col;
    for (var d = 0u; d < DV; d++) {
      qs[r * DV + d] = q[qa + d] * p.scale;
      acc[r * DV + d] = HeadVec(0.0);
    }
    m[r] = NEG;
    l[r] = 0.0;
  }
  for (var j = 0u; j <= last; j++) {
    // One read of the key and value serves the invocation's ROWS queries.
    let ka = kb + j * p.k_row;
    let va = vb + j * p.v_row;
    var kj: array<HeadVec, DV>;
    var vj: array<HeadVec, DV>;
    for (var d = 0u; d < DV; d++) {
      kj[d] = k[ka + d];
      vj[d] = v[va + d];
    }
    for (var r = 0u; r < ROWS; r++) {
      var dot = HeadVec(0.0);
      for (var d = 0u; d < DV; d++) {
        dot += qs[r * DV + d] * kj[d];
      }
      let s = select(NEG, hsum(dot), j <= mine[r]);
      if (s > m[r]) {
        let rescale = exp(m[r] - s);
        m[r] = s;
        l[r] *= rescale;
        for (var d = 0u; d < DV; d++) {
          acc[r * DV + d] *= rescale;
        }
      }
      let e = exp(s - m[r]);
      l[r] += e;
      for (var d = 0u; d < DV; d++) {
        acc[r * DV + d] += e * vj[d];
      }
    }
  }
  for (var r = 0u; r < ROWS; r++) {
    let i = i0 + r;
    if (i < p.queries) {
      let oa = p.o_base + b * p.o_batch + i * p.o_row + col;
      let inv = 1.0 / l[r];
      for (var d = 0u; d < DV; d++) {
        out[oa + d] = acc[r * DV + d] * inv;
      }
      lse[bh * p.queries + i] = m[r] + log(l[r]);
    }
  }
}
