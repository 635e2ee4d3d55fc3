// Shared by the update kernels: the clipped gradient, the log-space step and the final
// projection.

fn scaled_grad(g: f32, clip: f32, flags: u32) -> f32 {
  if ((flags & CLIP) != 0u) {
    return g * clip;
  }
  return g;
}

// ∂L/∂u = x · ∂L/∂x for a parameter learned in log space (u = log x).
fn space_grad(g: f32, x: f32, flags: u32) -> f32 {
  if ((flags & LOG_SPACE) != 0u) {
    return g * x;
  }
  return g;
}

// x − d, or x·exp(−d) (u − d written back as x = exp(u)) in log space.
fn descend(x: f32, d: f32, flags: u32) -> f32 {
  if ((flags & LOG_SPACE) != 0u) {
    return x * exp(-d);
  }
  return x - d;
}

// The gradient an update sees at segment element i of a parameter now at x: clipped, taken
// in log space when asked, plus L2 weight decay.
fn update_grad(i: u32, x: f32) -> f32 {
  var g = space_grad(scaled_grad(grad[p.g_off + i], clip[0], p.flags), x, p.flags);
  if ((p.flags & L2_DECAY) != 0u) {
    g += p.wd * x;
  }
  return g;
}

fn finish(x: f32, flags: u32) -> f32 {
  if ((flags & NON_NEGATIVE) != 0u) {
    return max(x, 0.0);
  }
  return x;
}
