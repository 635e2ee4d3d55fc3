/**
 * The options of a comparison (`examples/rnn.ts`, `examples/transformer.ts`,
 * `examples/real_text.ts`): its numeric flags with their defaults, help lines and checks,
 * the settings they make ({@linkcode ComparisonConfig}) and what an example says about its
 * body ({@linkcode ComparisonSpec}). Parsing a command line into them is
 * `comparison_cli.ts`; running the comparison is `compare.ts`.
 *
 * @module
 */

import { LM_NORMALIZER, type ModelBody } from "../../mod.ts";

/** A numeric flag: its default, how the help shows it, and which values it takes. */
export interface NumericFlag {
  /** The default value. */
  value: number;
  /** The value's name in the help: `"N"` for whole numbers, `"X"` for any number. */
  meta: "N" | "X";
  /** One line of help. */
  help: string;
  /** The default with `--text`, when it differs (long documents want other settings). */
  textValue?: number;
  /** What a valid value is, for error messages (e.g. `"a whole number ≥ 1"`). */
  expected: string;
  /** Whether a value is valid. */
  valid: (v: number) => boolean;
}

/** Numeric flags by name (without the `--`), in the order the help lists them. */
export type FlagTable = Record<string, NumericFlag>;

/**
 * A whole-number flag in `[min, max]` (`max` default: unbounded).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { wholeFlag } from "./comparison_options.ts";
 * const layers = wholeFlag(2, "transformer blocks", 1, 16);
 * assertEquals(layers.expected, "a whole number in [1, 16]");
 * assertEquals([layers.valid(3), layers.valid(2.5), layers.valid(17)], [true, false, false]);
 * ```
 */
export function wholeFlag(value: number, help: string, min: number, max?: number): NumericFlag {
  return {
    value,
    meta: "N",
    help,
    expected: max === undefined ? `a whole number ≥ ${min}` : `a whole number in [${min}, ${max}]`,
    valid: (v) => Number.isInteger(v) && v >= min && (max === undefined || v <= max),
  };
}

/**
 * A real-number flag with a check (`expected` says what the check accepts).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { numberFlag } from "./comparison_options.ts";
 * const lr = numberFlag(0.01, "learning rate", "a number in (0, 1)", (v) => v > 0 && v < 1);
 * assertEquals([lr.meta, lr.valid(0.5), lr.valid(1)], ["X", true, false]);
 * ```
 */
export function numberFlag(
  value: number,
  help: string,
  expected: string,
  valid: (v: number) => boolean,
): NumericFlag {
  return { value, meta: "X", help, expected, valid };
}

/** `--normalizer`'s default without `--text`: version 0.2's fixed normalizer. */
export const SYNTHETIC_NORMALIZER = 512;

/** The flags every comparison has, in help order; a body's own flags come after `length`. */
export const COMMON_FLAGS = {
  steps: wholeFlag(200, "training steps for each model", 1),
  batch: wholeFlag(8, "sequences per training step", 1),
  length: wholeFlag(96, "tokens per sequence", 2),
  seed: {
    value: 0,
    meta: "N",
    help: "seed of the data, the initialization and the sampler",
    expected: "a whole number",
    valid: (v: number) => Number.isSafeInteger(v),
  },
  lr: numberFlag(
    0.01,
    "peak Adam learning rate (warm-up, cosine decay)",
    "a number in (0, 1)",
    (v) => v > 0 && v < 1,
  ),
  // LanguageModel.create's defaults: fast updates start near zero and training grows
  // the step sizes (learned in log space) to fit the data and the window length.
  "step-size": numberFlag(
    0.001,
    "initial value of the six FWL step sizes (learned in log space)",
    "a number > 0",
    (v) => v > 0,
  ),
  decay: numberFlag(
    LM_NORMALIZER.decay!,
    "--normalizer mean: initial decay λ of the FWL's inner loss (1: a plain mean)",
    "a number in (0, 1]",
    (v) => v > 0 && v <= 1,
  ),
  prior: numberFlag(
    LM_NORMALIZER.prior!,
    "--normalizer mean: prior count n0 of the FWL's inner loss",
    "a number ≥ 0",
    (v) => v >= 0,
  ),
  span: {
    ...wholeFlag(
      0,
      "tokens per training document, read in consecutive windows with the states carried (0: independent windows)",
      0,
    ),
    // Text: stretches of 2048 bytes, 32 windows of 64 each (Node.js docs, LSTM, seeds 0–2:
    // perplexity 6.18 / 5.86 / 6.60 with the FWL head, against 6.40 / 6.41 / 6.24 for
    // 4096 and 6.23 / 7.25 / 6.26 for 16384: more stretches a run, and past a few of the
    // decay's memories every position is alike). The synthetic documents are one window.
    textValue: 2048,
  },
  entities: wholeFlag(256, "synthetic data: pool of entity names", 4),
  gap: wholeFlag(20, "synthetic data: fewest tokens between two mentions", 1),
  "val-batches": wholeFlag(4, "synthetic data: validation batches scored at the end", 1),
  "eval-tokens": wholeFlag(
    0,
    "text: held-out tokens scored, whole documents first (0: all)",
    0,
  ),
  "dynamic-lr": numberFlag(
    0,
    "text: learning rate of dynamic evaluation (RMS), scored as extra rows (0: off)",
    "a number ≥ 0",
    (v) => v >= 0,
  ),
  "dynamic-segment": wholeFlag(
    128,
    "text: tokens per dynamic-evaluation step (at most the evaluation window)",
    1,
  ),
  "eval-window": wholeFlag(
    0,
    "text: tokens per evaluation call of the head (0: the larger of --length and 512)",
    0,
  ),
  sample: wholeFlag(48, "tokens to generate at the end (0: none)", 0),
  temperature: numberFlag(0.8, "sampling temperature (0: greedy)", "a number ≥ 0", (v) => v >= 0),
  "top-k": wholeFlag(0, "sample from the k most likely tokens (0: all)", 0),
  "top-p": numberFlag(
    0.95,
    "nucleus sampling probability, in (0, 1]",
    "a number in (0, 1]",
    (v) => v > 0 && v <= 1,
  ),
} as const satisfies FlagTable;

