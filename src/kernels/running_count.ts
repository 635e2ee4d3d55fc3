/**
 * The running mean's count (docs/definition.md §6): the decayed sum of the weights of the positions
 * seen so far, per sequence, from which each query's normalizer `N[b,t]` comes
 * ({@linkcode queryScale}), which a carried state keeps ({@linkcode advanceCount}), and
 * through which the decay's gradient ends ({@linkcode decayGrad}).
 *
 * @module
 */

import { program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { WORKGROUP_SUM } from "./snippets.ts";

const RUNNING_COUNT = program({
  name: "running_count",
  body: shaders.runningCount,
  storage: ["weights", "steps", "count: rw", "out: rw"],
  uniforms: ["batch", "time", "flags", "decay_index", "prior: f32"],
  constants: { DECAY: 1, CARRY: 2, QUERY_SCALE: 4, ADVANCE: 8 },
});

const DECAY_GRAD = program({
  name: "decay_grad",
  body: shaders.decayGrad,
  workgroupSize: [256],
  storage: ["weights", "steps", "count", "eps", "part", "grad: rw"],
  uniforms: ["batch", "time", "flags", "decay_index", "grad_index", "prior: f32"],
  constants: { CARRY: 1, ACCUMULATE: 2 },
  snippets: [WORKGROUP_SUM],
});

/** The decay λ of docs/definition.md §6, read on the GPU at `buffer[index]`. */
export interface DecayRef {
  /** The buffer holding λ (the head's step sizes). */
  buffer: GPUBuffer;
  /** λ's element in it. */
  index: number;
}

/** A window of `batch` sequences of `time` positions and their weights `[batch, time]`. */
interface CountWindow {
  weights: Binding;
  batch: number;
  time: number;
  /** λ; undefined for λ = 1. */
  decay?: DecayRef;
}

function dispatchCount(
  rec: Recorder,
  o: CountWindow & { count?: Binding; out?: Binding; prior?: number },
  flags: number,
): void {
  const ctx = rec.ctx;
  const f = RUNNING_COUNT.constants;
  rec.dispatch(
    RUNNING_COUNT,
    [o.weights, o.decay?.buffer ?? ctx.dummy(0), o.count ?? ctx.dummy(1), o.out ?? ctx.dummy(1)],
    RUNNING_COUNT.uniforms({
      batch: o.batch,
      time: o.time,
      flags: flags | (o.decay ? f.DECAY : 0) | (o.count ? f.CARRY : 0),
      decay_index: o.decay?.index ?? 0,
      prior: o.prior ?? 0,
    }),
    [Math.ceil(o.batch / RUNNING_COUNT.workgroupSize[0]), 1, 1],
  );
}

/**
 * `out[b, t] = 1 / max(prior + count_t, 1e-8)` with `count_t = λ^t·count[b] +
 * Σ_{s<t} λ^(t−1−s)·w[b, s]` (`count` carried, default 0): the factor of each query's
 * update under the running mean.
 */
export function queryScale(
  rec: Recorder,
  o: CountWindow & { prior: number; count?: Binding; out: Binding },
): void {
  dispatchCount(rec, o, RUNNING_COUNT.constants.QUERY_SCALE);
}

/** `count[b] = λ^T·count[b] + Σ_t λ^(T−1−t)·w[b, t]`: the count after the window. */
export function advanceCount(rec: Recorder, o: CountWindow & { count: Binding }): void {
  dispatchCount(rec, o, RUNNING_COUNT.constants.ADVANCE);
}

/**
 * `grad[index] (+)= dL/dλ` from what the outer backward gathered (see
 * `shaders/decay_grad.wgsl`): `eps[b, t]` the step-weighted dot products of every update
 * term at each query, `part[0]` the age-weighted terms of the earlier positions.
 */
export function decayGrad(
  rec: Recorder,
  o: CountWindow & {
    decay: DecayRef;
    prior: number;
    count?: Binding;
    eps: Binding;
    part: Binding;
    grad: Binding;
    index: number;
    accumulate: boolean;
  },
): void {
  const ctx = rec.ctx;
  const f = DECAY_GRAD.constants;
  rec.dispatch(
    DECAY_GRAD,
    [o.weights, o.decay.buffer, o.count ?? ctx.dummy(0), o.eps, o.part, o.grad],
    DECAY_GRAD.uniforms({
      batch: o.batch,
      time: o.time,
      flags: (o.count ? f.CARRY : 0) | (o.accumulate ? f.ACCUMULATE : 0),
      decay_index: o.decay.index,
      grad_index: o.index,
      prior: o.prior,
    }),
    [1, 1, 1],
  );
}
