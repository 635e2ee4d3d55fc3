/**
 * The vector update of `shaders/vector_update.wgsl`, used by the recurrent (streaming)
 * form of the block.
 *
 * @module
 */

import { spreadInvocations } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { GRID } from "./snippets.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";

/** The streaming vector-update kernel. */
const STREAM_UPDATE = program({
  name: "vector_update",
  body: shaders.vectorUpdate,
  storage: ["u", "base", "steps", "out: rw", "aux: rw"],
  uniforms: ["count", "width", "flags", "step_index", "groups_x", "alpha: f32"],
  constants: { BROADCAST: 1, SQRELU_AUX: 2, STEP: 4 },
  snippets: [GRID],
});

/** One vector update over a row-major `[rows, width]` matrix. */
export interface VectorUpdateSpec {
  /** The term added, `[rows, width]`. */
  u: Binding;
  /** The result, `[rows, width]` (also the base, in place, without `broadcastBase`). */
  out: Binding;
  /** Number of rows. */
  rows: number;
  /** Number of columns (the length of `broadcastBase`). */
  width: number;
  /** Multiplies `u` (default 1). */
  alpha?: number;
  /** Multiplies alpha by `steps[index]`, read on the GPU (a learned step size). */
  step?: { buffer: GPUBuffer; index: number };
  /** The base is this shared `[width]` vector instead of `out` itself. */
  broadcastBase?: Binding;
  /** Also writes `relu(out)²` here (`[rows, width]`). */
  sqreluAux?: Binding;
}

/**
 * Records `out[r, j] = (broadcastBase ? base[j] : out[r, j]) + alpha·(step ?? 1)·u[r, j]`,
 * optionally writing `aux = relu(out)²`.
 */
export function vectorUpdate(rec: Recorder, s: VectorUpdateSpec): void {
  const ctx = rec.ctx;
  const count = s.rows * s.width;
  const { workgroups, groupsX } = spreadInvocations(ctx, count, STREAM_UPDATE);
  const f = STREAM_UPDATE.constants;
  const flags = (s.broadcastBase ? f.BROADCAST : 0) | (s.sqreluAux ? f.SQRELU_AUX : 0) |
    (s.step ? f.STEP : 0);
  rec.dispatch(
    STREAM_UPDATE,
    [
      s.u,
      s.broadcastBase ?? ctx.dummy(0),
      s.step?.buffer ?? ctx.dummy(0),
      s.out,
      s.sqreluAux ?? ctx.dummy(1),
    ],
    STREAM_UPDATE.uniforms({
      count,
      width: s.width,
      flags,
      step_index: s.step?.index ?? 0,
      groups_x: groupsX,
      alpha: s.alpha ?? 1,
    }),
    workgroups,
  );
}
