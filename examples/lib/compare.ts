/**
 * The comparison behind `examples/rnn.ts` and `examples/transformer.ts`: one body with
 * an FWL head against the same body with a plain head (fast weights off) — same data,
 * seed, batches and steps — then the validation perplexity of both (overall and on the
 * synthetic data's entity names), a sample generated token by token, and optionally both
 * training curves as an SVG chart. An example only says which body to build and which
 * flags and defaults it adds; the flags, the data, the training loop and the report are
 * here.
 *
 * @module
 */

import {
  Adam,
  FWLError,
  LanguageModel,
  LM_NORMALIZER,
  type ModelBody,
  type NormalizerOption,
  perplexity,
  SeededRandom,
  tensor,
  type TokenScores,
  warmupCosineSchedule,
} from "../../mod.ts";
import { DECAY_NAME, STEP_NAMES } from "../../gpu.ts";
import { ByteText, DocumentReader, SyntheticLanguage, type TokenDataset } from "../../data.ts";
import { parseFlags, UsageError } from "./flags.ts";
import { formatDuration, ProgressBar } from "./progress.ts";
import { lineChartSVG } from "./svg_plot.ts";

/** A command-line mistake: printed with the usage hint, exit code 2. */
export { UsageError };

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
 * import { wholeFlag } from "./compare.ts";
 * const layers = wholeFlag(2, "transformer blocks", 1, 16);
 * console.log(layers.expected, layers.valid(3), layers.valid(2.5)); // a whole number in [1, 16] true false
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
 * import { numberFlag } from "./compare.ts";
 * const lr = numberFlag(0.01, "learning rate", "a number in (0, 1)", (v) => v > 0 && v < 1);
 * console.log(lr.meta, lr.valid(0.5)); // X true
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
const SYNTHETIC_NORMALIZER = 512;

/** The flags every comparison has, in help order; a body's own flags come after `length`. */
const COMMON_FLAGS = {
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
 * import { comparisonFlags, wholeFlag } from "./compare.ts";
 * const flags = comparisonFlags({ size: wholeFlag(64, "width", 2) }, { steps: 100 });
 * console.log(Object.keys(flags).slice(0, 5), flags.steps.value); // [ "steps", "batch", "length", "size", "seed" ] 100
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

const STRING_FLAGS = ["text", "separator", "plot", "position-plot", "normalizer"] as const;
const BOOLEAN_FLAGS = [
  "help",
  "json",
  "carry-fast-weights",
  "restart-windows",
  "fixed-decay",
] as const;

/**
 * Parses a comparison's command line against its flag table: `undefined` for `--help`,
 * else every setting (defaults for flags not given). A mistake (unknown flag, bad value,
 * a flag given twice, `--plot` not ending in `.svg`) throws a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { comparisonFlags, parseComparisonFlags } from "./compare.ts";
 * const c = parseComparisonFlags(["--steps", "20"], comparisonFlags({}));
 * console.log(c?.steps, c?.batch); // 20 8
 * ```
 */
export function parseComparisonFlags(
  argv: string[],
  flags: FlagTable,
): ComparisonConfig | undefined {
  const args = parseFlags(argv, {
    string: [...Object.keys(flags), ...STRING_FLAGS],
    boolean: BOOLEAN_FLAGS,
    alias: { h: "help" },
  });
  if (args.help) return undefined;
  const values: Record<string, number> = {};
  const withText = args.text !== undefined;
  for (const [name, flag] of Object.entries(flags)) {
    const raw = args[name];
    if (raw === undefined) {
      values[name] = withText && flag.textValue !== undefined ? flag.textValue : flag.value;
      continue;
    }
    const v = Number(raw);
    if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(v) || !flag.valid(v)) {
      throw new UsageError(`--${name} needs ${flag.expected}, got ${JSON.stringify(raw)}`);
    }
    values[name] = v;
  }
  const text = (name: string) => {
    const raw = args[name];
    if (raw === undefined) return undefined;
    if (typeof raw !== "string" || raw === "") throw new UsageError(`--${name} needs a file name`);
    return raw;
  };
  const common = (name: CommonFlagName) => values[name] ?? COMMON_FLAGS[name].value;
  const config: ComparisonConfig = {
    steps: common("steps"),
    batch: common("batch"),
    length: common("length"),
    seed: common("seed"),
    lr: common("lr"),
    stepSize: common("step-size"),
    normalizer: normalizerFlag(args.normalizer, withText),
    decay: common("decay"),
    prior: common("prior"),
    fixedDecay: args["fixed-decay"] === true,
    span: common("span"),
    restartWindows: args["restart-windows"] === true,
    entities: common("entities"),
    gap: common("gap"),
    valBatches: common("val-batches"),
    evalTokens: common("eval-tokens"),
    dynamicLr: common("dynamic-lr"),
    dynamicSegment: common("dynamic-segment"),
    evalWindow: common("eval-window"),
    json: args.json === true,
    sample: common("sample"),
    temperature: common("temperature"),
    topK: common("top-k"),
    topP: common("top-p"),
    text: text("text"),
    separator: separatorFlag(args.separator),
    plot: text("plot"),
    positionPlot: text("position-plot"),
    flags: values,
  };
  for (const flag of ["separator", "position-plot", "carry-fast-weights", "restart-windows"]) {
    if (args[flag] !== undefined && config.text === undefined) {
      throw new UsageError(`--${flag} needs --text`);
    }
  }
  if (args["carry-fast-weights"] !== undefined && config.restartWindows) {
    throw new UsageError("--carry-fast-weights and --restart-windows exclude each other");
  }
  if (config.span > 0 && config.span < config.length + 1) {
    throw new UsageError(`--span needs 0 or at least --length + 1 (${config.length + 1}) tokens`);
  }
  for (const [flag, file] of [["plot", config.plot], ["position-plot", config.positionPlot]]) {
    if (file !== undefined && !file.endsWith(".svg")) {
      throw new UsageError(
        `--${flag} needs a file name ending in .svg, got ${JSON.stringify(file)}`,
      );
    }
  }
  return config;
}

