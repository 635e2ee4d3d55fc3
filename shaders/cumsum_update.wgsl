// Adds the bias-like fast-weight update to a tensor, one invocation per (sequence, column):
//   out[b, t, j] = base − steps[step_index] · Σ_{s<t} u[b, s, j]
// where base is out[b, t, j] itself (in place) or a shared vector base[j] (BROADCAST).
// With SQRELU_AUX it also writes aux = relu(out)², the activation of the fast pass.
// With CARRY the sum starts from carry[b, j], the positions before the window (FWL.md §3).

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let b = gid.y;
  if (j >= p.width || b >= p.batch) {
    return;
  }
  let step = steps[p.step_index];
  var running = 0.0;
  if ((p.flags & CARRY) != 0u) {
    running = carry[b * p.width + j];
  }
  for (var t = 0u; t < p.time; t++) {
    let idx = (b * p.time + t) * p.width + j;
    var v = out[idx];
    if ((p.flags & BROADCAST) != 0u) {
      v = base[j];
    }
    v -= step * running;
    out[idx] = v;
    if ((p.flags & SQRELU_AUX) != 0u) {
      let r = max(v, 0.0);
      aux[idx] = r * r;
    }
    running += u[idx];
  }
}
