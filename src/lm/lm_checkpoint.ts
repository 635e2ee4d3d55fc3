/**
 * Checkpoints of a {@linkcode LanguageModel}: body and head (and optionally an
 * optimizer's state) in one `.safetensors` file. The head's parameters are stored under
 * `head/<FWL.md §1 name>`, the body's under `body/<name>`, optimizer slots under
 * `optimizer/<parameter>/<slot>`, with `fwl.lm.*` metadata.
 *
 * @module
 */

import { FWLError, FWLInputError } from "../errors.ts";
import { PARAM_NAMES } from "../fwl/params.ts";
import { firstNonFinite } from "../util/validate.ts";
import { readBytes } from "../gpu/readback.ts";
import { describeValue } from "../tensor.ts";
import type { Optimizer, OptimizerKind, OptimizerState } from "../optim/mod.ts";
import {
  type DecodedSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "../train/safetensors.ts";
import type { LanguageModel } from "./language_model.ts";
import { BODY_PREFIX, bodyParameters, HEAD_PREFIX } from "./plug.ts";

/** Options of {@linkcode languageModelBytes} (and `LanguageModel.save`). */
export interface LanguageModelCheckpointOptions {
  /** Also store this optimizer's state (made over `lm.parameters()`). */
  optimizer?: Optimizer;
  /** Extra string metadata (keys starting with `fwl.` are reserved). */
  metadata?: Record<string, string>;
}

/** Options of {@linkcode loadLanguageModelBytes} (and `LanguageModel.load`). */
export interface LoadLanguageModelOptions {
  /** Also restore this optimizer's state from the file. */
  optimizer?: Optimizer;
}

/** Metadata keys written by {@linkcode languageModelBytes}. */
export const LM_CHECKPOINT_METADATA = {
  /** Layout version (`"1"`). */
  format: "fwl.lm.format",
  /** `"true"` or `"false"`: whether the model had its fast weights on. */
  fastWeights: "fwl.lm.fast_weights",
  /** The vocabulary size. */
  vocabSize: "fwl.lm.vocab_size",
  /** The body's hidden size. */
  hiddenSize: "fwl.lm.hidden_size",
  /** The head's size. */
  headSize: "fwl.lm.head_size",
  /** Whether the body's parameters are in the file (`"true"` / `"false"`). */
  body: "fwl.lm.body",
  /** The optimizer's kind, when stored. */
  optimizer: "fwl.lm.optimizer",
  /** The optimizer's step count, when stored. */
  optimizerStep: "fwl.lm.optimizer_step",
} as const;

/** Prefix of optimizer slots in a language-model checkpoint. */
export const LM_OPTIMIZER_PREFIX = "optimizer/";

/**
 * A language model as `.safetensors` bytes (see the module notes for the layout).
 *
 * @example
 * ```ts ignore
 * import { languageModelBytes } from "@x/fwl";
 * const bytes = await languageModelBytes(lm, { optimizer: opt, metadata: { run: "a" } });
 * ```
 */
export async function languageModelBytes(
  lm: LanguageModel,
  options: LanguageModelCheckpointOptions = {},
): Promise<Uint8Array> {
  const where = "LanguageModel.checkpointBytes";
  if (options === null || typeof options !== "object") {
    throw new FWLInputError(
      where,
      "options",
      "an object { optimizer?, metadata? }",
      describeValue(options),
    );
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.metadata ?? {})) {
    if (k.startsWith("fwl.") || typeof v !== "string") {
      throw new FWLInputError(
        where,
        `options.metadata[${JSON.stringify(k)}]`,
        'a string under a key not starting with "fwl." (reserved)',
        typeof v === "string" ? JSON.stringify(k) : describeValue(v),
      );
    }
    metadata[k] = v;
  }
  const head = lm.head;
  const ctx = head.context;
  const tensors: Record<string, SafetensorsTensor> = {};
  const shapes = head.paramShapes;
  const params = await head.getParams();
  for (const name of PARAM_NAMES) {
    tensors[HEAD_PREFIX + name] = { dtype: "F32", shape: [...shapes[name]], data: params[name] };
  }
  const body = bodyParameters(where, lm.body);
  for (const p of body) {
    const length = p.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(await readBytes(ctx, p.buffer, length * 4, where));
    tensors[BODY_PREFIX + p.name] = { dtype: "F32", shape: [...p.shape], data };
  }
  if (options.optimizer !== undefined) {
    const state = await options.optimizer.state();
    metadata[LM_CHECKPOINT_METADATA.optimizer] = state.kind;
    metadata[LM_CHECKPOINT_METADATA.optimizerStep] = String(state.step);
    for (const [key, data] of Object.entries(state.slots)) {
      tensors[LM_OPTIMIZER_PREFIX + key] = { dtype: "F32", shape: [data.length], data };
    }
  }
  metadata[LM_CHECKPOINT_METADATA.format] = "1";
  metadata[LM_CHECKPOINT_METADATA.fastWeights] = String(lm.fastWeights);
  metadata[LM_CHECKPOINT_METADATA.vocabSize] = String(head.vocabSize);
  metadata[LM_CHECKPOINT_METADATA.hiddenSize] = String(lm.body.hiddenSize);
  metadata[LM_CHECKPOINT_METADATA.headSize] = String(head.size);
  metadata[LM_CHECKPOINT_METADATA.body] = String(body.length > 0);
  return encodeSafetensors(tensors, metadata);
}

