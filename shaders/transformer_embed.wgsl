// Token and position embedding gather, one invocation per output element:
//   out[n, d] = tokens[ids[n], d] + positions[pos_base + n % time, d]
// for the n-th of `rows` positions (rows are sequences of `time` positions; a step of
// generation has time = 1 and pos_base = the position being generated). Ids are checked
// on the host; an id outside [0, vocab) would be clamped, never read out of bounds.

struct Params {
  count: u32, width: u32, time: u32, pos_base: u32,
  vocab: u32, per_y: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<i32>;
@group(0) @binding(1) var<storage, read> tokens: array<f32>;
@group(0) @binding(2) var<storage, read> positions: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.per_y;
  if (i >= p.count) {
    return;
  }
  let n = i / p.width;
  let d = i % p.width;
  let id = u32(clamp(ids[n], 0, i32(p.vocab) - 1));
  let t = p.pos_base + n % p.time;
  out[i] = tokens[id * p.width + d] + positions[t * p.width + d];
}