/**
 * `--normalizer`'s value: `"mean"` or a fixed positive number; by default the running
 * mean for text (long documents), 512 for the synthetic documents (one window each,
 * where the sum's growth stays within what training met and helps recall: FWL vs plain
 * on entity tokens −35 % against −9 % for a transformer with the running mean).
 */
function normalizerFlag(raw: string | true | undefined, text: boolean): "mean" | number {
  if (raw === undefined) return text ? "mean" : SYNTHETIC_NORMALIZER;
  if (raw === "mean") return "mean";
  const v = typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
  if (!(Number.isFinite(v) && v > 0)) {
    throw new UsageError(`--normalizer needs mean or a number > 0, got ${JSON.stringify(raw)}`);
  }
  return v;
}

/** The head's normalizer for `LanguageModel.create`, from the flags. */
export function headNormalizer(
  c: Pick<ComparisonConfig, "normalizer" | "decay" | "prior" | "fixedDecay">,
): NormalizerOption {
  if (c.normalizer !== "mean") return c.normalizer;
  return { decay: c.decay, prior: c.prior, learnDecay: !c.fixedDecay && c.decay < 1 };
}

/** `--separator`'s pattern, checked. */
function separatorFlag(raw: string | true | undefined): RegExp | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || raw === "") {
    throw new UsageError("--separator needs a regular expression, e.g. '^## '");
  }
  try {
    return new RegExp(raw, "m");
  } catch (e) {
    throw new UsageError(`--separator: ${(e as Error).message}`);
  }
}

/** What an example says about its comparison; {@linkcode runComparison} does the rest. */
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
  /** Checks settings that depend on each other; throws a {@linkcode UsageError}. */
  check?(c: ComparisonConfig): void;
  /**
   * The most positions the body takes (default: unbounded), which bounds the sample:
   * prompt plus generated tokens, less one (the last token is not fed back).
   */
  maxPositions?(c: ComparisonConfig): number;
}

/**
 * The help text of a comparison: usage line, `about`, then every flag with its default.
 *
 * @example
 * ```ts
 * import { comparisonFlags, comparisonUsage } from "./compare.ts";
 * const help = comparisonUsage({ script: "examples/x.ts", about: "Trains.", flags: comparisonFlags({}) });
 * console.log(help.includes("--steps N           training steps for each model (default 200)")); // true
 * ```
 */
