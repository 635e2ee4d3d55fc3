// The last part of the gradient of the running mean's decay λ (docs/definition.md §6), in one
// workgroup: every update term's dot products per query were summed into eps[b, t]
// (ε_t = Σ_k s_k·⟨Z_k(t), ĝ_k(t)⟩, Z_k the decayed sum the query read, ĝ_k its cotangent
// over N[b,t]), and the terms weighted by the age of each earlier position into part[0].
// With τ = t (the position in the window) and the count of the running mean,
//   count_t = λ^t·count[b] + Σ_{s<t} λ^(t−1−s)·w_s,  σcount_t = Σ_{s<t} λ^(t−1−s)·(s+1)·w_s,
//   λ·dL/dλ = part + Σ_{b,t} ε_t · (τ·(r_t·count_t − 1) − r_t·σcount_t),  r_t = 1/(n0 + count_t)
// (the r-terms vanish where the 1e-8 floor holds). Writes grad[grad_index] = that / λ
// (+ grad[grad_index] with ACCUMULATE).

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  let lambda = steps[p.decay_index];
  var acc = 0.0;
  for (var b = lid.x; b < p.batch; b += WG) {
    var n = 0.0;
    if ((p.flags & CARRY) != 0u) {
      n = count[b];
    }
    var n_sigma = 0.0;
    for (var t = 0u; t < p.time; t++) {
      let e = eps[b * p.time + t];
      let total = p.prior + n;
      var term = -f32(t);
      if (total > 1e-8) {
        let r = 1.0 / total;
        term = f32(t) * (r * n - 1.0) - r * n_sigma;
      }
      acc += e * term;
      let w = weights[b * p.time + t];
      n_sigma = lambda * n_sigma + f32(t + 1u) * w;
      n = lambda * n + w;
    }
  }
  let total = workgroup_sum(acc, lid.x);
  if (lid.x == 0u) {
    var g = (part[0] + total) / lambda;
    if ((p.flags & ACCUMULATE) != 0u) {
      g += grad[p.grad_index];
    }
    grad[p.grad_index] = g;
  }
}
