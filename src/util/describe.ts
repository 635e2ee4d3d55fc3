/**
 * A short description of any value, for the "received" part of error messages.
 *
 * @module
 */

/**
 * A short description of any value for error messages: `null`, `undefined`, an object's
 * class name, or the type and value of a primitive.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeValue } from "./describe.ts";
 * assertEquals(describeValue(new Float32Array(2)), "Float32Array");
 * assertEquals(describeValue(-1), "number -1");
 * ```
 */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return `${typeof value} ${String(value)}`;
}