export function comparisonUsage(spec: Pick<ComparisonSpec, "script" | "about" | "flags">): string {
  return `Usage: deno run ${spec.script} [flags]

${spec.about}

Flags:
${
    Object.entries(spec.flags).map(([name, { value, meta, help, textValue }]) =>
      `  --${`${name} ${meta}`.padEnd(17)} ${help} (default ${value}${
        textValue === undefined || textValue === value ? "" : `; ${textValue} with --text`
      })`
    ).join("\n")
  }
  --text FILE         train on the bytes of a text file (vocabulary 256) instead
                      of synthetic documents; its last documents (about 10% of
                      it) are held out and scored document by document (up to
                      --eval-tokens bytes); asks for read permission, or pass
                      --allow-read
  --separator REGEX   with --text: each match starts a new document, e.g. '^# '
                      for markdown titles (default: the file is one document)
  --normalizer mean|N the FWL's inner-loss normalizer: the running mean
                      (docs/definition.md §6; --decay, --prior; the default
                      with --text) or a fixed number N (default 512 without
                      --text)
  --fixed-decay       --normalizer mean: keep the decay λ as given (default:
                      learned, when below 1)
  --restart-windows   with --text: start each evaluation window's fast weights
                      from the slow weights (default: one state carried through
                      each document, the fast weights too)
  --carry-fast-weights  with --text: the default, said out loud
  --plot FILE.svg     write both training curves to an SVG chart (asks for write
                      permission, or pass --allow-write)
  --position-plot FILE.svg  with --text: write the validation loss against the
                      position in the document, one line per row
  --json              print a JSON summary as the last line of standard output
  --help, -h          this help
`;
}

/**
 * A markdown table: the first row is the header, the first column left-aligned, the
 * others right-aligned, every column as wide as its widest cell.
 *
 * @example
 * ```ts
 * import { markdownTable } from "./compare.ts";
 * console.log(markdownTable([["head", "ppl"], ["FWL", "8.3"]]));
 * // | head | ppl |
 * // | ---- | --: |
 * // | FWL  | 8.3 |
 * ```
 */
export function markdownTable(rows: string[][]): string {
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  const line = (r: string[]) =>
    "| " + r.map((cell, j) =>
      j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j])
    ).join(" | ") +
    " |";
  const rule = "| " +
    widths.map((w, j) => (j === 0 ? "-" : "").padEnd(w - 1, "-") + (j === 0 ? "-" : ":"))
      .join(" | ") +
    " |";
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join("\n");
}

/**
 * The relative change of a perplexity, e.g. `"−31.2 % perplexity"` for a value 31.2 %
 * below `base`.
 *
 * @example
 * ```ts
 * import { perplexityChange } from "./compare.ts";
 * console.log(perplexityChange(6.88, 10), perplexityChange(12, 10)); // −31.2 % perplexity +20.0 % perplexity
 * ```
 */
export function perplexityChange(value: number, base: number): string {
  const change = (value / base - 1) * 100;
  return `${change < 0 ? "−" : "+"}${Math.abs(change).toFixed(1)} % perplexity`;
}

/**
 * A loss curve smoothed by an exponential moving average (weight 0.9 on the past), as
 * `[step, value]` points with steps from 1.
 *
 * @example
 * ```ts
 * import { smoothCurve } from "./compare.ts";
 * console.log(smoothCurve([2, 1])); // [ [ 1, 2 ], [ 2, 1.9 ] ]
 * ```
 */
export function smoothCurve(losses: readonly number[]): [number, number][] {
  const out: [number, number][] = [];
  let s = NaN;
  losses.forEach((l, i) => {
    s = i === 0 ? l : 0.9 * s + 0.1 * l;
    out.push([i + 1, s]);
  });
  return out;
}

/**
 * Bits per token from a mean loss in nats (bits per byte for byte-level text).
 *
 * @example
 * ```ts
 * import { bitsPerToken } from "./compare.ts";
 * console.log(bitsPerToken(Math.LN2).toFixed(2)); // 1.00
 * ```
 */
