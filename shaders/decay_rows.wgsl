// A copy of v [B, T, width] with each row weighted by the decay of docs/definition.md §6 within its
// chunk of `chunk` positions (the last chunk may be shorter), λ = steps[decay_index]:
//   out[b, t, :] = λ^(end − 1 − t) · v[b, t, :]   (TO_END: a chunk's keys as its state holds them)
//   out[b, t, :] = λ^(t − start) · v[b, t, :]     (otherwise: as a reverse scan's state holds them)
// One invocation per element.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocation_index(gid);
  if (i >= p.count) {
    return;
  }
  let t = (i / p.width) % p.time;
  let start = (t / p.chunk) * p.chunk;
  var age = t - start;
  if ((p.flags & TO_END) != 0u) {
    age = min(p.time, start + p.chunk) - 1u - t;
  }
  out[i] = pow(steps[p.decay_index], f32(age)) * v[i];
}
