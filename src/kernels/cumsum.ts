/**
 * Cumulative sums over time: the exclusive-cumsum update of the fast weights and its
 * backward, the reverse cumsum.
 *
 * @module
 */

import { program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";

/** Exclusive cumsum update. */
const CUMSUM_UPDATE = program({
  name: "cumsum_update",
  body: shaders.cumsumUpdate,
  storage: ["u", "base", "steps", "carry", "out: rw", "aux: rw"],
  uniforms: ["batch", "time", "width", "flags", "step_index"],
  constants: { BROADCAST: 1, SQRELU_AUX: 2, CARRY: 4 },
});
/** The reverse exclusive cumsum kernel. */
const REVERSE_CUMSUM = program({
  name: "reverse_cumsum",
  body: shaders.reverseCumsum,
  storage: ["u", "out: rw"],
  uniforms: ["batch", "time", "width"],
});

/**
 * `out[b,t,j] = (broadcast ? base[j] : out[b,t,j]) − steps[stepIndex] · (carried[b,j] +
 * Σ_{s<t} u[b,s,j])`, optionally writing `aux = relu(out)²`; `carried` (the sum over the
 * positions before the window) defaults to 0.
 */
export function cumsumUpdate(
  rec: Recorder,
  o: {
    u: Binding;
    out: Binding;
    steps: GPUBuffer;
    stepIndex: number;
    batch: number;
    time: number;
    width: number;
    broadcastBase?: Binding;
    sqreluAux?: Binding;
    carried?: Binding;
  },
): void {
  const ctx = rec.ctx;
  rec.dispatch(
    CUMSUM_UPDATE,
    [
      o.u,
      o.broadcastBase ?? ctx.dummy(0),
      o.steps,
      o.carried ?? ctx.dummy(0),
      o.out,
      o.sqreluAux ?? ctx.dummy(1),
    ],
    CUMSUM_UPDATE.uniforms({
      batch: o.batch,
      time: o.time,
      width: o.width,
      flags: (o.broadcastBase ? CUMSUM_UPDATE.constants.BROADCAST : 0) |
        (o.sqreluAux ? CUMSUM_UPDATE.constants.SQRELU_AUX : 0) |
        (o.carried ? CUMSUM_UPDATE.constants.CARRY : 0),
      step_index: o.stepIndex,
    }),
    [Math.ceil(o.width / CUMSUM_UPDATE.workgroupSize[0]), o.batch, 1],
  );
}

/**
 * `out[b,t,j] = Σ_{s>t} u[b,s,j]`: the backward of the exclusive cumsum over time.
 * `out` must not alias `u`.
 */
export function reverseCumsum(
  rec: Recorder,
  o: { u: Binding; out: Binding; batch: number; time: number; width: number },
): void {
  rec.dispatch(
    REVERSE_CUMSUM,
    [o.u, o.out],
    REVERSE_CUMSUM.uniforms({ batch: o.batch, time: o.time, width: o.width }),
    [Math.ceil(o.width / REVERSE_CUMSUM.workgroupSize[0]), o.batch, 1],
  );
}