export function bitsPerToken(loss: number): number {
  return loss / Math.LN2;
}

/** One trained model. */
interface Trained {
  /** `"fwl"` or `"plain"`. */
  model: "fwl" | "plain";
  lm: LanguageModel;
  losses: number[];
  seconds: number;
}

/** One row of the report: a model and how it was evaluated. */
interface Row {
  model: RowName;
  trained: Trained;
  /** One entry per scored batch (synthetic) or held-out document (text). */
  scores: TokenScores[];
  /** Wall-clock seconds of the evaluation. */
  seconds: number;
}

/** The rows' names, as `--json` writes them. */
export type RowName = "plain" | "plain+dynamic" | "fwl" | "fwl+dynamic";

const HEAD_NAMES = { fwl: "FWL head", plain: "plain head" } as const;

async function train(
  spec: ComparisonSpec,
  model: "fwl" | "plain",
  data: TokenDataset,
  c: ComparisonConfig,
): Promise<Trained> {
  const body = await spec.createBody(data.vocabSize, c);
  let lm: LanguageModel;
  try {
    lm = await LanguageModel.create(body, {
      vocabSize: data.vocabSize,
      headSize: spec.headSize(c),
      attnChunks: 4,
      normalizer: headNormalizer(c),
      stepSize: c.stepSize,
      seed: c.seed,
      fastWeights: model === "fwl",
    });
  } catch (e) {
    body.dispose?.();
    throw e;
  }
  try {
    using opt = new Adam(lm.context, lm.parameters(), {
      lr: warmupCosineSchedule({
        peak: c.lr,
        warmupSteps: Math.min(20, Math.floor(c.steps / 10)),
        totalSteps: c.steps,
        final: c.lr / 10,
      }),
      clipNorm: 1,
    });
    // Both models see the same batches: independent windows, or long documents read in
    // consecutive windows with the head's and the body's states carried.
    const rng = new SeededRandom(c.seed + 1);
    const reader = c.span > 0
      ? new DocumentReader(data, { batchSize: c.batch, window: c.length, span: c.span, rng })
      : undefined;
    using state = reader ? lm.documentState(c.batch) : undefined;
    const bar = new ProgressBar({ label: HEAD_NAMES[model].padEnd(13), total: c.steps });
    const losses: number[] = [];
    let smooth = NaN;
    for (let i = 0; i < c.steps; i++) {
      let result;
      if (reader && state) {
        const { tokens, restarted } = reader.next();
        if (restarted.length > 0) state.reset(restarted);
        result = await lm.trainStep(tensor(tokens, [c.batch, c.length + 1]), opt, { state });
      } else {
        const batch = tensor(data.trainBatch(c.batch, c.length, rng), [c.batch, c.length]);
        result = await lm.trainStep(batch, opt);
      }
      const loss = result.loss;
      losses.push(loss);
      smooth = Number.isNaN(smooth) ? loss : 0.9 * smooth + 0.1 * loss;
      bar.tick({ loss: smooth });
    }
    bar.done();
    return { model, lm, losses, seconds: bar.elapsed };
  } catch (e) {
    lm.dispose();
    throw e;
  }
}

/**
 * The held-out documents to score: whole documents in order while they fit in
 * `maxTokens` predicted tokens (0: all of them); the first document is cut to
 * `maxTokens + 1` bytes when even it does not fit.
 *
 * @example
 * ```ts
 * import { heldOutDocuments } from "./compare.ts";
 * const docs = [new Uint8Array(10), new Uint8Array(5), new Uint8Array(8)];
 * console.log(heldOutDocuments(docs, 0).length, heldOutDocuments(docs, 14).map((d) => d.length)); // 3 [ 10, 5 ]
 * console.log(heldOutDocuments(docs, 4).map((d) => d.length)); // [ 5 ]
 * ```
 */
