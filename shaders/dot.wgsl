// Sum of a (or of a ⊙ b) over `count` elements, in two dispatches of the same kernel:
// stage 0 writes one partial sum per workgroup to `partials`; stage 1 (one workgroup)
// adds the partials and writes out[out_index] = alpha · sum (+ out[out_index] with
// ACCUMULATE). Used for the step-size gradients (dot products) and the loss. With STEP,
// alpha is times steps[step_index]; with POSITION each element i of a [B, T, width]
// tensor is weighted by its position t + offset (t = (i / width) % time), for the decay's
// gradient (docs/definition.md §6).

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let lane = lid.x;
  var s = 0.0;
  if (p.stage == 0u) {
    for (var i = wid.x * WG + lane; i < p.count; i += p.groups * WG) {
      var v = a[i];
      if ((p.flags & HAS_B) != 0u) {
        v *= b[i];
      }
      if ((p.flags & POSITION) != 0u) {
        v *= f32((i / p.width) % p.time + p.offset);
      }
      s += v;
    }
  } else {
    for (var i = lane; i < p.groups; i += WG) {
      s += partials[i];
    }
  }
  let total = workgroup_sum(s, lane);
  if (lane == 0u) {
    if (p.stage == 0u) {
      partials[wid.x] = total;
    } else {
      var alpha = p.alpha;
      if ((p.flags & STEP) != 0u) {
        alpha *= steps[p.step_index];
      }
      var v = alpha * total;
      if ((p.flags & ACCUMULATE) != 0u) {
        v += out[p.out_index];
      }
      out[p.out_index] = v;
    }
  }
}
