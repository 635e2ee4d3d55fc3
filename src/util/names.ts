/**
 * Lists of names in messages.
 *
 * @module
 */

/**
 * The first `n` names, and how many there are in all when that is more (`"it has none"`
 * for none), for error messages that stay short.
 */
export function listSome(names: readonly string[], n: number): string {
  if (names.length === 0) return "it has none";
  const shown = names.slice(0, n).join(", ");
  return names.length > n ? `${shown}, … ${names.length} in all` : shown;
}
