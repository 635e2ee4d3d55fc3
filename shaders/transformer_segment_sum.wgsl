// Deterministic scatter-add without float atomics (the embedding gradients), one
// invocation per output element:
//   out[s, d] = Σ_{k = offsets[s]}^{offsets[s+1]−1} src[index[k], d]
// where (offsets, index) lists, for each segment s (a token id or a position), the rows
// of `src` that add into it, in a fixed order. Empty segments get 0.

struct Params {
  count: u32, width: u32, per_y: u32, pad0: u32,
}

@group(0) @binding(0) var<storage, read> offsets: array<u32>;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * p.per_y;
  if (i >= p.count) {
    return;
  }
  let s = i / p.width;
  let d = i % p.width;
  var total = 0.0;
  for (var k = offsets[s]; k < offsets[s + 1u]; k++) {
    total += src[index[k] * p.width + d];
  }
  out[i] = total;
}
