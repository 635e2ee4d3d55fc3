/**
 * Scoring the trained models of a comparison: the synthetic data's validation batches,
 * or a text's held-out documents read one by one from their first token to their last
 * (plainly and, with `--dynamic-lr`, with dynamic evaluation), each as a {@linkcode Row}
 * of the report.
 *
 * @module
 */

import { tensor, type TokenScores } from "../../mod.ts";
import type { TokenDataset } from "../../data.ts";
import type { ComparisonConfig, ComparisonSpec } from "./comparison_options.ts";
import { ProgressBar } from "./progress.ts";
import type { Trained } from "./training.ts";

/** One row of the report: a model and how it was evaluated. */
export interface Row {
  /** The row's name: the head, and whether dynamic evaluation is on. */
  model: RowName;
  /** The model scored. */
  trained: Trained;
  /** One entry per scored batch (synthetic) or held-out document (text). */
  scores: TokenScores[];
  /** Wall-clock seconds of the evaluation. */
  seconds: number;
}

/** The rows' names, as `--json` writes them. */
export type RowName = "plain" | "plain+dynamic" | "fwl" | "fwl+dynamic";

/**
 * The held-out documents to score: whole documents in order while they fit in
 * `maxTokens` predicted tokens (0: all of them); the first document is cut to
 * `maxTokens + 1` bytes when even it does not fit.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { heldOutDocuments } from "./evaluation.ts";
 * const docs = [new Uint8Array(10), new Uint8Array(5), new Uint8Array(8)];
 * assertEquals(heldOutDocuments(docs, 0).length, 3);
 * assertEquals(heldOutDocuments(docs, 14).map((d) => d.length), [10, 5]);
 * assertEquals(heldOutDocuments(docs, 4).map((d) => d.length), [5]);
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
 * Tokens per evaluation call of the head: `--eval-window`, or the larger of `--length` and
 * 512. With the states carried (the default) it changes the speed only; a body with fewer
 * positions reads each call's tokens in pieces of its own length, side by side.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { evaluationWindow } from "./evaluation.ts";
 * assertEquals(evaluationWindow({ evalWindow: 0, length: 64 }), 512);
 * assertEquals(evaluationWindow({ evalWindow: 0, length: 1024 }), 1024);
 * assertEquals(evaluationWindow({ evalWindow: 96, length: 64 }), 96);
 * ```
 */
export function evaluationWindow(c: Pick<ComparisonConfig, "evalWindow" | "length">): number {
  return c.evalWindow > 0 ? c.evalWindow : Math.max(c.length, 512);
}

/**
 * Scores one trained model: the synthetic data's validation batches (`documents`
 * undefined), or the held-out `documents` plainly and, with `--dynamic-lr`, again with
 * dynamic evaluation (one row each).
 */
export async function evaluateModel(
  trained: Trained,
  data: TokenDataset,
  documents: readonly Uint8Array[] | undefined,
  spec: ComparisonSpec,
  c: ComparisonConfig,
): Promise<Row[]> {
  if (documents === undefined) return [await evaluateBatches(trained, data, c)];
  const window = evaluationWindow(c);
  const bodyWindow = Math.min(window, spec.maxPositions?.(c) ?? window);
  const rows = [await evaluateText(trained, documents, false, c, window, bodyWindow)];
  if (c.dynamicLr > 0) {
    rows.push(await evaluateText(trained, documents, true, c, window, bodyWindow));
  }
  return rows;
}

/**
 * Scores held-out documents one by one, each in consecutive windows of `window` tokens
 * (a body with `forwardFrom` carries its state from one to the next, the fast
 * weights too unless `--restart-windows`), plainly or with dynamic evaluation
 * (`--dynamic-lr`).
 */
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
 * import { assertEquals } from "@std/assert";
 * import { lossByPart } from "./evaluation.ts";
 * const nll = Float32Array.from([Math.LN2, Math.LN2, 0, 0]);
 * // First halves: 1, 1 and 1 bit; second halves: 0, 0 and 1 bit.
 * const halves = lossByPart([{ nll }, { nll: nll.subarray(0, 2) }], 2);
 * assertEquals(halves.map((bits) => bits.toFixed(3)), ["1.000", "0.333"]);
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
