// Backward of the causal row softmax, in place on the gradient, one invocation per row:
//   g[r, j] ← prob[r, j] · (g[r, j] − Σ_k prob[r, k] · g[r, k])  for visible j, else 0
// (visibility as in transformer_softmax.wgsl).

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = invocation_index(gid);
  if (r >= p.rows) {
    return;
  }
  let base = r * p.width;
  let last = min(r % p.block + p.offset, p.width - 1u);
  var dot = 0.0;
  for (var j = 0u; j <= last; j++) {
    dot += prob[base + j] * g[base + j];
  }
  for (var j = 0u; j <= last; j++) {
    g[base + j] = prob[base + j] * (g[base + j] - dot);
  }
  for (var j = last + 1u; j < p.width; j++) {
    g[base + j] = 0.0;
  }
}
