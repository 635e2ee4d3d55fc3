// Per-position cross-entropy of a tile of logits, one workgroup per row:
//   nll[row] = logsumexp(z) − Σ_v y_v·z_v   (ids: logsumexp(z) − z[id])
// written only where the weight is non-zero (0 elsewhere), so the [rows, V] tile never
// leaves scratch: scoring a document needs no [B, T, V] buffer.

var<workgroup> partial: array<vec3<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = group_index(wid);
  if (row >= p.rows) {
    return;
  }
  let lane = lid.x;
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
    var y = 0.0;
    if (p.label_mode == IDS) {
      y = select(0.0, 1.0, i32(j) == id);
    } else {
      y = bitcast<f32>(labels[label_row + j]);
    }
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
  workgroupBarrier();
  partial[lane] = vec3<f32>(yz, ysum, 0.0);
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
    if (lane < stride) {
      partial[lane] += partial[lane + stride];
    }
    workgroupBarrier();
  }
  if (lane == 0u) {
    let w = weights[p.row_offset + row];
    nll[p.row_offset + row] = select(0.0, partial[0].y * lse - partial[0].x, w != 0.0);
  }
}
