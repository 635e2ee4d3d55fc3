// Token and position embedding gather, one invocation per output element:
//   out[n, d] = tokens[ids[n], d] + positions[pos_base + n % time, d]
// for the n-th of `rows` positions (rows are sequences of `time` positions; a step of
// generation has time = 1 and pos_base = the position being generated). Ids are checked
// on the host; an id outside [0, vocab) would be clamped, never read out of bounds.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocation_index(gid);
  if (i >= p.count) {
    return;
  }
  let n = i / p.width;
  let d = i % p.width;
  let id = u32(clamp(ids[n], 0, i32(p.vocab) - 1));
  let t = p.pos_base + n % p.time;
  out[i] = tokens[id * p.width + d] + positions[t * p.width + d];
}
