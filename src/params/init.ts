/**
 * Deterministic initialization by rule: every parameter of a holder starts from one
 * seeded generator, drawn parameter after parameter in a fixed order, each filled by a
 * rule (normal, uniform or constant). The FWL head and the built-in bodies describe
 * their initialization as rules over their shapes instead of writing the loops again.
 *
 * @module
 */

import { SeededRandom } from "../util/random.ts";
import { shapeSize } from "../util/shape.ts";

/**
 * How one parameter starts:
 * - `{ normal: sd }`: each value `sd · N(0, 1)`, drawn in order;
 * - `{ uniform: bound }`: each value uniform in `±bound` (`bound · (2u − 1)`), drawn in order;
 * - `{ fill: v, from?, to? }`: `v` in `[from, to)` (default: everywhere), nothing drawn;
 * - `undefined`: zeros, nothing drawn.
 */
export type InitRule =
  | { readonly normal: number }
  | { readonly uniform: number }
  | { readonly fill: number; readonly from?: number; readonly to?: number }
  | undefined;

/**
 * Initializes every parameter of `shapes` (in their order) from one generator seeded
 * with `seed`, each by `rule(name, shape)`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initByRule } from "./init.ts";
 * const shapes: [string, number[]][] = [["w", [2, 2]], ["b", [4]]];
 * const init = (seed: number) =>
 *   initByRule(shapes, seed, (name) => name === "w" ? { normal: 0.1 } : { fill: 1, from: 2 });
 * assertEquals(init(3), init(3)); // the same seed, the same values
 * assertEquals(Array.from(init(3).b), [0, 0, 1, 1]);
 * assertEquals(init(3).w.length, 4);
 * ```
 */
export function initByRule(
  shapes: Iterable<readonly [string, readonly number[]]>,
  seed: number,
  rule: (name: string, shape: readonly number[]) => InitRule,
): Record<string, Float32Array> {
  const rng = new SeededRandom(seed);
  const out: Record<string, Float32Array> = {};
  for (const [name, shape] of shapes) {
    const data = new Float32Array(shapeSize(shape));
    const how = rule(name, shape);
    if (how === undefined) {
      // zeros
    } else if ("normal" in how) {
      for (let i = 0; i < data.length; i++) data[i] = how.normal * rng.normal();
    } else if ("uniform" in how) {
      for (let i = 0; i < data.length; i++) data[i] = how.uniform * (2 * rng.uniform() - 1);
    } else {
      data.fill(how.fill, how.from, how.to);
    }
    out[name] = data;
  }
  return out;
}
