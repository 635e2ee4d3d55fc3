/**
 * A deterministic scatter-add without float atomics (`shaders/segment_sum.wgsl`): the
 * embedding gradients of the bodies, rows of a gradient summed per token id (or position)
 * in a fixed order.
 *
 * @module
 */

import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import { dispatchPerElement } from "./per_element.ts";

/** The segment-sum kernel. */
const SEGMENT_SUM = program({
  name: "segment_sum",
  body: shaders.segmentSum,
  storage: ["offsets: u32", "index: u32", "src", "out: rw"],
  uniforms: ["count", "width", "groups_x"],
  snippets: [GRID],
});

/**
 * `out[s, d] = Σ_{k ∈ [offsets[s], offsets[s+1])} src[index[k], d]` for `segments`
 * segments of width `width`, summed in the order of `index` (u32 `offsets [segments + 1]`,
 * u32 `index`); empty segments get 0, so `out` is overwritten.
 */
export function segmentSum(
  rec: Recorder,
  o: {
    offsets: Binding;
    index: Binding;
    src: Binding;
    out: Binding;
    segments: number;
    width: number;
  },
): void {
  const bindings = [o.offsets, o.index, o.src, o.out];
  dispatchPerElement(rec, SEGMENT_SUM, bindings, o.segments * o.width, { width: o.width });
}

/**
 * The segments of {@linkcode segmentSum} that group positions `n` by `keys[n]` (a token
 * id in `[0, segments)`): `index` lists `rowOf(n)` (default `n`), positions ascending
 * within a segment (a counting sort).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { segmentsByKey } from "./segment_sum.ts";
 * const { offsets, index } = segmentsByKey(new Int32Array([2, 0, 2]), 3);
 * assertEquals([...offsets], [0, 1, 1, 3]);
 * assertEquals([...index], [1, 0, 2]);
 * ```
 */
export function segmentsByKey(
  keys: Int32Array,
  segments: number,
  rowOf: (n: number) => number = (n) => n,
): { offsets: Uint32Array; index: Uint32Array } {
  const offsets = new Uint32Array(segments + 1);
  for (const key of keys) offsets[key + 1]++;
  for (let s = 0; s < segments; s++) offsets[s + 1] += offsets[s];
  const next = offsets.slice(0, segments);
  const index = new Uint32Array(keys.length);
  keys.forEach((key, n) => index[next[key]++] = rowOf(n));
  return { offsets, index };
}
