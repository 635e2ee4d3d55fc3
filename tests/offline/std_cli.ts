/**
 * OFFLINE STAND-IN for `jsr:@std/cli` (1.x): its `parseArgs` only.
 *
 * Used only by tests/, bench/ and examples/ through `tests/offline_import_map.json`
 * (which maps `@std/cli` to this file) on machines that cannot reach the JSR registry.
 * It is never imported by `src/` or `mod.ts`, and it is not published.
 *
 * Written from the documented behaviour of `parseArgs` (minimist's rules), not copied:
 *
 * - `--key=value`, `--key value` (the next argument, unless it starts with `-`), and
 *   `--key` alone (`true`, or `""` for a `string` key);
 * - `boolean` keys never take the next argument, except a literal `true` or `false`;
 *   `--key=false` is `false`, any other `--key=value` is `true`; unset ones are `false`;
 * - `-abc` sets `a`, `b` and `c`; `-n5` sets `n` to 5; `-f=x` sets `f` to `"x"`; the last
 *   letter of a group takes the next argument like a long key;
 * - `--no-key` is `false` for a `negatable` key (else it is the key `no-key`);
 * - `alias` names share one value; `collect` keys gather every value in an array (`[]`
 *   when never given); `default` fills keys not given;
 * - values of keys not listed in `string` (and arguments in `_`, unless `_` is listed)
 *   that look like numbers become numbers;
 * - every argument after the first `--` is left as it is: in `_`, or in `["--"]` with
 *   the `"--"` option; `stopEarly` does the same from the first positional argument;
 * - `unknown(arg, key, value)` is called for a key none of the options name, and
 *   `unknown(arg)` for a positional argument before `--`; returning `false` drops it.
 *
 * Unlike the real package, dotted keys (`--a.b`) are not nested, and the result's type
 * is a plain record rather than one inferred from the options.
 *
 * @module
 */

/** The options of {@linkcode parseArgs}. */
export interface ParseOptions {
  /** Put the arguments after `--` in the result's `"--"` instead of `_`. */
  "--"?: boolean;
  /** Other names of a key: `{ h: "help" }` makes `-h` and `--help` one flag. */
  alias?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Keys that are booleans (`true`: every `--key` without `=`). */
  boolean?: boolean | string | readonly string[];
  /** Values of keys not given. */
  default?: Readonly<Record<string, unknown>>;
  /** Stop parsing at the first positional argument. */
  stopEarly?: boolean;
  /** Keys whose values stay strings. */
  string?: string | readonly string[];
  /** Keys whose values are gathered in an array. */
  collect?: string | readonly string[];
  /** Keys that `--no-key` sets to `false`. */
  negatable?: string | readonly string[];
  /** Called for an unknown key or a positional argument; `false` drops it. */
  unknown?: (arg: string, key?: string, value?: unknown) => unknown;
}

/** What {@linkcode parseArgs} returns: a value by key, and the positional arguments. */
export type Args = Record<string, unknown> & {
  /** The positional arguments (numbers where they look like numbers). */
  _: Array<string | number>;
  /** With the `"--"` option: the arguments after `--`. */
  "--"?: string[];
};

const list = (v: string | readonly string[] | undefined): readonly string[] =>
  v === undefined ? [] : typeof v === "string" ? [v] : v;

/** A string that reads as a finite number (not blank). */
function looksNumeric(s: string): boolean {
  return /\S/.test(s) && Number.isFinite(Number(s));
}

/**
 * Parses command-line arguments into an object of flags and positional arguments (see
 * the module's documentation for the rules).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { parseArgs } from "@std/cli";
 * const args = parseArgs(["--steps", "20", "--text=a.txt", "-h", "extra"], {
 *   string: ["steps", "text"],
 *   boolean: ["help"],
 *   alias: { h: "help" },
 * });
 * assertEquals(args, { _: ["extra"], steps: "20", text: "a.txt", help: true, h: true });
 * ```
 */
