// Time reversal of a [batch, time, width] tensor, one invocation per element:
//   out[b, t, j] = alpha · src[b, time − 1 − t, j]   (+ out[b, t, j] with ACCUMULATE)
// Anti-causal attention Σ_{t>s} is causal attention Σ_{s<t} in reversed time.

struct Params {
  time: u32, width: u32, count: u32, flags: u32,
  alpha: f32, per_y: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

const ACCUMULATE: u32 = 1u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.per_y;
  if (i >= p.count) {
    return;
  }
  let j = i % p.width;
  let row = i / p.width;
  let t = row % p.time;
  let b = row / p.time;
  var v = p.alpha * src[(b * p.time + p.time - 1u - t) * p.width + j];
  if ((p.flags & ACCUMULATE) != 0u) {
    v += out[i];
  }
  out[i] = v;
}
