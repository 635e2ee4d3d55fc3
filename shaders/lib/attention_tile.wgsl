// The rows an attention pass's workgroup owns (the kernel declares `tiles` and `heads`):
// sequence·head `bh`, sequence `b`, the head's first column `col` (in HeadVec units),
// the tile's first row and this invocation's first row (ROWS adjacent rows each).
struct AttentionTile {
  bh: u32,
  b: u32,
  col: u32,
  first: u32,
  row0: u32,
}

fn attention_tile(wid: vec3<u32>, lid: vec3<u32>) -> AttentionTile {
  let g = group_index(wid);
  let bh = g / p.tiles;
  let first = (g % p.tiles) * WG * ROWS;
  return AttentionTile(bh, bh / p.heads, (bh % p.heads) * DV, first, first + lid.x * ROWS);
}
