// SGD on the segment param[p_off + i], grad[g_off + i], buf[s_off + i] for i < len: with
// MOMENTUM, buf = μ·buf + g and the step is buf (or g + μ·buf with NESTEROV); without,
// the step is g.  x −= lr · step (with LOG_SPACE, on u = log x: g·x in, x·exp(−lr·step) out).

@compute @workgroup_size(WG)
fn main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let stride = nwg.x * WG;
  for (var i = gid.x; i < p.len; i += stride) {
    let pi = p.p_off + i;
    var x = param[pi];
    let g = update_grad(i, x);
    var d = g;
    if ((p.flags & MOMENTUM) != 0u) {
      let si = p.s_off + i;
      let b = p.momentum * buf[si] + g;
      buf[si] = b;
      d = b;
      if ((p.flags & NESTEROV) != 0u) {
        d = g + p.momentum * b;
      }
    }
    x = descend(x, p.lr * d, p.flags);
    param[pi] = finish(x, p.flags);
  }
}
