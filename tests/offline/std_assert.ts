/**
 * OFFLINE STAND-IN for `jsr:@std/assert` (1.x).
 *
 * Used only by tests/, bench/ and examples/ through
 * `tests/offline_import_map.json` (which maps `@std/assert` to this file) on
 * machines that cannot reach the JSR registry. It is never imported by `src/`
 * or `mod.ts`, and it is not published.
 *
 * It re-implements (independently, not copied) the subset of the real
 * package's API that this project uses, with the same exported names,
 * signatures and pass/fail semantics. Failure *messages* follow the real
 * wording, but the diff rendering is simpler and uncoloured.
 *
 * @module
 */

// ---------------------------------------------------------------------------
// Error type
// ---------------------------------------------------------------------------

/** Error thrown when an assertion fails (`name` is `"AssertionError"`). */
export class AssertionError extends Error {
  /**
   * @param message The error message.
   * @param options Standard `ErrorOptions` (e.g. `cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AssertionError";
  }
}

// ---------------------------------------------------------------------------
// Internal helpers
// ---------------------------------------------------------------------------

/** `": msg"` when a message was given, otherwise `"."`. */
function suffix(msg: string | undefined): string {
  return msg ? `: ${msg}` : ".";
}

/** Renders a value the way the real package does (via `Deno.inspect`). */
function show(value: unknown): string {
  const inspect = (globalThis as { Deno?: { inspect?: typeof Deno.inspect } })
    .Deno?.inspect;
  if (typeof inspect === "function") {
    return inspect(value, {
      depth: Infinity,
      sorted: true,
      trailingComma: true,
      compact: false,
      iterableLimit: Infinity,
      getters: true,
      strAbbreviateSize: Infinity,
    });
  }
  return `"${String(value).replace(/(["\\])/g, "\\$1")}"`;
}

// deno-lint-ignore no-control-regex
const ANSI_PATTERN = /\u001b\[[0-9;]*[A-Za-z]/g;

function stripAnsi(text: string): string {
  return text.replace(ANSI_PATTERN, "");
}

/**
 * Minimal line diff (longest common subsequence) used to build failure
 * messages. Falls back to "all removed / all added" for very large inputs.
 */
function lineDiff(actual: string[], expected: string[]): string[] {
  const n = actual.length;
  const m = expected.length;
  if (n * m > 4_000_000) {
    return [
      ...actual.map((l) => `-   ${l}`),
      ...expected.map((l) => `+   ${l}`),
    ];
  }
  // lcs[i][j] = LCS length of actual[i..] and expected[j..]
  const lcs: Uint32Array[] = [];
  for (let i = 0; i <= n; i++) lcs.push(new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = actual[i] === expected[j]
        ? lcs[i + 1][j + 1] + 1
        : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && actual[i] === expected[j]) {
      out.push(`    ${actual[i]}`);
      i++;
      j++;
    } else if (i < n && (j >= m || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push(`-   ${actual[i]}`);
      i++;
    } else {
      out.push(`+   ${expected[j]}`);
      j++;
    }
  }
  return out;
}

function diffMessage(actual: unknown, expected: unknown): string {
  const bothStrings = typeof actual === "string" &&
    typeof expected === "string";
  const a = bothStrings ? actual : show(actual);
  const e = bothStrings ? expected : show(expected);
  const body = lineDiff(a.split("\n"), e.split("\n"));
  return [
    "",
    "    [Diff] Actual / Expected",
    "",
    "",
    ...body,
    "",
  ].join("\n");
}

// ---------------------------------------------------------------------------
// Deep equality
// ---------------------------------------------------------------------------

function isPrimitive(x: unknown): boolean {
  return x === null || (typeof x !== "object" && typeof x !== "function");
}

/** `===` (so `0` equals `-0`) or `Object.is` (so `NaN` equals `NaN`). */
function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || Object.is(a, b);
}

function samePrototype(a: object, b: object): boolean {
  const pa = Object.getPrototypeOf(a);
  const pb = Object.getPrototypeOf(b);
  if (pa === pb) return true;
  // A plain object and a null-prototype object count as the same shape.
  return (pa === Object.prototype && pb === null) ||
    (pa === null && pb === Object.prototype);
}

const TypedArrayBase = Object.getPrototypeOf(Uint8Array);

interface Indexed {
  readonly length: number;
  readonly [index: number]: unknown;
}

function sameElements(a: Indexed, b: Indexed): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (!sameValueZero(a[i], b[i])) return false;
  }
  return true;
}

