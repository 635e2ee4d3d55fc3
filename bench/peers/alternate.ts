/**
 * Paired timing of two implementations on a noisy machine: the two run one after the
 * other in every round (which goes first alternates), so that load from other processes
 * hits both alike, and the ratio is taken per round before the median.
 *
 * @module
 */

/** Medians of an alternating measurement, in milliseconds. */
export interface PairedTiming {
  /** Median time of `ours`. */
  ours: number;
  /** Median time of `peer`. */
  peer: number;
  /** Median over rounds of `peer / ours` (> 1: ours is faster). */
  ratio: number;
  /** Every round's `[ours, peer]` times. */
  rounds: [number, number][];
}

/**
 * The median of a list of numbers (the mean of the middle two for an even count).
 *
 * @example
 * ```ts
 * import { median } from "./alternate.ts";
 * console.log(median([3, 1, 2]), median([4, 1, 3, 2])); // 2 2.5
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of nothing");
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/**
 * Times `ours` and `peer` (each awaited until its work is done) for `rounds` rounds,
 * alternating which runs first, and returns the medians.
 *
 * @example
 * ```ts
 * import { alternate } from "./alternate.ts";
 * const wait = (ms: number) => () => new Promise<void>((r) => setTimeout(r, ms));
 * const t = await alternate(3, wait(1), wait(5));
 * console.log(t.rounds.length, t.ratio > 1); // 3 true
 * ```
 */
export async function alternate(
  rounds: number,
  ours: () => Promise<void>,
  peer: () => Promise<void>,
): Promise<PairedTiming> {
  const timeOf = async (fn: () => Promise<void>): Promise<number> => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const times: [number, number][] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      const o = await timeOf(ours);
      times.push([o, await timeOf(peer)]);
    } else {
      const p = await timeOf(peer);
      times.push([await timeOf(ours), p]);
    }
  }
  return {
    ours: median(times.map((t) => t[0])),
    peer: median(times.map((t) => t[1])),
    ratio: median(times.map((t) => t[1] / t[0])),
    rounds: times,
  };
}
