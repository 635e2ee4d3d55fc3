// Gradient of the LSTM body's embedding, without atomics: out[v, e] = Σ dx[rows[q], e]
// over q in [offsets[v], offsets[v+1]), the rows of dx holding the positions of token v
// (sorted on the host, ascending, so the sum order is fixed). One invocation per (v, e);
// rows of absent tokens get 0, so the whole gradient is overwritten.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = invocation_index(gid);
  if (idx >= p.vocab * p.width) {
    return;
  }
  let v = idx / p.width;
  let e = idx % p.width;
  var s = 0.0;
  let end = offsets[v + 1u];
  for (var q = offsets[v]; q < end; q++) {
    s += dx[rows[q] * p.width + e];
  }
  out[idx] = s;
}
