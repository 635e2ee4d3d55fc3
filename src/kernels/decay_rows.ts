/**
 * Rows weighted by the decay of docs/definition.md §6 within their chunk: what a chunk's (or a
 * window's) keys or values contribute to a decayed running state.
 *
 * @module
 */

import { program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import type { DecayRef } from "./running_count.ts";
import { dispatchPerElement } from "./per_element.ts";
import { GRID } from "./snippets.ts";

const DECAY_ROWS = program({
  name: "decay_rows",
  body: shaders.decayRows,
  storage: ["v", "steps", "out: rw"],
  uniforms: ["count", "width", "time", "chunk", "flags", "decay_index", "groups_x"],
  constants: { TO_END: 1 },
  snippets: [GRID],
});

/**
 * `out[b, t, :] = λ^e·v[b, t, :]` for `[batch, time, width]` rows, with `e` the distance
 * to the end of the row's chunk of `chunk` positions (`"toEnd"`: `end − 1 − t`, how a
 * chunk's state weighs its positions) or from its start (`"fromStart"`: `t − start`, how
 * a reverse scan's state does). `out` must not alias `v`.
 */
export function decayRows(
  rec: Recorder,
  o: {
    v: Binding;
    out: Binding;
    batch: number;
    time: number;
    width: number;
    chunk: number;
    direction: "toEnd" | "fromStart";
    decay: DecayRef;
  },
): void {
  const count = o.batch * o.time * o.width;
  if (count === 0) return;
  dispatchPerElement(rec, DECAY_ROWS, [o.v, o.decay.buffer, o.out], count, {
    width: o.width,
    time: o.time,
    chunk: o.chunk,
    flags: o.direction === "toEnd" ? DECAY_ROWS.constants.TO_END : 0,
    decay_index: o.decay.index,
  });
}
