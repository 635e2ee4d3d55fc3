// Batched, strided matrix product with a fused epilogue (vec4-dot variant of matmul.wgsl):
//   C[i, j] = alpha · Σ_k A[i, k] · B[k, j]  (+ bias[j]) (+ beta · C[i, j])
// Every operand is addressed through strides, so one kernel serves A·B, A·Bᵀ, Aᵀ·B and
// the chunks of mixed chunk attention. A batch index z splits into (outer, inner) =
// (z / batch_inner, z % batch_inner); `rel` strides count from the first batch of a
// dispatch, for scratch buffers that hold only one group of batches. With `clip_mask`,
// the m (1), n (2) and k (4) extents of batch `inner` shrink to
// clip_len − inner·clip_stride: the last chunk of a sequence may be shorter.
// This variant is for A·Bᵀ-like layouts where A's rows and B's columns are both
// contiguous along k (k, and every A/B stride, a multiple of 4): both are read as vec4
// and each invocation keeps a 4×4 block of C in registers.

struct Params {
  m: u32, n: u32, k: u32, batch_inner: u32,
  a_base: u32, a_outer: u32, a_inner: u32, a_rel: u32,
  a_row: u32, a_col: u32, b_base: u32, b_outer: u32,
  b_inner: u32, b_rel: u32, b_row: u32, b_col: u32,
  c_base: u32, c_outer: u32, c_inner: u32, c_rel: u32,
  c_row: u32, c_col: u32, z_base: u32, clip_len: u32,
  clip_stride: u32, clip_mask: u32, flags: u32, step_index: u32,
  alpha: f32, beta: f32, bias_base: u32, pad0: u32,
}

@group(0) @binding(0) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> aux: array<f32>;
@group(0) @binding(5) var<storage, read> steps: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const ACCUMULATE: u32 = 1u;  // add beta · C
const BIAS: u32 = 2u;        // add bias[j]
const CAUSAL: u32 = 4u;      // keep only i > j (strictly causal scores)
const STEP_ALPHA: u32 = 8u;  // alpha *= steps[step_index]
const SQRELU_AUX: u32 = 16u; // also write aux = relu(C)²
const GATE_AUX: u32 = 32u;   // C *= 2·relu(aux) (squared-ReLU backward)

fn clipped(extent: u32, bit: u32, rem: u32) -> u32 {
  if ((p.clip_mask & bit) != 0u) {
    return min(extent, rem);
  }
  return extent;
}

fn store(idx: u32, i: u32, j: u32, acc: f32, alpha: f32) {
  var v = alpha * acc;
  if ((p.flags & CAUSAL) != 0u && i <= j) {
    v = 0.0;
  }
  if ((p.flags & BIAS) != 0u) {
    v += bias[p.bias_base + j];
  }
  if ((p.flags & ACCUMULATE) != 0u) {
    v += p.beta * c[idx];
  }
  if ((p.flags & GATE_AUX) != 0u) {
    v *= 2.0 * max(aux[idx], 0.0);
  }
  c[idx] = v;
  if ((p.flags & SQRELU_AUX) != 0u) {
    let r = max(v, 0.0);
    aux[idx] = r * r;
  }
}

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let z = wid.z + p.z_base;
  let outer = z / p.batch_inner;
  let inner = z % p.batch_inner;
  let start = inner * p.clip_stride;
  let rem = select(0u, p.clip_len - start, p.clip_len > start);
  let m = clipped(p.m, 1u, rem);
  let n = clipped(p.n, 2u, rem);
  let kk = p.k / 4u;
  let row0 = wid.y * 32u + lid.y * 4u;
  let col0 = wid.x * 32u + lid.x * 4u;
  if (row0 >= m || col0 >= n) {
    return;
  }
  // In vec4 units.
  let a_off = (p.a_base + outer * p.a_outer + inner * p.a_inner + wid.z * p.a_rel) / 4u;
  let b_off = (p.b_base + outer * p.b_outer + inner * p.b_inner + wid.z * p.b_rel) / 4u;
  let c_off = p.c_base + outer * p.c_outer + inner * p.c_inner + wid.z * p.c_rel;
  let a_row = p.a_row / 4u;
  let b_col = p.b_col / 4u;
  let ra0 = a_off + row0 * a_row;
  let ra1 = a_off + min(row0 + 1u, m - 1u) * a_row;
  let ra2 = a_off + min(row0 + 2u, m - 1u) * a_row;
  let ra3 = a_off + min(row0 + 3u, m - 1u) * a_row;
  let cb0 = b_off + col0 * b_col;
  let cb1 = b_off + min(col0 + 1u, n - 1u) * b_col;
  let cb2 = b_off + min(col0 + 2u, n - 1u) * b_col;
  let cb3 = b_off + min(col0 + 3u, n - 1u) * b_col;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var t = 0u; t < kk; t++) {
    let b0 = b[cb0 + t];
    let b1 = b[cb1 + t];
    let b2 = b[cb2 + t];
    let b3 = b[cb3 + t];
    let a0 = a[ra0 + t];
    let a1 = a[ra1 + t];
    let a2 = a[ra2 + t];
    let a3 = a[ra3 + t];
    acc0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
    acc1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
    acc2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
    acc3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
  }
  var alpha = p.alpha;
  if ((p.flags & STEP_ALPHA) != 0u) {
    alpha *= steps[p.step_index];
  }
  let cols = min(4u, n - col0);
  store_row(c_off, row0, col0, cols, m, acc0, alpha);
  store_row(c_off, row0 + 1u, col0, cols, m, acc1, alpha);
  store_row(c_off, row0 + 2u, col0, cols, m, acc2, alpha);
  store_row(c_off, row0 + 3u, col0, cols, m, acc3, alpha);
}

fn store_row(c_off: u32, row: u32, col0: u32, cols: u32, m: u32, acc: vec4<f32>, alpha: f32) {
  if (row >= m) {
    return;
  }
  let base = c_off + row * p.c_row;
  store(base + col0 * p.c_col, row, col0, acc.x, alpha);
  if (cols > 1u) {
    store(base + (col0 + 1u) * p.c_col, row, col0 + 1u, acc.y, alpha);
  }
  if (cols > 2u) {
    store(base + (col0 + 2u) * p.c_col, row, col0 + 2u, acc.z, alpha);
  }
  if (cols > 3u) {
    store(base + (col0 + 3u) * p.c_col, row, col0 + 3u, acc.w, alpha);
  }
}
