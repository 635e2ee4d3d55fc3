/**
 * A one-line progress bar for long loops in the examples: done/total, elapsed time, an
 * ETA and a few values (such as the loss). On a terminal it redraws itself in place;
 * elsewhere (a log, CI) it prints a plain line every tenth of the work.
 *
 * @module
 */

/** Options of {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** What is being done, shown first (e.g. `"FWL head"`). */
  label: string;
  /** Number of units of work. */
  total: number;
  /** Where to write (default: standard error). */
  writer?: { writeSync(p: Uint8Array): number };
  /** Redraw in place (default: whether the writer is a terminal). */
  interactive?: boolean;
  /** Width of the bar in characters (default 24). */
  width?: number;
  /** The clock, in milliseconds (default `performance.now`). */
  now?: () => number;
}

/**
 * Seconds as `m:ss` or `h:mm:ss` (`--:--` when unknown).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { formatDuration } from "./progress.ts";
 * assertEquals([formatDuration(90), formatDuration(4000), formatDuration(NaN)], [
 *   "1:30",
 *   "1:06:40",
 *   "--:--",
 * ]);
 * ```
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--:--";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n: number) => String(n).padStart(2, "0");
  return h > 0 ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}

/**
 * Progress of a loop with a known number of steps.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { ProgressBar } from "./progress.ts";
 * const lines: string[] = [];
 * const writer = { writeSync: (p: Uint8Array) => (lines.push(new TextDecoder().decode(p)), p.length) };
 * const bar = new ProgressBar({ label: "train", total: 4, writer, interactive: false });
 * for (let i = 0; i < 4; i++) bar.tick({ loss: 2 - i / 4 });
 * bar.done();
 * assert(lines.at(-1)?.includes("4/4"));
 * ```
 */
export class ProgressBar {
  readonly label: string;
  readonly total: number;
  readonly #writer: { writeSync(p: Uint8Array): number };
  readonly #interactive: boolean;
  readonly #width: number;
  readonly #now: () => number;
  readonly #start: number;
  readonly #encoder = new TextEncoder();
  #done = 0;
  #lastDraw = -Infinity;
  #lastTenth = 0;
  #values: Record<string, number> = {};
  #finished = false;

  /** Starts the clock. */
  constructor(options: ProgressBarOptions) {
    if (!(Number.isInteger(options.total) && options.total >= 1)) {
      throw new RangeError(`ProgressBar: total must be a positive integer, got ${options.total}`);
    }
    this.label = options.label;
    this.total = options.total;
    this.#writer = options.writer ?? Deno.stderr;
    this.#interactive = options.interactive ??
      (options.writer === undefined && Deno.stderr.isTerminal());
    this.#width = options.width ?? 24;
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** Units done so far. */
  get count(): number {
    return this.#done;
  }

  /** Seconds since the bar was made. */
  get elapsed(): number {
    return (this.#now() - this.#start) / 1000;
  }

  /** Marks `units` (default 1) done and shows `values` (e.g. `{ loss }`). */
  tick(values: Record<string, number> = {}, units = 1): void {
    this.#done = Math.min(this.total, this.#done + units);
    this.#values = { ...this.#values, ...values };
    const now = this.#now();
    if (this.#interactive) {
      if (now - this.#lastDraw >= 100 || this.#done === this.total) {
        this.#lastDraw = now;
        this.#write(`\r\x1b[2K${this.line()}`);
      }
      return;
    }
    const tenth = Math.floor((this.#done / this.total) * 10);
    if (tenth > this.#lastTenth) {
      this.#lastTenth = tenth;
      this.#write(`${this.line()}\n`);
    }
  }

  /** Ends the bar's line (on a terminal). Idempotent. */
  done(): void {
    if (this.#finished) return;
    this.#finished = true;
    if (this.#interactive) this.#write(`\r\x1b[2K${this.line()}\n`);
  }

  /** The current line: label, bar, count, elapsed, ETA, values. */
  line(): string {
    const fraction = this.#done / this.total;
    const filled = Math.round(fraction * this.#width);
    const bar = "█".repeat(filled) + "░".repeat(this.#width - filled);
    const elapsed = this.elapsed;
    const eta = this.#done > 0 ? (elapsed / this.#done) * (this.total - this.#done) : NaN;
    const values = Object.entries(this.#values)
      .map(([k, v]) => `${k} ${Number.isFinite(v) ? v.toFixed(3) : v}`)
      .join("  ");
    const time = this.#done === this.total
      ? `${formatDuration(elapsed)}`
      : `${formatDuration(elapsed)} ETA ${formatDuration(eta)}`;
    return `${this.label} ${bar} ${this.#done}/${this.total}  ${time}${
      values ? `  ${values}` : ""
    }`;
  }

  #write(text: string): void {
    const bytes = this.#encoder.encode(text);
    let off = 0;
    while (off < bytes.length) off += this.#writer.writeSync(bytes.subarray(off));
  }
}
