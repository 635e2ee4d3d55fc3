// Column sums of a strided [rows, cols] tile into a range of a vector, one invocation
// per column:  out[out_base + j] += Σ_r a[a_base + r·a_row + j]  (a bias gradient
// accumulated over vocabulary tiles).

struct Params {
  rows: u32, cols: u32, a_base: u32, a_row: u32,
  out_base: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let j = gid.x;
  if (j >= p.cols) {
    return;
  }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) {
    s += a[p.a_base + r * p.a_row + j];
  }
  out[p.out_base + j] += s;
}
