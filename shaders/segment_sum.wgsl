// Deterministic scatter-add without float atomics (the embedding gradients), one
// invocation per output element:
//   out[s, d] = Σ_{k = offsets[s]}^{offsets[s+1]−1} src[index[k], d]
// where (offsets, index) lists, for each segment s (a token id or a position), the rows
// of `src` that add into it, in a fixed order. Empty segments get 0.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocation_index(gid);
  if (i >= p.count) {
    return;
  }
  let s = i / p.width;
  let d = i % p.width;
  var total = 0.0;
  for (var k = offsets[s]; k < offsets[s + 1u]; k++) {
    total += src[index[k] * p.width + d];
  }
  out[i] = total;
}
