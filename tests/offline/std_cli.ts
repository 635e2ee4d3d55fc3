/**
 * OFFLINE STAND-IN for `jsr:@std/cli` (1.x) — only `parseArgs` and its
 * `Args` / `ParseOptions` types.
 *
 * Used only by tests/, bench/ and examples/ through
 * `tests/offline_import_map.json` (which maps `@std/cli` to this file) on
 * machines that cannot reach the JSR registry. It is never imported by `src/`
 * or `mod.ts`, and it is not published.
 *
 * The parser is an independent re-implementation of the real (minimist-style)
 * algorithm with the same runtime behaviour. The result *types* follow the
 * real ones for ordinary (non-dotted) flag names; see the notes on
 * {@linkcode parseArgs}.
 *
 * @module
 */

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------

/** What the `boolean` option's type parameter may be. */
type BooleanType = boolean | string | undefined;
/** What the `string` option's type parameter may be. */
type StringType = string | undefined;
/** What the `collect` option's type parameter may be. */
type Collectable = string | undefined;
/** What the `negatable` option's type parameter may be. */
type Negatable = string | undefined;

/** Alias map: flag name → alias name or list of alias names. */
type Aliases<TArgNames = string, TAliasNames extends string = string> = Partial<
  Record<Extract<TArgNames, string>, TAliasNames | ReadonlyArray<TAliasNames>>
>;

/** Flattens an intersection into a single object type (for readability). */
type Flatten<T> = T extends Record<string, unknown> ? { [K in keyof T]: T[K] }
  : T;

/** The literal, non-dotted flag names contained in a type parameter. */
type FlatNames<T> = T extends `${string}.${string}` ? never
  : Extract<T, string>;

/**
 * Typed results are produced when at least one of `boolean` (other than
 * `false`), `string` or `collect` is given — same rule as the real package.
 */
type UseTypes<TB, TS, TC> = undefined extends ((false extends TB ? undefined : TB) & TS & TC)
  ? false
  : true;

/** `| false` for negatable names. */
type Neg<K, TN> = K extends TN ? false : never;

type StringValues<TS, TC, TN> =
  & {
    [K in Exclude<FlatNames<TS>, FlatNames<TC>>]?: string | Neg<K, TN>;
  }
  & {
    [K in Extract<FlatNames<TS>, FlatNames<TC>>]: string[] | Neg<K, TN>;
  };

type BooleanValues<TB, TC> =
  & { [K in Exclude<FlatNames<TB>, FlatNames<TC>>]: boolean }
  & { [K in Extract<FlatNames<TB>, FlatNames<TC>>]: boolean[] };

type UnknownCollectValues<TB, TS, TC, TN> = {
  [K in Exclude<FlatNames<TC>, FlatNames<TB> | FlatNames<TS>>]:
    | unknown[]
    | Neg<K, TN>;
};

type KnownValues<TB, TS, TC, TN> = Flatten<
  & StringValues<TS, TC, TN>
  & BooleanValues<TB, TC>
  & UnknownCollectValues<TB, TS, TC, TN>
>;

/**
 * Applies defaults: a default for a declared flag makes it required with type
 * `default | NonNullable<flag type>`; a default for an undeclared flag is
 * typed `unknown` (as in the real package).
 */
type WithDefaults<TArgs, TDefaults> = [TDefaults] extends [undefined] ? TArgs
  :
    & Omit<TArgs, keyof TDefaults>
    & {
      [K in FlatNames<keyof TDefaults>]: K extends keyof TArgs
        ? TDefaults[K] | NonNullable<TArgs[K]>
        : unknown;
    };

type AliasNamesOf<K, TAliases> = K extends keyof TAliases ? string extends TAliases[K] ? K
  : TAliases[K] extends string ? K | TAliases[K]
  : TAliases[K] extends ReadonlyArray<string> ? K | TAliases[K][number]
  : K
  : K;

/** Copies each flag's type onto the alias names declared for it. */
type WithAliases<TArgs, TAliases> = {
  [K in keyof TArgs as AliasNamesOf<K, TAliases>]: TArgs[K];
};

/** The record of flag values `parseArgs` infers from its options. */
type Values<
  TBooleans extends BooleanType,
  TStrings extends StringType,
  TCollectable extends Collectable,
  TNegatable extends Negatable,
  TDefaults extends Record<string, unknown> | undefined,
  TAliases extends Aliases | undefined,
