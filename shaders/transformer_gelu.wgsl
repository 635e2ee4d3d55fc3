// GELU (tanh form) of the MLP, one invocation per element:
//   mode 0 (forward):  g[i] = gelu(x[i]) = x/2 · (1 + tanh(c·(x + 0.044715·x³)))
//   mode 1 (backward): g[i] *= gelu'(x[i])
// with c = √(2/π). The tanh argument is clamped where tanh is ±1 in f32 anyway, so that
// no implementation overflows in exp.

const C: f32 = 0.7978845608028654;
const A: f32 = 0.044715;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocation_index(gid);
  if (i >= p.count) {
    return;
  }
  let v = x[i];
  let t = tanh(clamp(C * (v + A * v * v * v), -15.0, 15.0));
  if (p.mode == 0u) {
    g[i] = 0.5 * v * (1.0 + t);
  } else {
    let d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * C * (1.0 + 3.0 * A * v * v);
    g[i] *= d;
  }
}
