// Layer norm backward of the inner loss, one workgroup per row:
//   g_nhat = g_n ⊙ scale
//   g_x    = (g_nhat − mean(g_nhat) − nhat · mean(g_nhat ⊙ nhat)) · rstd
// and g_n ⊙ nhat, the per-position gradient of the layer-norm scale.

struct Params {
  rows: u32, width: u32, rows_per_y: u32, pad0: u32,
}

@group(0) @binding(0) var<storage, read> g_n: array<f32>;
@group(0) @binding(1) var<storage, read> nhat: array<f32>;
@group(0) @binding(2) var<storage, read> rstd: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> g_x: array<f32>;
@group(0) @binding(5) var<storage, read_write> g_scale: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

const WG: u32 = 64u;
var<workgroup> partial: array<vec2<f32>, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wid.x + wid.y * p.rows_per_y;
  if (row >= p.rows) {
    return;
  }
  let lane = lid.x;
  let base = row * p.width;
  var s = vec2<f32>(0.0);
  for (var j = lane; j < p.width; j += WG) {
    let gh = g_n[base + j] * scale[j];
    s += vec2<f32>(gh, gh * nhat[base + j]);
  }
  partial[lane] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] += partial[lane + stride];
    }
    workgroupBarrier();
  }
  let means = partial[0] / f32(p.width);
  let r = rstd[row];
  for (var j = lane; j < p.width; j += WG) {
    let gn = g_n[base + j];
    let nh = nhat[base + j];
    g_x[base + j] = (gn * scale[j] - means.x - nh * means.y) * r;
    g_scale[base + j] = gn * nh;
  }
}