export function heldOutDocuments(
  documents: readonly Uint8Array[],
  maxTokens: number,
): Uint8Array[] {
  const usable = documents.filter((d) => d.length >= 2);
  if (maxTokens === 0) return usable;
  const out: Uint8Array[] = [];
  let tokens = 0;
  for (const d of usable) {
    if (tokens + d.length - 1 > maxTokens) break;
    out.push(d);
    tokens += d.length - 1;
  }
  return out.length > 0 || usable.length === 0 ? out : [usable[0].subarray(0, maxTokens + 1)];
}

/**
 * Scores held-out documents one by one, each in consecutive windows of `--length`
 * tokens (a body with `forwardFrom` carries its state from one to the next, the fast
 * weights too unless `--restart-windows`), plainly or with dynamic evaluation
 * (`--dynamic-lr`).
 */
/**
 * Tokens per evaluation call of the head: `--eval-window`, or the larger of `--length` and
 * 512. With the states carried (the default) it changes the speed only; a body with fewer
 * positions reads each call's tokens in pieces of its own length, side by side.
 *
 * @example
 * ```ts
 * import { evaluationWindow } from "./compare.ts";
 * console.log(evaluationWindow({ evalWindow: 0, length: 64 }), evaluationWindow({ evalWindow: 96, length: 64 })); // 512 96
 * ```
 */
export function evaluationWindow(c: Pick<ComparisonConfig, "evalWindow" | "length">): number {
  return c.evalWindow > 0 ? c.evalWindow : Math.max(c.length, 512);
}

async function evaluateText(
  trained: Trained,
  documents: readonly Uint8Array[],
  dynamic: boolean,
  c: ComparisonConfig,
  window: number,
  bodyWindow: number,
): Promise<Row> {
  const model: RowName = dynamic ? `${trained.model}+dynamic` : trained.model;
  const lm = trained.lm, carryFastWeights = !c.restartWindows;
  const read = (doc: Uint8Array, progress?: (scored: number) => void) =>
    dynamic
      ? lm.dynamicEvaluate(doc, {
        lr: c.dynamicLr,
        // A body with learned positions reads at most its positions at a time.
        segment: Math.min(c.dynamicSegment, bodyWindow),
        method: "rms",
        carryFastWeights,
        progress,
      })
      : lm.scoreDocument(doc, { window, bodyWindow, carryFastWeights, progress });
  // Untimed: the first window compiles the kernels.
  await read(documents[0].subarray(0, Math.min(documents[0].length, window + 1)));
  const total = documents.reduce((n, d) => n + d.length - 1, 0);
  const bar = new ProgressBar({ label: `  ${model}`.padEnd(13), total });
  const scores: TokenScores[] = [];
  let before = 0;
  for (const doc of documents) {
    scores.push(await read(doc, (scored) => bar.tick({}, before + scored - bar.count)));
    before += doc.length - 1;
  }
  bar.done();
  return { model, trained, scores, seconds: bar.elapsed };
}

/** Scores the synthetic data's validation batches. */
async function evaluateBatches(
  trained: Trained,
  data: TokenDataset,
  c: ComparisonConfig,
): Promise<Row> {
  const started = performance.now();
  const scores: TokenScores[] = [];
  for (const v of data.validationBatches(c.batch, c.length, c.valBatches)) {
    scores.push(await trained.lm.score(tensor(v, [v.length / c.length, c.length])));
  }
  const seconds = (performance.now() - started) / 1000;
  return { model: trained.model, trained, scores, seconds };
}

/**
 * Mean loss in bits per token against the position in the document, in `parts` equal
 * spans of each document's scored positions (in document order), pooled over documents:
 * `parts = 4` gives the quarters of the `--json` rows.
 *
 * @example
 * ```ts
 * import { lossByPart } from "./compare.ts";
 * const nll = Float32Array.from([Math.LN2, Math.LN2, 0, 0]);
 * console.log(lossByPart([{ nll }, { nll: nll.subarray(0, 2) }], 2)); // [ 1, 0.6666666666666666 ]
 * ```
 */
export function lossByPart(scores: readonly Pick<TokenScores, "nll">[], parts: number): number[] {
  const sums = new Float64Array(parts), counts = new Float64Array(parts);
  for (const { nll } of scores) {
    nll.forEach((v, i) => {
      const q = Math.floor((i * parts) / nll.length);
      sums[q] += v;
      counts[q]++;
    });
  }
  return Array.from(sums, (s, q) => s / counts[q] / Math.LN2);
}

