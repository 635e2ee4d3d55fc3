// One token per row of logits [rows, vocab] (read as u32 bits), one workgroup per row,
// with the semantics of sampleToken (src/fwl/sampling.ts): weights exp((l − max) / T);
// the top-k in the order (logit descending, index ascending); then the smallest prefix of
// that order whose mass reaches top_p of theirs; one draw u = counter_uniform(key,
// position, sequence_base + row) by inverse CDF over the kept tokens in index order.
// GREEDY (T = 0) takes the largest logit, the lowest index on ties. -Infinity masks a
// token; NaN and +Infinity are not valid logits.
//
// Nothing is sorted: a cut of that order is a key t (the order-preserving u32 of the
// logit) and an index c, keeping tokens with key > t, or key == t and index < c. t comes
// from a bitwise binary search (32 rounds, each a pass over the row), c from counting the
// tokens of key t in index order.

// The key of −Infinity: keys at or below it weigh nothing.
const MASKED_KEY: u32 = 0x007fffffu;

// A search's sums: WG / PARTS lanes per part. The sample kernel runs with WG = 256.
const PARTS: u32 = 16u;
var<workgroup> sum_u: array<u32, WG>;
var<workgroup> sum_f: array<f32, WG>;
var<workgroup> parts_u: array<u32, PARTS>;
var<workgroup> parts_f: array<f32, PARTS>;
var<workgroup> sum_total_u: u32;
var<workgroup> sum_total_f: f32;
var<workgroup> scan_u: array<u32, WG>;
var<workgroup> scan_f: array<f32, WG>;
var<workgroup> scan_total: f32;
var<workgroup> found: u32;

var<private> base: u32;
var<private> max_logit: f32;
// The current cut (see above); (0, 0) keeps everything.
var<private> cut_key: u32;
var<private> cut_index: u32;

