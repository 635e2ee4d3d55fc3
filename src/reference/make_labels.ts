/**
 * Next-token labels and weights for a batch of token sequences.
 *
 * @module
 */

/**
 * Builds the labels of a language-model batch: the target at `t` is `tokens[t+1]` of the
 * same sequence. The weight is 1 except 0 at each sequence's last position (no next
 * token) and, when `padId` is given, 0 where the target or the current token is `padId`.
 * Weight-0 positions get id -1 and an all-zero one-hot row. `tokens` is `[B*T]`;
 * `ids` and `weights` are `[B*T]`, `oneHot` is `[B*T*vocabSize]`. A weighted target
 * outside `[0, vocabSize)` throws.
 */
export function referenceMakeLabels(
  tokens: Int32Array,
  B: number,
  T: number,
  vocabSize: number,
  padId?: number,
): { ids: Int32Array; oneHot: Float64Array; weights: Float64Array } {
  if (tokens.length !== B * T) {
    throw new RangeError(
      `tokens has length ${tokens.length}, expected ${B * T}`,
    );
  }
  const ids = new Int32Array(B * T).fill(-1);
  const oneHot = new Float64Array(B * T * vocabSize);
  const weights = new Float64Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) { // the last position has no next token
      const p = b * T + t;
      const current = tokens[p], target = tokens[p + 1];
      if (padId !== undefined && (current === padId || target === padId)) {
        continue;
      }
      if (!(target >= 0 && target < vocabSize)) {
        throw new RangeError(`token ${target} outside [0, ${vocabSize})`);
      }
      ids[p] = target;
      oneHot[p * vocabSize + target] = 1;
      weights[p] = 1;
    }
  }
  return { ids, oneHot, weights };
}
