// Sum of `value` over the WG lanes of a workgroup, returned to every lane. Call it in
// uniform control flow; it may be called again right away.
var<workgroup> wg_sum: array<f32, WG>;

fn workgroup_sum(value: f32, lane: u32) -> f32 {
  wg_sum[lane] = value;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      wg_sum[lane] += wg_sum[lane + stride];
    }
    workgroupBarrier();
  }
  let total = wg_sum[0];
  workgroupBarrier();
  return total;
}
