// The shared part of the matmul kernels (src/kernels/matmul.ts declares their uniforms,
// flags and bindings once): where a batch lies. The fused epilogue is
// lib/matmul_store.wgsl (C by element) or lib/matmul_store4.wgsl (C by vec4).
//
//   C[i, j] = alpha · Σ_k A[i, k] · B[k, j]  (+ bias[j]) (+ beta · C[i, j])
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
  );
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