/** Streams a sample from `lm` after `prompt` to standard output. */
async function writeSample(
  lm: LanguageModel,
  data: TokenDataset,
  prompt: Int32Array,
  tokens: number,
  c: ComparisonConfig,
): Promise<void> {
  const sep = data instanceof ByteText ? "" : " ";
  const encoder = new TextEncoder();
  await Deno.stdout.write(encoder.encode(data.decode(prompt) + sep + "»"));
  const bytes = data instanceof ByteText;
  let pending: number[] = []; // bytes of a UTF-8 character not yet complete
  for await (
    const token of lm.generate(prompt, {
      maxTokens: tokens,
      temperature: c.temperature,
      topK: c.topK > 0 ? c.topK : undefined,
      topP: c.topP,
      seed: c.seed,
    })
  ) {
    if (!bytes) {
      await Deno.stdout.write(encoder.encode(sep + data.decode([token])));
      continue;
    }
    pending.push(token);
    const text = data.decode(pending);
    if (!text.endsWith("\ufffd") || pending.length >= 4) {
      await Deno.stdout.write(encoder.encode(text));
      pending = [];
    }
  }
  if (pending.length) await Deno.stdout.write(encoder.encode(data.decode(pending)));
}

/** How windows of a document see the ones before them, for the report. */
function carried(lm: LanguageModel, fastWeights: boolean): string {
  const body = typeof lm.body.forwardFrom === "function" && typeof lm.body.initState === "function";
  const what = [body ? "the body's state" : "", fastWeights ? "the fast weights" : ""]
    .filter((w) => w).join(" and ");
  return what ? ` with ${what} carried from one to the next` : ", each on its own";
}

/** Asks for permission to write `path` now, not after the training. */
async function mayWrite(flag: string, path: string | undefined): Promise<boolean> {
  if (path === undefined) return true;
  // Without a terminal to ask on, say what to pass.
  const { state } = await Deno.permissions.request({ name: "write", path });
  if (state === "granted") return true;
  console.error(`error: --${flag} needs permission to write ${path} (pass --allow-write)`);
  return false;
}

/**
 * Runs a whole comparison from a command line and returns the process's exit code: 0
 * when done, 2 for a command-line mistake (printed with a hint), 1 for an unreadable
 * `--text` file, a chart it may not write, or an {@linkcode FWLError} (printed). With
 * `--help` it prints {@linkcode comparisonUsage}; with `--json` the last line of standard
 * output is one JSON object, `{"rows": [{"model", "perplexity", "bits_per_token",
 * "eval_tokens_per_s", "train_seconds", …}], …}`.
 *
 * @example
 * ```ts ignore
 * import { LSTMBody } from "../../mod.ts";
 * import { comparisonFlags, runComparison, wholeFlag } from "./compare.ts";
 * Deno.exit(await runComparison({
 *   script: "examples/rnn.ts",
 *   about: "Trains an LSTM with an FWL head and with a plain head.",
 *   flags: comparisonFlags({ size: wholeFlag(64, "LSTM width", 2, 1024) }),
 *   describe: (c) => `LSTM (width ${c.flags.size})`,
 *   headSize: (c) => c.flags.size / 2,
 *   createBody: (vocabSize, c) =>
 *     LSTMBody.create({ vocabSize, embedSize: c.flags.size, hiddenSize: c.flags.size, seed: c.seed }),
 * }, Deno.args));
 * ```
 */
