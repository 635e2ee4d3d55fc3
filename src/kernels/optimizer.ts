/**
 * Optimizer kernels: the global gradient norm (and the clipping scale it gives), and
 * the element-wise SGD and Adam/AdamW updates. Offsets and lengths are in elements
 * (f32), passed as uniforms, so a segment may start anywhere in its buffer.
 *
 * @module
 */

import optimizerCode from "../../shaders/optimizer.wgsl" with { type: "text" };
import type { KernelSpec } from "../gpu/context.ts";
import { type Binding, packUniforms, type Recorder } from "../gpu/recorder.ts";

/** Pass 1 of the global norm: per-workgroup partial sums of squares. */
export const SUMSQ: KernelSpec = {
  name: "optimizer_sumsq",
  code: optimizerCode,
  entryPoint: "sumsq",
};
/** Pass 2 of the global norm: the clipping scale and the norm. */
export const CLIP_SCALE: KernelSpec = {
  name: "optimizer_clip_scale",
  code: optimizerCode,
  entryPoint: "clip_scale",
};
/** The Adam / AdamW update. */
export const ADAM_UPDATE: KernelSpec = {
  name: "optimizer_adam",
  code: optimizerCode,
  entryPoint: "adam",
};
/** The SGD (optionally momentum / Nesterov) update. */
export const SGD_UPDATE: KernelSpec = {
  name: "optimizer_sgd",
  code: optimizerCode,
  entryPoint: "sgd",
};

/** Flags of the update kernels (see shaders/optimizer.wgsl). */
export const UPDATE_FLAGS = {
  /** `g += wd · p` (coupled L2 decay). */
  l2Decay: 1,
  /** `p −= lr · wd · p` before the step (decoupled, AdamW). */
  decoupledDecay: 2,
  /** `p = max(p, 0)` after the step. */
  nonNegative: 4,
  /** Multiply the gradient by the global-norm clipping scale. */
  clip: 8,
  /** SGD keeps a momentum buffer. */
  momentum: 16,
  /** SGD uses the Nesterov form. */
  nesterov: 32,
  /** Update `u = log p`: the gradient becomes `p·g`, the step `p ← p·exp(−Δ)`. */
  logSpace: 64,
} as const;

const WORKGROUP = 256;
/** Workgroups of one sum-of-squares dispatch, at most (bounds the partials buffer). */
export const MAX_SUMSQ_GROUPS = 256;

/** Workgroups of the sum-of-squares pass for a segment of `length` elements. */
export function sumsqGroups(length: number): number {
  return Math.max(1, Math.min(MAX_SUMSQ_GROUPS, Math.ceil(length / WORKGROUP)));
}

/**
 * `partials[partBase + w] = Σ grad[gOffset + i]²` over workgroup `w`'s share of the
 * `length` elements, for `w < sumsqGroups(length)`.
 */
export function sumOfSquares(
  rec: Recorder,
  o: {
    grad: Binding;
    gOffset: number;
    length: number;
    partials: Binding;
    partBase: number;
  },
): void {
  const groups = sumsqGroups(o.length);
  rec.dispatch(
    SUMSQ,
    [o.grad, o.partials],
    packUniforms({
      len: o.length,
      g_off: o.gOffset,
      part_base: o.partBase,
      groups,
    }),
    [groups, 1, 1],
  );
}

/**
 * `clip[0] = clipNorm / max(‖g‖, clipNorm)` and `clip[1] = ‖g‖`, where `‖g‖²` is the sum
 * of the first `count` partials.
 */
export function clipScale(
  rec: Recorder,
  o: { partials: Binding; count: number; clip: Binding; clipNorm: number },
): void {
  rec.dispatch(
    CLIP_SCALE,
    [o.partials, o.clip],
    packUniforms({ count: o.count, clip_norm: o.clipNorm }, ["clip_norm"]),
    [1, 1, 1],
  );
}

/** The scalars of one update dispatch. */
export interface UpdateScalars {
  /** Elements in the segment. */
  length: number;
  /** First element of the segment in the parameter buffer. */
  pOffset: number;
  /** First element of the segment in the gradient buffer. */
  gOffset: number;
  /** First element of the segment in the state buffers. */
  sOffset: number;
  /** A combination of {@linkcode UPDATE_FLAGS}. */
  flags: number;
  /** Learning rate of this step. */
  lr: number;
  /** Weight decay. */
  weightDecay: number;
  /** Adam ε. */
  eps: number;
  /** Adam β1. */
  beta1: number;
  /** Adam β2. */
  beta2: number;
  /** Adam bias correction of the first moment, `1 − β1^t` (1 without correction). */
  bc1: number;
  /** Adam bias correction of the second moment, `1 − β2^t` (1 without correction). */
  bc2: number;
  /** SGD momentum. */
  momentum: number;
}

function updateUniforms(s: UpdateScalars): ArrayBuffer {
  return packUniforms({
    len: s.length,
    p_off: s.pOffset,
    g_off: s.gOffset,
    s_off: s.sOffset,
    flags: s.flags,
    lr: s.lr,
    wd: s.weightDecay,
    eps: s.eps,
    beta1: s.beta1,
    beta2: s.beta2,
    bc1: s.bc1,
    bc2: s.bc2,
    momentum: s.momentum,
  }, ["lr", "wd", "eps", "beta1", "beta2", "bc1", "bc2", "momentum"]);
}

function updateGroups(rec: Recorder, length: number): [number, number, number] {
  return [
    Math.max(1, Math.min(rec.ctx.maxWorkgroups, Math.ceil(length / WORKGROUP))),
    1,
    1,
  ];
}

/** One Adam / AdamW update of a segment (moments `m`, `v` updated in place). */
export function adamUpdate(
  rec: Recorder,
  o: {
    grad: Binding;
    clip: Binding;
    param: Binding;
    m: Binding;
    v: Binding;
    scalars: UpdateScalars;
  },
): void {
  rec.dispatch(
    ADAM_UPDATE,
    [o.grad, o.clip, o.param, o.m, o.v],
    updateUniforms(o.scalars),
    updateGroups(rec, o.scalars.length),
  );
}

/** One SGD update of a segment (`buf`, the momentum, updated in place when used). */
export function sgdUpdate(
  rec: Recorder,
  o: {
    grad: Binding;
    clip: Binding;
    param: Binding;
    buf: Binding;
    scalars: UpdateScalars;
  },
): void {
  rec.dispatch(
    SGD_UPDATE,
    [o.grad, o.clip, o.param, o.buf],
    updateUniforms(o.scalars),
    updateGroups(rec, o.scalars.length),
  );
}
