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

fn finish(x: f32, flags: u32) -> f32 {
  if ((flags & NON_NEGATIVE) != 0u) {
    return max(x, 0.0);
  }
  return x;
}
