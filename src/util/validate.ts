/**
 * Input checks shared by the public entry points: each failure throws an
 * {@linkcode FWLInputError} naming the argument, what was expected and what came.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { describeValue } from "./describe.ts";

/**
 * Throws unless `value` is a finite number that `ok` accepts; `expected` says what was
 * wanted (e.g. `"a number in [0, 1)"`).
 *
 * @throws {FWLInputError} If `value` is not a finite number that `ok` accepts.
 */
export function checkNumber(
  where: string,
  name: string,
  value: unknown,
  ok: (v: number) => boolean,
  expected: string,
): number {
  if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
    throw new FWLInputError(where, name, expected, describeValue(value));
  }
  return value;
}

/**
 * Throws unless `value` is a safe integer (a seed, for instance).
 *
 * @throws {FWLInputError} If `value` is not a safe integer.
 */
export function checkSafeInteger(where: string, name: string, value: unknown): number {
  return checkNumber(where, name, value, Number.isSafeInteger, "a safe integer");
}

/**
 * Throws unless `value` is an integer in [0, 2^32): a u32 word (a counter, a key word).
 *
 * @throws {FWLInputError} If `value` is not an integer in [0, 2^32).
 */
export function checkU32(where: string, name: string, value: unknown): number {
  return checkNumber(
    where,
    name,
    value,
    (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32,
    "an integer in [0, 2^32)",
  );
}

/**
 * Throws unless `value` is a finite number ≥ 0.
 *
 * @throws {FWLInputError} If `value` is not a finite number ≥ 0.
 */
export function checkNonNegative(where: string, name: string, value: unknown): number {
  return checkNumber(where, name, value, (v) => v >= 0, "a finite number ≥ 0");
}

/**
 * Throws unless `value` is a finite number > 0.
 *
 * @throws {FWLInputError} If `value` is not a finite number > 0.
 */
export function checkPositive(where: string, name: string, value: unknown): number {
  return checkNumber(where, name, value, (v) => v > 0, "a finite number > 0");
}

/**
 * Throws unless `value` is a number in [0, 1) (a decay rate, a momentum).
 *
 * @throws {FWLInputError} If `value` is not a number in [0, 1).
 */
export function checkFraction(where: string, name: string, value: unknown): number {
  return checkNumber(where, name, value, (v) => v >= 0 && v < 1, "a number in [0, 1)");
}

/**
 * Throws unless `value` is a positive integer.
 *
 * @throws {FWLInputError} If `value` is not a positive integer.
 */
export function checkPositiveInteger(where: string, name: string, value: unknown): number {
  return checkNumber(
    where,
    name,
    value,
    (v) => Number.isInteger(v) && v >= 1,
    "a positive integer",
  );
}

/**
 * Throws unless `value` is an integer ≥ 0.
 *
 * @throws {FWLInputError} If `value` is not an integer ≥ 0.
 */
export function checkCount(where: string, name: string, value: unknown): number {
  return checkNumber(where, name, value, (v) => Number.isInteger(v) && v >= 0, "an integer ≥ 0");
}

/**
 * The distinct sequence indices of `value`, each an integer in `[0, batchSize)`, or an
 * {@linkcode FWLInputError} (the rows to restart of a state, for instance).
 *
 * @throws {FWLInputError} If `value` is not an array, or holds an index outside `[0, batchSize)`.
 */
export function checkSequences(
  where: string,
  name: string,
  value: unknown,
  batchSize: number,
): number[] {
  if (!Array.isArray(value)) {
    throw new FWLInputError(where, name, "an array of sequence indices", describeValue(value));
  }
  for (const b of value) {
    if (!Number.isInteger(b) || b < 0 || b >= batchSize) {
      throw new FWLInputError(where, name, `indices in [0, ${batchSize})`, describeValue(b));
    }
  }
  return [...new Set(value as number[])];
}

/**
 * Throws unless `value` is an integer (of either sign).
 *
 * @throws {FWLInputError} If `value` is not an integer.
 */
export function checkInteger(where: string, name: string, value: unknown): number {
  return checkNumber(where, name, value, Number.isInteger, "an integer");
}

/**
 * Throws unless `value` is a non-null object; `expected` says which (e.g. `"an object { seed? }"`).
 *
 * @throws {FWLInputError} If `value` is null or not an object.
 */
export function checkObject<T>(
  where: string,
  name: string,
  value: T,
  expected: string,
): T & object {
  if (value === null || typeof value !== "object") {
    throw new FWLInputError(where, name, expected, describeValue(value));
  }
  return value as T & object;
}

/**
 * Throws unless `value` is a record of strings; `reserved` refuses keys with that prefix.
 *
 * @throws {FWLInputError} If `value` is not an object, a value is not a string, or a key
 * starts with `reserved`.
 */
export function checkStringRecord(
  where: string,
  name: string,
  value: unknown,
  reserved?: string,
): Record<string, string> {
  checkObject(where, name, value, "a record of strings");
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const argument = `${name}[${JSON.stringify(k)}]`;
    if (reserved !== undefined && k.startsWith(reserved)) {
      const expected = `a key not starting with ${JSON.stringify(reserved)} (reserved)`;
      throw new FWLInputError(where, argument, expected, JSON.stringify(k));
    }
    if (typeof v !== "string") {
      throw new FWLInputError(where, argument, "a string", describeValue(v));
    }
  }
  return { ...(value as Record<string, string>) };
}

