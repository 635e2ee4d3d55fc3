// Adds the bias-like fast-weight update to a tensor, one invocation per (sequence, column):
//   out[b, t, j] = base + coef(b, t) · Z[b, t, j],   Z[b, t, j] = Σ_{s<t} λ^(t−1−s) · u[b, s, j]
// where base is out[b, t, j] itself (in place), a shared vector base[j] (BROADCAST) or 0
// (OVERWRITE), and coef = alpha (· steps[step_index] with STEP) (· rowscale[b, t], a
// query's 1/N, with ROW_SCALE). With DECAY, λ = steps[decay_index] (docs/definition.md §6), else 1.
// With SQRELU_AUX it also writes aux = relu(out)², the activation of the fast pass.
// With CARRY the sum starts from carry[b, j], the positions before the window (docs/definition.md §3):
// Z[b, t] then includes λ^t · carry[b].

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  let b = gid.y;
  if (j >= p.width || b >= p.batch) {
    return;
  }
  var coef = p.alpha;
  if ((p.flags & STEP) != 0u) {
    coef *= steps[p.step_index];
  }
  var lambda = 1.0;
  if ((p.flags & DECAY) != 0u) {
    lambda = steps[p.decay_index];
  }
  var running = 0.0;
  if ((p.flags & CARRY) != 0u) {
    running = carry[b * p.width + j];
  }
  for (var t = 0u; t < p.time; t++) {
    let idx = (b * p.time + t) * p.width + j;
    var v = 0.0;
    if ((p.flags & BROADCAST) != 0u) {
      v = base[j];
    } else if ((p.flags & OVERWRITE) == 0u) {
      v = out[idx];
    }
    var c = coef;
    if ((p.flags & ROW_SCALE) != 0u) {
      c *= rowscale[b * p.time + t];
    }
    v += c * running;
    out[idx] = v;
    if ((p.flags & SQRELU_AUX) != 0u) {
      let r = max(v, 0.0);
      aux[idx] = r * r;
    }
    running = lambda * running + u[idx];
  }
}
