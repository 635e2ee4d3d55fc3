// The shared part of the matmul kernels (concatenated after each variant's own source
// by src/kernels/matmul.ts): the uniform layout, the output bindings 2–6 and the fused
// epilogue. Each variant declares `a` (@binding(0)) and `b` (@binding(1)) and `main`.
//
//   C[i, j] = alpha · Σ_k A[i, k] · B[k, j]  (+ bias[j]) (+ beta · C[i, j])
//
// Every operand is addressed through strides, so one kernel serves A·B, A·Bᵀ, Aᵀ·B and
// the chunks of mixed chunk attention. A batch index z splits into (outer, inner) =
// (z / batch_inner, z % batch_inner); `rel` strides count from the first batch of a
// dispatch, for scratch buffers that hold only one group of batches. With `clip_mask`,
// the m (1), n (2) and k (4) extents of batch `inner` shrink to
// clip_len − inner·clip_stride: the last chunk of a sequence may be shorter.

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
