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
  type ModelBody,
  perplexity,
  SeededRandom,
  tensor,
  type TokenScores,
  warmupCosineSchedule,
} from "../../mod.ts";
import { STEP_NAMES } from "../../gpu.ts";
import { ByteText, SyntheticLanguage, type TokenDataset } from "../../data.ts";
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
  normalizer: numberFlag(
    512,
    "FWL inner-loss normalizer, a fixed number",
    "a number > 0",
    (v) => v > 0,
  ),
  entities: wholeFlag(256, "synthetic data: pool of entity names", 4),
  gap: wholeFlag(20, "synthetic data: fewest tokens between two mentions", 1),
  "val-batches": wholeFlag(4, "synthetic data: validation batches scored at the end", 1),
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
): FlagTable {
  const out: FlagTable = {};
  for (const [name, flag] of Object.entries(COMMON_FLAGS)) {
    if (name in model) throw new RangeError(`flag --${name} is defined twice`);
    const value = defaults[name as CommonFlagName];
    out[name] = value === undefined ? flag : { ...flag, value };
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
  /** FWL inner-loss normalizer (a fixed number). */
  normalizer: number;
  /** Synthetic data: pool of entity names. */
  entities: number;
  /** Synthetic data: fewest tokens between two mentions. */
  gap: number;
  /** Validation batches scored at the end. */
  valBatches: number;
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
  /** Every numeric flag's value by flag name, the body's own flags included. */
  flags: Readonly<Record<string, number>>;
}

const STRING_FLAGS = ["text", "separator", "plot"] as const;
const BOOLEAN_FLAGS = ["help"] as const;

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
  for (const [name, flag] of Object.entries(flags)) {
    const raw = args[name];
    if (raw === undefined) {
      values[name] = flag.value;
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
    normalizer: common("normalizer"),
    entities: common("entities"),
    gap: common("gap"),
    valBatches: common("val-batches"),
    sample: common("sample"),
    temperature: common("temperature"),
    topK: common("top-k"),
    topP: common("top-p"),
    text: text("text"),
    separator: separatorFlag(args.separator),
    plot: text("plot"),
    flags: values,
  };
  if (config.separator !== undefined && config.text === undefined) {
    throw new UsageError("--separator needs --text");
  }
  if (config.plot !== undefined && !config.plot.endsWith(".svg")) {
    throw new UsageError(
      `--plot needs a file name ending in .svg, got ${JSON.stringify(config.plot)}`,
    );
  }
  return config;
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
    Object.entries(spec.flags).map(([name, { value, meta, help }]) =>
      `  --${`${name} ${meta}`.padEnd(17)} ${help} (default ${value})`
    ).join("\n")
  }
  --text FILE         train on the bytes of a text file (vocabulary 256) instead
                      of synthetic documents; its last documents (about 10% of
                      it) are held out, and every byte of them is scored (asks
                      for read permission, or pass --allow-read)
  --separator REGEX   with --text: each match starts a new document, e.g. '^# '
                      for markdown titles (default: the file is one document)
  --plot FILE.svg     write both training curves to an SVG chart (asks for write
                      permission, or pass --allow-write)
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

/** What training one model gives. */
interface Trained {
  name: string;
  lm: LanguageModel;
  losses: number[];
  seconds: number;
  scores: TokenScores[];
}

async function train(
  spec: ComparisonSpec,
  name: string,
  fastWeights: boolean,
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
      normalizer: c.normalizer,
      stepSize: c.stepSize,
      seed: c.seed,
      fastWeights,
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
    // Both models see the same batches.
    const rng = new SeededRandom(c.seed + 1);
    const bar = new ProgressBar({ label: name.padEnd(10), total: c.steps });
    const losses: number[] = [];
    let smooth = NaN;
    for (let i = 0; i < c.steps; i++) {
      const batch = tensor(data.trainBatch(c.batch, c.length, rng), [c.batch, c.length]);
      const { loss } = await lm.trainStep(batch, opt);
      losses.push(loss);
      smooth = Number.isNaN(smooth) ? loss : 0.9 * smooth + 0.1 * loss;
      bar.tick({ loss: smooth });
    }
    bar.done();
    const seconds = bar.elapsed;
    const scores: TokenScores[] = [];
    if (data.evaluationBatches) {
      // Every byte of the held-out documents, in windows of the training length.
      const batches = data.evaluationBatches(c.batch, c.length);
      const evalBar = new ProgressBar({ label: "  scoring ", total: batches.length });
      for (const b of batches) {
        scores.push(await lm.score(tensor(b.tokens, b.shape)));
        evalBar.tick();
      }
      evalBar.done();
    } else {
      for (const v of data.validationBatches(c.batch, c.length, c.valBatches)) {
        scores.push(await lm.score(tensor(v, [v.length / c.length, c.length])));
      }
    }
    return { name, lm, losses, seconds, scores };
  } catch (e) {
    lm.dispose();
    throw e;
  }
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

/**
 * Runs a whole comparison from a command line and returns the process's exit code: 0
 * when done, 2 for a command-line mistake (printed with a hint), 1 for an unreadable
 * `--text` file, a `--plot` file it may not write, or an {@linkcode FWLError} (printed). With `--help` it prints
 * {@linkcode comparisonUsage}.
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
    c = await parseComparisonFlags(argv, spec.flags);
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
  if (c.plot !== undefined) {
    // Ask now, not after the training: without a terminal to ask on, say what to pass.
    const { state } = await Deno.permissions.request({ name: "write", path: c.plot });
    if (state !== "granted") {
      console.error(`error: --plot needs permission to write ${c.plot} (pass --allow-write)`);
      return 1;
    }
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

  const results: Trained[] = [];
  try {
    results.push(await train(spec, "FWL head", true, data, c));
    results.push(await train(spec, "plain head", false, data, c));
    const adapter = results[0].lm.context.adapter;
    const count = perplexity(results[0].scores).count;
    const bytes = data instanceof ByteText;
    const held = data instanceof ByteText ? data.validationDocuments.length : 0;
    console.log(
      bytes
        ? `\nvalidation: every byte of ${held} held-out document${held === 1 ? "" : "s"} ` +
          `(${count} predicted bytes, windows of ${c.length}):\n`
        : `\nvalidation (${count} predicted tokens):\n`,
    );
    const header = [
      "head",
      "perplexity",
      entity ? "entity perplexity" : "bits per byte",
      "train time",
    ];
    const rows = results.map((r) => [
      r.name,
      perplexity(r.scores).perplexity.toFixed(2),
      entity
        ? perplexity(r.scores, entity).perplexity.toFixed(1)
        : bitsPerToken(perplexity(r.scores).loss).toFixed(3),
      `${r.seconds.toFixed(0)} s`,
    ]);
    const keep = (r: string[]) => entity || bytes ? r : [r[0], r[1], r[3]];
    console.log(markdownTable([header, ...rows].map(keep)));
    const [fwl, plain] = results.map((r) => perplexity(r.scores));
    let summary = `\nFWL vs plain: ${perplexityChange(fwl.perplexity, plain.perplexity)} overall`;
    if (entity) {
      const [fe, pe] = results.map((r) => perplexity(r.scores, entity));
      summary += `, ${
        perplexityChange(fe.perplexity, pe.perplexity)
      } on entity tokens (${fe.count} of them)`;
    }
    console.log(`${summary}.`);
    const steps = await results[0].lm.head.getParams();
    console.log(
      `FWL step sizes, learned from ${c.stepSize}: ` +
        STEP_NAMES.map((n) => `${n.replace("_step", "")} ${steps[n][0].toPrecision(2)}`).join(", "),
    );

    if (c.plot) {
      const svg = lineChartSVG(
        results.map((r) => ({ name: r.name, points: smoothCurve(r.losses) })),
        {
          title: `Training loss (smoothed), ${
            data instanceof ByteText ? "bytes" : "synthetic documents"
          }`,
          xLabel: "step",
          yLabel: "loss (nats per token)",
        },
      );
      await Deno.writeTextFile(c.plot, svg);
      console.log(`training curves written to ${c.plot}`);
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
      if (tokens > 0) await writeSample(results[0].lm, data, prompt, tokens, c);
      console.log("\n");
    }
    console.log(
      `done in ${formatDuration((performance.now() - started) / 1000)} on ${adapter}`,
    );
    return 0;
  } catch (e) {
    if (e instanceof FWLError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    for (const r of results) r.lm.dispose();
  }
}
