// The counter-based generator of src/util/random.ts (counterUniform), word for word: a
// uniform in [0, 1) from the key of counterKey(seed) (two u32 words, passed as uniforms),
// a position and a sequence. The host draws the same numbers bit for bit (a test checks).

// One mixing round: xor-shift, multiply (wrapping), xor-shift, multiply, xor-shift.
fn counter_mix(v: u32) -> u32 {
  var x = (v ^ (v >> 16u)) * 0x7feb352du;
  x = (x ^ (x >> 15u)) * 0x846ca68bu;
  return x ^ (x >> 16u);
}

fn counter_uniform(key0: u32, key1: u32, position: u32, sequence: u32) -> f32 {
  var h = counter_mix(key0 ^ position);
  h = counter_mix(h ^ sequence);
  h = counter_mix(h ^ key1);
  h = counter_mix(h + key0);
  // 24 bits are exact in f32 (and the scale is a power of two).
  return f32(h >> 8u) * (1.0 / 16777216.0);
}