function ownKeys(obj: object): (string | symbol)[] {
  return [
    ...Object.getOwnPropertyNames(obj),
    ...Object.getOwnPropertySymbols(obj),
  ];
}

/** Own + inherited keys, stopping at `Object.prototype` / `Array.prototype`. */
function allKeys(obj: object | null): Set<string | symbol> {
  const keys = new Set<string | symbol>();
  let cur = obj;
  while (
    cur !== null && cur !== Object.prototype && cur !== Array.prototype
  ) {
    for (const k of ownKeys(cur)) keys.add(k);
    cur = Object.getPrototypeOf(cur);
  }
  return keys;
}

/** Types whose `String()` rendering fully identifies their value. */
function stringComparable(proto: unknown): boolean {
  const ctors: unknown[] = [RegExp, URL, URLSearchParams, Intl.Locale];
  const temporal = (globalThis as { Temporal?: Record<string, unknown> })
    .Temporal;
  if (temporal) {
    for (
      const name of [
        "Duration",
        "Instant",
        "PlainDate",
        "PlainDateTime",
        "PlainTime",
        "PlainYearMonth",
        "PlainMonthDay",
        "ZonedDateTime",
      ]
    ) {
      if (temporal[name]) ctors.push(temporal[name]);
    }
  }
  return ctors.some((c) => c != null && (c as { prototype: unknown }).prototype === proto);
}

/**
 * Deep structural equality, with the semantics of `@std/assert`'s `equal`:
 * `NaN` equals `NaN`, `0` equals `-0`, prototypes must match (plain object ≈
 * null-prototype object), typed arrays / ArrayBuffers compare element-wise,
 * `Date`s by time value, `RegExp`/`URL`/... by string form, `Map`/`Set` by
 * content (deep for non-primitive keys), other objects by all own and
 * inherited keys. Comparing `WeakMap`/`WeakSet` throws a `TypeError`.
 *
 * @param a The actual value.
 * @param b The expected value.
 * @returns `true` when the values are deeply equal.
 */
export function equal(a: unknown, b: unknown): boolean {
  const visited = new Map<unknown, unknown>();

  const eq = (x: unknown, y: unknown): boolean => {
    if (sameValueZero(x, y)) return true;
    if (isPrimitive(x) || isPrimitive(y)) return false;
    if (x instanceof Date && y instanceof Date) {
      return Object.is(x.getTime(), y.getTime());
    }
    if (typeof x !== "object" || typeof y !== "object") return false;
    const ox = x as object;
    const oy = y as object;
    if (!samePrototype(ox, oy)) return false;

    if (ox instanceof TypedArrayBase) {
      return sameElements(ox as Indexed, oy as Indexed);
    }
    if (
      ox instanceof ArrayBuffer ||
      (typeof SharedArrayBuffer !== "undefined" &&
        ox instanceof SharedArrayBuffer)
    ) {
      return sameElements(
        new Uint8Array(ox as ArrayBuffer),
        new Uint8Array(oy as ArrayBuffer),
      );
    }
    if (ox instanceof WeakMap) {
      throw new TypeError("Cannot compare WeakMap instances");
    }
    if (ox instanceof WeakSet) {
      throw new TypeError("Cannot compare WeakSet instances");
    }
    if (ox instanceof WeakRef) {
      return eq(ox.deref(), (oy as WeakRef<WeakKey>).deref());
    }

    if (visited.get(ox) === oy) return true; // cycle already being compared
    if (Object.keys(ox).length !== Object.keys(oy).length) return false;
    visited.set(ox, oy);

    if (
      (ox instanceof Map || ox instanceof Set) &&
      (oy instanceof Map || oy instanceof Set)
    ) {
      return collectionsEqual(ox, oy, eq);
    }

    let keys: Iterable<string | symbol>;
    const proto = Object.getPrototypeOf(ox);
    if (
      proto === null || proto === Object.prototype ||
      proto === Array.prototype
    ) {
      keys = ownKeys({ ...ox, ...oy });
    } else if (stringComparable(proto)) {
      return String(ox) === String(oy);
    } else {
      keys = allKeys(ox).union(allKeys(oy));
    }

    const rx = ox as Record<string | symbol, unknown>;
    const ry = oy as Record<string | symbol, unknown>;
    for (const key of keys) {
      if (!eq(rx[key], ry[key])) return false;
      if ((key in ox) !== (key in oy)) return false;
    }
    return true;
  };

  return eq(a, b);
}

