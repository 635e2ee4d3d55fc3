// The LSTM recurrence, backward through time: one dispatch per layer. A workgroup takes
// S = 4 sequences and loops over t from T−1 down to 0, in two phases split by barriers:
//  A. per (sequence, unit): with dh = dh_ext[t] + dh_rec and the carried
//     dc_next = dc_{t+1}·f_{t+1},
//       dc   = dh·o·(1 − tanh²(c_t)) + dc_next
//       dz_i = dc·g·i(1−i)  dz_f = dc·c_{t−1}·f(1−f)  dz_g = dc·i·(1−g²)
//       dz_o = dh·tanh(c_t)·o(1−o)
//     dz goes to the dz buffer, dc·f to the carry;
//  B. dh_rec[s, k] = Σ_j U[k, j]·dz[s, j] for the next (earlier) step, from ut = Uᵀ
//     padded to [4H, P] (P = H rounded up to 4; lstm_transpose.wgsl): each invocation
//     owns quads of k, read as vec4 rows of ut, with S accumulators, so one load of ut
//     feeds S sequences.
// carry [batch, 2H] holds dh_rec then dc_next per sequence. With ZERO_ROW the dz row
// before each sequence's first (t = −1) is zeroed, so the padded layout's initial slot
// holds 0. Gates a (activations i, f, g, o) at a_base + b·a_seq + t·4H + j; cells at
// c_base + b·c_seq + t·H + j (the row before, c_{−1}, must exist); dh_ext at
// dh_base + b·dh_seq + t·H + j; dz at z_base + b·z_seq + t·4H + j.

// Must match lstm_forward.wgsl.
fn tanh_safe(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.05) {
    let x2 = x * x;
    return x * (1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0)));
  }
  let e = exp(-2.0 * a);
  return sign(x) * (1.0 - e) / (1.0 + e);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid: vec3<u32>,
) {
  let b0 = group_index(wid) * S;
  if (b0 >= p.batch) {
    return;
  }
  let seqs = min(S, p.batch - b0);
  let H = p.hidden;
  let G = 4u * H;
  for (var idx = lid.x; idx < seqs * H; idx += WG) {
    let b = b0 + idx / H;
    let m = idx % H;
    carry[b * 2u * H + m] = 0.0;
    carry[b * 2u * H + H + m] = 0.0;
    if ((p.flags & ZERO_ROW) != 0u) {
      let zrow = p.z_base + b * p.z_seq - G;
      dz[zrow + m] = 0.0;
      dz[zrow + H + m] = 0.0;
      dz[zrow + 2u * H + m] = 0.0;
      dz[zrow + 3u * H + m] = 0.0;
    }
  }
  storageBarrier();
  // Sequences past the batch's end repeat the last one (computed, never written).
  let b1 = b0 + min(1u, seqs - 1u);
  let b2 = b0 + min(2u, seqs - 1u);
  let b3 = b0 + min(3u, seqs - 1u);
  for (var s = 0u; s < p.time; s++) {
    let t = p.time - 1u - s;
    // Phase A.
    for (var idx = lid.x; idx < seqs * H; idx += WG) {
      let b = b0 + idx / H;
      let m = idx % H;
      let arow = p.a_base + b * p.a_seq + t * G;
      let crow = p.c_base + b * p.c_seq + t * H;
      let zrow = p.z_base + b * p.z_seq + t * G;
      let ig = a[arow + m];
      let fg = a[arow + H + m];
      let gg = a[arow + 2u * H + m];
      let og = a[arow + 3u * H + m];
      let cv = cbuf[crow + m];
      let cp = cbuf[crow - H + m];
      let tc = tanh_safe(cv);
      let dh = dh_ext[p.dh_base + b * p.dh_seq + t * H + m] + carry[b * 2u * H + m];
      let dc = dh * og * (1.0 - tc * tc) + carry[b * 2u * H + H + m];
      carry[b * 2u * H + H + m] = dc * fg;
      dz[zrow + m] = dc * gg * ig * (1.0 - ig);
      dz[zrow + H + m] = dc * cp * fg * (1.0 - fg);
      dz[zrow + 2u * H + m] = dc * ig * (1.0 - gg * gg);
      dz[zrow + 3u * H + m] = dh * tc * og * (1.0 - og);
    }
    storageBarrier();
    // Phase B: rows of ut are `quads` vec4.
    if (t > 0u) {
      let z0 = p.z_base + b0 * p.z_seq + t * G;
      let z1 = p.z_base + b1 * p.z_seq + t * G;
      let z2 = p.z_base + b2 * p.z_seq + t * G;
      let z3 = p.z_base + b3 * p.z_seq + t * G;
      for (var kq = lid.x; kq < p.quads; kq += WG) {
        var a0 = vec4<f32>(0.0);
        var a1 = vec4<f32>(0.0);
        var a2 = vec4<f32>(0.0);
        var a3 = vec4<f32>(0.0);
        var r = kq;
        for (var j = 0u; j < G; j++) {
          let w = ut[r];
          a0 += dz[z0 + j] * w;
          a1 += dz[z1 + j] * w;
          a2 += dz[z2 + j] * w;
          a3 += dz[z3 + j] * w;
          r += p.quads;
        }
        for (var e = 0u; e < 4u; e++) {
          let k = 4u * kq + e;
          if (k < H) {
            carry[b0 * 2u * H + k] = a0[e];
            if (seqs > 1u) {
              carry[b1 * 2u * H + k] = a1[e];
            }
            if (seqs > 2u) {
              carry[b2 * 2u * H + k] = a2[e];
            }
            if (seqs > 3u) {
              carry[b3 * 2u * H + k] = a3[e];
            }
          }
        }
      }
    }
    storageBarrier();
  }
}
