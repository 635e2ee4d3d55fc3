// Causal row softmax of attention scores, in place, one invocation per row:
//   s[r, j] ← exp(s[r, j] − max) / Σ exp(…)  for j ≤ r % block + offset, else 0.
// Rows are grouped in blocks of `block` query positions (a [T, T] score matrix per
// sequence and head has block = T, offset = 0; one generation step has block = 1 and
// offset = its position, so its whole row of `width` keys is visible).

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = invocation_index(gid);
  if (r >= p.rows) {
    return;
  }
  let base = r * p.width;
  let last = min(r % p.block + p.offset, p.width - 1u);
  var m = s[base];
  for (var j = 1u; j <= last; j++) {
    m = max(m, s[base + j]);
  }
  var total = 0.0;
  for (var j = 0u; j <= last; j++) {
    let e = exp(s[base + j] - m);
    s[base + j] = e;
    total += e;
  }
  let inv = 1.0 / total;
  for (var j = 0u; j <= last; j++) {
    s[base + j] *= inv;
  }
  for (var j = last + 1u; j < p.width; j++) {
    s[base + j] = 0.0;
  }
}
