// The label of vocabulary entry j of a row: 1 where j is the row's token id (`id`, with
// label_mode IDS), else entry j of its one-hot/distribution row (f32, bit-cast).
fn label(j: u32, id: i32, label_row: u32) -> f32 {
  if (p.label_mode == IDS) {
    return select(0.0, 1.0, i32(j) == id);
  }
  return bitcast<f32>(labels[label_row + j]);
}
