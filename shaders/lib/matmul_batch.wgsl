// The shared part of the matmul kernels (src/kernels/matmul.ts declares their uniforms,
// flags and bindings once): where a batch lies. The fused epilogue is
// lib/matmul_store.wgsl (C by element) or lib/matmul_store4.wgsl (C by vec4).
//
//   C[i, j] = alpha · r(i) · Σ_k A[i, k] · B[k, j]  (+ bias[j]) (+ beta · C[i, j])
//
// where the row factor r(i) (row_alpha) is 1, or with ROW_SCALE rowscale[i] of the batch
// (a query's 1/N), times λ^i (DECAY_ROWS) or λ^(m−1−i) (DECAY_ROWS_REV), λ the decay of
// docs/definition.md §6 at steps[decay_index]; DECAY_CAUSAL weights causal scores (i, j) by
// λ^(i−1−j), DECAY_BETA makes beta · λ^k (a running state decayed by the chunk it adds).
//
// Every operand is addressed through strides, so one kernel serves A·B, A·Bᵀ, Aᵀ·B and
// the chunks of mixed chunk attention. A batch index z splits into (outer, inner) =
// (z / batch_inner, z % batch_inner); `rel` strides count from the first batch of a
// dispatch, for scratch buffers that hold only one group of batches. With `clip_mask`,
// the m (1), n (2) and k (4) extents of batch `inner` shrink to
// clip_len − inner·clip_stride: the last chunk of a sequence may be shorter.

struct MatmulBatch {
  m: u32, n: u32, k: u32,
  a_off: u32, b_off: u32, c_off: u32,
  r_off: u32,
}

// The clipped extents of batch `wid.z` of this dispatch and its element offsets in A, B, C.
fn matmul_batch(wid: vec3<u32>) -> MatmulBatch {
  let z = wid.z + p.z_base;
  let outer = z / p.batch_inner;
  let inner = z % p.batch_inner;
  let start = inner * p.clip_stride;
  let rem = select(0u, p.clip_len - start, p.clip_len > start);
  return MatmulBatch(
    clipped(p.m, 1u, rem), clipped(p.n, 2u, rem), clipped(p.k, 4u, rem),
    p.a_base + outer * p.a_outer + inner * p.a_inner + wid.z * p.a_rel,
    p.b_base + outer * p.b_outer + inner * p.b_inner + wid.z * p.b_rel,
    p.c_base + outer * p.c_outer + inner * p.c_inner + wid.z * p.c_rel,
    p.r_base + outer * p.r_outer + inner * p.r_inner + wid.z * p.r_rel,
  );
}

// λ^e for the decay at steps[decay_index].
fn decay_pow(e: u32) -> f32 {
  return pow(steps[p.decay_index], f32(e));
}

// alpha times the factor of row i of the batch (see above).
fn row_alpha(bt: MatmulBatch, i: u32, alpha: f32) -> f32 {
  var a = alpha;
  if ((p.flags & ROW_SCALE) != 0u) {
    a *= rowscale[bt.r_off + i];
  }
  if ((p.flags & DECAY_ROWS) != 0u) {
    a *= decay_pow(i);
  }
  if ((p.flags & DECAY_ROWS_REV) != 0u) {
    a *= decay_pow(bt.m - 1u - i);
  }
  return a;
}

// beta, times λ^k with DECAY_BETA.
fn matmul_beta(bt: MatmulBatch) -> f32 {
  if ((p.flags & DECAY_BETA) != 0u) {
    return p.beta * decay_pow(bt.k);
  }
  return p.beta;
}

// alpha, times the learned step size with STEP_ALPHA.
fn matmul_alpha() -> f32 {
  if ((p.flags & STEP_ALPHA) != 0u) {
    return p.alpha * steps[p.step_index];
  }
  return p.alpha;
}

fn clipped(extent: u32, bit: u32, rem: u32) -> u32 {
  if ((p.clip_mask & bit) != 0u) {
    return min(extent, rem);
  }
  return extent;
}

// The C block of workgroup `id` in a grid of `groups` (x: column blocks, y: row blocks):
// the workgroups run in order of their linear id (x fastest), so consecutive ones take
// GROUP_M row blocks of one column block before the next column block. B's column block
// is then read once per GROUP_M row blocks while it is still in cache, instead of once
// per row block (a row of blocks sweeps all of B).
fn matmul_block(id: vec3<u32>, groups: vec3<u32>) -> vec3<u32> {
  let per_group = GROUP_M * groups.x;
  let lin = id.y * groups.x + id.x;
  let group = lin / per_group;
  let first = group * GROUP_M;
  let height = min(groups.y - first, GROUP_M);
  let within = lin - group * per_group;
  return vec3<u32>(within / height, first + within % height, id.z);
}
