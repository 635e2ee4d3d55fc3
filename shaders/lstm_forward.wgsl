// The LSTM recurrence, forward: one dispatch runs a whole layer over time. A workgroup
// takes S = 4 sequences and loops over t; each step has two phases split by barriers:
//  1. the recurrent product z = h_{t-1}·U for its sequences, each invocation owning
//     column quads of U (read as vec4) with S accumulators, so one load of U feeds S
//     sequences; z goes to the scratch zbuf [batch, 4H];
//  2. per (sequence, unit): the gate pre-activations g[t] (x_t·W + b, precomputed by one
//     big matmul) plus z, then i = σ, f = σ, g = tanh, o = σ, c_t = f·c_{t-1} + i·g,
//     h_t = o·tanh(c_t). The activations overwrite g in place; c_t, h_t go to cbuf and
//     hbuf (same layout), and with WRITE_OUT h_t also to out.
// The initial state is read from hbuf/cbuf at s_base + b·s_seq, or with ZERO_INIT is
// zero and written there. Element (b, t, j) of g sits at g_base + b·g_seq + t·4H + j; of
// hbuf/cbuf at h_base + b·h_seq + t·H + j; of out at out_base + b·out_seq + t·H + j.
// h_{t-1} is read from hbuf itself, so no workgroup memory is needed and H is unbounded.

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// tanh without inf/inf for large |x|, and without cancellation near 0.
fn tanh_safe(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.05) {
    let x2 = x * x;
    return x * (1.0 - x2 * (1.0 / 3.0 - x2 * (2.0 / 15.0)));
  }
  let e = exp(-2.0 * a);
  return sign(x) * (1.0 - e) / (1.0 + e);
}

// Element j of sequence b's row of zbuf (4H floats = H vec4).
fn zat(b: u32, j: u32) -> f32 {
  let v = zbuf[b * p.hidden + j / 4u];
  return v[j % 4u];
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
  if ((p.flags & ZERO_INIT) != 0u) {
    for (var idx = lid.x; idx < seqs * H; idx += WG) {
      let at = p.s_base + (b0 + idx / H) * p.s_seq + idx % H;
      hbuf[at] = 0.0;
      cbuf[at] = 0.0;
    }
  }
  storageBarrier();
  // Sequences past the batch's end repeat the last one (computed, never written).
  let b1 = b0 + min(1u, seqs - 1u);
  let b2 = b0 + min(2u, seqs - 1u);
  let b3 = b0 + min(3u, seqs - 1u);
  for (var t = 0u; t < p.time; t++) {
    var prev_base = p.s_base;
    var prev_seq = p.s_seq;
    if (t > 0u) {
      prev_base = p.h_base + (t - 1u) * H;
      prev_seq = p.h_seq;
    }
    let h0 = prev_base + b0 * prev_seq;
    let h1 = prev_base + b1 * prev_seq;
    let h2 = prev_base + b2 * prev_seq;
    let h3 = prev_base + b3 * prev_seq;
    // Phase 1: z[s, 4q..4q+3] = Σ_k h_{t-1}[s, k]·U[k, 4q..4q+3]; U rows are H vec4.
    for (var q = lid.x; q < H; q += WG) {
      var a0 = vec4<f32>(0.0);
      var a1 = vec4<f32>(0.0);
      var a2 = vec4<f32>(0.0);
      var a3 = vec4<f32>(0.0);
      var r = q;
      for (var k = 0u; k < H; k++) {
        let w = u[r];
        a0 += hbuf[h0 + k] * w;
        a1 += hbuf[h1 + k] * w;
        a2 += hbuf[h2 + k] * w;
        a3 += hbuf[h3 + k] * w;
        r += H;
      }
      zbuf[b0 * H + q] = a0;
      if (seqs > 1u) {
        zbuf[b1 * H + q] = a1;
      }
      if (seqs > 2u) {
        zbuf[b2 * H + q] = a2;
      }
      if (seqs > 3u) {
        zbuf[b3 * H + q] = a3;
      }
    }
    storageBarrier();
    // Phase 2: gates and state update, one (sequence, unit) at a time.
    for (var idx = lid.x; idx < seqs * H; idx += WG) {
      let b = b0 + idx / H;
      let m = idx % H;
      let grow = p.g_base + b * p.g_seq + t * G;
      let hrow = p.h_base + b * p.h_seq + t * H;
      let ig = sigmoid(g[grow + m] + zat(b, m));
      let fg = sigmoid(g[grow + H + m] + zat(b, H + m));
      let gg = tanh_safe(g[grow + 2u * H + m] + zat(b, 2u * H + m));
      let og = sigmoid(g[grow + 3u * H + m] + zat(b, 3u * H + m));
      var c_prev = 0.0;
      if (t == 0u) {
        c_prev = cbuf[p.s_base + b * p.s_seq + m];
      } else {
        c_prev = cbuf[hrow - H + m];
      }
      let cv = fg * c_prev + ig * gg;
      let hv = og * tanh_safe(cv);
      g[grow + m] = ig;
      g[grow + H + m] = fg;
      g[grow + 2u * H + m] = gg;
      g[grow + 3u * H + m] = og;
      cbuf[hrow + m] = cv;
      hbuf[hrow + m] = hv;
      if ((p.flags & WRITE_OUT) != 0u) {
        out[p.out_base + b * p.out_seq + t * H + m] = hv;
      }
    }
    storageBarrier();
  }
}
