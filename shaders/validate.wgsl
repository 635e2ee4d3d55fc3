// Checks GPU-resident inputs without copying them to the host. Each violation lowers
// result[slot] to the smallest offending flat index (the host initializes it to
// 0xFFFFFFFF). Modes: 0 finite f32; 1 finite and ≥ 0 (weights); 2 int32 ids in
// [0, vocab) wherever weights[i] ≠ 0.

struct Params {
  count: u32, mode: u32, vocab: u32, slot: u32,
}

@group(0) @binding(0) var<storage, read> data: array<u32>;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read_write> result: array<atomic<u32>>;
@group(0) @binding(3) var<uniform> p: Params;

fn is_finite(bits: u32) -> bool {
  return (bits & 0x7f800000u) != 0x7f800000u;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
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