/**
 * Throws unless `value` is a boolean.
 *
 * @throws {FWLInputError} If `value` is not a boolean.
 */
export function checkBoolean(where: string, name: string, value: unknown): boolean {
  if (typeof value !== "boolean") {
    throw new FWLInputError(where, name, "a boolean", describeValue(value));
  }
  return value;
}

/**
 * Throws an {@linkcode FWLInputError} unless `value` is an `AbortSignal` or undefined, and
 * the signal's reason if it is already aborted (a call then does nothing).
 *
 * @throws {FWLInputError} If `value` is neither undefined nor an `AbortSignal`.
 */
export function checkSignal(
  where: string,
  name: string,
  value: unknown,
): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) {
    throw new FWLInputError(where, name, "an AbortSignal", describeValue(value));
  }
  value.throwIfAborted();
  return value;
}

/** `name` in double quotes, as error messages show names. */
export function quote(name: string): string {
  return JSON.stringify(name);
}

/** The index and value of the first non-finite entry, or undefined. */
export function firstNonFinite(
  data: ArrayLike<number>,
): [number, number] | undefined {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) return [i, data[i]];
  }
  return undefined;
}

/**
 * Throws if `data` holds NaN or ±Infinity.
 *
 * @throws {FWLInputError} If `data` holds NaN or ±Infinity.
 */
export function checkFinite(
  where: string,
  name: string,
  data: ArrayLike<number>,
): void {
  const bad = firstNonFinite(data);
  if (bad) {
    throw new FWLInputError(where, name, "finite values", `${bad[1]} at flat index ${bad[0]}`);
  }
}

/**
 * Throws if `weights` holds a negative or non-finite entry.
 *
 * @throws {FWLInputError} If `weights` holds a negative or non-finite entry.
 */
export function checkWeights(
  where: string,
  name: string,
  weights: ArrayLike<number>,
): void {
  checkFinite(where, name, weights);
  for (let i = 0; i < weights.length; i++) {
    if (weights[i] < 0) {
      throw new FWLInputError(where, name, "weights ≥ 0", `${weights[i]} at flat index ${i}`);
    }
  }
}

/**
 * Throws if an id at a position with non-zero weight lies outside [0, vocabSize).
 *
 * @throws {FWLInputError} If an id with non-zero weight lies outside `[0, vocabSize)`.
 */
export function checkIds(
  where: string,
  name: string,
  ids: ArrayLike<number>,
  weights: ArrayLike<number>,
  vocabSize: number,
): void {
  for (let i = 0; i < ids.length; i++) {
    if (weights[i] !== 0 && (ids[i] < 0 || ids[i] >= vocabSize)) {
      throw new FWLInputError(
        where,
        name,
        `token ids in [0, ${vocabSize}) where the weight is non-zero`,
        `${ids[i]} at flat index ${i} (weight ${weights[i]})`,
      );
    }
  }
}