> = UseTypes<TBooleans, TStrings, TCollectable> extends true ?
    & Record<string, unknown>
    & WithAliases<
      Flatten<
        WithDefaults<
          KnownValues<TBooleans, TStrings, TCollectable, TNegatable>,
          TDefaults
        >
      >,
      TAliases
    >
  // deno-lint-ignore no-explicit-any
  : Record<string, any>;

/** The `"--"` entry of the result. */
type DoubleDash = {
  /** Arguments that appeared after a literal `--`. */
  "--"?: Array<string>;
};

/** The value returned from {@linkcode parseArgs}. */
export type Args<
  // deno-lint-ignore no-explicit-any
  TArgs extends Record<string, unknown> = Record<string, any>,
  TDoubleDash extends boolean | undefined = undefined,
> = Flatten<
  & TArgs
  & {
    /** Arguments that are not options (numbers are converted). */
    _: Array<string | number>;
  }
  & (boolean extends TDoubleDash ? DoubleDash
    : true extends TDoubleDash ? Required<DoubleDash>
    : Record<never, never>)
>;

/** Options for {@linkcode parseArgs}. */
export interface ParseOptions<
  TBooleans extends BooleanType = BooleanType,
  TStrings extends StringType = StringType,
  TCollectable extends Collectable = Collectable,
  TNegatable extends Negatable = Negatable,
  TDefault extends Record<string, unknown> | undefined =
    | Record<string, unknown>
    | undefined,
  TAliases extends Aliases | undefined = Aliases | undefined,
  TDoubleDash extends boolean | undefined = boolean | undefined,
> {
  /**
   * When `true`, arguments after `--` go to the result's `"--"` array instead
   * of `_`. Default `false`.
   */
  "--"?: TDoubleDash;
  /** Flag name → alias name(s). Aliases share the flag's value and type. */
  alias?: TAliases;
  /**
   * Names always treated as booleans (set to `false` when absent). `true`
   * treats every `--flag` without `=` as boolean.
   */
  boolean?: TBooleans | ReadonlyArray<Extract<TBooleans, string>>;
  /** Default values, applied to flags that were not given. */
  default?: TDefault;
  /** Stop parsing at the first non-option; the rest goes to `_`. */
  stopEarly?: boolean;
  /** Names always treated as strings (no number conversion). */
  string?: TStrings | ReadonlyArray<Extract<TStrings, string>>;
  /** Names whose repeated values are collected into an array. */
  collect?: TCollectable | ReadonlyArray<Extract<TCollectable, string>>;
  /** Names that can be negated with `--no-<name>` (sets `false`). */
  negatable?: TNegatable | ReadonlyArray<Extract<TNegatable, string>>;
  /**
   * Called for arguments not declared in the options; returning `false`
   * drops the argument from the result.
   */
  unknown?: (arg: string, key?: string, value?: unknown) => unknown;
}

// ---------------------------------------------------------------------------
// Runtime helpers
// ---------------------------------------------------------------------------

type Nested = Record<string, unknown>;

/** Non-blank text that `Number()` turns into a finite number. */
function looksNumeric(text: string): boolean {
  return /\S/.test(text) && Number.isFinite(Number(text));
}

function toList(value: unknown): string[] {
  if (value === undefined || value === null || value === false) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.filter((v): v is string => typeof v === "string" && v !== "");
}

/** Assigns `value` at the dotted `path`; appends when `append` is set. */
function put(
  target: Nested,
  path: string[],
  value: unknown,
  append = false,
): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Nested;
  }
  const last = path[path.length - 1];
  if (append) {
    const current = node[last];
    if (Array.isArray(current)) {
      current.push(value);
      return;
    }
    node[last] = current ? [current, value] : [value];
    return;
  }
  node[last] = value;
}

/** Whether every segment of the dotted `path` exists as an own property. */
function has(target: Nested, path: string[]): boolean {
  let node: unknown = target;
  for (const part of path) {
    if (!Object.hasOwn(node as object, part)) return false;
    node = (node as Nested)[part];
  }
  return true;
}

/** Splits a long-flag body at its `=` (the value must be non-empty). */
function splitLong(body: string): { key: string; value?: string } {
  for (let i = 1; i < body.length - 1; i++) {
    if (body[i] === "=") {
      return { key: body.slice(0, i), value: body.slice(i + 1) };
    }
  }
  return { key: body };
}

// ---------------------------------------------------------------------------
// parseArgs
// ---------------------------------------------------------------------------

