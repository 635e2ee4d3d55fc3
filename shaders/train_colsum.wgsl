// Column sums of a [rows, width] matrix (the gradient of a bias or of a shared scale),
// one invocation per column:  out[j] = alpha · Σ_r a[r, j] (· b[r, j] with HAS_B)
// (+ out[j] with ACCUMULATE).

struct Params {
  rows: u32, width: u32, flags: u32, alpha: f32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

const HAS_B: u32 = 1u;
const ACCUMULATE: u32 = 2u;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x + gid.y * 65535u * 64u;
  if (j >= p.width) {
    return;
  }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    let idx = r * p.width + j;
    var v = a[idx];
    if ((p.flags & HAS_B) != 0u) {
      v *= b[idx];
    }
    s += v;
  }
  var v = p.alpha * s;
  if ((p.flags & ACCUMULATE) != 0u) {
    v += out[j];
  }
  out[j] = v;
}
