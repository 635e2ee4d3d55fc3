/**
 * The vector update of `shaders/stream_update.wgsl`, used by the recurrent (streaming)
 * form of the block.
 *
 * @module
 */

import code from "../../shaders/stream_update.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";

/** The streaming vector-update kernel. */
export const STREAM_UPDATE: KernelSpec = {
  name: "stream_update",
  code,
  entryPoint: "main",
};

const WG = 64;

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
 *
 * @example
 * ```ts ignore
 * import { vectorUpdate } from "./stream.ts";
 * // f1 −= step(b0) · Σ g_h1, and fa = relu(f1)²
 * vectorUpdate(rec, {
 *   u: sumGh1, out: f1, rows: B, width: H, alpha: -1,
 *   step: { buffer: steps, index: 1 }, sqreluAux: fa,
 * });
 * ```
 */
export function vectorUpdate(rec: Recorder, s: VectorUpdateSpec): void {
  const ctx = rec.ctx;
  const count = s.rows * s.width;
  const groups = Math.ceil(count / WG);
  const groupsX = Math.max(1, Math.min(groups, ctx.maxWorkgroups));
  const flags = (s.broadcastBase ? 1 : 0) | (s.sqreluAux ? 2 : 0) |
    (s.step ? 4 : 0);
  rec.dispatch(
    STREAM_UPDATE,
    [
      s.u,
      s.broadcastBase ?? ctx.dummy(0),
      s.step?.buffer ?? ctx.dummy(0),
      s.out,
      s.sqreluAux ?? ctx.dummy(1),
    ],
    packUniforms({
      count,
      width: s.width,
      flags,
      step_index: s.step?.index ?? 0,
      groups_x: groupsX,
      alpha: s.alpha ?? 1,
    }, ["alpha"]),
    [groupsX, Math.ceil(groups / groupsX), 1],
  );
}
