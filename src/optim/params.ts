/**
 * The parameters an optimizer updates: the {@linkcode OptimParam} list and its checks,
 * the block's list ({@linkcode blockParams}), and the per-name rules that decide which
 * elements get weight decay and which are kept non-negative.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { FWLBlock } from "../fwl/block.ts";
import { STEP_NAMES, stepsElementNames } from "../fwl/params.ts";
import { DECAY_NAME } from "../fwl/normalizer.ts";
import type { GPUContext } from "../gpu/context.ts";
import { checkCount, checkNumber, checkPositiveInteger, quote } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";

/** `GPUBufferUsage.STORAGE`, spelled out so that this module loads without WebGPU. */
export const STORAGE_USAGE = 0x80;

/**
 * One named parameter the optimizer updates in place: `length` float32 values of
 * `buffer` starting at element `offset`.
 *
 * A *packed* parameter (`elementNames` given, one name per element) holds several
 * scalars in one buffer, like the block's six step sizes: weight decay and
 * non-negativity are then decided per element from the element names, and the
 * optimizer state is reported per element name.
 */
export interface OptimParam {
  /** The parameter's name (unique in the list). */
  name: string;
  /** The GPU buffer holding it (storage usage). */
  buffer: GPUBuffer;
  /** Number of float32 elements. */
  length: number;
  /** First element in `buffer` (default 0). */
  offset?: number;
  /** For a packed parameter: the name of each of its `length` elements. */
  elementNames?: readonly string[];
}

/**
 * The default weight-decay filter: `false` for biases (`…/bias`), layer-norm parameters
 * (names containing `layer_norm`) and step sizes (`…_step`); `true` otherwise.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultDecayFilter } from "@x/fwl/gpu";
 * const names = ["dense_0/kernel", "dense_0/bias", "layer_norm/scale", "dense_0/kernel_step"];
 * assertEquals(names.map(defaultDecayFilter), [true, false, false, false]);
 * assertEquals(defaultDecayFilter("head/normalizer/decay"), false);
 * ```
 */
export function defaultDecayFilter(name: string): boolean {
  return !(name.endsWith("/bias") || name.includes("layer_norm") || name.endsWith("_step") ||
    isDecayName(name));
}

/**
 * Whether a parameter is the decay λ of a running-mean normalizer (docs/definition.md §6), by name
 * (`normalizer/decay`, with any prefix such as `head/`). Such an element is learned in
 * log space of `1 − λ`, so its memory `1/(1 − λ)` moves by factors, and stays in
 * [0.001, 1); it gets no weight decay and the step sizes' learning-rate multiplier.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { isDecayName } from "./params.ts";
 * const names = ["normalizer/decay", "head/normalizer/decay", "dense_0/kernel", "my_decay"];
 * assertEquals(names.map(isDecayName), [true, true, false, false]);
 * ```
 */
export function isDecayName(name: string): boolean {
  return name === DECAY_NAME || name.endsWith(`/${DECAY_NAME}`);
}

/**
 * The default non-negativity rule: names ending in `_step` (the learned step sizes).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultNonNegative } from "@x/fwl/gpu";
 * assertEquals(defaultNonNegative("dense_1/kernel_step"), true);
 * assertEquals(defaultNonNegative("dense_1/kernel"), false);
 * ```
 */
export function defaultNonNegative(name: string): boolean {
  return name.endsWith("_step");
}

/**
 * The default log-space rule: names ending in `_step` (the learned step sizes). A
 * log-space element `p` is updated through `u = log p`: the optimizer's rule sees the
 * gradient `∂L/∂u = p·∂L/∂p` and its update `Δu` becomes `p ← p·exp(Δu)`. The stored
 * value stays `p` itself; it keeps its sign and moves by factors, so a step size can
 * grow or shrink by orders of magnitude in a few hundred steps (and one at 0 stays 0).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultLogSpace } from "@x/fwl/gpu";
 * assertEquals(defaultLogSpace("layer_norm/scale_step"), true);
 * assertEquals(defaultLogSpace("layer_norm/scale"), false);
 * ```
 */
export function defaultLogSpace(name: string): boolean {
  return name.endsWith("_step");
}

/**
 * The learning-rate multiplier of the elements {@linkcode defaultLogSpace} picks by
 * default: with Adam at lr 0.01 they move by up to about ±0.1 in log space a step, so
 * a step size can change 10× in about 25 steps at the peak rate. A multiplier keeps the
 * optimizer's schedule (warm-up, decay) for them too.
 */
export const LOG_SPACE_LR_SCALE = 10;

/**
 * The default learning-rate multiplier: {@linkcode LOG_SPACE_LR_SCALE} for names ending
 * in `_step` (learned in log space by default), 1 for everything else.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { defaultLrScale, LOG_SPACE_LR_SCALE } from "@x/fwl/gpu";
 * assertEquals(defaultLrScale("dense_0/kernel_step"), LOG_SPACE_LR_SCALE); // 10
 * assertEquals(defaultLrScale("normalizer/decay"), LOG_SPACE_LR_SCALE);
 * assertEquals(defaultLrScale("dense_0/kernel"), 1);
 * ```
 */
