/**
 * The comparison behind `examples/rnn.ts`, `examples/transformer.ts` and
 * `examples/real_text.ts`: one body with an FWL head against the same body with a plain
 * head (fast weights off) — same data, seed, batches and steps — then the validation
 * perplexity of both (overall and on the synthetic data's entity names, or on a text's
 * held-out documents), a sample generated token by token, and optionally charts. An
 * example only says which body to build and which flags and defaults it adds
 * (`bodies.ts`); this file runs the steps, each in its own file: the options
 * (`comparison_options.ts`) and command line (`comparison_cli.ts`), training
 * (`training.ts`), scoring (`evaluation.ts`), the report (`report.ts`, `sample.ts`) and
 * the charts (`comparison_plots.ts`).
 *
 * @module
 */

import { FWLError, perplexity } from "../../mod.ts";
import { ByteText, SyntheticLanguage, type TokenDataset } from "../../data.ts";
import { comparisonUsage, parseComparisonFlags } from "./comparison_cli.ts";
import type { ComparisonConfig, ComparisonSpec } from "./comparison_options.ts";
import { mayWrite, writePlots } from "./comparison_plots.ts";
import { evaluateModel, heldOutDocuments, type Row } from "./evaluation.ts";
import { UsageError } from "./flags.ts";
import { formatDuration } from "./progress.ts";
import { jsonSummary, printLearned, printValidation } from "./report.ts";
import { printSample } from "./sample.ts";
import { train, type Trained } from "./training.ts";

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
 * import { comparisonFlags, wholeFlag } from "./comparison_options.ts";
 * import { runComparison } from "./compare.ts";
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
  const data = await loadData(c);
  if (data === undefined) return 1;
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
      rows.push(...await evaluateModel(t, data, documents, spec, c));
    }
    const fwl = trained[1];
    const adapter = fwl.lm.context.adapter;
    const results = rows.map((r) => ({ row: r, ...perplexity(r.scores) }));
    printValidation(results, data, documents, fwl.lm, c);
    const learned = await printLearned(fwl.lm, c);
    await writePlots(trained, rows, data instanceof ByteText, c);
    await printSample(fwl.lm, data, spec, c);
    console.log(
      `done in ${formatDuration((performance.now() - started) / 1000)} on ${adapter}`,
    );
    if (c.json) {
      console.log(
        jsonSummary(results, data, documents, learned, {
          model: spec.describe(c),
          adapter,
          seed: c.seed,
        }),
      );
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

/**
 * The data of a comparison: the bytes of `--text` (documents split at `--separator`),
 * else synthetic documents; `undefined`, with the error printed, if the file can't be
 * read.
 */
async function loadData(c: ComparisonConfig): Promise<TokenDataset | undefined> {
  if (c.text === undefined) {
    return new SyntheticLanguage({ seed: c.seed, entityPool: c.entities, minGap: c.gap });
  }
  try {
    return await ByteText.fromFile(
      c.text,
      c.separator === undefined ? {} : { separator: c.separator },
    );
  } catch (e) {
    console.error(`error: --text: ${(e as Error).message}`);
    return undefined;
  }
}
