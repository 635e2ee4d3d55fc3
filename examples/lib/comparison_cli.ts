/**
 * A comparison's command line: {@linkcode parseComparisonFlags} turns it into a
 * {@linkcode ComparisonConfig} (through `parseArgs` from `@std/cli`, in `flags.ts`) and
 * {@linkcode comparisonUsage} is its `--help` text.
 *
 * @module
 */

import { parseFlags, UsageError } from "./flags.ts";
import {
  COMMON_FLAGS,
  type CommonFlagName,
  type ComparisonConfig,
  type ComparisonSpec,
  type FlagTable,
  SYNTHETIC_NORMALIZER,
} from "./comparison_options.ts";

// The flags besides the numeric ones of the flag table: with a value, and without one.
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
 * @throws {UsageError} For any mistake on the command line.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { comparisonFlags } from "./comparison_options.ts";
 * import { parseComparisonFlags } from "./comparison_cli.ts";
 * import { UsageError } from "./flags.ts";
 * const c = parseComparisonFlags(["--steps", "20", "--lr=0.003"], comparisonFlags({}));
 * assertEquals([c?.steps, c?.batch, c?.lr], [20, 8, 0.003]);
 * assertEquals(parseComparisonFlags(["-h"], comparisonFlags({})), undefined);
 * assertThrows(
 *   () => parseComparisonFlags(["--steps", "0"], comparisonFlags({})),
 *   UsageError,
 *   '--steps needs a whole number ≥ 1, got "0"',
 * );
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

/**
 * The help text of a comparison: usage line, `about`, then every flag with its default.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { comparisonFlags } from "./comparison_options.ts";
 * import { comparisonUsage } from "./comparison_cli.ts";
 * const help = comparisonUsage({ script: "examples/x.ts", about: "Trains.", flags: comparisonFlags({}) });
 * assertEquals(help.split("\n")[0], "Usage: deno run examples/x.ts [flags]");
 * assert(help.includes("--steps N           training steps for each model (default 200)"));
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