/** The name of a flag every comparison has. */
export type CommonFlagName = keyof typeof COMMON_FLAGS;

/**
 * The flag table of a comparison: the common flags (with `defaults` replacing some of
 * their default values) and the body's own flags, listed after `--length`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { comparisonFlags, wholeFlag } from "./comparison_options.ts";
 * const flags = comparisonFlags({ size: wholeFlag(64, "width", 2) }, { steps: 100 });
 * assertEquals(Object.keys(flags).slice(0, 5), ["steps", "batch", "length", "size", "seed"]);
 * assertEquals(flags.steps.value, 100);
 * ```
 */
export function comparisonFlags(
  model: FlagTable,
  defaults: Partial<Record<CommonFlagName, number>> = {},
  textDefaults: Partial<Record<CommonFlagName, number>> = {},
): FlagTable {
  const out: FlagTable = {};
  for (const [name, flag] of Object.entries(COMMON_FLAGS)) {
    if (name in model) throw new RangeError(`flag --${name} is defined twice`);
    const key = name as CommonFlagName;
    const value = defaults[key] ?? flag.value;
    // A default given for every data set also stands with --text, unless text has its own.
    const textValue = textDefaults[key] ??
      (key in defaults ? undefined : (flag as NumericFlag).textValue);
    out[name] = { ...flag, value, textValue };
    if (name === "length") Object.assign(out, model);
  }
  return out;
}

/** The settings of one comparison, from the command line. */
export interface ComparisonConfig {
  /** Training steps for each model. */
  steps: number;
  /** Sequences per training step. */
  batch: number;
  /** Tokens per sequence. */
  length: number;
  /** Seed of the data, the initialization and the sampler. */
  seed: number;
  /** Peak Adam learning rate. */
  lr: number;
  /** Initial value of the six FWL step sizes. */
  stepSize: number;
  /** FWL inner-loss normalizer: `"mean"` (docs/definition.md §6, with `decay` and `prior`) or a fixed number. */
  normalizer: "mean" | number;
  /** `--normalizer mean`: the initial decay λ (learned unless `fixedDecay`). */
  decay: number;
  /** `--normalizer mean`: the prior count n0. */
  prior: number;
  /** `--fixed-decay`: λ stays as given. */
  fixedDecay: boolean;
  /** Tokens per training document read with carried states (0: independent windows). */
  span: number;
  /** `--restart-windows`: each evaluation window starts from the slow weights. */
  restartWindows: boolean;
  /** Synthetic data: pool of entity names. */
  entities: number;
  /** Synthetic data: fewest tokens between two mentions. */
  gap: number;
  /** Validation batches scored at the end. */
  valBatches: number;
  /** Text: held-out tokens scored, whole documents first (0: all). */
  evalTokens: number;
  /** Text: learning rate of dynamic evaluation, the baseline rows (0: off). */
  dynamicLr: number;
  /** Text: tokens per dynamic-evaluation step. */
  dynamicSegment: number;
  /** Text: tokens per evaluation call (0: automatic). */
  evalWindow: number;
  /** `--json`: a JSON summary as the last line of standard output. */
  json: boolean;
  /** Tokens to generate at the end (0: none). */
  sample: number;
  /** Sampling temperature (0: greedy). */
  temperature: number;
  /** Sample from the k most likely tokens (0: all). */
  topK: number;
  /** Nucleus sampling probability. */
  topP: number;
  /** `--text`: a text file to train on, as bytes. */
  text?: string;
  /** `--separator`: a regular expression whose matches start the text's documents. */
  separator?: RegExp;
  /** `--plot`: an SVG file for the training curves. */
  plot?: string;
  /** `--position-plot`: an SVG file for the loss against the position in the document. */
  positionPlot?: string;
  /** Every numeric flag's value by flag name, the body's own flags included. */
  flags: Readonly<Record<string, number>>;
}

/**
 * What an example says about its comparison; `runComparison` (`compare.ts`) does the
 * rest.
 */
export interface ComparisonSpec {
  /** The script, as the usage line shows it (e.g. `"examples/rnn.ts"`). */
  script: string;
  /** What the script does, shown under the usage line (wrapped by hand). */
  about: string;
  /** The flag table (see {@linkcode comparisonFlags}). */
  flags: FlagTable;
  /** The body's name and size for the report, e.g. `"LSTM (width 64)"`. */
  describe(c: ComparisonConfig): string;
  /** Width of the FWL head. */
  headSize(c: ComparisonConfig): number;
  /** Builds a fresh body (same seed, same initialization each call). */
  createBody(vocabSize: number, c: ComparisonConfig): Promise<ModelBody>;
  /** Checks settings that depend on each other; throws a `UsageError` (`flags.ts`). */
  check?(c: ComparisonConfig): void;
  /**
   * The most positions the body takes (default: unbounded), which bounds the sample:
   * prompt plus generated tokens, less one (the last token is not fed back).
   */
  maxPositions?(c: ComparisonConfig): number;
}
