// The recurrent kernel transposed and padded for the LSTM backward: ut[j, k] = u[k, j]
// for a [H, 4H] u, as a [4H, P] ut with P = H rounded up to a multiple of 4 (zeros in
// the padding columns), so that rows of ut can be read as vec4. One invocation per
// element of ut.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = invocation_index(gid);
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
