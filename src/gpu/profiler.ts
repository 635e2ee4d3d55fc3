/**
 * Time per kernel, for finding where a recording spends its time: while a
 * {@linkcode KernelProfiler} is attached to a context, every recorded op is submitted on
 * its own and waited for, and its wall-clock time is added to its kernel's total. This
 * serializes the work (no overlap between kernels) and adds a host round trip per op, so
 * the totals are for comparing kernels with each other, not for absolute speed.
 *
 * @module
 */

/** One kernel's (or one family's) share of a profile. */
export interface KernelTime {
  /** Kernel name, or family name in {@linkcode KernelProfiler.byFamily}. */
  name: string;
  /** Milliseconds in all, over every op recorded while attached. */
  ms: number;
  /** Number of ops. */
  count: number;
}

/**
 * Collects the time of each op that a profiled context submits.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { KernelProfiler } from "@x/fwl/gpu";
 * const profiler = new KernelProfiler();
 * profiler.add("matmul_vec4", 2);
 * profiler.add("matmul_tn", 1);
 * profiler.add("copy", 0.5);
 * assertEquals(profiler.byFamily((name) => name.split("_")[0]), [
 *   { name: "matmul", ms: 3, count: 2 },
 *   { name: "copy", ms: 0.5, count: 1 },
 * ]);
 * assertEquals(profiler.totalMs, 3.5);
 * profiler.clear();
 * assertEquals(profiler.kernels, []);
 * ```
 */
export class KernelProfiler {
  readonly #times = new Map<string, KernelTime>();
  readonly #grids: boolean;

  /**
   * With `grids`, ops of one kernel are kept apart by their dispatch grid (the name
   * gets ` [x×y×z]`): a matmul's shapes, for instance.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { KernelProfiler } from "@x/fwl/gpu";
   * const profiler = new KernelProfiler({ grids: true });
   * profiler.add("matmul", 2, [250, 16, 1]);
   * profiler.add("matmul", 1, [2, 16, 1]);
   * const names = profiler.kernels.map((t) => t.name);
   * assertEquals(names, ["matmul [250×16×1]", "matmul [2×16×1]"]);
   * ```
   */
  constructor(options: { grids?: boolean } = {}) {
    this.#grids = options.grids ?? false;
  }

  /** Adds `ms` to kernel `name` (dispatched on `grid`, when known). */
  add(name: string, ms: number, grid?: readonly number[]): void {
    if (this.#grids && grid) name = `${name} [${grid.join("×")}]`;
    const t = this.#times.get(name) ?? { name, ms: 0, count: 0 };
    t.ms += ms;
    t.count++;
    this.#times.set(name, t);
  }

  /** Per kernel, most time first. */
  get kernels(): KernelTime[] {
    return [...this.#times.values()].map((t) => ({ ...t })).sort((a, b) => b.ms - a.ms);
  }

  /** Per family (`family(kernelName)`), most time first. */
  byFamily(family: (kernel: string) => string): KernelTime[] {
    const out = new Map<string, KernelTime>();
    for (const t of this.#times.values()) {
      const name = family(t.name);
      const f = out.get(name) ?? { name, ms: 0, count: 0 };
      f.ms += t.ms;
      f.count += t.count;
      out.set(name, f);
    }
    return [...out.values()].sort((a, b) => b.ms - a.ms);
  }

  /** Milliseconds over every op. */
  get totalMs(): number {
    let ms = 0;
    for (const t of this.#times.values()) ms += t.ms;
    return ms;
  }

  /** Forgets every time. */
  clear(): void {
    this.#times.clear();
  }
}
