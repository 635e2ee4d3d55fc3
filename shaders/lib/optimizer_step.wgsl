// Shared by the update kernels: the clipped gradient and the final projection.

fn scaled_grad(g: f32, clip: f32, flags: u32) -> f32 {
  if ((flags & CLIP) != 0u) {
    return g * clip;
  }
  return g;
}

fn finish(x: f32, flags: u32) -> f32 {
  if ((flags & NON_NEGATIVE) != 0u) {
    return max(x, 0.0);
  }
  return x;
}
