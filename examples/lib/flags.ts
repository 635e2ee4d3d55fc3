/**
 * The examples' command-line parser: a strict, typed layer over `parseArgs` from
 * `@std/cli`. `--name value`, `--name=value`, boolean flags and one-letter aliases
 * (`-h`) as `parseArgs` reads them, and every mistake (unknown flag, stray argument, a
 * flag given twice, a value for a boolean flag) thrown as a {@linkcode UsageError},
 * which the examples print with a hint and exit code 2.
 *
 * @module
 */

import { parseArgs } from "@std/cli";

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
 * flag; `--json false`, which `parseArgs` reads as not given, is left out). A value flag
 * takes the next argument unless that one looks like a flag (a negative number is a
 * value), so `--text` alone gives `""`. Arguments after `--` are positional, and there
 * are none to give.
 *
 * @throws {UsageError} For an unknown flag, a positional argument, a flag given more
 * than once, or a value given to a boolean flag.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { parseFlags, UsageError } from "./flags.ts";
 * const spec = { string: ["steps", "text", "lr"], boolean: ["help"], alias: { h: "help" } };
 * const args = parseFlags(["--steps", "20", "--text=a.txt", "--lr", "-0.5", "-h"], spec);
 * assertEquals(args, { steps: "20", text: "a.txt", lr: "-0.5", help: true });
 * assertThrows(() => parseFlags(["--bogus"], spec), UsageError, "unknown flag --bogus");
 * assertThrows(() => parseFlags(["-h", "--help"], spec), UsageError, "--help given more than once");
 * ```
 */
export function parseFlags(argv: readonly string[], spec: FlagSpec): Record<string, string | true> {
  const names = [...spec.string, ...spec.boolean];
  const parsed: Record<string, unknown> & { _: unknown[] } = parseArgs(argsForParse(argv, spec), {
    string: spec.string,
    boolean: spec.boolean,
    alias: spec.alias ?? {},
    // Every value given, so that a flag given twice is caught rather than the last one kept.
    collect: names,
    unknown: (arg: string, key?: string) => {
      throw new UsageError(
        key === undefined
          ? `unexpected argument ${JSON.stringify(arg)} (flags start with --)`
          : `unknown flag ${arg.split("=")[0]}`,
      );
    },
  });
  // parseArgs hands the arguments after `--` to `_` without asking `unknown`.
  if (parsed._.length > 0) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(String(parsed._[0]))} (flags start with --)`,
    );
  }
  const out: Record<string, string | true> = {};
  for (const name of names) {
    const values = parsed[name];
    if (!Array.isArray(values)) continue;
    if (values.length > 1) throw new UsageError(`--${name} given more than once`);
    const [value] = values;
    if (value === true || typeof value === "string") out[name] = value;
  }
  return out;
}

/**
 * `argv` as `parseArgs` should see it (up to `--`): a negative number after a value
 * flag joined to it (`--lr -0.5` → `--lr=-0.5`), since `parseArgs` would read it as
 * one-letter flags; a boolean flag with `=value` refused, since `parseArgs` would read
 * `--json=1` as `true`.
 */
function argsForParse(argv: readonly string[], spec: FlagSpec): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.push(...argv.slice(i));
      break;
    }
    const withValue = /^(?:--([^=]+)|-([^-=]))=/s.exec(arg);
    if (withValue) {
      const name = withValue[1] ?? spec.alias?.[withValue[2]] ?? withValue[2];
      if (spec.boolean.includes(name)) {
        throw new UsageError(`${arg.split("=")[0]} takes no value`);
      }
    }
    const next = argv[i + 1];
    if (
      /^--[^=]+$/.test(arg) && spec.string.includes(arg.slice(2)) && next !== undefined &&
      /^-[\d.]/.test(next)
    ) {
      out.push(`${arg}=${next}`);
      i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}