export async function runComparison(spec: ComparisonSpec, argv: string[]): Promise<number> {
  let c: ComparisonConfig | undefined;
  try {
    c = parseComparisonFlags(argv, spec.flags);
    if (c) spec.check?.(c);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}\n\nRun with --help to see every flag.`);
    return 2;
  }
  if (!c) {
    console.log(comparisonUsage(spec));
    return 0;
  }
  if (!await mayWrite("plot", c.plot) || !await mayWrite("position-plot", c.positionPlot)) {
    return 1;
  }
  const started = performance.now();
  let data: TokenDataset;
  if (c.text !== undefined) {
    try {
      data = await ByteText.fromFile(
        c.text,
        c.separator === undefined ? {} : { separator: c.separator },
      );
    } catch (e) {
      console.error(`error: --text: ${(e as Error).message}`);
      return 1;
    }
  } else {
    data = new SyntheticLanguage({ seed: c.seed, entityPool: c.entities, minGap: c.gap });
  }
  const entity = data.isEntity?.bind(data);
  console.log(`data: ${data.name}; vocabulary ${data.vocabSize}`);
  console.log(
    `model: ${spec.describe(c)} + head (size ${spec.headSize(c)}); ` +
      `${c.steps} steps of ${c.batch}×${c.length} tokens, Adam lr ${c.lr}, seed ${c.seed}`,
  );

  const trained: Trained[] = [];
  try {
    const rows: Row[] = [];
    const documents = data instanceof ByteText
      ? heldOutDocuments(data.validationDocuments, c.evalTokens)
      : undefined;
    for (const model of ["plain", "fwl"] as const) {
      const t = await train(spec, model, data, c);
      trained.push(t);
      if (documents === undefined) {
        rows.push(await evaluateBatches(t, data, c));
        continue;
      }
      const window = evaluationWindow(c);
      const bodyWindow = Math.min(window, spec.maxPositions?.(c) ?? window);
      rows.push(await evaluateText(t, documents, false, c, window, bodyWindow));
      if (c.dynamicLr > 0) {
        rows.push(await evaluateText(t, documents, true, c, window, bodyWindow));
      }
    }
    const fwl = trained[1];
    const adapter = fwl.lm.context.adapter;
    const results = rows.map((r) => ({ row: r, ...perplexity(r.scores) }));
    const plain = results[0];
    const bytes = data instanceof ByteText;
    console.log(
      documents
        ? `\nvalidation: ${documents.length} held-out document${
          documents.length === 1 ? "" : "s"
        } of ${(data as ByteText).validationDocuments.length} (${plain.count} predicted bytes` +
          `${c.evalTokens > 0 ? `, at most --eval-tokens ${c.evalTokens}` : ""}), in windows ` +
          `of ${evaluationWindow(c)}${carried(fwl.lm, !c.restartWindows)}:\n`
        : `\nvalidation (${plain.count} predicted tokens):\n`,
    );
    const header = [
      "model",
      "perplexity",
      entity ? "entity perplexity" : "bits per byte",
      "vs plain",
      "eval tokens/s",
      "train time",
    ];
    const table = results.map((r) => [
      r.row.model,
      r.perplexity.toFixed(2),
      entity
        ? perplexity(r.row.scores, entity).perplexity.toFixed(1)
        : bitsPerToken(r.loss).toFixed(3),
      r === plain
        ? ""
        : perplexityChange(r.perplexity, plain.perplexity).replace(" perplexity", ""),
      (r.count / r.row.seconds).toFixed(0),
      `${r.row.trained.seconds.toFixed(0)} s`,
    ]);
    const keep = (r: string[]) => entity || bytes ? r : [r[0], r[1], r[3], r[4], r[5]];
    console.log(markdownTable([header, ...table].map(keep)));
    const fwlRow = results.find((r) => r.row.model === "fwl")!;
    let summary = `\nFWL vs plain: ${
      perplexityChange(fwlRow.perplexity, plain.perplexity)
    } overall`;
    if (entity) {
      const [pe, fe] = [plain, fwlRow].map((r) => perplexity(r.row.scores, entity));
      summary += `, ${
        perplexityChange(fe.perplexity, pe.perplexity)
      } on entity tokens (${fe.count} of them)`;
    }
    const dynamic = results.find((r) => r.row.model === "plain+dynamic");
    if (dynamic) {
      const speed = (r: typeof plain) => r.count / r.row.seconds;
      summary += `; dynamic evaluation of the plain head: ${
        perplexityChange(dynamic.perplexity, plain.perplexity)
      }, the FWL head scores ${(speed(fwlRow) / speed(dynamic)).toFixed(1)}× as fast`;
    }
    console.log(`${summary}.`);
    if (documents) {
      // Early against late in the documents: where carried fast weights should gain most.
      console.log(`\n${bytes ? "bits per byte" : "bits per token"} by quarter of each document:`);
      const quarters = results.map((
        r,
      ) => [r.row.model, ...lossByPart(r.row.scores, 4).map((b) => b.toFixed(3))]);
      console.log(markdownTable([["model", "1st", "2nd", "3rd", "4th"], ...quarters]));
    }
    const params = await fwl.lm.head.getParams();
    const learned = Object.fromEntries(STEP_NAMES.map((n) => [n, params[n][0]]));
    console.log(
      `FWL step sizes, learned from ${c.stepSize}: ` +
        STEP_NAMES.map((n) => `${n.replace("_step", "")} ${learned[n].toPrecision(2)}`).join(", "),
    );
    const decay = params[DECAY_NAME]?.[0];
    if (decay !== undefined) {
      console.log(
        `FWL decay λ${c.fixedDecay ? "" : `, learned from ${c.decay}`}: ${decay.toPrecision(4)} ` +
          `(a memory of about ${Math.round(1 / (1 - decay))} tokens)`,
      );
    }

    if (c.plot) {
      const svg = lineChartSVG(
        trained.map((t) => ({ name: HEAD_NAMES[t.model], points: smoothCurve(t.losses) })),
        {
          title: `Training loss (smoothed), ${bytes ? "bytes" : "synthetic documents"}`,
          xLabel: "step",
          yLabel: "loss (nats per token)",
        },
      );
      await Deno.writeTextFile(c.plot, svg);
      console.log(`training curves written to ${c.plot}`);
    }
    if (c.positionPlot) {
      // The gain over the plain head, not the loss itself, which the text's content swings;
      // by position as a share of each document, the quarters of the --json rows refined.
      const parts = 32;
      const base = lossByPart(plain.row.scores, parts);
      const svg = lineChartSVG(
        rows.slice(1).map((r) => ({
          name: r.model,
          points: lossByPart(r.scores, parts).map((
            y,
            j,
          ) => [(100 * (j + 0.5)) / parts, base[j] - y]),
        })),
        {
          title: `Gain over the plain head, by position (${c.text?.split(/[\\/]/).at(-1)})`,
          xLabel: "position in the document (% of its scored bytes)",
          yLabel: "bits per token saved",
        },
      );
      await Deno.writeTextFile(c.positionPlot, svg);
      console.log(`gain by position written to ${c.positionPlot}`);
    }

    if (c.sample > 0) {
      const prompt = data.validationBatches(1, c.length, 1)[0].slice(0, Math.min(24, c.length));
      const room = spec.maxPositions ? spec.maxPositions(c) - prompt.length + 1 : Infinity;
      const tokens = Math.min(c.sample, room);
      console.log(
        `\nsample from the FWL model (temperature ${c.temperature}` +
          (tokens < c.sample
            ? `; ${tokens} token${tokens === 1 ? "" : "s"}, as many as the body's positions allow`
            : "") +
          `):\n`,
      );
      if (tokens > 0) await writeSample(fwl.lm, data, prompt, tokens, c);
      console.log("\n");
    }
    console.log(
      `done in ${formatDuration((performance.now() - started) / 1000)} on ${adapter}`,
    );
    if (c.json) {
      console.log(JSON.stringify({
        data: data.name,
        model: spec.describe(c),
        seed: c.seed,
        adapter,
        step_sizes: learned,
        ...(decay !== undefined ? { decay } : {}),
        rows: results.map((r) => ({
          model: r.row.model,
          perplexity: r.perplexity,
          bits_per_token: bitsPerToken(r.loss),
          ...(entity ? { entity_perplexity: perplexity(r.row.scores, entity).perplexity } : {}),
          tokens: r.count,
          ...(documents ? { quarters: lossByPart(r.row.scores, 4) } : {}),
          eval_tokens_per_s: r.count / r.row.seconds,
          train_seconds: r.row.trained.seconds,
        })),
      }));
    }
    return 0;
  } catch (e) {
    if (e instanceof FWLError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    for (const t of trained) t.lm.dispose();
  }
}
