// Elementwise update used by the outer backward, one invocation per element:
//   out[i] = coef · A(i) · B(i) · G(i)  (+ beta · out[i] with ACCUMULATE)
// where coef = alpha (· steps[step_index] with STEP), A(i) = a[i] (or 1), B(i) = b[i],
// b[i % width] (a broadcast row vector), b[i / width] (a per-row factor) or 1, and
// G(i) = 2·relu(c[i]) (the squared-ReLU
// derivative), 2·[c[i] > 0] (its derivative's derivative times relu) or 1. With no
// operand at all it fills `out` with alpha.

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = invocation_index(gid);
  if (i >= p.count) {
    return;
  }
  var v = p.alpha;
  if ((p.flags & STEP) != 0u) {
    v *= steps[p.step_index];
  }
  if ((p.flags & HAS_A) != 0u) {
    v *= a[i];
  }
  if ((p.flags & B_ELEMENT) != 0u) {
    v *= b[i];
  }
  if ((p.flags & B_BROADCAST) != 0u) {
    v *= b[i % p.width];
  }
  if ((p.flags & B_ROWS) != 0u) {
    v *= b[i / p.width];
  }
  if ((p.flags & GATE_RELU) != 0u) {
    v *= 2.0 * max(c[i], 0.0);
  }
  if ((p.flags & GATE_STEP) != 0u) {
    v *= select(0.0, 2.0, c[i] > 0.0);
  }
  if ((p.flags & ACCUMULATE) != 0u) {
    v += p.beta * out[i];
  }
  out[i] = v;
}
