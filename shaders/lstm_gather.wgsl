// Embedding lookup of the LSTM body: x[r, e] = embedding[tokens[p], e] for the position p
// of row r. With PADDED, rows follow the padded layout [B, T+1] of the LSTM kernels: row
// b·(T+1) is zero (the slot of the initial state) and row b·(T+1)+1+t holds position
// (b, t); otherwise row r holds position r. One invocation per element.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = invocation_index(gid);
  if (idx >= p.rows * p.width) {
    return;
  }
  let r = idx / p.width;
  let e = idx % p.width;
  var position = r;
  if ((p.flags & PADDED) != 0u) {
    let s = r % (p.time + 1u);
    if (s == 0u) {
      x[idx] = 0.0;
      return;
    }
    position = (r / (p.time + 1u)) * p.time + s - 1u;
  }
  x[idx] = embedding[u32(tokens[position]) * p.width + e];
}
