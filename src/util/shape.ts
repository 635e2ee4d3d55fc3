/**
 * Shapes of row-major tensors.
 *
 * @module
 */

/**
 * Number of elements of a shape (1 for a scalar `[]`).
 */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