/**
 * Parses command-line arguments (minimist-compatible, like `@std/cli`).
 *
 * - `--flag` → `true`, `--flag value` / `--flag=value` → value, `--no-flag`
 *   → `false` for `negatable` names (otherwise key `"no-flag"`).
 * - `-abc` sets `a`, `b`, `c`; the last letter may take the next argument;
 *   `-n5`, `-n=5`, `-I/path` attach a value to a letter.
 * - Values that look numeric become numbers unless the flag is in `string`;
 *   positional numeric arguments become numbers too (unless `"_"` is in
 *   `string`). Arguments after `--` are never converted.
 * - `boolean` flags never consume a following value except `true`/`false`,
 *   and default to `false`; `collect` flags gather values into arrays.
 * - Dotted names (`--a.b=1`) build nested objects.
 *
 * Typing: without `boolean`/`string`/`collect` the result is
 * `{ [x: string]: any; _: (string | number)[] }`. With them, declared
 * booleans are `boolean`, strings `string | undefined` (optional), collected
 * flags arrays, and flags that only appear in `default` are `unknown`.
 * (Simplification vs. the real package: dotted names are not given nested
 * types here; they fall back to the `unknown` index signature.)
 *
 * @param args The arguments, e.g. `Deno.args`.
 * @param options Parsing options.
 * @returns The parsed flags, plus `_` (and `"--"` when requested).
 */
export function parseArgs<
  TArgs extends Values<
    TBooleans,
    TStrings,
    TCollectable,
    TNegatable,
    TDefaults,
    TAliases
  >,
  TDoubleDash extends boolean | undefined = undefined,
  TBooleans extends BooleanType = undefined,
  TStrings extends StringType = undefined,
  TCollectable extends Collectable = undefined,
  TNegatable extends Negatable = undefined,
  TDefaults extends Record<string, unknown> | undefined = undefined,
  TAliases extends Aliases<TAliasArgNames, TAliasNames> | undefined = undefined,
  TAliasArgNames extends string = string,
  TAliasNames extends string = string,
