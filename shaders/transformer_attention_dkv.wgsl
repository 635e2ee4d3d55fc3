// Backward of causal attention, part 2: the keys' and values' gradients, one workgroup
// per (sequence·head, tile of WG keys), one invocation per key j, looping over the
// queries that see it (i ≥ j) and recomputing their probabilities as the queries' pass
// (transformer_attention_dq.wgsl) does, whose delta_i = dO_i·O_i it reads:
//   dv_j = Σ_{i ≥ j} p_ij dO_i,   dk_j = scale · Σ_{i ≥ j} p_ij (dO_i·v_j − delta_i) q_i.
// Each invocation owns its key's sums: no atomics. Layouts as in the queries' pass; dk
// and dv go to the k and v columns of dqkv.

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let g = group_index(wid);
  let bh = g / p.tiles;
  let first = (g % p.tiles) * WG;
  let b = bh / p.heads;
  let col = (bh % p.heads) * DV;
  let j = first + lid.x;
  let jk = min(j, p.time - 1u);
  let row3 = 3u * p.width;
  let qb = b * p.time * row3 + col;
  let ob = b * p.time * p.width + col;
  let ka = qb + jk * row3 + p.width;
  let va = ka + p.width;

  var ks: array<HeadVec, DV>;
  var vs: array<HeadVec, DV>;
  var dk: array<HeadVec, DV>;
  var dv: array<HeadVec, DV>;
  for (var d = 0u; d < DV; d++) {
    ks[d] = qkv[ka + d] * p.scale;
    vs[d] = qkv[va + d];
    dk[d] = HeadVec(0.0);
    dv[d] = HeadVec(0.0);
  }
  for (var i = first; i < p.time; i++) {
    let qa = qb + i * row3;
    let oa = ob + i * p.width;
    var s = HeadVec(0.0);
    var dp = HeadVec(0.0);
    for (var d = 0u; d < DV; d++) {
      s += qkv[qa + d] * ks[d];
      dp += d_out[oa + d] * vs[d];
    }
    let r = bh * p.time + i;
    // Visible scores are ≤ lse; the min only keeps masked ones from overflowing.
    let prob = select(0.0, exp(min(hsum(s) - lse[r], 0.0)), i >= jk);
    let ds = prob * (hsum(dp) - deltas[r]);
    for (var d = 0u; d < DV; d++) {
      dv[d] += prob * d_out[oa + d];
      dk[d] += ds * qkv[qa + d];
    }
  }
  if (j < p.time) {
    for (var d = 0u; d < DV; d++) {
      dqkv[ka + d] = dk[d] * p.scale;
      dqkv[va + d] = dv[d];
    }
  }
}