export function defaultLrScale(name: string): number {
  return name.endsWith("_step") || isDecayName(name) ? LOG_SPACE_LR_SCALE : 1;
}

/**
 * The parameters of an {@linkcode FWLBlock} as an optimizer's list, read from
 * `block.buffers`: the eight tensors under their docs/definition.md §1 names, then the six step
 * sizes as ONE packed entry named `"steps"` (length 6, `elementNames` = `STEP_NAMES`;
 * length 7 with `normalizer/decay` last when the block learns its decay λ, docs/definition.md §6),
 * since they share one buffer. Its gradient is a 6-float (7-float) buffer in that order
 * under `"steps"`, or one 1-float gradient per step name. Step sizes get no weight
 * decay, are kept ≥ 0 and are learned in log space with a larger learning rate by
 * default ({@linkcode defaultLogSpace}, {@linkcode defaultLrScale}).
 *
 * The list refers to the block's current buffers: after `block.build()` again, make a
 * new optimizer.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Adam, blockParams, FWLBlock } from "@x/fwl";
 * using block = new FWLBlock(4, 16, 2, { seed: 1 }); // size 4, vocabulary 16
 * await block.build(8); // input size 8
 * const params = blockParams(block);
 * assertEquals(params.map((p) => [p.name, p.length]), [
 *   ["dense_0/kernel", 8 * 16], // input → 4 × size
 *   ["dense_0/bias", 16],
 *   ["dense_1/kernel", 16 * 4],
 *   ["dense_1/bias", 4],
 *   ["layer_norm/scale", 4],
 *   ["layer_norm/bias", 4],
 *   ["unembed/kernel", 4 * 16],
 *   ["unembed/bias", 16],
 *   ["steps", 6], // the six step sizes, packed
 * ]);
 * using opt = new Adam(block.context, params, { lr: 1e-3 });
 * assertEquals(opt.paramNames.length, 9);
 * ```
 */
export function blockParams(block: FWLBlock): OptimParam[] {
  const b = block.buffers;
  const shapes = block.paramShapes;
  const tensors = [
    ["dense_0/kernel", b.k0],
    ["dense_0/bias", b.b0],
    ["dense_1/kernel", b.k1],
    ["dense_1/bias", b.b1],
    ["layer_norm/scale", b.scale],
    ["layer_norm/bias", b.bias],
    ["unembed/kernel", b.ku],
    ["unembed/bias", b.bu],
  ] as const;
  // The decay λ rides with the step sizes when it is learned (docs/definition.md §6).
  const n = block.normalizer;
  const learned = typeof n === "object" && n.learnDecay;
  const elementNames = learned ? stepsElementNames({ decay: n.decay }) : STEP_NAMES;
  return [
    ...tensors.map(([name, buffer]) => ({
      name,
      buffer,
      length: shapes[name].reduce((x, y) => x * y, 1),
    })),
    { name: "steps", buffer: b.steps, length: elementNames.length, elementNames },
  ];
}

/** A run of elements of one parameter sharing their update flags. */
export interface Segment {
  /** First element (of the parameter). */
  start: number;
  /** Number of elements. */
  length: number;
  /** The update flags of every element of the run. */
  flags: number;
  /** The learning-rate multiplier of every element of the run. */
  lrScale: number;
}

/** A checked parameter: offset resolved, its elements grouped by their update rules. */
export interface ParamEntry extends Required<Omit<OptimParam, "elementNames">> {
  /** For a packed parameter, the name of each element (a copy). */
  elementNames?: readonly string[];
  /** Runs of elements with equal update flags and learning-rate multiplier. */
  segments: Segment[];
}

/**
 * Checks `params` (unique names, storage buffers, elements inside one binding, no
 * overlaps) and `rules`, and groups each parameter's elements by their update flags,
 * which `flagsOf` computes from whether the element decays, is kept non-negative and is
 * learned in log space, and by their learning-rate multiplier. `decayOn` says whether
 * weight decay is on at all: a log-space element may not decay then.
 *
 * @throws {FWLInputError} If `params` is empty or not an array, a parameter is malformed,
 * named twice, outside its buffer's first binding or overlapping another, or a rule is
 * not a function (or list of names), gives a bad multiplier, or decays a log-space element.
 */
