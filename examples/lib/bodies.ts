/**
 * The two bodies the examples compare heads on, as {@linkcode ComparisonSpec}s:
 * `examples/rnn.ts` and `examples/transformer.ts` run one each, `examples/real_text.ts`
 * either (`--body`).
 *
 * @module
 */

import { LSTMBody, TransformerBody } from "../../mod.ts";
import {
  type CommonFlagName,
  type ComparisonConfig,
  comparisonFlags,
  type ComparisonSpec,
  wholeFlag,
} from "./comparison_options.ts";
import { UsageError } from "./flags.ts";

/** Default values of common flags that an example changes. */
export type FlagDefaults = Partial<Record<CommonFlagName, number>>;

/** Both bodies' heads: half as wide as the body (`--size`), at least 1. */
const halfWidth = (c: ComparisonConfig): number => Math.max(1, Math.floor(c.flags.size / 2));

/**
 * An LSTM body (`--size` wide) with a head half as wide.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { lstmComparison } from "./bodies.ts";
 * const spec = lstmComparison("examples/rnn.ts", "Trains an LSTM.");
 * assertEquals(spec.flags.size.value, 64);
 * ```
 */
export function lstmComparison(
  script: string,
  about: string,
  defaults: FlagDefaults = {},
): ComparisonSpec {
  return {
    script,
    about,
    flags: comparisonFlags({
      size: wholeFlag(64, "LSTM width; the head's size is half of it", 2, 1024),
    }, defaults),
    describe: (c) => `LSTM (width ${c.flags.size})`,
    headSize: halfWidth,
    createBody: (vocabSize, c) =>
      LSTMBody.create({
        vocabSize,
        embedSize: c.flags.size,
        hiddenSize: c.flags.size,
        seed: c.seed,
      }),
  };
}

/**
 * A causal transformer body (`--size`, `--layers`, `--heads`) with a head half as wide.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { transformerComparison } from "./bodies.ts";
 * const spec = transformerComparison("examples/transformer.ts", "Trains a transformer.");
 * assertEquals([spec.flags.layers.value, spec.flags["step-size"].value], [2, 0.3]);
 * ```
 */
export function transformerComparison(
  script: string,
  about: string,
  defaults: FlagDefaults = {},
): ComparisonSpec {
  return {
    script,
    about,
    flags: comparisonFlags({
      size: wholeFlag(32, "transformer width; the head's size is half of it", 2, 1024),
      layers: wholeFlag(2, "transformer blocks", 1, 64),
      heads: wholeFlag(2, "attention heads per block (a divisor of --size)", 1),
    }, {
      // Not LanguageModel.create's 0.001 (the LSTM's best): here (seed 0, the fixed
      // normalizer 512 of the synthetic documents) 0.001 left the entity gain at −9 %,
      // 0.3 gave −35 % (the step sizes are still learned, in log space).
      "step-size": 0.3,
      ...defaults,
    }, {
      // With the running mean on text (Node.js docs, seed 0): 0.03 gave −17 % against the
      // plain head, 0.3 nothing, 0.01 and 0.001 −15 % and −13 % (windows of 128).
      "step-size": 0.03,
    }),
    check: (c) => {
      if (c.flags.size % c.flags.heads !== 0) {
        throw new UsageError(
          `--heads needs a divisor of --size (${c.flags.size}), got ${c.flags.heads}`,
        );
      }
    },
    describe: (c) =>
      `transformer (width ${c.flags.size}, ${c.flags.layers} blocks of ${c.flags.heads} heads)`,
    headSize: halfWidth,
    createBody: (vocabSize, c) =>
      TransformerBody.create({
        vocabSize,
        hiddenSize: c.flags.size,
        layers: c.flags.layers,
        heads: c.flags.heads,
        maxLength: c.length,
        seed: c.seed,
      }),
    // The body has learned positions for --length tokens: the sample stays within them.
    maxPositions: (c) => c.length,
  };
}

/**
 * `--body lstm|transformer` (or `--body=…`; default `lstm`) taken out of `argv`, the
 * other arguments left in order. It picks the flag table before the command line is
 * parsed (`parseArgs`, in `flags.ts`), so it only looks for `--body`, up to `--`.
 *
 * @throws {UsageError} If the value is missing or unknown, or `--body` is repeated.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { takeBodyFlag } from "./bodies.ts";
 * assertEquals(takeBodyFlag(["--steps", "5", "--body", "transformer"]), {
 *   body: "transformer",
 *   rest: ["--steps", "5"],
 * });
 * ```
 */
export function takeBodyFlag(
  argv: readonly string[],
): { body: "lstm" | "transformer"; rest: string[] } {
  const rest: string[] = [];
  let body: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    // After `--` nothing is a flag (parseArgs's rule, which the full parse then applies).
    if (argv[i] === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--body(?:=(.*))?$/s.exec(argv[i]);
    if (!m) {
      rest.push(argv[i]);
      continue;
    }
    if (body !== undefined) throw new UsageError("--body given more than once");
    body = m[1] ?? argv[++i] ?? "";
  }
  body ??= "lstm";
  if (body !== "lstm" && body !== "transformer") {
    throw new UsageError(`--body needs lstm or transformer, got ${JSON.stringify(body)}`);
  }
  return { body, rest };
}
