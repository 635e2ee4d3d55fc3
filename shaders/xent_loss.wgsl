// Per-position cross-entropy of a tile of logits, one workgroup per row:
//   nll[row] = logsumexp(z) − Σ_v y_v·z_v   (ids: logsumexp(z) − z[id])
// written only where the weight is non-zero (0 elsewhere), so the [rows, V] tile never
// leaves scratch: scoring a document needs no [B, T, V] buffer.

var<workgroup> partial: array<vec3<f32>, WG>;

// One row of the tile (see lib/row_kernel.wgsl).
fn row_main(row: u32, lane: u32) {
  let base = row * p.vocab;
  let id = bitcast<i32>(labels[p.row_offset + row]);
  let label_row = p.label_base + row * p.vocab;
  // Online log-sum-exp: (running max, running Σ exp(z − max), Σ y·z, Σ y) per lane.
  var mx = -3.4e38;
  var s = 0.0;
  var yz = 0.0;
  var ysum = 0.0;
  for (var j = lane; j < p.vocab; j += WG) {
    let v = z[base + j];
    if (v > mx) {
      s = s * exp(mx - v) + 1.0;
      mx = v;
    } else {
      s += exp(v - mx);
    }
    let y = label(j, id, label_row);
    yz += y * v;
    ysum += y;
  }
  partial[lane] = vec3<f32>(mx, s, 0.0);
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      let a = partial[lane];
      let b = partial[lane + stride];
      let m = max(a.x, b.x);
      partial[lane] = vec3<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m), 0.0);
    }
    workgroupBarrier();
  }
  let lse = partial[0].x + log(partial[0].y);
  let sums = workgroup_sum2(vec2<f32>(yz, ysum), lane);
  if (lane == 0u) {
    let w = weights[p.row_offset + row];
    nll[p.row_offset + row] = select(0.0, sums.y * lse - sums.x, w != 0.0);
  }
}
