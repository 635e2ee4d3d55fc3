// The unit the attention kernels read head rows in: four floats (head width a multiple
// of 4, every stride and base too), summed across by `hsum`.
alias HeadVec = vec4<f32>;

fn hsum(x: vec4<f32>) -> f32 {
  return x.x + x.y + x.z + x.w;
}
