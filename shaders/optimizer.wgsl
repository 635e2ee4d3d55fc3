// Optimizer kernels: the squared global gradient norm (two passes: per-workgroup
// partial sums, then one workgroup that sums them and turns the norm into a clipping
// scale), and the element-wise SGD and Adam updates.
//
// Every entry point declares its own variables; a binding number is shared only between
// variables of different entry points (never inside one), so each pipeline's "auto"
// layout holds exactly what its entry point uses.
//
// A segment is `len` consecutive elements: param[p_off + i], grad[g_off + i] and the
// optimizer state slot[s_off + i] for i in [0, len).

// ---------------------------------------------------------------------------------------
// Pass 1 of the global norm: partials[part_base + w] = Σ grad² over workgroup w's share.

struct SumsqParams {
  len: u32, g_off: u32, part_base: u32, groups: u32,
}

@group(0) @binding(0) var<storage, read> sq_grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> sq_partials: array<f32>;
@group(0) @binding(2) var<uniform> sq: SumsqParams;

var<workgroup> sq_shared: array<f32, 256>;

@compute @workgroup_size(256)
fn sumsq(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
) {
  var s = 0.0;
  let stride = sq.groups * 256u;
  for (var i = wid.x * 256u + lid.x; i < sq.len; i += stride) {
    let g = sq_grad[sq.g_off + i];
    s += g * g;
  }
  sq_shared[lid.x] = s;
  workgroupBarrier();
  for (var gap = 128u; gap > 0u; gap /= 2u) {
    if (lid.x < gap) {
      sq_shared[lid.x] += sq_shared[lid.x + gap];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    sq_partials[sq.part_base + wid.x] = sq_shared[0];
  }
}

// ---------------------------------------------------------------------------------------
// Pass 2: clip[0] = clip_norm / max(‖g‖, clip_norm) (1 when the norm is within bounds),
// clip[1] = ‖g‖. A non-finite norm gives a non-finite scale, so the update shows it.

struct ClipParams {
  count: u32, clip_norm: f32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> cs_partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> cs_clip: array<f32>;
@group(0) @binding(2) var<uniform> cs: ClipParams;

var<workgroup> cs_shared: array<f32, 256>;

@compute @workgroup_size(256)
fn clip_scale(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < cs.count; i += 256u) {
    s += cs_partials[i];
  }
  cs_shared[lid.x] = s;
  workgroupBarrier();
  for (var gap = 128u; gap > 0u; gap /= 2u) {
    if (lid.x < gap) {
      cs_shared[lid.x] += cs_shared[lid.x + gap];
    }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let norm = sqrt(cs_shared[0]);
    cs_clip[0] = cs.clip_norm / max(norm, cs.clip_norm);
    cs_clip[1] = norm;
  }
}

// ---------------------------------------------------------------------------------------
// The updates. Flags shared by both:

const L2_DECAY: u32 = 1u;        // g += wd · p (coupled, "Adam"/"SGD" weight decay)
const DECOUPLED_DECAY: u32 = 2u; // p −= lr · wd · p before the step (AdamW)
const NON_NEGATIVE: u32 = 4u;    // p = max(p, 0) after the step
const CLIP: u32 = 8u;            // g *= clip[0] (the global-norm scale)
const MOMENTUM: u32 = 16u;       // SGD keeps a momentum buffer
const NESTEROV: u32 = 32u;       // SGD uses the Nesterov form
const LOG_SPACE: u32 = 64u;      // update u = log p: g *= p, then p *= exp(−Δu)

struct UpdateParams {
  len: u32, p_off: u32, g_off: u32, s_off: u32,
  flags: u32, lr: f32, wd: f32, eps: f32,
  beta1: f32, beta2: f32, bc1: f32, bc2: f32,
  momentum: f32, pad0: u32, pad1: u32, pad2: u32,
}

fn scaled_grad(g: f32, clip: f32, flags: u32) -> f32 {
  if ((flags & CLIP) != 0u) {
    return g * clip;
  }
  return g;
}

// ∂L/∂u = p · ∂L/∂p for a log-space parameter.
fn space_grad(g: f32, p: f32, flags: u32) -> f32 {
  if ((flags & LOG_SPACE) != 0u) {
    return g * p;
  }
  return g;
}

// p − d, or p·exp(−d) (u − d written back as p = exp(u)) for a log-space parameter.
fn descend(p: f32, d: f32, flags: u32) -> f32 {
  if ((flags & LOG_SPACE) != 0u) {
    return p * exp(-d);
  }
  return p - d;
}

fn finish(p: f32, flags: u32) -> f32 {
  if ((flags & NON_NEGATIVE) != 0u) {
    return max(p, 0.0);
  }
  return p;
}

// Adam (and AdamW through DECOUPLED_DECAY):
//   m = β1·m + (1−β1)·g,  v = β2·v + (1−β2)·g²
//   p −= lr · (m / bc1) / (sqrt(v / bc2) + ε)        bc = 1 − β^t, or 1 without correction

@group(0) @binding(0) var<storage, read> ad_grad: array<f32>;
@group(0) @binding(1) var<storage, read> ad_clip: array<f32>;
@group(0) @binding(2) var<storage, read_write> ad_param: array<f32>;
@group(0) @binding(3) var<storage, read_write> ad_m: array<f32>;
@group(0) @binding(4) var<storage, read_write> ad_v: array<f32>;
@group(0) @binding(5) var<uniform> ad: UpdateParams;

@compute @workgroup_size(256)
fn adam(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let clip = ad_clip[0];
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < ad.len; i += stride) {
    let pi = ad.p_off + i;
    let si = ad.s_off + i;
    var p = ad_param[pi];
    var g = space_grad(scaled_grad(ad_grad[ad.g_off + i], clip, ad.flags), p, ad.flags);
    if ((ad.flags & L2_DECAY) != 0u) {
      g += ad.wd * p;
    }
    if ((ad.flags & DECOUPLED_DECAY) != 0u) {
      p -= ad.lr * ad.wd * p;
    }
    let m = ad.beta1 * ad_m[si] + (1.0 - ad.beta1) * g;
    let v = ad.beta2 * ad_v[si] + (1.0 - ad.beta2) * g * g;
    ad_m[si] = m;
    ad_v[si] = v;
    p = descend(p, ad.lr * (m / ad.bc1) / (sqrt(v / ad.bc2) + ad.eps), ad.flags);
    ad_param[pi] = finish(p, ad.flags);
  }
}