export function parseArgs(args: readonly string[], options: ParseOptions = {}): Args {
  const unknownFn = options.unknown ?? ((arg: string) => arg);
  // Every name of a key, both ways: "h" → {"help"}, "help" → {"h"}.
  const aliases = new Map<string, Set<string>>();
  for (const [key, value] of Object.entries(options.alias ?? {})) {
    if (value === undefined) throw new TypeError("Alias value must be defined");
    const names = [key, ...list(value)];
    for (const name of names) {
      const others = aliases.get(name) ?? new Set<string>();
      for (const other of names) if (other !== name) others.add(other);
      aliases.set(name, others);
    }
  }
  const withAliases = (keys: readonly string[]) => {
    const set = new Set<string>();
    for (const key of keys.filter(Boolean)) {
      set.add(key);
      for (const other of aliases.get(key) ?? []) set.add(other);
    }
    return set;
  };
  const allBooleans = options.boolean === true;
  const booleans = withAliases(typeof options.boolean === "boolean" ? [] : list(options.boolean));
  const strings = withAliases(list(options.string));
  const collects = withAliases(list(options.collect));
  const negatables = withAliases(list(options.negatable));
  const isBoolean = (key: string) =>
    booleans.has(key) || [...(aliases.get(key) ?? [])].some((k) => booleans.has(k));

  const out: Args = { _: [] };
  const store = (key: string, value: unknown, collect: boolean) => {
    if (key === "__proto__" || key === "constructor") return;
    if (collect && collects.has(key)) {
      const held = Object.hasOwn(out, key) ? out[key] : undefined;
      out[key] = Array.isArray(held) ? [...held, value] : held ? [held, value] : [value];
    } else {
      out[key] = value;
    }
  };
  const set = (key: string, value: string | boolean, arg: string, collect = true) => {
    const known = booleans.has(key) || strings.has(key) || aliases.has(key) ||
      collects.has(key) || (allBooleans && /^--[^=]+$/.test(arg));
    if (!known && unknownFn(arg, key, value) === false) return;
    const v = typeof value === "string" && !strings.has(key) && looksNumeric(value)
      ? Number(value)
      : value;
    store(key, v, collect);
    for (const other of aliases.get(key) ?? []) store(other, v, collect);
  };
  // A key without `=value` may take the next argument; returns whether it did.
  const takeNext = (
    key: string,
    arg: string,
    next: string | undefined,
    nextIsFlag: boolean,
    allBoolean: boolean,
  ) => {
    if (next) {
      if (!isBoolean(key) && !allBoolean && !nextIsFlag) {
        set(key, next, arg);
        return true;
      }
      if (next === "true" || next === "false") {
        set(key, next === "true", arg);
        return true;
      }
    }
    set(key, strings.has(key) ? "" : true, arg);
    return false;
  };

  const end = args.indexOf("--");
  const parsed = end === -1 ? args : args.slice(0, end);
  const rest = end === -1 ? [] : args.slice(end + 1);
  for (let i = 0; i < parsed.length; i++) {
    const arg = parsed[i];
    const long = /^--(.+?)(?:=(.*))?$/s.exec(arg);
    if (long) {
      const [, key, value] = long;
      // `--no-key=value` sets `key`; `--no-key` alone negates a negatable key, else it is
      // the key `no-key` itself.
      const negated = /^no-./s.test(key) ? key.slice(3) : undefined;
      if (value !== undefined) {
        const name = negated ?? key;
        set(name, isBoolean(name) ? value !== "false" : value, arg);
        continue;
      }
      if (negated !== undefined && negatables.has(negated)) {
        set(negated, false, arg, false);
        continue;
      }
      const next = parsed[i + 1];
      if (takeNext(key, arg, next, next?.startsWith("-") ?? false, allBooleans)) i++;
      continue;
    }
    if (/^-./s.test(arg)) {
      if (shortFlags(arg)) continue;
      const key = arg.at(-1)!;
      if (key === "-") continue;
      const next = parsed[i + 1];
      if (takeNext(key, arg, next, /^--?[^-]/.test(next ?? ""), false)) i++;
      continue;
    }
    if (unknownFn(arg) !== false) {
      out._.push(strings.has("_") || !looksNumeric(arg) ? arg : Number(arg));
    }
    if (options.stopEarly) {
      out._.push(...parsed.slice(i + 1));
      break;
    }
  }

  // Every letter of `-abc` but the last; returns true when a letter took the rest of
  // the argument as its value (then the last letter is not a flag of its own).
  function shortFlags(arg: string): boolean {
    const letters = arg.slice(1, -1);
    for (let j = 0; j < letters.length; j++) {
      const letter = letters[j];
      const after = arg.slice(j + 2);
      if (after === "-") {
        set(letter, after, arg);
        continue;
      }
      if (after === "=") {
        set(letter, "", arg);
        return true;
      }
      if (/[A-Za-z]/.test(letter)) {
        const eq = after.indexOf("=");
        if (eq !== -1 && eq < after.length - 1) {
          set(letter, after.slice(eq + 1), arg);
          return true;
        }
        if (/-?\d+(\.\d*)?(e-?\d+)?$/.test(after)) {
          set(letter, after, arg);
          return true;
        }
      }
      if (/\W/.test(letters[j + 1] ?? "")) {
        set(letter, after, arg);
        return true;
      }
      set(letter, strings.has(letter) ? "" : true, arg);
    }
    return false;
  }

  for (const [key, value] of Object.entries(options.default ?? {})) {
    if (Object.hasOwn(out, key)) continue;
    store(key, value, false);
    for (const other of aliases.get(key) ?? []) store(other, value, false);
  }
  for (const key of booleans) {
    if (!Object.hasOwn(out, key)) out[key] = collects.has(key) ? [] : false;
  }
  for (const key of strings) {
    if (!Object.hasOwn(out, key) && collects.has(key)) out[key] = [];
  }
  if (options["--"]) out["--"] = [...rest];
  else out._.push(...rest);
  return out;
}
