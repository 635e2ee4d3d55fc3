// Adam (and AdamW through DECOUPLED_DECAY) on the segment param[p_off + i],
// grad[g_off + i], moments m/v[s_off + i] for i < len:
//   m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g²
//   x −= lr · (m / bc1) / (sqrt(v / bc2) + ε)        bc = 1 − β^t, or 1 without correction
// (with LOG_SPACE, on u = log x: g·x in, x·exp(−step) out)

@compute @workgroup_size(WG)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.len; i += stride) {
    let pi = p.p_off + i;
    let si = p.s_off + i;
    var x = param[pi];
    let g = update_grad(i, x);
    if ((p.flags & DECOUPLED_DECAY) != 0u) {
      x -= p.lr * p.wd * x;
    }
    let mi = p.beta1 * m[si] + (1.0 - p.beta1) * g;
    let vi = p.beta2 * v[si] + (1.0 - p.beta2) * g * g;
    m[si] = mi;
    v[si] = vi;
    x = descend(x, p.lr * (mi / p.bc1) / (sqrt(vi / p.bc2) + p.eps), p.flags);
    param[pi] = finish(x, p.flags);
  }
}
