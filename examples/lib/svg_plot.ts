/**
 * A small line chart as a standalone SVG document (no dependencies): several series on
 * shared axes with "nice" ticks, a legend and axis labels.
 *
 * @module
 */

/** One line of a chart. */
export interface Series {
  /** Legend text. */
  name: string;
  /** The points, `[x, y]`; non-finite points are skipped. */
  points: readonly (readonly [number, number])[];
  /** A CSS color (default: from a palette). */
  color?: string;
}

/** Options of {@linkcode lineChartSVG}. */
export interface LineChartOptions {
  /** Title above the chart. */
  title?: string;
  /** Label of the x axis. */
  xLabel?: string;
  /** Label of the y axis. */
  yLabel?: string;
  /** Width in pixels (default 720). */
  width?: number;
  /** Height in pixels (default 420). */
  height?: number;
}

const PALETTE = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

/** Escapes text for SVG. */
function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/**
 * About `count` round tick values covering `[min, max]` (steps of 1, 2 or 5 × 10ⁿ).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { niceTicks } from "./svg_plot.ts";
 * assertEquals(niceTicks(0, 97, 5), [0, 20, 40, 60, 80, 100]);
 * ```
 */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(Number.isFinite(min) && Number.isFinite(max))) return [];
  if (max === min) {
    max = min + 1;
    min -= 1;
  }
  const raw = (max - min) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const start = Math.floor(min / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = start; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) {
    ticks.push(Number((start + ticks.length * step).toPrecision(12)));
  }
  return ticks;
}

/**
 * An SVG document with one polyline per series.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { lineChartSVG } from "./svg_plot.ts";
 * const svg = lineChartSVG(
 *   [{ name: "loss", points: [[0, 5], [1, 4], [2, 3.5]] }],
 *   { title: "training", xLabel: "step", yLabel: "nats" },
 * );
 * assert(svg.startsWith("<svg") && svg.includes("<polyline"));
 * ```
 */
export function lineChartSVG(series: readonly Series[], options: LineChartOptions = {}): string {
  const { title = "", xLabel = "", yLabel = "", width = 720, height = 420 } = options;
  const margin = { left: 64, right: 20, top: title ? 40 : 20, bottom: 52 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const finite = series.flatMap((s) =>
    s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  );
  const xs = finite.map((p) => p[0]), ys = finite.map((p) => p[1]);
  const xTicks = niceTicks(Math.min(...xs, 0), xs.length ? Math.max(...xs) : 1);
  const yTicks = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
  const [x0, x1] = [xTicks[0] ?? 0, xTicks[xTicks.length - 1] ?? 1];
  const [y0, y1] = [yTicks[0] ?? 0, yTicks[yTicks.length - 1] ?? 1];
  const sx = (x: number) => margin.left + ((x - x0) / (x1 - x0 || 1)) * plotW;
  const sy = (y: number) => margin.top + plotH - ((y - y0) / (y1 - y0 || 1)) * plotH;
  const f = (v: number) => v.toFixed(1);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  );
  if (title) {
    parts.push(
      `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    );
  }
  for (const t of yTicks) {
    parts.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${f(sy(t))}" y2="${
        f(sy(t))
      }" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${t}</text>`,
    );
  }
  for (const t of xTicks) {
    parts.push(
      `<line x1="${f(sx(t))}" x2="${f(sx(t))}" y1="${margin.top}" y2="${
        margin.top + plotH
      }" stroke="#f0f0f0"/>`,
      `<text x="${f(sx(t))}" y="${margin.top + plotH + 16}" text-anchor="middle">${t}</text>`,
    );
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`,
  );
  if (xLabel) {
    parts.push(
      `<text x="${margin.left + plotW / 2}" y="${height - 12}" text-anchor="middle">${
        esc(xLabel)
      }</text>`,
    );
  }
  if (yLabel) {
    const cy = margin.top + plotH / 2;
    parts.push(
      `<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${
        esc(yLabel)
      }</text>`,
    );
  }
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => `${f(sx(x))},${f(sy(y))}`).join(" ");
    parts.push(
      `<polyline fill="none" stroke="${color}" stroke-width="1.8" points="${pts}"/>`,
    );
    const ly = margin.top + 14 + i * 18;
    const lx = margin.left + plotW - 190;
    parts.push(
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly - 4}" y2="${
        ly - 4
      }" stroke="${color}" stroke-width="3"/>`,
      `<text x="${lx + 28}" y="${ly}">${esc(s.name)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
