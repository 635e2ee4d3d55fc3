// The per-position vector updates of the recurrent (streaming) form, one invocation per
// element of a [rows, width] matrix:
//   out[r, j] = (BROADCAST ? base[j] : out[r, j]) + alpha · (STEP ? steps[step_index] : 1) · u[r, j]
// With SQRELU_AUX it also writes aux[r, j] = relu(out[r, j])², the fast activation.
// Used both to apply a running sum to a slow activation (alpha = −1, a learned step) and
// to add one position's gradient to a running sum (alpha = 1).

struct Params {
  count: u32, width: u32, flags: u32, step_index: u32,
  groups_x: u32, alpha: f32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> u: array<f32>;
@group(0) @binding(1) var<storage, read> base: array<f32>;
@group(0) @binding(2) var<storage, read> steps: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

const BROADCAST: u32 = 1u;
const SQRELU_AUX: u32 = 2u;
const STEP: u32 = 4u;
const WG: u32 = 64u;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let i = (wid.y * p.groups_x + wid.x) * WG + lid.x;
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