// SGD: with MOMENTUM, buf = μ·buf + g and the step is buf (or g + μ·buf with NESTEROV);
// without, the step is g.  p −= lr · step.

@group(0) @binding(0) var<storage, read> sg_grad: array<f32>;
@group(0) @binding(1) var<storage, read> sg_clip: array<f32>;
@group(0) @binding(2) var<storage, read_write> sg_param: array<f32>;
@group(0) @binding(3) var<storage, read_write> sg_buf: array<f32>;
@group(0) @binding(4) var<uniform> sg: UpdateParams;

@compute @workgroup_size(256)
fn sgd(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let clip = sg_clip[0];
  let stride = nwg.x * 256u;
  for (var i = gid.x; i < sg.len; i += stride) {
    let pi = sg.p_off + i;
    var p = sg_param[pi];
    var g = space_grad(scaled_grad(sg_grad[sg.g_off + i], clip, sg.flags), p, sg.flags);
    if ((sg.flags & L2_DECAY) != 0u) {
      g += sg.wd * p;
    }
    var d = g;
    if ((sg.flags & MOMENTUM) != 0u) {
      let si = sg.s_off + i;
      let buf = sg.momentum * sg_buf[si] + g;
      sg_buf[si] = buf;
      d = buf;
      if ((sg.flags & NESTEROV) != 0u) {
        d = g + sg.momentum * buf;
      }
    }
    p = descend(p, sg.lr * d, sg.flags);
    sg_param[pi] = finish(p, sg.flags);
  }
}
