// The recurrent kernel transposed and padded for the LSTM backward: ut[j, k] = u[k, j]
// for a [H, 4H] u, as a [4H, P] ut with P = H rounded up to a multiple of 4 (zeros in
// the padding columns), so that rows of ut can be read as vec4. One invocation per
// element of ut.

struct Params {
  hidden: u32, padded: u32, groups_x: u32, pad0: u32,
}

@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read_write> ut: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.groups_x * 64u;
  let G = 4u * p.hidden;
  if (idx >= G * p.padded) {
    return;
  }
  let j = idx / p.padded;
  let k = idx % p.padded;
  var v = 0.0;
  if (k < p.hidden) {
    v = u[k * G + j];
  }
  ut[idx] = v;
}
