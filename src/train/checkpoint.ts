/**
 * Checkpoints of an {@linkcode FWLBlock} (and optionally its optimizer) as
 * `.safetensors` files: every parameter under its FWL.md §1 name (kernels `[in, out]`,
 * step sizes as scalars `[]`), optimizer slots under `optimizer/<name>/<slot>`, and a
 * few `fwl.*` metadata entries. Loading checks every name, shape and value against the
 * block (and the optimizer) before writing anything.
 *
 * @module
 */

import { FWLError, FWLInputError } from "../errors.ts";
import type { FWLBlock } from "../fwl/block.ts";
import { PARAM_NAMES, type ParamName } from "../fwl/params.ts";
import { firstNonFinite } from "../util/validate.ts";
import { describeValue } from "../tensor.ts";
import type { Optimizer, OptimizerKind, OptimizerState } from "../optim/mod.ts";
import {
  type DecodedTensor,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "./safetensors.ts";

/** Options of {@linkcode checkpointBytes} and {@linkcode saveCheckpoint}. */
export interface SaveCheckpointOptions {
  /** Also store this optimizer's state (moments and step count). */
  optimizer?: Optimizer;
  /** Extra string metadata (keys starting with `fwl.` are reserved). */
  metadata?: Record<string, string>;
}

/** Options of {@linkcode loadCheckpointBytes} and {@linkcode loadCheckpoint}. */
export interface LoadCheckpointOptions {
  /**
   * Also restore this optimizer's state from the checkpoint (which must hold state of
   * the same kind for the same parameters). Without it, optimizer entries are ignored.
   */
  optimizer?: Optimizer;
}

/** What loading a checkpoint returns. */
export interface LoadedCheckpoint {
  /** The file's `__metadata__` (the `fwl.*` entries and the caller's own). */
  metadata: Record<string, string>;
}

/** Prefix of optimizer-state tensor names. */
export const OPTIMIZER_PREFIX = "optimizer/";

/** Metadata keys written by {@linkcode checkpointBytes}. */
export const CHECKPOINT_METADATA = {
  /** Format version of the checkpoint layout (`"1"`). */
  format: "fwl.format",
  /** The block's `size`. */
  size: "fwl.size",
  /** The block's `vocabSize`. */
  vocabSize: "fwl.vocab_size",
  /** The block's `inputSize` (`D`). */
  inputSize: "fwl.input_size",
  /** The optimizer's kind (`"sgd"`, `"adam"`, `"adamw"`), when stored. */
  optimizer: "fwl.optimizer",
  /** The optimizer's step count, when stored. */
  optimizerStep: "fwl.optimizer.step",
} as const;

/** The shape under which an optimizer slot `"<name>/<slot>"` of `length` is stored. */
function slotShape(
  key: string,
  length: number,
  shapes: Record<ParamName, number[]>,
): number[] {
  const name = key.slice(0, key.lastIndexOf("/"));
  const shape = (shapes as Record<string, number[]>)[name];
  return shape && shape.reduce((a, b) => a * b, 1) === length ? [...shape] : [length];
}

/**
 * The block's parameters (and optionally an optimizer's state) as `.safetensors`
 * bytes, for browsers or any storage.
 *
 * @example
 * ```ts ignore
 * import { checkpointBytes } from "@x/fwl";
 * const bytes = await checkpointBytes(block, { metadata: { run: "wiki-1" } });
 * ```
 */
export async function checkpointBytes(
  block: FWLBlock,
  options: SaveCheckpointOptions = {},
): Promise<Uint8Array> {
  const where = "checkpointBytes";
  if (options === null || typeof options !== "object") {
    throw new FWLInputError(
      where,
      "options",
      "an object { optimizer?, metadata? }",
      describeValue(options),
    );
  }
  const shapes = block.paramShapes;
  const metadata: Record<string, string> = {};
  if (options.metadata !== undefined) {
    if (options.metadata === null || typeof options.metadata !== "object") {
      throw new FWLInputError(
        where,
        "options.metadata",
        "a record of strings",
        describeValue(options.metadata),
      );
    }
    for (const [k, v] of Object.entries(options.metadata)) {
      if (k.startsWith("fwl.")) {
        throw new FWLInputError(
          where,
          `options.metadata[${JSON.stringify(k)}]`,
          'a key not starting with "fwl." (reserved)',
          JSON.stringify(k),
        );
      }
      if (typeof v !== "string") {
        throw new FWLInputError(
          where,
          `options.metadata[${JSON.stringify(k)}]`,
          "a string",
          describeValue(v),
        );
      }
      metadata[k] = v;
    }
  }
  metadata[CHECKPOINT_METADATA.format] = "1";
  metadata[CHECKPOINT_METADATA.size] = String(block.size);
  metadata[CHECKPOINT_METADATA.vocabSize] = String(block.vocabSize);
  metadata[CHECKPOINT_METADATA.inputSize] = String(block.inputSize);

  const params = await block.getParams();
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const name of PARAM_NAMES) {
    tensors[name] = {
      dtype: "F32",
      shape: [...shapes[name]],
      data: params[name],
    };
  }
  if (options.optimizer !== undefined) {
    const state = await options.optimizer.state();
    metadata[CHECKPOINT_METADATA.optimizer] = state.kind;
    metadata[CHECKPOINT_METADATA.optimizerStep] = String(state.step);
    for (const [key, data] of Object.entries(state.slots)) {
      tensors[OPTIMIZER_PREFIX + key] = {
        dtype: "F32",
        shape: slotShape(key, data.length, shapes),
        data,
      };
    }
  }
  return encodeSafetensors(tensors, metadata);
}

