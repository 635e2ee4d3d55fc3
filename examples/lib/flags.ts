/**
 * The examples' command-line parser: `--name value`, `--name=value`, boolean flags and
 * one-letter aliases (`-h`), with every mistake (unknown flag, stray argument, a flag
 * given twice) thrown as a {@linkcode UsageError}. Self-contained, so that the examples
 * run with no registry and no permission.
 *
 * @module
 */

/** A mistake on the command line; the examples print it with their usage. */
export class UsageError extends Error {}

/** Which flags a command line may hold. */
export interface FlagSpec {
  /** Flags that take a value (`--steps 20`, `--steps=20`). */
  string: readonly string[];
  /** Flags that take no value (`--help`). */
  boolean: readonly string[];
  /** One-letter aliases: `{ h: "help" }` makes `-h` mean `--help`. */
  alias?: Readonly<Record<string, string>>;
}

/**
 * Parses `argv` against `spec`: each flag given maps to its value (`true` for a boolean
 * flag). A value flag takes the next argument unless that one looks like a flag (a
 * negative number is a value), so `--text` alone gives `""`.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./flags.ts";
 * const args = parseFlags(["--steps", "20", "--text=a.txt", "-h"], {
 *   string: ["steps", "text"],
 *   boolean: ["help"],
 *   alias: { h: "help" },
 * });
 * console.log(args); // { steps: "20", text: "a.txt", help: true }
 * ```
 */
export function parseFlags(argv: readonly string[], spec: FlagSpec): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  const looksLikeFlag = (arg: string) => /^-(?![\d.])/.test(arg);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^(?:--([^=]+)|-([^-=]))(?:=(.*))?$/s.exec(arg);
    if (!m) {
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (flags start with --)`);
    }
    const name = m[1] ?? spec.alias?.[m[2]] ?? m[2];
    const flag = arg.split("=")[0];
    if (Object.hasOwn(out, name)) throw new UsageError(`--${name} given more than once`);
    if (spec.boolean.includes(name)) {
      if (m[3] !== undefined) throw new UsageError(`${flag} takes no value`);
      out[name] = true;
    } else if (spec.string.includes(name)) {
      const next = argv[i + 1];
      out[name] = m[3] ?? (next === undefined || looksLikeFlag(next) ? "" : argv[++i]);
    } else {
      throw new UsageError(`unknown flag ${flag}`);
    }
  }
  return out;
}
