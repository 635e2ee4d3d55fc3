// Gradient of the LSTM body's embedding, without atomics: out[v, e] = Σ dx[rows[q], e]
// over q in [offsets[v], offsets[v+1]), the rows of dx holding the positions of token v
// (sorted on the host, ascending, so the sum order is fixed). One invocation per (v, e);
// rows of absent tokens get 0, so the whole gradient is overwritten.

struct Params {
  vocab: u32, width: u32, groups_x: u32, pad0: u32,
}

@group(0) @binding(0) var<storage, read> offsets: array<u32>;
@group(0) @binding(1) var<storage, read> rows: array<u32>;
@group(0) @binding(2) var<storage, read> dx: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = gid.x + gid.y * p.groups_x * 64u;
  if (idx >= p.vocab * p.width) {
    return;
  }
  let v = idx / p.width;
  let e = idx % p.width;
  var s = 0.0;
  let end = offsets[v + 1u];
  for (var q = offsets[v]; q < end; q++) {
    s += dx[rows[q] * p.width + e];
  }
  out[idx] = s;
}
