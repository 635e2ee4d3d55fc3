// The unit the attention kernels read head rows in: one float (any head width).
alias HeadVec = f32;

fn hsum(x: f32) -> f32 {
  return x;
}
