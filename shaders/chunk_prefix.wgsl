// Exclusive prefix over the chunks of each sequence, in place: chunk c's state becomes the
// sum of the states of chunks 0..c−1 (what mixed chunk attention applies to the queries of
// chunk c). With DECAY (docs/definition.md §6) each earlier sum is decayed by λ^chunk_len, λ =
// steps[decay_index], before the next chunk's state joins it. One invocation per
// (sequence, state element).

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = invocation_index(gid);
  let total = p.sequences * p.elements;
  if (e >= total) {
    return;
  }
  let s = e / p.elements;
  let i = e % p.elements;
  var fade = 1.0;
  if ((p.flags & DECAY) != 0u) {
    fade = pow(steps[p.decay_index], f32(p.chunk_len));
  }
  var running = 0.0;
  for (var c = 0u; c < p.chunks; c++) {
    let idx = (s * p.chunks + c) * p.elements + i;
    let v = states[idx];
    states[idx] = running;
    running = fade * running + v;
  }
}
