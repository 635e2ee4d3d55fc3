/**
 * Optimizer kernels: the global gradient norm (and the clipping scale it gives), and
 * the element-wise SGD and Adam/AdamW updates. Offsets and lengths are in elements
 * (f32), passed as uniforms, so a segment may start anywhere in its buffer.
 *
 * @module
 */

import { program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { OPTIMIZER_STEP, WORKGROUP_SUM } from "./snippets.ts";

/** Pass 1 of the global norm: per-workgroup partial sums of squares. */
const SUMSQ = program({
  name: "optimizer_sumsq",
  body: shaders.optimizerSumsq,
  workgroupSize: [256],
  storage: ["grad", "partials: rw"],
  uniforms: ["len", "g_off", "part_base", "groups"],
  snippets: [WORKGROUP_SUM],
});
/** Pass 2 of the global norm: the clipping scale and the norm. */
const CLIP_SCALE = program({
  name: "optimizer_clip_scale",
  body: shaders.optimizerClipScale,
  workgroupSize: [256],
  storage: ["partials", "clip: rw"],
  uniforms: ["count", "clip_norm: f32"],
  snippets: [WORKGROUP_SUM],
});

/** The uniforms and flag bits of both updates. */
const UPDATE = {
  workgroupSize: [256],
  uniforms: [
    "len",
    "p_off",
    "g_off",
    "s_off",
    "flags",
    "lr: f32",
    "wd: f32",
    "eps: f32",
    "beta1: f32",
    "beta2: f32",
    "bc1: f32",
    "bc2: f32",
    "momentum: f32",
  ],
  constants: {
    L2_DECAY: 1,
    DECOUPLED_DECAY: 2,
    NON_NEGATIVE: 4,
    CLIP: 8,
    MOMENTUM: 16,
    NESTEROV: 32,
    LOG_SPACE: 64,
    LOG_COMPLEMENT: 128,
    /** The floor of a decay learned in log space of its complement, in thousandths. */
    MIN_DECAY_MILLI: 1,
  },
  snippets: [OPTIMIZER_STEP],
} as const;

/** The Adam / AdamW update. */
const ADAM_UPDATE = program({
  ...UPDATE,
  name: "optimizer_adam",
  body: shaders.optimizerAdam,
  storage: ["grad", "clip", "param: rw", "m: rw", "v: rw"],
});
/** The SGD (optionally momentum / Nesterov) update. */
const SGD_UPDATE = program({
  ...UPDATE,
  name: "optimizer_sgd",
  body: shaders.optimizerSgd,
  storage: ["grad", "clip", "param: rw", "buf: rw"],
});

const FLAGS = UPDATE.constants;
/** Flags of the update kernels (the WGSL constants of the update kernels). */
export const UPDATE_FLAGS: {
  readonly l2Decay: number;
  readonly decoupledDecay: number;
  readonly nonNegative: number;
  readonly clip: number;
  readonly momentum: number;
  readonly nesterov: number;
  readonly logSpace: number;
  readonly logComplement: number;
} = {
  /** `g += wd · p` (coupled L2 decay). */
  l2Decay: FLAGS.L2_DECAY,
  /** `p −= lr · wd · p` before the step (decoupled, AdamW). */
  decoupledDecay: FLAGS.DECOUPLED_DECAY,
  /** `p = max(p, 0)` after the step. */
  nonNegative: FLAGS.NON_NEGATIVE,
  /** Multiply the gradient by the global-norm clipping scale. */
  clip: FLAGS.CLIP,
  /** SGD keeps a momentum buffer. */
  momentum: FLAGS.MOMENTUM,
  /** SGD uses the Nesterov form. */
  nesterov: FLAGS.NESTEROV,
  /** Update `u = log p`: the gradient becomes `p·g`, the step `p ← p·exp(−Δ)`. */
  logSpace: FLAGS.LOG_SPACE,
  /**
   * Update `u = log(1 − p)` (a decay, docs/definition.md §6): the gradient becomes `(p − 1)·g`, the
   * step `p ← 1 − (1 − p)·exp(−Δ)`, then `p ≥ 0.001`.
   */
  logComplement: FLAGS.LOG_COMPLEMENT,
};

/** Workgroups of one sum-of-squares dispatch, at most (bounds the partials buffer). */
export const MAX_SUMSQ_GROUPS = 256;

/** Workgroups of the sum-of-squares pass for a segment of `length` elements. */
export function sumsqGroups(length: number): number {
  return Math.max(1, Math.min(MAX_SUMSQ_GROUPS, Math.ceil(length / SUMSQ.workgroupSize[0])));
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
    SUMSQ.uniforms({
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
    CLIP_SCALE.uniforms({ count: o.count, clip_norm: o.clipNorm }),
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
  return ADAM_UPDATE.uniforms({
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
  });
}

function updateGroups(rec: Recorder, length: number): [number, number, number] {
  return [
    Math.max(1, Math.min(rec.ctx.maxWorkgroups, Math.ceil(length / ADAM_UPDATE.workgroupSize[0]))),
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