// An order-preserving u32 of a float's bits (−0 ties with +0, as on the host).
fn key_of(raw: u32) -> u32 {
  let bits = select(raw, 0u, raw == 0x80000000u);
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

fn logit_of(key: u32) -> f32 {
  return bitcast<f32>(select(~key, key & 0x7fffffffu, (key & 0x80000000u) != 0u));
}

fn key_at(j: u32) -> u32 {
  return key_of(logits[base + j]);
}

fn weight(key: u32) -> f32 {
  if (key <= MASKED_KEY) {
    return 0.0;
  }
  return exp((logit_of(key) - max_logit) / p.temperature);
}

fn kept(key: u32, j: u32) -> bool {
  return key > cut_key || (key == cut_key && j < cut_index);
}

// The lane's contiguous stretch [x, y) of the row: walks in index order go through these.
fn stretch(lane: u32) -> vec2<u32> {
  let size = (p.vocab + WG - 1u) / WG;
  let lo = min(lane * size, p.vocab);
  return vec2<u32>(lo, min(lo + size, p.vocab));
}

// Sums over the workgroup for the searches (32 per cut) with three barriers, not a tree's
// ten: PARTS lanes add WG / PARTS lanes each, then lane 0 adds the parts, in a fixed order
// (deterministic, and monotone in the terms, which the searches rely on).
fn search_sum_u32(value: u32, lane: u32) -> u32 {
  sum_u[lane] = value;
  workgroupBarrier();
  if (lane < PARTS) {
    var s = 0u;
    for (var i = lane * (WG / PARTS); i < (lane + 1u) * (WG / PARTS); i++) {
      s += sum_u[i];
    }
    parts_u[lane] = s;
  }
  workgroupBarrier();
  if (lane == 0u) {
    var total = 0u;
    for (var i = 0u; i < PARTS; i++) {
      total += parts_u[i];
    }
    sum_total_u = total;
  }
  workgroupBarrier();
  return sum_total_u;
}

fn search_sum_f32(value: f32, lane: u32) -> f32 {
  sum_f[lane] = value;
  workgroupBarrier();
  if (lane < PARTS) {
    var s = 0.0;
    for (var i = lane * (WG / PARTS); i < (lane + 1u) * (WG / PARTS); i++) {
      s += sum_f[i];
    }
    parts_f[lane] = s;
  }
  workgroupBarrier();
  if (lane == 0u) {
    var total = 0.0;
    for (var i = 0u; i < PARTS; i++) {
      total += parts_f[i];
    }
    sum_total_f = total;
  }
  workgroupBarrier();
  return sum_total_f;
}

// Exclusive prefix sum over the lanes, added up by one lane in lane order.
fn scan_lanes_u32(value: u32, lane: u32) -> u32 {
  scan_u[lane] = value;
  workgroupBarrier();
  if (lane == 0u) {
    var s = 0u;
    for (var i = 0u; i < WG; i++) {
      let v = scan_u[i];
      scan_u[i] = s;
      s += v;
    }
  }
  workgroupBarrier();
  let before = scan_u[lane];
  workgroupBarrier();
  return before;
}

// (start, end) of the lane's share of the total, summed by one lane in lane order so that
// each lane's end is exactly the next lane's start: the shares tile [0, total) without
// gaps or overlaps, however the floats round. scan_total holds the total.
fn scan_lanes_f32(value: f32, lane: u32) -> vec2<f32> {
  scan_f[lane] = value;
  workgroupBarrier();
  if (lane == 0u) {
    var s = 0.0;
    for (var i = 0u; i < WG; i++) {
      let v = scan_f[i];
      scan_f[i] = s;
      s += v;
    }
    scan_total = s;
  }
  workgroupBarrier();
  let start = scan_f[lane];
  let end = select(scan_f[min(lane + 1u, WG - 1u)], scan_total, lane + 1u == WG);
  workgroupBarrier();
  return vec2<f32>(start, end);
}

// One past the index of the n-th token (n ≥ 1) of key `key` among indices < limit, in
// index order; limit if there are fewer.
fn cut_ties(key: u32, n: u32, limit: u32, lane: u32) -> u32 {
  let range = stretch(lane);
  let end = min(range.y, limit);
  var own = 0u;
  for (var j = range.x; j < end; j++) {
    own += select(0u, 1u, key_at(j) == key);
  }
  if (lane == 0u) {
    found = limit;
  }
  let before = scan_lanes_u32(own, lane);
  if (before < n && n <= before + own) {
    var seen = before;
    for (var j = range.x; j < end; j++) {
      if (key_at(j) == key) {
        seen++;
        if (seen == n) {
          found = j + 1u;
          break;
        }
      }
    }
  }
  workgroupBarrier();
  let cut = found;
  workgroupBarrier();
  return cut;
}

// The largest key t with at least k tokens of key ≥ t (the k-th largest), and the number
// of tokens of key > t: the largest count among the failed candidates, since the smallest
// of them is t + 1 (the candidate of t's lowest zero bit).
fn top_k_key(k: u32, lane: u32) -> vec2<u32> {
  var t = 0u;
  var above = 0u;
  for (var bit = 32u; bit > 0u; bit--) {
    let candidate = t | (1u << (bit - 1u));
    var count = 0u;
    for (var j = lane; j < p.vocab; j += WG) {
      count += select(0u, 1u, key_at(j) >= candidate);
    }
    count = search_sum_u32(count, lane);
    if (count >= k) {
      t = candidate;
    } else {
      above = max(above, count);
    }
  }
  return vec2<u32>(t, above);
}

// The mass of the kept tokens of key ≥ t.
fn kept_mass(t: u32, lane: u32) -> f32 {
  var mass = 0.0;
  for (var j = lane; j < p.vocab; j += WG) {
    let key = key_at(j);
    if (key >= t && kept(key, j)) {
      mass += weight(key);
    }
  }
  return search_sum_f32(mass, lane);
}

// The nucleus of the kept tokens: the largest key t whose kept tokens of key ≥ t reach
// `goal`, then as few of its tokens (lowest indices first) as reach it.
fn cut_top_p(goal: f32, lane: u32) {
  var t = 0u;
  var above = 0.0; // the mass of key > t, as in top_k_key
  for (var bit = 32u; bit > 0u; bit--) {
    let candidate = t | (1u << (bit - 1u));
    let mass = kept_mass(candidate, lane);
    if (mass >= goal) {
      t = candidate;
    } else {
      above = max(above, mass);
    }
  }
  // Tokens of one key weigh the same.
  let need = ceil((goal - above) / weight(t));
  let n = u32(clamp(need, 1.0, f32(p.vocab)));
  // At the top-k key only the ties top-k kept count.
  let limit = select(p.vocab, cut_index, t == cut_key);
  cut_index = cut_ties(t, n, limit, lane);
  cut_key = t;
}

// Inverse CDF over the kept tokens in index order: the lane whose share of the total holds
// u·total walks its stretch.
fn draw(u: f32, lane: u32) -> u32 {
  let range = stretch(lane);
  var own = 0.0;
  for (var j = range.x; j < range.y; j++) {
    let key = key_at(j);
    if (kept(key, j)) {
      own += weight(key);
    }
  }
  if (lane == 0u) {
    found = 0u; // only if everything is masked (as greedy would)
  }
  let share = scan_lanes_f32(own, lane);
  let total = scan_total;
  let goal = u * total;
  // The last lane with a share takes a goal that rounding pushed to the total.
  let last = share.x < total && share.y == total;
  if ((share.x <= goal && goal < share.y) || (last && goal >= total)) {
    var cum = share.x;
    var pick = range.x;
    for (var j = range.x; j < range.y; j++) {
      let key = key_at(j);
      let w = select(0.0, weight(key), kept(key, j));
      if (w > 0.0) {
        cum += w;
        pick = j;
        if (goal < cum) {
          break;
        }
      }
    }
    found = pick;
  }
  workgroupBarrier();
  let id = found;
  workgroupBarrier();
  return id;
}

// One row (see lib/row_kernel.wgsl).
fn row_main(row: u32, lane: u32) {
  base = row * p.vocab;
  var top = 0u;
  for (var j = lane; j < p.vocab; j += WG) {
    top = max(top, key_at(j));
  }
  top = workgroup_max_u32(top, lane);
  var id = 0u;
  if ((p.flags & GREEDY) != 0u) {
    id = cut_ties(top, 1u, p.vocab, lane) - 1u;
  } else {
    max_logit = logit_of(top);
    cut_key = 0u;
    cut_index = 0u;
    if ((p.flags & TOP_K) != 0u) {
      let k = top_k_key(p.top_k, lane);
      cut_key = k.x;
      cut_index = cut_ties(k.x, p.top_k - k.y, p.vocab, lane);
    }
    if ((p.flags & TOP_P) != 0u) {
      cut_top_p(p.top_p * kept_mass(0u, lane), lane);
    }
    id = draw(counter_uniform(p.key0, p.key1, p.position, p.sequence_base + row), lane);
  }
  if (lane == 0u) {
    out[p.out_index + row] = i32(id);
    if ((p.flags & NEXT) != 0u) {
      next[row] = i32(id);
    }
  }
}
