// Backward of causal attention, part 1: the queries' gradient, one workgroup per
// (sequence·head, tile of WG·ROWS queries), ROWS adjacent queries i per invocation (each
// key and value read serves all of them). The probabilities are recomputed key by key
// from q, k and the forward's log-sum-exp, never stored:
//   p_ij = exp(scale · q_i·k_j − lse_i),  delta_i = dO_i·O_i,
//   dS_ij = p_ij · (dO_i·v_j − delta_i),  dq_i = scale · Σ_{j ≤ i} dS_ij k_j.
// It also writes delta_i, which the keys' pass (transformer_attention_dkv.wgsl) reads.
// Layouts, in HeadVec units (DV per head row, `width` per [B, T, D] row): qkv
// [B, T, 3D] (q, k, v side by side, head h at h·DV), out and d_out [B, T, D], lse and
// deltas [B·heads, T]; dq goes to the q columns of dqkv [B, T, 3D].

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tile = attention_tile(wid, lid);
  let bh = tile.bh;
  let b = tile.b;
  let col = tile.col;
  let first = tile.first;
  let i0 = tile.row0;
  let last = min(first + WG * ROWS, p.time) - 1u;
  let row3 = 3u * p.width;
  let kb = b * p.time * row3 + p.width + col;
  let vb = kb + p.width;

  var qs: array<HeadVec, ROWS * DV>;
  var dout: array<HeadVec, ROWS * DV>;
  var dq: array<HeadVec, ROWS * DV>;
  var delta: array<f32, ROWS>;
  var row_lse: array<f32, ROWS>;
  var mine: array<u32, ROWS>;
  for (var r = 0u; r < ROWS; r++) {
    let iq = min(i0 + r, p.time - 1u);
    mine[r] = iq;
    let qa = (b * p.time + iq) * row3 + col;
    let oa = (b * p.time + iq) * p.width + col;
    var delta4 = HeadVec(0.0);
    for (var d = 0u; d < DV; d++) {
      qs[r * DV + d] = qkv[qa + d] * p.scale;
      dout[r * DV + d] = d_out[oa + d];
      delta4 += dout[r * DV + d] * out[oa + d];
      dq[r * DV + d] = HeadVec(0.0);
    }
    delta[r] = hsum(delta4);
    row_lse[r] = lse[bh * p.time + iq];
  }
  for (var j = 0u; j <= last; j++) {
    // One read of the key and value serves the invocation's ROWS queries.
    let ka = kb + j * row3;
    let va = vb + j * row3;
    var kj: array<HeadVec, DV>;
    var vj: array<HeadVec, DV>;
    for (var d = 0u; d < DV; d++) {
      kj[d] = qkv[ka + d];
      vj[d] = qkv[va + d];
    }
    for (var r = 0u; r < ROWS; r++) {
      var s = HeadVec(0.0);
      var dp = HeadVec(0.0);
      for (var d = 0u; d < DV; d++) {
        s += qs[r * DV + d] * kj[d];
        dp += dout[r * DV + d] * vj[d];
      }
      // Visible scores are ≤ lse; the min only keeps masked ones from overflowing.
      let prob = select(0.0, exp(min(hsum(s) - row_lse[r], 0.0)), j <= mine[r]);
      let ds = prob * (hsum(dp) - delta[r]);
      for (var d = 0u; d < DV; d++) {
        dq[r * DV + d] += ds * kj[d];
      }
    }
  }
  for (var r = 0u; r < ROWS; r++) {
    let i = i0 + r;
    if (i < p.time) {
      let qa = (b * p.time + i) * row3 + col;
      for (var d = 0u; d < DV; d++) {
        dqkv[qa + d] = dq[r * DV + d] * p.scale;
      }
      deltas[bh * p.time + i] = delta[r];
    }
  }
}
