// The matmul epilogue with C read and written by element (any strides): see
// lib/matmul_batch.wgsl.

fn store(idx: u32, i: u32, j: u32, acc: f32, alpha: f32, beta: f32) {
  var v = alpha * acc;
  if ((p.flags & CAUSAL) != 0u && i <= j) {
    v = 0.0;
  }
  if ((p.flags & DECAY_CAUSAL) != 0u && i > j) {
    v *= decay_pow(i - 1u - j);
  }
  if ((p.flags & BIAS) != 0u) {
    v += bias[p.bias_base + j];
  }
  if ((p.flags & ACCUMULATE) != 0u) {
    v += beta * c[idx];
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

fn store_row(
  c_off: u32, row: u32, col0: u32, cols: u32, m: u32, acc: vec4<f32>, alpha: f32, beta: f32,
) {
  if (row >= m) {
    return;
  }
  let base = c_off + row * p.c_row;
  store(base + col0 * p.c_col, row, col0, acc.x, alpha, beta);
  if (cols > 1u) {
    store(base + (col0 + 1u) * p.c_col, row, col0 + 1u, acc.y, alpha, beta);
  }
  if (cols > 2u) {
    store(base + (col0 + 2u) * p.c_col, row, col0 + 2u, acc.z, alpha, beta);
  }
  if (cols > 3u) {
    store(base + (col0 + 3u) * p.c_col, row, col0 + 3u, acc.w, alpha, beta);
  }
}