export function checkParams(
  where: string,
  ctx: GPUContext,
  params: readonly OptimParam[],
  rules: {
    decayFilter?: unknown;
    nonNegative?: unknown;
    logSpace?: unknown;
    lrScale?: unknown;
    decayOn: boolean;
  },
  flagsOf: (
    decays: boolean,
    nonNegative: boolean,
    logSpace: boolean,
    logComplement: boolean,
  ) => number,
): ParamEntry[] {
  const decays = rules.decayFilter ?? defaultDecayFilter;
  if (typeof decays !== "function") {
    const expected = "a function (name) => boolean";
    throw new FWLInputError(where, "options.decayFilter", expected, describeValue(decays));
  }
  const nonNegative = namePredicate(where, "nonNegative", rules.nonNegative, defaultNonNegative);
  const logSpace = namePredicate(where, "logSpace", rules.logSpace, defaultLogSpace);
  const lrScale = rules.lrScale ?? defaultLrScale;
  if (typeof lrScale !== "function") {
    const expected = "a function (name) => number";
    throw new FWLInputError(where, "options.lrScale", expected, describeValue(lrScale));
  }
  const ruleOf = (n: string): [flags: number, lrScale: number] => {
    const complement = isDecayName(n);
    const log = Boolean(logSpace(n)) && !complement, decay = Boolean(decays(n));
    if ((log || complement) && decay && rules.decayOn) {
      throw new FWLInputError(
        where,
        "options.decayFilter",
        "no weight decay on a parameter learned in log space",
        `decay on ${quote(n)} (leave it out of decayFilter or of logSpace)`,
      );
    }
    const scale = checkNumber(
      where,
      `options.lrScale(${quote(n)})`,
      lrScale(n),
      (v) => v >= 0,
      "a finite number ≥ 0",
    );
    return [flagsOf(decay, Boolean(nonNegative(n)) && !complement, log, complement), scale];
  };
  if (!Array.isArray(params) || params.length === 0) {
    const expected = "a non-empty array of { name, buffer, length }";
    throw new FWLInputError(where, "params", expected, describeValue(params));
  }
  const names = new Set<string>();
  const claim = (arg: string, name: string) => {
    if (names.has(name)) {
      throw new FWLInputError(where, arg, "a name used once", `${quote(name)} again`);
    }
    names.add(name);
  };
  const out = params.map((p, i): ParamEntry => {
    const arg = `params[${i}]`;
    if (p === null || typeof p !== "object") {
      const expected = "{ name, buffer, length, offset?, elementNames? }";
      throw new FWLInputError(where, arg, expected, describeValue(p));
    }
    if (typeof p.name !== "string" || p.name === "") {
      throw new FWLInputError(where, `${arg}.name`, "a non-empty string", describeValue(p.name));
    }
    claim(`${arg}.name`, p.name);
    const at = `params[${quote(p.name)}]`;
    if (!(p.buffer instanceof GPUBuffer) || (p.buffer.usage & STORAGE_USAGE) === 0) {
      const expected = "a GPUBuffer with storage usage";
      throw new FWLInputError(where, `${at}.buffer`, expected, describeValue(p.buffer));
    }
    const length = checkPositiveInteger(where, `${at}.length`, p.length);
    const offset = checkCount(where, `${at}.offset`, p.offset ?? 0);
    const end = (offset + length) * 4;
    const limit = Math.min(p.buffer.size, ctx.maxBindingBytes);
    if (end > limit) {
      throw new FWLInputError(
        where,
        at,
        `elements [offset, offset + length) inside the buffer's first ${limit} bytes`,
        `bytes [${offset * 4}, ${end})`,
      );
    }
    const en = p.elementNames;
    if (en !== undefined) {
      if (
        !Array.isArray(en) || en.length !== length ||
        !en.every((n) => typeof n === "string" && n !== "")
      ) {
        throw new FWLInputError(
          where,
          `${at}.elementNames`,
          `${length} non-empty strings (one per element)`,
          Array.isArray(en) ? `${en.length} entries` : describeValue(en),
        );
      }
      for (const n of en) claim(`${at}.elementNames`, n);
    }
    const elementNames = en && [...en];
    const rulesOf = (elementNames ?? Array(length).fill(p.name)).map(ruleOf);
    return {
      name: p.name,
      buffer: p.buffer,
      offset,
      length,
      elementNames,
      segments: runs(rulesOf),
    };
  });
  out.forEach((a, i) => {
    const b = out.slice(0, i).find((b) =>
      a.buffer === b.buffer && a.offset < b.offset + b.length && b.offset < a.offset + a.length
    );
    if (b) {
      throw new FWLInputError(
        where,
        `params[${quote(a.name)}]`,
        "elements that no other parameter uses",
        `an overlap with ${quote(b.name)} in the same buffer`,
      );
    }
  });
  return out;
}

/** A list of names or a predicate, as a predicate (`fallback` when not given). */
function namePredicate(
  where: string,
  arg: string,
  option: unknown,
  fallback: (name: string) => boolean,
): (name: string) => boolean {
  if (option === undefined) return fallback;
  if (typeof option === "function") return option as (name: string) => boolean;
  if (Array.isArray(option) && option.every((n) => typeof n === "string")) {
    const set = new Set(option);
    return (name) => set.has(name);
  }
  const expected = "an array of names or a function (name) => boolean";
  throw new FWLInputError(where, `options.${arg}`, expected, describeValue(option));
}

/** Runs of equal flags and learning-rate multiplier. */
function runs(rules: [flags: number, lrScale: number][]): Segment[] {
  const out: Segment[] = [];
  rules.forEach(([flags, lrScale], i) => {
    const last = out.at(-1);
    if (last?.flags === flags && last.lrScale === lrScale) last.length++;
    else out.push({ start: i, length: 1, flags, lrScale });
  });
  return out;
}
