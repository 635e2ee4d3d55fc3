/**
 * The report of a comparison on standard output: the validation table (perplexity, and
 * entity perplexity or bits per byte, against the plain head), the summary line, the
 * loss by quarter of the documents, the learned step sizes and decay, and the `--json`
 * summary.
 *
 * @module
 */

import { type LanguageModel, perplexity, type PerplexityResult } from "../../mod.ts";
import { DECAY_NAME, STEP_NAMES } from "../../gpu.ts";
import { ByteText, type TokenDataset } from "../../data.ts";
import type { ComparisonConfig } from "./comparison_options.ts";
import { evaluationWindow, lossByPart, type Row } from "./evaluation.ts";

/** A row of the report with its perplexity over every scored token. */
export interface RowResult extends PerplexityResult {
  /** The row scored. */
  row: Row;
}

/**
 * Prints the validation table, the summary line (FWL against plain, on entity tokens
 * too, and dynamic evaluation when scored) and, for held-out documents, the loss by
 * quarter of each document. The first row is the plain head's.
 */
export function printValidation(
  results: readonly RowResult[],
  data: TokenDataset,
  documents: readonly Uint8Array[] | undefined,
  fwl: LanguageModel,
  c: ComparisonConfig,
): void {
  const entity = data.isEntity?.bind(data);
  const plain = results[0];
  const bytes = data instanceof ByteText;
  console.log(
    documents
      ? `\nvalidation: ${documents.length} held-out document${
        documents.length === 1 ? "" : "s"
      } of ${(data as ByteText).validationDocuments.length} (${plain.count} predicted bytes` +
        `${c.evalTokens > 0 ? `, at most --eval-tokens ${c.evalTokens}` : ""}), in windows ` +
        `of ${evaluationWindow(c)}${carried(fwl, !c.restartWindows)}:\n`
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
    r === plain ? "" : perplexityChange(r.perplexity, plain.perplexity).replace(" perplexity", ""),
    (r.count / r.row.seconds).toFixed(0),
    `${r.row.trained.seconds.toFixed(0)} s`,
  ]);
  const keep = (r: string[]) => entity || bytes ? r : [r[0], r[1], r[3], r[4], r[5]];
  console.log(markdownTable([header, ...table].map(keep)));
  const fwlRow = results.find((r) => r.row.model === "fwl")!;
  let summary = `\nFWL vs plain: ${perplexityChange(fwlRow.perplexity, plain.perplexity)} overall`;
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
}

/** What the FWL head learned: its step sizes by name, and its decay λ when it has one. */
export interface Learned {
  /** Each of the six step sizes, by parameter name. */
  stepSizes: Record<string, number>;
  /** The decay λ of the running-mean normalizer, if the head has one. */
  decay?: number;
}

/** Prints the step sizes (and decay λ) the FWL head learned, and returns them. */
export async function printLearned(fwl: LanguageModel, c: ComparisonConfig): Promise<Learned> {
  const params = await fwl.head.getParams();
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
  return { stepSizes: learned, decay };
}

/**
 * The `--json` summary: `{"data", "model", "seed", "adapter", "step_sizes", "decay"?,
 * "rows": [{"model", "perplexity", "bits_per_token", "entity_perplexity"?, "tokens",
 * "quarters"?, "eval_tokens_per_s", "train_seconds"}]}` (quarters for held-out documents).
 */
export function jsonSummary(
  results: readonly RowResult[],
  data: TokenDataset,
  documents: readonly Uint8Array[] | undefined,
  learned: Learned,
  about: { model: string; adapter: string; seed: number },
): string {
  const entity = data.isEntity?.bind(data);
  const { stepSizes, decay } = learned;
  return JSON.stringify({
    data: data.name,
    model: about.model,
    seed: about.seed,
    adapter: about.adapter,
    step_sizes: stepSizes,
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
  });
}

/**
 * A markdown table: the first row is the header, the first column left-aligned, the
 * others right-aligned, every column as wide as its widest cell.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { markdownTable } from "./report.ts";
 * assertEquals(
 *   markdownTable([["head", "ppl"], ["FWL", "8.3"]]),
 *   "| head | ppl |\n| ---- | --: |\n| FWL  | 8.3 |",
 * );
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
 * import { assertEquals } from "@std/assert";
 * import { perplexityChange } from "./report.ts";
 * assertEquals(perplexityChange(6.88, 10), "−31.2 % perplexity");
 * assertEquals(perplexityChange(12, 10), "+20.0 % perplexity");
 * ```
 */
export function perplexityChange(value: number, base: number): string {
  const change = (value / base - 1) * 100;
  return `${change < 0 ? "−" : "+"}${Math.abs(change).toFixed(1)} % perplexity`;
}

/**
 * How the windows of a document see the ones before them, for the report: the body's
 * state (a body with `forwardFrom` and `initState`) and the fast weights, or nothing.
 */
function carried(lm: LanguageModel, fastWeights: boolean): string {
  const body = typeof lm.body.forwardFrom === "function" && typeof lm.body.initState === "function";
  const what = [body ? "the body's state" : "", fastWeights ? "the fast weights" : ""]
    .filter((w) => w).join(" and ");
  return what ? ` with ${what} carried from one to the next` : ", each on its own";
}

/**
 * Bits per token from a mean loss in nats (bits per byte for byte-level text).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { bitsPerToken } from "./report.ts";
 * assertEquals(bitsPerToken(Math.LN2), 1);
 * ```
 */
export function bitsPerToken(loss: number): number {
  return loss / Math.LN2;
}
