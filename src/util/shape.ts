/**
 * Shapes of row-major tensors.
 *
 * @module
 */

/**
 * Number of elements of a shape (1 for a scalar `[]`).
 *
 * @example
 * ```ts
 * import { shapeSize } from "./shape.ts";
 * console.log(shapeSize([2, 3]), shapeSize([])); // 6 1
 * ```
 */
export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}