function collectionsEqual(
  a: Map<unknown, unknown> | Set<unknown>,
  b: Map<unknown, unknown> | Set<unknown>,
  eq: (x: unknown, y: unknown) => boolean,
): boolean {
  if (a.size !== b.size) return false;
  const aKeys = [...a.keys()];
  if (aKeys.every(isPrimitive)) {
    if (a instanceof Set) {
      return a.symmetricDifference(b as Set<unknown>).size === 0;
    }
    const bm = b as Map<unknown, unknown>;
    for (const k of aKeys) {
      if (!bm.has(k) || !eq(a.get(k), bm.get(k))) return false;
    }
    return true;
  }
  // Non-primitive keys: every entry of `a` needs a deeply-equal entry in `b`.
  let unmatched = a.size;
  for (const [ak, av] of a.entries()) {
    for (const [bk, bv] of b.entries()) {
      if (!eq(ak, bk)) continue;
      if ((ak === av && bk === bv) || eq(av, bv)) {
        unmatched--;
        break;
      }
    }
  }
  return unmatched === 0;
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

/**
 * Asserts that `expr` is truthy; otherwise throws an `AssertionError` whose
 * message is `msg` (empty by default).
 */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg);
}

/**
 * Asserts that `actual` and `expected` are deeply equal (see {@linkcode equal}).
 */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected)) return;
  throw new AssertionError(
    `Values are not equal${suffix(msg)}\n${diffMessage(actual, expected)}`,
  );
}

/** Asserts that `actual` and `expected` are NOT deeply equal. */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) return;
  throw new AssertionError(
    `Expected actual: ${show(actual)} not to be: ${show(expected)}${suffix(msg)}`,
  );
}

/** Asserts `Object.is(actual, expected)` (reference / same-value equality). */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  if (Object.is(actual, expected)) return;
  const a = show(actual);
  const e = show(expected);
  if (a === e) {
    const indented = a.split("\n").map((l) => `    ${l}`).join("\n");
    throw new AssertionError(
      `Values have the same structure but are not reference-equal${suffix(msg)}\n\n${indented}\n`,
    );
  }
  throw new AssertionError(
    `Values are not strictly equal${suffix(msg)}\n${diffMessage(actual, expected)}`,
  );
}

/**
 * Asserts `|expected - actual| <= tolerance`. The default tolerance is
 * `Math.abs(expected * 1e-7)` (or `1e-7` when `expected` is not finite).
 * Values that are `Object.is`-equal (including `NaN`/`NaN`, `Infinity`/
 * `Infinity`) always pass.
 */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance?: number,
  msg?: string,
): void {
  if (Object.is(actual, expected)) return;
  const delta = Math.abs(expected - actual);
  const tol = tolerance ??
    (Number.isFinite(expected) ? Math.abs(expected * 1e-7) : 1e-7);
  if (delta <= tol) return;
  const fmt = (n: number) => Number.isInteger(n) ? `${n}` : n.toExponential();
  throw new AssertionError(
    `Expected actual: "${fmt(actual)}" to be close to "${fmt(expected)}": ` +
      `delta "${fmt(delta)}" is greater than "${fmt(tol)}"${suffix(msg)}`,
  );
}

/** Asserts that `actual` is neither `null` nor `undefined`. */
export function assertExists<T>(
  actual: T,
  msg?: string,
): asserts actual is NonNullable<T> {
  if (actual !== null && actual !== undefined) return;
  throw new AssertionError(
    `Expected actual: "${actual}" to not be null or undefined${suffix(msg)}`,
  );
}

/** Any constructor (abstract classes included). */
// deno-lint-ignore no-explicit-any
export type AnyConstructor = abstract new (...args: any[]) => any;
/** Instance type produced by a constructor. */
export type GetConstructorType<T extends AnyConstructor> = InstanceType<T>;