>(
  args: string[],
  options?: ParseOptions<
    TBooleans,
    TStrings,
    TCollectable,
    TNegatable,
    TDefaults,
    TAliases,
    TDoubleDash
  >,
): Args<TArgs, TDoubleDash> {
  const opts = options ?? {};
  const splitDoubleDash = opts["--"] ?? false;
  const stopEarly = opts.stopEarly ?? false;
  const onUnknown = opts.unknown ?? ((arg: string): unknown => arg);

  // name -> every other name sharing its value
  const aliases = new Map<string, Set<string>>();
  const aliasOption: Record<string, string | readonly string[] | undefined> = opts.alias ?? {};
  for (const [name, raw] of Object.entries(aliasOption)) {
    if (raw === undefined) throw new TypeError("Alias value must be defined");
    const names: string[] = typeof raw === "string" ? [raw] : [...raw];
    aliases.set(name, new Set(names));
    for (const alias of names) {
      aliases.set(
        alias,
        new Set([name, ...names.filter((other) => other !== alias)]),
      );
    }
  }

  const withAliases = (list: string[]): Set<string> => {
    const set = new Set<string>();
    for (const name of list) {
      set.add(name);
      aliases.get(name)?.forEach((a) => set.add(a));
    }
    return set;
  };

  const allBooleans = opts.boolean === true;
  const booleans = withAliases(
    typeof opts.boolean === "boolean" ? [] : toList(opts.boolean),
  );
  const strings = withAliases(toList(opts.string));
  const collects = withAliases(toList(opts.collect));
  const negatables = withAliases(toList(opts.negatable));

  const aliasIsBoolean = (name: string): boolean => {
    for (const a of aliases.get(name) ?? []) if (booleans.has(a)) return true;
    return false;
  };
  /** A flag that must not swallow the following argument as its value. */
  const takesNoValue = (name: string): boolean =>
    booleans.has(name) || (aliases.has(name) && aliasIsBoolean(name));

  const result: Nested & { _: Array<string | number> } = { _: [] };

  const assign = (
    key: string,
    value: string | number | boolean,
    arg: string,
    append: boolean,
  ): void => {
    const declared = booleans.has(key) || strings.has(key) ||
      aliases.has(key) || (allBooleans && /^--[^=]+$/.test(arg));
    if (!declared && onUnknown(arg, key, value) === false) return;
    if (typeof value === "string" && !strings.has(key) && looksNumeric(value)) {
      value = Number(value);
    }
    const appendHere = append && collects.has(key);
    put(result, key.split("."), value, appendHere);
    aliases.get(key)?.forEach((alias) => put(result, alias.split("."), value, appendHere));
  };

  // Everything after the first "--" is passed through untouched.
  const cut = args.indexOf("--");
  const rest = cut === -1 ? [] : args.slice(cut + 1);
  const list = cut === -1 ? args : args.slice(0, cut);

  for (let i = 0; i < list.length; i++) {
    const arg = list[i];

    if (arg.length < 2 || arg[0] !== "-") {
      // Positional argument.
      if (onUnknown(arg) !== false) {
        result._.push(
          strings.has("_") || !looksNumeric(arg) ? arg : Number(arg),
        );
      }
      if (stopEarly) {
        result._.push(...list.slice(i + 1));
        break;
      }
      continue;
    }

    if (arg[1] === "-" && arg.length > 2) {
      // Long flag: --key, --key=value, --no-key, --key value
      let body = arg.slice(2);
      let negated = false;
      if (body.startsWith("no-") && body.length > 3) {
        negated = true;
        body = body.slice(3);
      }
      const parts = splitLong(body);
      let key = parts.key;
      if (parts.value !== undefined) {
        // Like the real parser, `--no-x=v` ignores the `no-` prefix.
        const value = booleans.has(key) ? parts.value !== "false" : parts.value;
        assign(key, value, arg, true);
        continue;
      }
      if (negated) {
        if (negatables.has(key)) {
          assign(key, false, arg, false);
          continue;
        }
        key = `no-${key}`;
      }
      const next = list[i + 1];
      if (next) {
        if (!allBooleans && !next.startsWith("-") && !takesNoValue(key)) {
          assign(key, next, arg, true);
          i++;
          continue;
        }
        if (next === "true" || next === "false") {
          assign(key, next !== "false", arg, true);
          i++;
          continue;
        }
      }
      assign(key, strings.has(key) ? "" : true, arg, true);
      continue;
    }

    // Short flag group: -a, -abc, -n5, -n=5, -I/path, -f-
    const letters = arg.slice(1, -1).split("");
    let consumedRest = false;
    for (let j = 0; j < letters.length; j++) {
      const letter = letters[j];
      const tail = arg.slice(j + 2);
      if (tail === "-") {
        assign(letter, tail, arg, true);
        continue;
      }
      if (/[A-Za-z]/.test(letter)) {
        const eq = tail.indexOf("=");
        if (eq !== -1 && eq < tail.length - 1) {
          assign(letter, tail.slice(eq + 1), arg, true);
          consumedRest = true;
          break;
        }
        if (/-?\d+(\.\d*)?(e-?\d+)?$/.test(tail)) {
          assign(letter, tail, arg, true);
          consumedRest = true;
          break;
        }
      }
      if (j + 1 < letters.length && /\W/.test(letters[j + 1])) {
        assign(letter, tail, arg, true);
        consumedRest = true;
        break;
      }
      assign(letter, strings.has(letter) ? "" : true, arg, true);
    }
    if (consumedRest) continue;

    const key = arg[arg.length - 1];
    if (key === "-") continue;
    const next = list[i + 1];
    if (next) {
      if (!/^(-|--)[^-]/.test(next) && !takesNoValue(key)) {
        assign(key, next, arg, true);
        i++;
        continue;
      }
      if (next === "true" || next === "false") {
        assign(key, next !== "false", arg, true);
        i++;
        continue;
      }
    }
    assign(key, strings.has(key) ? "" : true, arg, true);
  }

  // Defaults (and their aliases) for flags that were not given.
  for (const [name, value] of Object.entries(opts.default ?? {})) {
    const path = name.split(".");
    if (has(result, path)) continue;
    put(result, path, value);
    aliases.get(name)?.forEach((alias) => put(result, alias.split("."), value));
  }
  // Absent booleans are false (or [] when collected).
  for (const name of booleans) {
    const path = name.split(".");
    if (!has(result, path)) put(result, path, collects.has(name) ? [] : false);
  }
  // Absent collected strings are [].
  for (const name of strings) {
    const path = name.split(".");
    if (!has(result, path) && collects.has(name)) put(result, path, []);
  }

  if (splitDoubleDash) result["--"] = rest;
  else result._.push(...rest);

  return result as unknown as Args<TArgs, TDoubleDash>;
}
