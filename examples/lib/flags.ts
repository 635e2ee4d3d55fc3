/**
 * `parseArgs` for the examples: `jsr:@std/cli` (through the `@std/cli` import of
 * `deno.json`) when it can be loaded, else the project's offline stand-in
 * (`tests/offline/std_cli.ts`, an independent implementation of the same parser), so
 * that `deno run -A examples/…` also works on machines that can't reach JSR.
 *
 * @module
 */

type StdCli = typeof import("@std/cli");

/** Where `parseArgs` came from: `"@std/cli"` or the offline stand-in. */
export type ParserSource = "@std/cli" | "offline stand-in";

/**
 * Loads `parseArgs`, from `@std/cli` or, when that fails (no network, no cache), from
 * the offline stand-in.
 *
 * @example
 * ```ts ignore
 * import { loadParseArgs } from "./flags.ts";
 * const { parseArgs } = await loadParseArgs();
 * console.log(parseArgs(["--steps", "20"]).steps); // 20
 * ```
 */
export async function loadParseArgs(): Promise<
  { parseArgs: StdCli["parseArgs"]; source: ParserSource }
> {
  try {
    const std: StdCli = await import("@std/cli");
    return { parseArgs: std.parseArgs, source: "@std/cli" };
  } catch {
    // Not statically analyzable on purpose: the stand-in is only a fallback.
    const url = new URL("../../tests/offline/std_cli.ts", import.meta.url).href;
    const offline: StdCli = await import(url);
    return { parseArgs: offline.parseArgs, source: "offline stand-in" };
  }
}