/** Asserts that `actual instanceof expectedType`. */
export function assertInstanceOf<T extends AnyConstructor>(
  actual: unknown,
  expectedType: T,
  msg = "",
): asserts actual is InstanceType<T> {
  if (actual instanceof expectedType) return;
  const want = expectedType.name;
  let got: string;
  if (actual === null) got = "null";
  else if (actual === undefined) got = "undefined";
  else if (typeof actual === "object") {
    got = (actual as { constructor?: { name?: string } }).constructor?.name ??
      "Object";
  } else got = typeof actual;

  let text: string;
  if (got === want) {
    text = `Expected object to be an instance of "${want}"`;
  } else if (got === "function") {
    text = `Expected object to be an instance of "${want}" but was not an instanced object`;
  } else {
    text = `Expected object to be an instance of "${want}" but was "${got}"`;
  }
  throw new AssertionError(text + suffix(msg));
}

// deno-lint-ignore no-explicit-any
type ErrorCtor<E extends Error> = abstract new (...args: any[]) => E;

/** Shared by assertThrows / assertRejects: class + message-substring check. */
function checkError<E extends Error>(
  error: unknown,
  ErrorClass: ErrorCtor<E>,
  msgIncludes: string | undefined,
  msg: string | undefined,
): void {
  if (!(error instanceof Error)) {
    throw new AssertionError(
      `Expected "error" to be an Error object${suffix(msg)}`,
    );
  }
  if (!(error instanceof ErrorClass)) {
    throw new AssertionError(
      `Expected error to be instance of "${ErrorClass.name}", but was "${error?.constructor?.name}"${
        suffix(msg)
      }`,
    );
  }
  if (
    msgIncludes &&
    !stripAnsi(error.message).includes(stripAnsi(msgIncludes))
  ) {
    throw new AssertionError(
      `Expected error message to include ${JSON.stringify(msgIncludes)}, ` +
        `but got ${JSON.stringify(error.message)}${suffix(msg)}`,
    );
  }
}

function isErrorClass(x: unknown): boolean {
  const proto = (x as { prototype?: unknown } | null)?.prototype;
  return proto instanceof Error || proto === Error.prototype;
}

/**
 * Calls `fn` and asserts that it throws. Returns the thrown value.
 *
 * @param fn The function expected to throw.
 * @param msg Optional message for the failure.
 */
export function assertThrows(fn: () => unknown, msg?: string): unknown;
/**
 * Calls `fn` and asserts that it throws an instance of `ErrorClass` whose
 * message includes `msgIncludes` (when given). Returns the thrown error.
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass: ErrorCtor<E>,
  msgIncludes?: string,
  msg?: string,
): E;
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  classOrMsg?: ErrorCtor<E> | string,
  includesOrMsg?: string,
  msg?: string,
): unknown {
  let ErrorClass: ErrorCtor<E> | undefined;
  let msgIncludes: string | undefined;
  if (typeof classOrMsg === "string") {
    msg = classOrMsg;
  } else if (classOrMsg === undefined || isErrorClass(classOrMsg)) {
    ErrorClass = classOrMsg;
    msgIncludes = includesOrMsg;
  } else {
    msg = includesOrMsg;
  }

  try {
    fn();
  } catch (error) {
    if (ErrorClass) {
      if (!(error instanceof Error)) {
        throw new AssertionError(`A non-Error object was thrown${suffix(msg)}`);
      }
      checkError(error, ErrorClass, msgIncludes, msg);
    }
    return error;
  }
  throw new AssertionError(`Expected function to throw${suffix(msg)}`);
}

/**
 * Calls `fn` (which must return a promise) and asserts that the promise
 * rejects. Resolves to the rejection reason.
 *
 * @param fn The function returning the promise expected to reject.
 * @param msg Optional message for the failure.
 */
export function assertRejects(
  fn: () => PromiseLike<unknown>,
  msg?: string,
): Promise<unknown>;
/**
 * Calls `fn` and asserts that the returned promise rejects with an instance
 * of `ErrorClass` whose message includes `msgIncludes` (when given).
 * Resolves to the rejection error.
 */
