/**
 * Cumulative sums over time: the exclusive-cumsum update of the fast weights and its
 * backward, the reverse cumsum, both decayed by the λ of docs/definition.md §6 when given.
 *
 * @module
 */

import { program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import type { DecayRef } from "./running_count.ts";

/** Exclusive cumsum update. */
const CUMSUM_UPDATE = program({
  name: "cumsum_update",
  body: shaders.cumsumUpdate,
  storage: ["u", "base", "steps", "carry", "rowscale", "out: rw", "aux: rw"],
  uniforms: ["batch", "time", "width", "flags", "step_index", "decay_index", "alpha: f32"],
  constants: {
    BROADCAST: 1,
    SQRELU_AUX: 2,
    CARRY: 4,
    STEP: 8,
    ROW_SCALE: 16,
    DECAY: 32,
    OVERWRITE: 64,
  },
});
/** The reverse exclusive cumsum kernel. */
const REVERSE_CUMSUM = program({
  name: "reverse_cumsum",
  body: shaders.reverseCumsum,
  storage: ["u", "steps", "out: rw", "carry_out: rw"],
  uniforms: ["batch", "time", "width", "flags", "decay_index"],
  constants: { DECAY: 1, CARRY_OUT: 2 },
});

/** A `[batch, time, width]` input `u` and output `out` of a cumsum over time, decayed by λ. */
interface OverTime {
  /** The input `[batch, time, width]`. */
  u: Binding;
  /** The output `[batch, time, width]`. */
  out: Binding;
  batch: number;
  time: number;
  width: number;
  /** The decay λ of docs/definition.md §6 (none: λ = 1). */
  decay?: DecayRef;
}

/** The uniforms every cumsum kernel starts with. */
function overTime(o: OverTime): { batch: number; time: number; width: number } {
  return { batch: o.batch, time: o.time, width: o.width };
}

/** The grid of a cumsum kernel: workgroups across the width, one row per sequence. */
function timeGrid(o: OverTime, wg: number): [number, number, number] {
  return [Math.ceil(o.width / wg), o.batch, 1];
}

/**
 * `out[b,t,j] = base + alpha · steps[step.index] · rowScale[b,t] · Z[b,t,j]` with
 * `Z[b,t] = λ^t·carried[b] + Σ_{s<t} λ^(t−1−s)·u[b,s]`; `base` is `out[b,t,j]` (default),
 * `broadcastBase[j]`, or 0 (`overwrite`); the step, the row scale (a query's 1/N), the
 * decay λ and `carried` (the sum over the positions before the window) are optional;
 * `alpha` defaults to −1 (an update subtracted). Optionally also writes `aux = relu(out)²`.
 */
export function cumsumUpdate(
  rec: Recorder,
  o: OverTime & {
    step?: { buffer: GPUBuffer; index: number };
    alpha?: number;
    broadcastBase?: Binding;
    overwrite?: boolean;
    sqreluAux?: Binding;
    carried?: Binding;
    rowScale?: Binding;
  },
): void {
  const ctx = rec.ctx;
  const f = CUMSUM_UPDATE.constants;
  if (o.step && o.decay && o.step.buffer !== o.decay.buffer) {
    throw new Error("cumsumUpdate: the step and the decay are read from one buffer");
  }
  rec.dispatch(
    CUMSUM_UPDATE,
    [
      o.u,
      o.broadcastBase ?? ctx.dummy(0),
      o.step?.buffer ?? o.decay?.buffer ?? ctx.dummy(0),
      o.carried ?? ctx.dummy(0),
      o.rowScale ?? ctx.dummy(0),
      o.out,
      o.sqreluAux ?? ctx.dummy(1),
    ],
    CUMSUM_UPDATE.uniforms({
      ...overTime(o),
      flags: (o.broadcastBase ? f.BROADCAST : 0) | (o.sqreluAux ? f.SQRELU_AUX : 0) |
        (o.carried ? f.CARRY : 0) | (o.step ? f.STEP : 0) | (o.rowScale ? f.ROW_SCALE : 0) |
        (o.decay ? f.DECAY : 0) | (o.overwrite ? f.OVERWRITE : 0),
      step_index: o.step?.index ?? 0,
      decay_index: o.decay?.index ?? 0,
      alpha: o.alpha ?? -1,
    }),
    timeGrid(o, CUMSUM_UPDATE.workgroupSize[0]),
  );
}

/**
 * `out[b,t,j] = Σ_{s>t} λ^(s−1−t)·u[b,s,j]`: the backward of the (decayed) exclusive
 * cumsum over time; with `carryOut`, also `Σ_s λ^s·u[b,s,j]` there (`[batch, width]`),
 * the cotangent of a carried sum. `out` must not alias `u`.
 */
export function reverseCumsum(
  rec: Recorder,
  o: OverTime & { carryOut?: Binding },
): void {
  const ctx = rec.ctx;
  const f = REVERSE_CUMSUM.constants;
  rec.dispatch(
    REVERSE_CUMSUM,
    [o.u, o.decay?.buffer ?? ctx.dummy(0), o.out, o.carryOut ?? ctx.dummy(1)],
    REVERSE_CUMSUM.uniforms({
      ...overTime(o),
      flags: (o.decay ? f.DECAY : 0) | (o.carryOut ? f.CARRY_OUT : 0),
      decay_index: o.decay?.index ?? 0,
    }),
    timeGrid(o, REVERSE_CUMSUM.workgroupSize[0]),
  );
}
