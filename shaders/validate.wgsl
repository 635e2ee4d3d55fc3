// Checks GPU-resident inputs without copying them to the host. Each violation lowers
// result[slot] to the smallest offending flat index (the host initializes it to
// 0xFFFFFFFF). Modes: 0 finite f32; 1 finite and ≥ 0 (weights); 2 int32 ids in
// [0, vocab) wherever weights[i] ≠ 0.

fn is_finite(bits: u32) -> bool {
  return (bits & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocation_index(gid);
  if (i >= p.count) {
    return;
  }
  let bits = data[i];
  var bad = false;
  if (p.mode == 0u) {
    bad = !is_finite(bits);
  } else if (p.mode == 1u) {
    bad = !is_finite(bits) || bitcast<f32>(bits) < 0.0;
  } else {
    let id = bitcast<i32>(bits);
    bad = weights[i] != 0.0 && (id < 0 || id >= i32(p.vocab));
  }
  if (bad) {
    atomicMin(&result[p.slot], i);
  }
}