export function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass: ErrorCtor<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E>;
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  classOrMsg?: ErrorCtor<E> | string,
  includesOrMsg?: string,
  msg?: string,
): Promise<unknown> {
  let ErrorClass: ErrorCtor<E> | undefined;
  let msgIncludes: string | undefined;
  if (typeof classOrMsg === "string") {
    msg = classOrMsg;
  } else if (classOrMsg === undefined || isErrorClass(classOrMsg)) {
    ErrorClass = classOrMsg;
    msgIncludes = includesOrMsg;
  }

  let returned: unknown;
  try {
    returned = fn();
  } catch {
    throw new AssertionError(
      `Function throws when expected to reject${suffix(msg)}`,
    );
  }
  if (
    returned === null || typeof returned !== "object" ||
    typeof (returned as PromiseLike<unknown>).then !== "function"
  ) {
    throw new AssertionError(
      `Function throws when expected to reject${suffix(msg)}`,
    );
  }

  try {
    await returned;
  } catch (error) {
    if (ErrorClass) {
      if (!(error instanceof Error)) {
        throw new AssertionError(
          `A non-Error object was rejected${suffix(msg)}`,
        );
      }
      checkError(error, ErrorClass, msgIncludes, msg);
    }
    return error;
  }
  throw new AssertionError(`Expected function to reject${suffix(msg)}`);
}

/** Asserts that the string `actual` contains `expected`. */
export function assertStringIncludes(
  actual: string,
  expected: string,
  msg?: string,
): void {
  if (actual.includes(expected)) return;
  throw new AssertionError(
    `Expected actual: "${actual}" to contain: "${expected}"${suffix(msg)}`,
  );
}

/** Asserts that `expected.test(actual)` is true. */
export function assertMatch(
  actual: string,
  expected: RegExp,
  msg?: string,
): void {
  if (expected.test(actual)) return;
  throw new AssertionError(
    `Expected actual: "${actual}" to match: "${expected}"${suffix(msg)}`,
  );
}

/** Asserts `actual > expected`. A given `msg` replaces the default message. */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (actual > expected) return;
  throw new AssertionError(msg ?? `Expect ${show(actual)} > ${show(expected)}`);
}

/** Asserts `actual >= expected`. A given `msg` replaces the default message. */
export function assertGreaterOrEqual<T>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  if (actual >= expected) return;
  throw new AssertionError(
    msg ?? `Expect ${show(actual)} >= ${show(expected)}`,
  );
}

/** Asserts `actual < expected`. A given `msg` replaces the default message. */
export function assertLess<T>(actual: T, expected: T, msg?: string): void {
  if (actual < expected) return;
  throw new AssertionError(msg ?? `Expect ${show(actual)} < ${show(expected)}`);
}

/** Asserts `actual <= expected`. A given `msg` replaces the default message. */
export function assertLessOrEqual<T>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  if (actual <= expected) return;
  throw new AssertionError(
    msg ?? `Expect ${show(actual)} <= ${show(expected)}`,
  );
}

/** An array-like value (`Array`, typed array, ...) that is not a string. */
export type ArrayLikeArg<T> = ArrayLike<T> & object;

/**
 * Asserts that every element of `expected` occurs in `actual` (SameValueZero
 * for primitives, deep {@linkcode equal} for objects).
 */
export function assertArrayIncludes<T>(
  actual: ArrayLikeArg<T>,
  expected: ArrayLikeArg<T>,
  msg?: string,
): void {
  const missing: unknown[] = [];
  for (let i = 0; i < expected.length; i++) {
    const item = expected[i];
    let found = false;
    if (isPrimitive(item)) {
      found = Array.prototype.includes.call(actual, item);
    } else {
      for (let j = 0; j < actual.length && !found; j++) {
        found = equal(item, actual[j]);
      }
    }
    if (!found) missing.push(item);
  }
  if (missing.length === 0) return;
  throw new AssertionError(
    `Expected actual: "${show(actual)}" to include: "${show(expected)}"${suffix(msg)}\nmissing: ${
      show(missing)
    }`,
  );
}

/** Always throws an `AssertionError` ("Failed assertion"). */
export function fail(msg?: string): never {
  throw new AssertionError(`Failed assertion${suffix(msg)}`);
}

/** Marks code that must never run; always throws ("Unreachable"). */
export function unreachable(msg?: string): never {
  throw new AssertionError(`Unreachable${suffix(msg)}`);
}
