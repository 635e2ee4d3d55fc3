// The per-position vector updates of the recurrent (streaming) form, one invocation per
// element of a [rows, width] matrix:
//   out[r, j] = (BROADCAST ? base[j] : out[r, j]) + alpha · (STEP ? steps[step_index] : 1) · u[r, j]
// With SQRELU_AUX it also writes aux[r, j] = relu(out[r, j])², the fast activation.
// Used both to apply a running sum to a slow activation (alpha = −1, a learned step) and
// to add one position's gradient to a running sum (alpha = 1).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = group_index(wid) * WG + lid.x;
  if (i >= p.count) {
    return;
  }
  var scale = p.alpha;
  if ((p.flags & STEP) != 0u) {
    scale *= steps[p.step_index];
  }
  var v = out[i];
  if ((p.flags & BROADCAST) != 0u) {
    v = base[i % p.width];
  }
  v += scale * u[i];
  out[i] = v;
  if ((p.flags & SQRELU_AUX) != 0u) {
    let r = max(v, 0.0);
    aux[i] = r * r;
  }
}
