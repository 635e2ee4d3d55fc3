// Backward through the inner layer-norm backward (the second-order path), one workgroup
// per row. The inner backward is  g_h2 = rstd · (u − mean(u) − nhat · mean(u ⊙ nhat))
// with u = g_n ⊙ scale. Given gam = dL/dg_h2 it writes
//   du    = rstd · (gam − mean(gam) − nhat · mean(gam ⊙ nhat))       dL/du
//   dnhat = −rstd · (gam · mean(u ⊙ nhat) + u · mean(gam ⊙ nhat))    dL/dnhat (this path)
//   dh2   = −drstd · rstd² · nhat / width                            dL/dh2 through rstd
// with drstd = Σ gam ⊙ (u − mean(u) − nhat · mean(u ⊙ nhat)) and d rstd/d h2 = −rstd²·nhat/width.

// One row of the tile (see lib/row_kernel.wgsl).
fn row_main(row: u32, lane: u32) {
  let base = row * p.width;
  var s4 = vec4<f32>(0.0);
  var s1 = 0.0;
  for (var j = lane; j < p.width; j += WG) {
    let u = g_n[base + j] * scale[j];
    let nh = nhat[base + j];
    let gm = gam[base + j];
    s4 += vec4<f32>(u, u * nh, gm, gm * nh);
    s1 += gm * u;
  }
  let width = f32(p.width);
  // mean(u), mean(u·nhat), mean(gam), mean(gam·nhat); and Σgam·u
  let m = workgroup_sum4(s4, lane) / width;
  let sum_gam_u = workgroup_sum(s1, lane);
  let r = rstd[row];
  // Σ gam·(u − m_u − nhat·m_un) = Σgam·u − m_u·Σgam − m_un·Σgam·nhat
  let drstd = sum_gam_u - width * (m.x * m.z + m.y * m.w);
  for (var j = lane; j < p.width; j += WG) {
    let u = g_n[base + j] * scale[j];
    let nh = nhat[base + j];
    let gm = gam[base + j];
    du[base + j] = r * (gm - m.z - nh * m.w);
    dnhat[base + j] = -r * (gm * m.y + u * m.w);
    dh2[base + j] = -drstd * r * r * nh / width;
  }
}
