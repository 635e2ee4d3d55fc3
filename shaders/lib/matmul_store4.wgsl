// The matmul epilogue with C (and aux, which has C's layout) read and written as vec4:
// C's rows contiguous, its row stride, offsets and n multiples of 4. The same math as
// store() in lib/matmul_store.wgsl, for columns j..j+3 of row i at vec4 index idx4.

fn store4(idx4: u32, i: u32, j: u32, acc: vec4<f32>, alpha: f32, beta: f32) {
  var v = alpha * acc;
  let cols = vec4<u32>(j, j + 1u, j + 2u, j + 3u);
  if ((p.flags & CAUSAL) != 0u) {
    v = select(vec4<f32>(0.0), v, vec4<u32>(i) > cols);
  }
  if ((p.flags & DECAY_CAUSAL) != 0u) {
    // λ^(i−1−j) where i > j (the other entries are masked to 0 above)
    let age = select(vec4<u32>(0u), vec4<u32>(i) - cols - vec4<u32>(1u), vec4<u32>(i) > cols);
    v *= pow(vec4<f32>(steps[p.decay_index]), vec4<f32>(age));
  }
  if ((p.flags & BIAS) != 0u) {
    let b = p.bias_base + j;
    v += vec4<f32>(bias[b], bias[b + 1u], bias[b + 2u], bias[b + 3u]);
  }
  if ((p.flags & ACCUMULATE) != 0u) {
    v += beta * c[idx4];
  }
  if ((p.flags & GATE_AUX) != 0u) {
    v *= 2.0 * max(aux[idx4], vec4<f32>(0.0));
  }
  c[idx4] = v;
  if ((p.flags & SQRELU_AUX) != 0u) {
    let r = max(v, vec4<f32>(0.0));
    aux[idx4] = r * r;
  }
}
