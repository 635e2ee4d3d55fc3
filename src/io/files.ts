/**
 * The library's only use of Deno's file API: reading a file, and writing one atomically.
 * Deno is looked up at run time, so this module still loads in a browser, where the
 * functions that take and give bytes (`checkpointBytes`, `new ByteText(bytes)`) are the
 * way in and out.
 *
 * @module
 */

import { FWLError, FWLInputError } from "../errors.ts";
import { describeValue } from "../util/describe.ts";

/** The file functions of Deno's namespace used here. */
interface DenoFiles {
  writeFile(path: string | URL, data: Uint8Array): Promise<void>;
  readFile(path: string | URL): Promise<Uint8Array>;
  rename(from: string | URL, to: string | URL): Promise<void>;
  remove(path: string | URL): Promise<void>;
}

/** Deno's file API, or an {@linkcode FWLError} saying what to use instead (`elsewhere`). */
function denoFiles(where: string, elsewhere: string): DenoFiles {
  const deno = (globalThis as { Deno?: DenoFiles }).Deno;
  if (!deno) throw new FWLError(`${where}: files need Deno; elsewhere use ${elsewhere}`);
  return deno;
}

/** Throws an {@linkcode FWLInputError} unless `path` is a non-empty string or a URL. */
function checkPath(where: string, path: unknown): void {
  if (!(typeof path === "string" && path !== "") && !(path instanceof URL)) {
    throw new FWLInputError(where, "path", "a non-empty string or a file URL", describeValue(path));
  }
}

/**
 * The bytes of the file at `path` (Deno's errors, such as `NotFound`, pass through).
 * Needs `--allow-read`.
 *
 * @throws {FWLInputError} (rejects) If `path` is not a non-empty string or a URL.
 * @throws {FWLError} (rejects) Outside Deno, naming `elsewhere` to use instead.
 */
export async function readFileBytes(
  where: string,
  path: string | URL,
  elsewhere: string,
): Promise<Uint8Array> {
  checkPath(where, path);
  return await denoFiles(where, elsewhere).readFile(path);
}

/**
 * Writes `bytes()` to `path` through a temporary file and a rename, so an interrupted save
 * never leaves a truncated file under `path`. The path is checked before `bytes` runs.
 * Needs `--allow-write`.
 *
 * @throws {FWLInputError} (rejects) If `path` is not a non-empty string or a URL.
 * @throws {FWLError} (rejects) Outside Deno, naming `elsewhere` to use instead.
 */
export async function writeFileAtomic(
  where: string,
  path: string | URL,
  bytes: () => Promise<Uint8Array>,
  elsewhere: string,
): Promise<void> {
  checkPath(where, path);
  const data = await bytes();
  const fs = denoFiles(where, elsewhere);
  const tmp = path instanceof URL
    ? new URL(`${path.href}.tmp-${crypto.randomUUID()}`)
    : `${path}.tmp-${crypto.randomUUID()}`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.remove(tmp).catch(() => {});
    throw e;
  }
}
