// A 1-D range of workgroups spread over x and y by src/gpu/grid.ts, `p.groups_x` per
// row of the grid (the device allows only so many workgroups per dimension).
fn group_index(wid: vec3<u32>) -> u32 {
  return wid.x + wid.y * p.groups_x;
}

// The flat invocation index in that grid.
fn invocation_index(gid: vec3<u32>) -> u32 {
  return gid.x + gid.y * p.groups_x * WG;
}
