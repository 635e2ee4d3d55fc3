/**
 * Loading a language model's checkpoint (the `.safetensors` format of
 * `io/checkpoint.ts`) from bytes or a file. What the format can't know is done here: a
 * plain-head model keeps its step sizes at 0 whatever the file holds.
 *
 * @module
 */

import { type LoadCheckpointOptions, loadLanguageModelBytes } from "../io/checkpoint.ts";
import { readFileBytes } from "../io/files.ts";
import { type ModelParts, zeroStepSizes } from "./model_parts.ts";

/**
 * Loads checkpoint bytes into `model` (same shapes; every name, shape and value checked
 * before anything is written) and returns the file's metadata. With the fast weights
 * off, the step sizes are set back to 0.
 *
 * @throws {FWLInputError} If the bytes are no checkpoint of this model's shapes.
 */
export async function loadCheckpoint(
  model: ModelParts,
  bytes: Uint8Array,
  source: string,
  options: LoadCheckpointOptions,
): Promise<Record<string, string>> {
  const metadata = await loadLanguageModelBytes(model, bytes, source, options);
  if (!model.fastWeights) zeroStepSizes(model.head);
  return metadata;
}

/**
 * Reads the checkpoint file at `path` (Deno's errors, such as `NotFound`, pass through)
 * and loads it as {@linkcode loadCheckpoint} does. Needs `--allow-read`.
 *
 * @throws {FWLInputError} If `path` is no path or the file is no checkpoint of this
 *   model's shapes.
 * @throws {FWLError} Outside Deno (no file API: load the bytes instead).
 */
export async function loadCheckpointFile(
  where: string,
  model: ModelParts,
  path: string | URL,
  options: LoadCheckpointOptions,
): Promise<Record<string, string>> {
  const bytes = await readFileBytes(where, path, "lm.loadCheckpointBytes");
  return await loadCheckpoint(model, bytes, String(path), options);
}
