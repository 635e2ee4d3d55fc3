// Backward through the inner layer-norm backward (the second-order path), one workgroup
// per row. The inner backward is  g_h2 = rstd · (u − mean(u) − nhat · mean(u ⊙ nhat))
// with u = g_n ⊙ scale. Given gam = dL/dg_h2 it writes
//   du    = rstd · (gam − mean(gam) − nhat · mean(gam ⊙ nhat))       dL/du
//   dnhat = −rstd · (gam · mean(u ⊙ nhat) + u · mean(gam ⊙ nhat))    dL/dnhat (this path)
//   dh2   = −drstd · rstd² · nhat / width                            dL/dh2 through rstd
// with drstd = Σ gam ⊙ (u − mean(u) − nhat · mean(u ⊙ nhat)) and d rstd/d h2 = −rstd²·nhat/width.

// x: Σu, y: Σu·nhat, z: Σgam, w: Σgam·nhat; and Σgam·u
var<workgroup> partial4: array<vec4<f32>, WG>;
var<workgroup> partial1: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = group_index(wid);
  if (row >= p.rows) {
    return;
  }
  let lane = lid.x;
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
  partial4[lane] = s4;
  partial1[lane] = s1;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial4[lane] += partial4[lane + stride];
      partial1[lane] += partial1[lane + stride];
    }
    workgroupBarrier();
  }
  let width = f32(p.width);
  let m = partial4[0] / width;  // mean(u), mean(u·nhat), mean(gam), mean(gam·nhat)
  let sum_gam_u = partial1[0];
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