/**
 * Loads parameters (and optionally optimizer state) from `.safetensors` bytes into a
 * built block. Every parameter of FWL.md §1 must be present with its exact shape
 * (step sizes `[]`) and finite values, and no unknown name may appear (`optimizer/…`
 * entries are allowed); F32 is read bit-exactly, F16/BF16/F64 are converted. Nothing is
 * written unless everything checks out.
 *
 * @example
 * ```ts ignore
 * import { loadCheckpointBytes } from "@x/fwl";
 * const { metadata } = await loadCheckpointBytes(block, bytes);
 * ```
 */
export function loadCheckpointBytes(
  block: FWLBlock,
  bytes: Uint8Array,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  return load("loadCheckpointBytes", "bytes", block, bytes, options);
}

/**
 * Writes a checkpoint file (`.safetensors`) of the block and optionally its optimizer.
 * The file is written to a temporary name first and then renamed, so an interrupted
 * save never leaves a truncated checkpoint under `path`. Needs `--allow-write`.
 *
 * @example
 * ```ts ignore
 * import { saveCheckpoint } from "@x/fwl";
 * await saveCheckpoint(block, "fwl.safetensors", { optimizer: opt });
 * ```
 */
export async function saveCheckpoint(
  block: FWLBlock,
  path: string | URL,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  checkPath("saveCheckpoint", path);
  const bytes = await checkpointBytes(block, options);
  const tmp = path instanceof URL
    ? new URL(`${path.href}.tmp-${crypto.randomUUID()}`)
    : `${path}.tmp-${crypto.randomUUID()}`;
  const fs = denoFiles("saveCheckpoint");
  try {
    await fs.writeFile(tmp, bytes);
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Reads a checkpoint file written by {@linkcode saveCheckpoint} (or any `.safetensors`
 * file with the FWL.md §1 names) into a built block, with the checks of
 * {@linkcode loadCheckpointBytes}. Needs `--allow-read`.
 *
 * @example
 * ```ts ignore
 * import { loadCheckpoint } from "@x/fwl";
 * await loadCheckpoint(block, "fwl.safetensors", { optimizer: opt });
 * ```
 */
export async function loadCheckpoint(
  block: FWLBlock,
  path: string | URL,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  checkPath("loadCheckpoint", path);
  const bytes = await denoFiles("loadCheckpoint").readFile(path);
  return await load("loadCheckpoint", String(path), block, bytes, options);
}

function checkPath(where: string, path: unknown): void {
  if (!(typeof path === "string" && path !== "") && !(path instanceof URL)) {
    throw new FWLInputError(
      where,
      "path",
      "a non-empty string or a file URL",
      describeValue(path),
    );
  }
}

async function load(
  where: string,
  source: string,
  block: FWLBlock,
  bytes: Uint8Array,
  options: LoadCheckpointOptions,
): Promise<LoadedCheckpoint> {
  if (options === null || typeof options !== "object") {
    throw new FWLInputError(
      where,
      "options",
      "an object { optimizer? }",
      describeValue(options),
    );
  }
  const shapes = block.paramShapes;
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(bytes);
  } catch (e) {
    if (e instanceof FWLInputError) {
      throw new FWLInputError(
        where,
        `${source}: ${e.argument}`,
        e.expected,
        e.received,
      );
    }
    throw e;
  }
  const { tensors, metadata } = decoded;
  const fail = (name: string, expected: string, received: string) =>
    new FWLInputError(where, `${source}: ${name}`, expected, received);

  for (const name of Object.keys(tensors)) {
    if (
      !(PARAM_NAMES as readonly string[]).includes(name) &&
      !name.startsWith(OPTIMIZER_PREFIX)
    ) {
      throw fail(
        JSON.stringify(name),
        `only the parameter names ${PARAM_NAMES.join(", ")} (and ${OPTIMIZER_PREFIX}…)`,
        "an unknown name",
      );
    }
  }
  const params: Record<string, Float32Array> = {};
  for (const name of PARAM_NAMES) {
    const t = tensors[name];
    const want = shapes[name];
    if (!t) {
      throw fail(
        name,
        `a tensor of shape [${want.join(", ")}]`,
        "nothing (missing)",
      );
    }
    checkTensor(fail, name, t, want);
    params[name] = t.data;
  }

  const optimizer = options.optimizer;
  let state: OptimizerState | undefined;
  if (optimizer !== undefined) {
    const kind = metadata[CHECKPOINT_METADATA.optimizer];
    if (kind === undefined) {
      throw fail(
        `metadata ${CHECKPOINT_METADATA.optimizer}`,
        `optimizer state of kind "${optimizer.kind}"`,
        "no optimizer state in the file",
      );
    }
    const stepText = metadata[CHECKPOINT_METADATA.optimizerStep];
    const step = Number(stepText);
    if (!/^[0-9]+$/.test(stepText ?? "") || !Number.isSafeInteger(step)) {
      throw fail(
        `metadata ${CHECKPOINT_METADATA.optimizerStep}`,
        "a decimal integer ≥ 0",
        JSON.stringify(stepText) ?? "nothing",
      );
    }
    const expected = optimizer.stateShape;
    const slots: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(tensors)) {
      if (!name.startsWith(OPTIMIZER_PREFIX)) continue;
      const key = name.slice(OPTIMIZER_PREFIX.length);
      const length = expected[key];
      if (length === undefined) {
        throw fail(
          JSON.stringify(name),
          `a slot of this ${optimizer.kind} optimizer (${
            listSome(Object.keys(expected).map((k) => OPTIMIZER_PREFIX + k))
          })`,
          "an unknown slot",
        );
      }
      checkTensor(fail, name, t, slotShape(key, length, shapes));
      slots[key] = t.data;
    }
    for (const key of Object.keys(expected)) {
      if (!(key in slots)) {
        throw fail(
          OPTIMIZER_PREFIX + key,
          `a tensor of shape [${slotShape(key, expected[key], shapes).join(", ")}]`,
          "nothing (missing)",
        );
      }
    }
    state = { kind: kind as OptimizerKind, step, slots };
    try {
      optimizer.validateState(state);
    } catch (e) {
      if (e instanceof FWLInputError) {
        throw fail(`optimizer state: ${e.argument}`, e.expected, e.received);
      }
      throw e;
    }
  }

  // Everything checked: write.
  await block.setParams(params);
  if (optimizer !== undefined && state !== undefined) {
    await optimizer.loadState(state);
  }
  return { metadata };
}

