/**
 * The charts of a comparison: both training curves (`--plot`) and, for held-out
 * documents, each row's gain over the plain head by position in the document
 * (`--position-plot`), as SVG files.
 *
 * @module
 */

import type { ComparisonConfig } from "./comparison_options.ts";
import { lossByPart, type Row } from "./evaluation.ts";
import { lineChartSVG } from "./svg_plot.ts";
import { HEAD_NAMES, type Trained } from "./training.ts";

/**
 * Writes the charts the flags ask for: the smoothed training curves of both models
 * (`--plot`) and the gain of every row but the first (the plain head's) over the plain
 * head by position (`--position-plot`).
 */
export async function writePlots(
  trained: readonly Trained[],
  rows: readonly Row[],
  bytes: boolean,
  c: ComparisonConfig,
): Promise<void> {
  const plain = rows[0];
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
    const base = lossByPart(plain.scores, parts);
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
}

/**
 * Asks for permission to write `path` (a chart `--flag` names) now, not after the
 * training; `false`, with the error printed, when it is denied. No path: `true`.
 */
export async function mayWrite(flag: string, path: string | undefined): Promise<boolean> {
  if (path === undefined) return true;
  // Without a terminal to ask on, say what to pass.
  const { state } = await Deno.permissions.request({ name: "write", path });
  if (state === "granted") return true;
  console.error(`error: --${flag} needs permission to write ${path} (pass --allow-write)`);
  return false;
}

/**
 * A loss curve smoothed by an exponential moving average (weight 0.9 on the past), as
 * `[step, value]` points with steps from 1.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { smoothCurve } from "./comparison_plots.ts";
 * const curve = smoothCurve([2, 1, 1]);
 * assertEquals(curve.map(([step, loss]) => [step, loss.toFixed(2)]), [[1, "2.00"], [2, "1.90"], [3, "1.81"]]);
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
