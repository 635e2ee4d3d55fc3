// Backward of causal attention, part 1: the queries' gradient, one workgroup per
// (sequence·head, tile of WG queries), one invocation per query i. The probabilities
// are recomputed key by key from q, k and the forward's log-sum-exp, never stored:
//   p_ij = exp(scale · q_i·k_j − lse_i),  delta_i = dO_i·O_i,
//   dS_ij = p_ij · (dO_i·v_j − delta_i),  dq_i = scale · Σ_{j ≤ i} dS_ij k_j.
// It also writes delta_i, which the keys' pass (transformer_attention_dkv.wgsl) reads.
// Layouts, in HeadVec units (DV per head row, `width` per [B, T, D] row): qkv
// [B, T, 3D] (q, k, v side by side, head h at h·DV), out and d_out [B, T, D], lse and
// deltas [B·heads, T]; dq goes to the q columns of dqkv [B, T, 3D].

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = group_index(wid);
  let bh = g / p.tiles;
  let first = (g % p.tiles) * WG;
  let b = bh / p.heads;
  let col = (bh % p.heads) * DV;
  let i = first + lid.x;
  let iq = min(i, p.time - 1u);
  let last = min(first + WG, p.time) - 1u;
  let row3 = 3u * p.width;
  let qa = (b * p.time + iq) * row3 + col;
  let oa = (b * p.time + iq) * p.width + col;
  let kb = b * p.time * row3 + p.width + col;
  let vb = kb + p.width;

  var qs: array<HeadVec, DV>;
  var dout: array<HeadVec, DV>;
  var dq: array<HeadVec, DV>;
  var delta4 = HeadVec(0.0);
  for (var d = 0u; d < DV; d++) {
    qs[d] = qkv[qa + d] * p.scale;
    dout[d] = d_out[oa + d];
    delta4 += dout[d] * out[oa + d];
    dq[d] = HeadVec(0.0);
  }
  let delta = hsum(delta4);
  let row_lse = lse[bh * p.time + iq];
  for (var j = 0u; j <= last; j++) {
    let ka = kb + j * row3;
    let va = vb + j * row3;
    var s = HeadVec(0.0);
    var dp = HeadVec(0.0);
    for (var d = 0u; d < DV; d++) {
      s += qs[d] * qkv[ka + d];
      dp += dout[d] * qkv[va + d];
    }
    // Visible scores are ≤ lse; the min only keeps masked ones from overflowing.
    let prob = select(0.0, exp(min(hsum(s) - row_lse, 0.0)), j <= iq);
    let ds = prob * (hsum(dp) - delta);
    for (var d = 0u; d < DV; d++) {
      dq[d] += ds * qkv[ka + d];
    }
  }
  if (i < p.time) {
    for (var d = 0u; d < DV; d++) {
      dqkv[qa + d] = dq[d] * p.scale;
    }
    deltas[bh * p.time + i] = delta;
  }
}
