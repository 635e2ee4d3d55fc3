// Backward of causal attention, part 2: the keys' and values' gradients, one workgroup
// per (sequence·head, tile of WG·ROWS keys), ROWS adjacent keys j per invocation, looping
// over the queries that see them (i ≥ j; each query row read serves all of them) and
// recomputing their probabilities as the queries' pass (transformer_attention_dq.wgsl)
// does, whose delta_i = dO_i·O_i it reads:
//   dv_j = Σ_{i ≥ j} p_ij dO_i,   dk_j = scale · Σ_{i ≥ j} p_ij (dO_i·v_j − delta_i) q_i.
// Each invocation owns its keys' sums: no atomics. Layouts as in the queries' pass; dk
// and dv go to the k and v columns of dqkv.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tile = attention_tile(wid, lid);
  let bh = tile.bh;
  let b = tile.b;
  let col = tile.col;
  let first = tile.first;
  let j0 = tile.row0;
  let row3 = 3u * p.width;
  let qb = b * p.time * row3 + col;
  let ob = b * p.time * p.width + col;

  var ks: array<HeadVec, ROWS * DV>;
  var vs: array<HeadVec, ROWS * DV>;
  var dk: array<HeadVec, ROWS * DV>;
  var dv: array<HeadVec, ROWS * DV>;
  var mine: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    let jk = min(j0 + r, p.time - 1u);
    mine[r] = jk;
    let ka = qb + jk * row3 + p.width;
    for (var d = 0u; d < DV; d++) {
      ks[r * DV + d] = qkv[ka + d] * p.scale;
      vs[r * DV + d] = qkv[ka + p.width + d];
      dk[r * DV + d] = HeadVec(0.0);
      dv[r * DV + d] = HeadVec(0.0);
    }
  }
  for (var i = first; i < p.time; i++) {
    // One read of the query and its output gradient serves the invocation's ROWS keys.
    let qa = qb + i * row3;
    let oa = ob + i * p.width;
    var qi: array<HeadVec, DV>;
    var doi: array<HeadVec, DV>;
    for (var d = 0u; d < DV; d++) {
      qi[d] = qkv[qa + d];
      doi[d] = d_out[oa + d];
    }
    let row_lse = lse[bh * p.time + i];
    let delta = deltas[bh * p.time + i];
    for (var r = 0u; r < ROWS; r++) {
      var s = HeadVec(0.0);
      var dp = HeadVec(0.0);
      for (var d = 0u; d < DV; d++) {
        s += qi[d] * ks[r * DV + d];
        dp += doi[d] * vs[r * DV + d];
      }
      // Visible scores are ≤ lse; the min only keeps masked ones from overflowing.
      let prob = select(0.0, exp(min(hsum(s) - row_lse, 0.0)), i >= mine[r]);
      let ds = prob * (hsum(dp) - delta);
      for (var d = 0u; d < DV; d++) {
        dv[r * DV + d] += prob * doi[d];
        dk[r * DV + d] += ds * qi[d];
      }
    }
  }
  for (var r = 0u; r < ROWS; r++) {
    let j = j0 + r;
    if (j < p.time) {
      let ka = qb + j * row3 + p.width;
      for (var d = 0u; d < DV; d++) {
        dqkv[ka + d] = dk[r * DV + d] * p.scale;
        dqkv[ka + p.width + d] = dv[r * DV + d];
      }
    }
  }
}
