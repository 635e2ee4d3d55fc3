// Shared by the update kernels: the clipped gradient, the log-space step and the final
// projection.

fn scaled_grad(g: f32, clip: f32, flags: u32) -> f32 {
  if ((flags & CLIP) != 0u) {
    return g * clip;
  }
  return g;
}

// ∂L/∂u = x · ∂L/∂x for a parameter learned in log space (u = log x), and
// ∂L/∂u = (x − 1) · ∂L/∂x in log space of its complement (u = log(1 − x), a decay).
fn space_grad(g: f32, x: f32, flags: u32) -> f32 {
  if ((flags & LOG_SPACE) != 0u) {
    return g * x;
  }
  if ((flags & LOG_COMPLEMENT) != 0u) {
    return g * (x - 1.0);
  }
  return g;
}

// x − d; or, u − d written back: x·exp(−d) in log space, 1 − (1 − x)·exp(−d) in log space
// of the complement.
fn descend(x: f32, d: f32, flags: u32) -> f32 {
  if ((flags & LOG_SPACE) != 0u) {
    return x * exp(-d);
  }
  if ((flags & LOG_COMPLEMENT) != 0u) {
    return 1.0 - (1.0 - x) * exp(-d);
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
  if ((flags & LOG_COMPLEMENT) != 0u) {
    // a decay stays in [MIN_DECAY, 1): it keeps some memory, and λ^0 stays 1
    return max(x, f32(MIN_DECAY_MILLI) / 1000.0);
  }
  return x;
}
