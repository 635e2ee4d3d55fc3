// Backward of the causal row softmax, in place on the gradient, one invocation per row:
//   g[r, j] ← prob[r, j] · (g[r, j] − Σ_k prob[r, k] · g[r, k])  for visible j, else 0
// (visibility as in transformer_softmax.wgsl).

struct Params {
  rows: u32, width: u32, block: u32, offset: u32,
  per_y: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<storage, read> prob: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x + gid.y * p.per_y;
  if (r >= p.rows) {
    return;
  }
  let base = r * p.width;
  let last = min(r % p.block + p.offset, p.width - 1u);
  var dot = 0.0;
  for (var j = 0u; j <= last; j++) {
    dot += prob[base + j] * g[base + j];
  }
  for (var j = 0u; j <= last; j++) {
    g[base + j] = prob[base + j] * (g[base + j] - dot);
  }
  for (var j = last + 1u; j < p.width; j++) {
    g[base + j] = 0.0;
  }
}