/**
 * Loads checkpoint bytes into a language model of the same shapes: every `head/…`
 * parameter, every `body/…` parameter the body declares (a body without `parameters`
 * takes none), and with `options.optimizer` its state. Unknown or missing names, wrong
 * shapes and non-finite values throw an {@linkcode FWLInputError} before anything is
 * written. Returns the file's metadata.
 *
 * @example
 * ```ts ignore
 * import { loadLanguageModelBytes } from "@x/fwl";
 * const metadata = await loadLanguageModelBytes(lm, bytes, "run.safetensors");
 * ```
 */
export async function loadLanguageModelBytes(
  lm: LanguageModel,
  bytes: Uint8Array,
  source = "bytes",
  options: LoadLanguageModelOptions = {},
): Promise<Record<string, string>> {
  const where = "LanguageModel.load";
  if (options === null || typeof options !== "object") {
    throw new FWLInputError(where, "options", "an object { optimizer? }", describeValue(options));
  }
  if (!(bytes instanceof Uint8Array)) {
    throw new FWLInputError(where, "bytes", "a Uint8Array", describeValue(bytes));
  }
  let decoded: DecodedSafetensors;
  try {
    decoded = decodeSafetensors(bytes);
  } catch (e) {
    if (e instanceof FWLInputError) {
      throw new FWLInputError(where, `${source}: ${e.argument}`, e.expected, e.received);
    }
    throw e;
  }
  const { tensors, metadata } = decoded;
  const fail = (name: string, expected: string, received: string) =>
    new FWLInputError(where, `${source}: ${name}`, expected, received);
  const head = lm.head;
  const shapes = head.paramShapes;
  const body = bodyParameters(where, lm.body);
  const bodyNames = new Set(body.map((p) => BODY_PREFIX + p.name));
  for (const name of Object.keys(tensors)) {
    const known = (name.startsWith(HEAD_PREFIX) &&
      (PARAM_NAMES as readonly string[]).includes(name.slice(HEAD_PREFIX.length))) ||
      bodyNames.has(name) || name.startsWith(LM_OPTIMIZER_PREFIX);
    if (!known) {
      throw fail(
        JSON.stringify(name),
        `only head/<FWL parameter>, the body's parameters ${
          body.length ? `(${[...bodyNames].slice(0, 3).join(", ")}…)` : "(this body has none)"
        } and optimizer/…`,
        "an unknown name",
      );
    }
  }
  const headValues: Record<string, Float32Array> = {};
  for (const name of PARAM_NAMES) {
    headValues[name] = checked(fail, tensors, HEAD_PREFIX + name, shapes[name]);
  }
  const bodyValues = body.map((p) => checked(fail, tensors, BODY_PREFIX + p.name, p.shape));

  const optimizer = options.optimizer;
  let state: OptimizerState | undefined;
  if (optimizer !== undefined) {
    const kind = metadata[LM_CHECKPOINT_METADATA.optimizer];
    if (kind === undefined) {
      throw fail(
        `metadata ${LM_CHECKPOINT_METADATA.optimizer}`,
        `optimizer state of kind "${optimizer.kind}"`,
        "no optimizer state in the file",
      );
    }
    const stepText = metadata[LM_CHECKPOINT_METADATA.optimizerStep] ?? "";
    if (!/^[0-9]+$/.test(stepText) || !Number.isSafeInteger(Number(stepText))) {
      throw fail(
        `metadata ${LM_CHECKPOINT_METADATA.optimizerStep}`,
        "a decimal integer ≥ 0",
        JSON.stringify(stepText),
      );
    }
    const slots: Record<string, Float32Array> = {};
    for (const [name, t] of Object.entries(tensors)) {
      if (name.startsWith(LM_OPTIMIZER_PREFIX)) {
        slots[name.slice(LM_OPTIMIZER_PREFIX.length)] = t.data;
      }
    }
    state = { kind: kind as OptimizerKind, step: Number(stepText), slots };
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
  await head.setParams(headValues);
  const queue = head.context.device.queue;
  body.forEach((p, i) => {
    queue.writeBuffer(p.buffer, 0, bodyValues[i] as Float32Array<ArrayBuffer>);
  });
  await queue.onSubmittedWorkDone();
  head.context.check(where);
  if (optimizer !== undefined && state !== undefined) await optimizer.loadState(state);
  return metadata;
}

/** The tensor `name` as float32, after checking its shape and values. */
function checked(
  fail: (name: string, expected: string, received: string) => FWLInputError,
  tensors: DecodedSafetensors["tensors"],
  name: string,
  shape: readonly number[],
): Float32Array {
  const t = tensors[name];
  if (!t) throw fail(name, `a tensor of shape [${shape.join(", ")}]`, "nothing (missing)");
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw fail(name, `shape [${shape.join(", ")}]`, `[${t.shape.join(", ")}]`);
  }
  const bad = firstNonFinite(t.data);
  if (bad) throw fail(name, "finite values", `${bad[1]} at flat index ${bad[0]}`);
  return t.data;
}

/** The file functions of Deno's namespace that `save` and `load` use. */
interface DenoFiles {
  writeFile(path: string | URL, data: Uint8Array): Promise<void>;
  readFile(path: string | URL): Promise<Uint8Array>;
  rename(from: string | URL, to: string | URL): Promise<void>;
  remove(path: string | URL): Promise<void>;
}

/**
 * Deno's file API, looked up at run time so the library still loads (and type-checks)
 * in a browser, where the `…Bytes` functions are the way in and out.
 *
 * @example
 * ```ts ignore
 * const bytes = await denoFiles("LanguageModel.load").readFile("model.safetensors");
 * ```
 */
export function denoFiles(where: string): DenoFiles {
  const deno = (globalThis as { Deno?: DenoFiles }).Deno;
  if (!deno) {
    throw new FWLError(
      `${where}: files need Deno; elsewhere use checkpointBytes / loadCheckpointBytes`,
    );
  }
  return deno;
}
