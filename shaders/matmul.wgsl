// Batched, strided matrix product with a fused epilogue:
//   C[i, j] = alpha · Σ_k A[i, k] · B[k, j]  (+ bias[j]) (+ beta · C[i, j])
// Every operand is addressed through strides, so one kernel serves A·B, A·Bᵀ, Aᵀ·B and
// the chunks of mixed chunk attention. A batch index z splits into (outer, inner) =
// (z / batch_inner, z % batch_inner); `rel` strides count from the first batch of a
// dispatch, for scratch buffers that hold only one group of batches. With `clip_mask`,
// the m (1), n (2) and k (4) extents of batch `inner` shrink to
// clip_len − inner·clip_stride: the last chunk of a sequence may be shorter.
// Each invocation keeps a 4×4 block of C in registers (lavapipe rewards register
// blocking far more than workgroup memory).

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

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
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
  let kk = clipped(p.k, 4u, rem);
  let row0 = wid.y * 32u + lid.y * 4u;
  let col0 = wid.x * 32u + lid.x * 4u;
  if (row0 >= m || col0 >= n) {
    return;
  }
  let a_off = p.a_base + outer * p.a_outer + inner * p.a_inner + wid.z * p.a_rel;
  let b_off = p.b_base + outer * p.b_outer + inner * p.b_inner + wid.z * p.b_rel;
  let c_off = p.c_base + outer * p.c_outer + inner * p.c_inner + wid.z * p.c_rel;
  // Rows and columns past the edge read a valid element; their results are not stored.
  let ra = vec4<u32>(row0, min(row0 + 1u, m - 1u), min(row0 + 2u, m - 1u), min(row0 + 3u, m - 1u)) * p.a_row;
  let cb = vec4<u32>(col0, min(col0 + 1u, n - 1u), min(col0 + 2u, n - 1u), min(col0 + 3u, n - 1u)) * p.b_col;
  var acc0 = vec4<f32>(0.0);
  var acc1 = vec4<f32>(0.0);
  var acc2 = vec4<f32>(0.0);
  var acc3 = vec4<f32>(0.0);
  for (var t = 0u; t < kk; t++) {
    let ak = a_off + t * p.a_col;
    let bk = b_off + t * p.b_row;
    let bv = vec4<f32>(b[bk + cb.x], b[bk + cb.y], b[bk + cb.z], b[bk + cb.w]);
    acc0 += a[ak + ra.x] * bv;
    acc1 += a[ak + ra.y] * bv;
    acc2 += a[ak + ra.z] * bv;
    acc3 += a[ak + ra.w] * bv;
  }
  var alpha = p.alpha;
  if ((p.flags & STEP_ALPHA) != 0u) {
    alpha *= steps[p.step_index];
  }
  let rows = min(4u, m - row0);
  let cols = min(4u, n - col0);
  for (var i = 0u; i < rows; i++) {
    var acc: vec4<f32>;
    switch i {
      case 0u: { acc = acc0; }
      case 1u: { acc = acc1; }
      case 2u: { acc = acc2; }
      default: { acc = acc3; }
    }
    let r = row0 + i;
    for (var j = 0u; j < cols; j++) {
      let col = col0 + j;
      store(c_off + r * p.c_row + col * p.c_col, r, col, acc[j], alpha);
    }
  }
}