/** The first few names, and how many there are in all. */
function listSome(names: string[]): string {
  if (names.length === 0) return "it has none";
  const shown = names.slice(0, 3).join(", ");
  return names.length > 3 ? `${shown}, … ${names.length} in all` : shown;
}

function checkTensor(
  fail: (name: string, expected: string, received: string) => FWLInputError,
  name: string,
  t: DecodedTensor,
  want: readonly number[],
): void {
  if (
    t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])
  ) {
    throw fail(
      name,
      `shape [${want.join(", ")}]`,
      `[${t.shape.join(", ")}]`,
    );
  }
  const bad = firstNonFinite(t.data);
  if (bad) {
    throw fail(
      name,
      "finite values",
      `${bad[1]} at flat index ${bad[0]}`,
    );
  }
}

/** The file functions of Deno's namespace that checkpoints use. */
interface DenoFiles {
  writeFile(path: string | URL, data: Uint8Array): Promise<void>;
  readFile(path: string | URL): Promise<Uint8Array>;
  rename(from: string | URL, to: string | URL): Promise<void>;
  remove(path: string | URL): Promise<void>;
}

/**
 * Deno's file API, looked up at run time so the library still loads (and type-checks)
 * in a browser, where `checkpointBytes` / `loadCheckpointBytes` are the way in and out.
 */
function denoFiles(where: string): DenoFiles {
  const deno = (globalThis as { Deno?: DenoFiles }).Deno;
  if (!deno) {
    throw new FWLError(
      `${where}: files need Deno; elsewhere use checkpointBytes / loadCheckpointBytes`,
    );
  }
  return deno;
}
