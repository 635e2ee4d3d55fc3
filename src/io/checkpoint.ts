/**
 * The checkpoint format, one for a block and a language model: a `.safetensors` file
 * holding every parameter under its name (a block's under its docs/definition.md §1 names; a
 * language model's head under `head/…` and its body under `body/…`), optionally an
 * optimizer's slots under `optimizer/<parameter>/<slot>` (shaped like their parameter),
 * and `fwl.*` metadata. Loading checks every name, shape and value (and the optimizer's
 * state) before anything is written. Files of version 1 (block and language model) load.
 *
 * @module
 */

import type { ModelBody } from "../bodies/model_body.ts";
import { FWLInputError } from "../errors.ts";
import type { MeanNormalizer, Normalizer } from "../fwl/normalizer.ts";
import type { FWLBlock } from "../fwl/block.ts";
import { checkObject, checkStringRecord, firstNonFinite } from "../util/validate.ts";
import { readBuffers } from "../gpu/readback.ts";
import type { ParamHolder } from "../params/holder.ts";
import type { Optimizer, OptimizerKind, OptimizerState } from "../optim/mod.ts";
import { listSome } from "../util/names.ts";
import { readFileBytes, writeFileAtomic } from "./files.ts";
import { shapeSize } from "../util/shape.ts";
import {
  type DecodedSafetensors,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "./safetensors.ts";
import { describeValue } from "../util/describe.ts";
import { BODY_PREFIX, bodyParameters, HEAD_PREFIX } from "../params/parameter.ts";

/** Options of {@linkcode checkpointBytes} and {@linkcode languageModelBytes}. */
export interface SaveCheckpointOptions {
  /** Also store this optimizer's state (moments and step count). */
  optimizer?: Optimizer;
  /** Extra string metadata (keys starting with `fwl.` are reserved). */
  metadata?: Record<string, string>;
}

/** Options of {@linkcode loadCheckpointBytes} and {@linkcode loadLanguageModelBytes}. */
export interface LoadCheckpointOptions {
  /**
   * Also restore this optimizer's state from the checkpoint (which must hold state of
   * the same kind for the same parameters). Without it, optimizer entries are ignored.
   */
  optimizer?: Optimizer;
}

/** What loading a block checkpoint returns. */
export interface LoadedCheckpoint {
  /** The file's `__metadata__` (the `fwl.*` entries and the caller's own). */
  metadata: Record<string, string>;
}

/** Prefix of optimizer-state tensor names. */
export const OPTIMIZER_PREFIX = "optimizer/";

/** Metadata keys of a checkpoint. */
export const CHECKPOINT_METADATA = {
  /** Format version of the checkpoint layout (`"1"`). */
  format: "fwl.format",
  /** The head's `size`. */
  size: "fwl.size",
  /** The head's `vocabSize`. */
  vocabSize: "fwl.vocab_size",
  /** The head's `inputSize` (`D`, a language model's `body.hiddenSize`). */
  inputSize: "fwl.input_size",
  /**
   * The head's inner-loss normalizer, as JSON (`"batch"`, a number, or `{ decay, prior,
   * learnDecay }`): a file loads only into a head with the same kind of one — the same
   * `N`, or a running mean with the same prior and with a decay parameter exactly when
   * the file has one (its λ is then loaded) — and files without it, from earlier
   * versions, into any.
   */
  normalizer: "fwl.normalizer",
  /** The optimizer's kind (`"sgd"`, `"adam"`, `"adamw"`), when stored. */
  optimizer: "fwl.optimizer",
  /** The optimizer's step count, when stored. */
  optimizerStep: "fwl.optimizer.step",
  /** A language model's: `"true"` or `"false"`, whether its fast weights were on. */
  fastWeights: "fwl.lm.fast_weights",
  /** A language model's: whether the body's parameters are in the file. */
  body: "fwl.lm.body",
} as const;

/** Where version-1 language-model files kept their optimizer's kind and step count. */
const LEGACY_OPTIMIZER_KEYS = { kind: "fwl.lm.optimizer", step: "fwl.lm.optimizer_step" };

/** Parameters seen by a checkpoint: one model part (a block, a body) under a name prefix. */
interface Part {
  prefix: string;
  shapes: Record<string, readonly number[]>;
  read(): Promise<Record<string, Float32Array>>;
  write(values: Record<string, Float32Array>): Promise<void>;
}

/** The pieces of a language model a checkpoint holds (a `LanguageModel` is one). */
export interface CheckpointedModel {
  /** The FWL head. */
  readonly head: FWLBlock;
  /** The body (its `parameters()`, when it has them, are stored). */
  readonly body: ModelBody;
  /** Whether the fast weights are on. */
  readonly fastWeights: boolean;
}

function holderPart(holder: ParamHolder, prefix: string): Part {
  return {
    prefix,
    shapes: holder.paramShapes,
    read: () => holder.getParams(),
    write: (values) => holder.setParams(values),
  };
}

/** The body's declared parameters, read and written through their buffers. */
function bodyPart(where: string, model: CheckpointedModel): Part {
  const ctx = model.head.context;
  const params = bodyParameters(where, model.body);
  return {
    prefix: BODY_PREFIX,
    shapes: Object.fromEntries(params.map((p) => [p.name, p.shape])),
    async read() {
      const parts = params.map((p) => ({ buffer: p.buffer, bytes: shapeSize(p.shape) * 4 }));
      const read = await readBuffers(ctx, parts, where);
      return Object.fromEntries(params.map((p, i) => [p.name, new Float32Array(read[i])]));
    },
    async write(values) {
      for (const p of params) {
        ctx.device.queue.writeBuffer(p.buffer, 0, values[p.name] as Float32Array<ArrayBuffer>);
      }
      await ctx.device.queue.onSubmittedWorkDone();
      ctx.check(where);
    },
  };
}

/**
 * The block's parameters (and optionally an optimizer's state) as `.safetensors`
 * bytes, for browsers or any storage.
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { checkpointBytes, FWLBlock, FWLInputError } from "@x/fwl";
 * import { CHECKPOINT_METADATA, decodeSafetensors } from "@x/fwl/io";
 * using block = new FWLBlock(2, 5, 1); // size 2, vocabulary 5
 * await block.build(3);
 * const bytes = await checkpointBytes(block, { metadata: { run: "wiki-1" } });
 * const { tensors, metadata } = decodeSafetensors(bytes);
 * assertEquals(tensors["unembed/kernel"].shape, [2, 5]);
 * assertEquals(tensors["unembed/kernel"].data, (await block.getParams())["unembed/kernel"]);
 * assertEquals([metadata.run, metadata[CHECKPOINT_METADATA.vocabSize]], ["wiki-1", "5"]);
 * // The fwl.* keys are the library's own.
 * await assertRejects(() => checkpointBytes(block, { metadata: { "fwl.x": "" } }), FWLInputError);
 * ```
 *
 * @throws {FWLStateError} (rejects) If the block is not built or was disposed, or the
 * optimizer was disposed.
 * @throws {FWLInputError} (rejects) If `options` is not an object or `options.metadata`
 * is not a record of strings, or has a key starting with `fwl.`.
 * @throws {GPUKernelError} (rejects) If reading the parameters back fails.
 */
export function checkpointBytes(
  block: FWLBlock,
  options: SaveCheckpointOptions = {},
): Promise<Uint8Array> {
  return encode("checkpointBytes", [holderPart(block, "")], options, headMetadata(block));
}

/**
 * Loads parameters (and optionally optimizer state) from `.safetensors` bytes into a
 * built block. Every parameter of docs/definition.md §1 must be present with its exact shape
 * (step sizes `[]`) and finite values, and no unknown name may appear (`optimizer/…`
 * entries are allowed); F32 is read bit-exactly, F16/BF16/F64 are converted. Nothing is
 * written unless everything checks out. `source` names the bytes in errors.
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { checkpointBytes, FWLBlock, FWLInputError, loadCheckpointBytes } from "@x/fwl";
 * using a = new FWLBlock(2, 5, 1, { seed: 1 });
 * using b = new FWLBlock(2, 5, 1, { seed: 2 });
 * await a.build(3);
 * await b.build(3);
 * const bytes = await checkpointBytes(a, { metadata: { run: "a" } });
 * const { metadata } = await loadCheckpointBytes(b, bytes);
 * assertEquals(metadata.run, "a");
 * assertEquals(await b.getParams(), await a.getParams()); // bit for bit
 * // A block of another shape refuses the file, and keeps its own parameters.
 * using c = new FWLBlock(2, 5, 1);
 * await c.build(4);
 * await assertRejects(() => loadCheckpointBytes(c, bytes), FWLInputError);
 * ```
 *
 * @throws {FWLStateError} (rejects) If the block is not built or was disposed, or the
 * optimizer was disposed.
 * @throws {FWLInputError} (rejects) If `bytes` is not a valid `.safetensors` file, a
 * parameter is missing, unknown, of the wrong shape or not finite, the normalizer
 * differs from the block's, or `options.optimizer` is given and the file holds no
 * state for it (or state of another kind or shape); nothing is written then.
 * @throws {GPUKernelError} (rejects) If writing to the GPU fails.
 */
export async function loadCheckpointBytes(
  block: FWLBlock,
  bytes: Uint8Array,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  const parts = [holderPart(block, "")];
  return {
    metadata: await load("loadCheckpointBytes", "bytes", parts, bytes, options, block),
  };
}

/**
 * Writes a checkpoint file (`.safetensors`, see {@linkcode checkpointBytes}) of the block
 * and optionally its optimizer, through a temporary file and a rename, so an interrupted
 * save never leaves a truncated checkpoint under `path`. Needs `--allow-write`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { checkpointBytes, FWLBlock, saveCheckpoint } from "@x/fwl";
 * using block = new FWLBlock(2, 5, 1);
 * await block.build(3);
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(block, `${dir}/fwl.safetensors`);
 * // The file holds exactly the checkpoint bytes, and nothing else is left in the folder.
 * assertEquals(await Deno.readFile(`${dir}/fwl.safetensors`), await checkpointBytes(block));
 * assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["fwl.safetensors"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @throws {FWLInputError} (rejects) If `path` is not a non-empty string or URL, or as
 * for {@linkcode checkpointBytes}, which also says when an
 * `FWLStateError` or `GPUKernelError` comes.
 */
export async function saveCheckpoint(
  block: FWLBlock,
  path: string | URL,
  options: SaveCheckpointOptions = {},
): Promise<void> {
  const bytes = () => checkpointBytes(block, options);
  await writeFileAtomic("saveCheckpoint", path, bytes, "checkpointBytes");
}

/**
 * Reads a checkpoint file written by {@linkcode saveCheckpoint} (or any `.safetensors`
 * file with the docs/definition.md §1 names) into a built block, with the checks of
 * {@linkcode loadCheckpointBytes}. Needs `--allow-read`.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FWLBlock, loadCheckpoint, saveCheckpoint } from "@x/fwl";
 * using block = new FWLBlock(2, 5, 1, { seed: 1 });
 * using other = new FWLBlock(2, 5, 1, { seed: 2 });
 * await block.build(3);
 * await other.build(3);
 * const dir = await Deno.makeTempDir();
 * await saveCheckpoint(block, `${dir}/fwl.safetensors`, { metadata: { step: "100" } });
 * const { metadata } = await loadCheckpoint(other, `${dir}/fwl.safetensors`);
 * assertEquals(metadata.step, "100");
 * assertEquals(await other.getParams(), await block.getParams());
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @throws {FWLInputError} (rejects) If `path` is not a non-empty string or URL, or as
 * for {@linkcode loadCheckpointBytes}, which also says when an `FWLStateError`
 * or `GPUKernelError` comes; Deno's errors (such as `NotFound`) pass through.
 */
export async function loadCheckpoint(
  block: FWLBlock,
  path: string | URL,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint> {
  const where = "loadCheckpoint";
  const bytes = await readFileBytes(where, path, "loadCheckpointBytes");
  const parts = [holderPart(block, "")];
  return { metadata: await load(where, String(path), parts, bytes, options, block) };
}

/**
 * A language model as `.safetensors` bytes: the head's parameters under `"head/"`, the
 * body's (when it has `parameters`) under `"body/"`, optionally an optimizer's state.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { LanguageModel, LSTMBody } from "@x/fwl";
 * import { CHECKPOINT_METADATA, decodeSafetensors, languageModelBytes } from "@x/fwl/io";
 * const body = await LSTMBody.create({ vocabSize: 5, embedSize: 2, hiddenSize: 3 });
 * using lm = await LanguageModel.create(body, { vocabSize: 5, headSize: 2, attnChunks: 1 });
 * const bytes = await languageModelBytes(lm, { metadata: { run: "a" } });
 * const { tensors, metadata } = decodeSafetensors(bytes);
 * assertEquals(tensors["head/unembed/kernel"].shape, [2, 5]);
 * assertEquals(tensors["body/embedding"].shape, [5, 2]);
 * assert(Object.keys(tensors).every((n) => n.startsWith("head/") || n.startsWith("body/")));
 * assertEquals([metadata.run, metadata[CHECKPOINT_METADATA.body]], ["a", "true"]);
 * ```
 *
 * @throws {FWLInputError} (rejects) If `options` is not an object, `options.metadata`
 * is not a record of strings or has a key starting with `fwl.`, or the body declares
 * bad parameters.
 * @throws {FWLStateError} (rejects) If the model or the optimizer was disposed.
 * @throws {GPUKernelError} (rejects) If reading the parameters back fails.
 */
export function languageModelBytes(
  model: CheckpointedModel,
  options: SaveCheckpointOptions = {},
): Promise<Uint8Array> {
  const where = "LanguageModel.checkpointBytes";
  const parts = [holderPart(model.head, HEAD_PREFIX), bodyPart(where, model)];
  return encode(where, parts, options, {
    ...headMetadata(model.head),
    [CHECKPOINT_METADATA.fastWeights]: String(model.fastWeights),
    [CHECKPOINT_METADATA.body]: String(Object.keys(parts[1].shapes).length > 0),
  });
}

/**
 * Loads checkpoint bytes into a language model of the same shapes: every `head/…`
 * parameter, every `body/…` parameter the body declares (a body without `parameters`
 * takes none), and with `options.optimizer` its state. Unknown or missing names, wrong
 * shapes and non-finite values throw an {@linkcode FWLInputError} before anything is
 * written. Returns the file's metadata.
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { FWLInputError, LanguageModel, LSTMBody } from "@x/fwl";
 * import { encodeSafetensors, languageModelBytes, loadLanguageModelBytes } from "@x/fwl/io";
 * const body = await LSTMBody.create({ vocabSize: 5, embedSize: 2, hiddenSize: 3 });
 * using lm = await LanguageModel.create(body, { vocabSize: 5, headSize: 2, attnChunks: 1 });
 * const bytes = await languageModelBytes(lm, { metadata: { run: "a" } });
 * const metadata = await loadLanguageModelBytes(lm, bytes, "run.safetensors");
 * assertEquals(metadata.run, "a");
 * // A file without the model's parameters is refused, naming the source.
 * const empty = encodeSafetensors({});
 * await assertRejects(() => loadLanguageModelBytes(lm, empty, "x.st"), FWLInputError, "x.st");
 * ```
 *
 * @throws {FWLInputError} (rejects) If `bytes` is not a valid `.safetensors` file, a
 * parameter is missing, unknown, of the wrong shape or not finite, the normalizer
 * differs from the head's, or `options.optimizer` is given and the file holds no state
 * for it (or state of another kind or shape); nothing is written then.
 * @throws {FWLStateError} (rejects) If the model or the optimizer was disposed.
 * @throws {GPUKernelError} (rejects) If writing to the GPU fails.
 */
export function loadLanguageModelBytes(
  model: CheckpointedModel,
  bytes: Uint8Array,
  source = "bytes",
  options: LoadCheckpointOptions = {},
): Promise<Record<string, string>> {
  const where = "LanguageModel.load";
  const parts = [holderPart(model.head, HEAD_PREFIX), bodyPart(where, model)];
  return load(where, source, parts, bytes, options, model.head);
}

/**
 * What must match between a file's normalizer (its JSON) and a head's: `N`, or the
 * running mean's prior and whether it has a decay parameter (whose value is loaded).
 */
function sameKind(n: string | Normalizer): string {
  let v: unknown = n;
  if (typeof n === "string" && n !== "batch") {
    try {
      v = JSON.parse(n);
    } catch {
      return n;
    }
  }
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  const mean = v as Partial<MeanNormalizer>;
  return JSON.stringify({ prior: mean.prior, decays: mean.learnDecay || (mean.decay ?? 1) < 1 });
}

function headMetadata(head: FWLBlock): Record<string, string> {
  return {
    [CHECKPOINT_METADATA.format]: "1",
    [CHECKPOINT_METADATA.size]: String(head.size),
    [CHECKPOINT_METADATA.vocabSize]: String(head.vocabSize),
    [CHECKPOINT_METADATA.inputSize]: String(head.inputSize),
    [CHECKPOINT_METADATA.normalizer]: JSON.stringify(head.normalizer),
  };
}

/** Every parameter's full name and shape. */
function fullShapes(parts: Part[]): Map<string, readonly number[]> {
  const out = new Map<string, readonly number[]>();
  for (const part of parts) {
    for (const [name, shape] of Object.entries(part.shapes)) out.set(part.prefix + name, shape);
  }
  return out;
}

/** The shape an optimizer slot `"<parameter>/<slot>"` of `length` is stored under. */
function slotShape(
  key: string,
  length: number,
  shapes: Map<string, readonly number[]>,
): number[] {
  const shape = shapes.get(key.slice(0, key.lastIndexOf("/")));
  return shape && shapeSize(shape) === length ? [...shape] : [length];
}

async function encode(
  where: string,
  parts: Part[],
  options: SaveCheckpointOptions,
  own: Record<string, string>,
): Promise<Uint8Array> {
  checkObject(where, "options", options, "an object { optimizer?, metadata? }");
  const metadata = options.metadata === undefined
    ? {}
    : checkStringRecord(where, "options.metadata", options.metadata, "fwl.");
  Object.assign(metadata, own);
  const shapes = fullShapes(parts);
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const part of parts) {
    const values = await part.read();
    for (const [name, shape] of Object.entries(part.shapes)) {
      tensors[part.prefix + name] = { dtype: "F32", shape: [...shape], data: values[name] };
    }
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

async function load(
  where: string,
  source: string,
  parts: Part[],
  bytes: Uint8Array,
  options: LoadCheckpointOptions,
  head: FWLBlock,
): Promise<Record<string, string>> {
  checkObject(where, "options", options, "an object { optimizer? }");
  if (!(bytes instanceof Uint8Array)) {
    throw new FWLInputError(where, "bytes", "a Uint8Array", describeValue(bytes));
  }
  const shapes = fullShapes(parts);
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
  // The inner loss the head was trained with (not a tensor, but part of the model).
  const normalizer = metadata[CHECKPOINT_METADATA.normalizer];
  if (normalizer !== undefined && sameKind(normalizer) !== sameKind(head.normalizer)) {
    throw fail(
      `metadata ${CHECKPOINT_METADATA.normalizer}`,
      `a normalizer like the head's, ${JSON.stringify(head.normalizer)} (build the head ` +
        "with the file's to load it)",
      normalizer,
    );
  }

  for (const name of Object.keys(tensors)) {
    if (!shapes.has(name) && !name.startsWith(OPTIMIZER_PREFIX)) {
      throw fail(
        JSON.stringify(name),
        `only the parameter names ${listSome([...shapes.keys()], 14)} (and ${OPTIMIZER_PREFIX}…)`,
        "an unknown name",
      );
    }
  }
  const values = parts.map((part) => {
    const out: Record<string, Float32Array> = {};
    for (const [name, shape] of Object.entries(part.shapes)) {
      const t = tensors[part.prefix + name];
      if (!t) {
        throw fail(
          part.prefix + name,
          `a tensor of shape [${shape.join(", ")}]`,
          "nothing (missing)",
        );
      }
      checkStoredTensor(fail, part.prefix + name, t, [shape]);
      out[name] = t.data;
    }
    return out;
  });

  const optimizer = options.optimizer;
  const state = optimizer && optimizerState(fail, optimizer, tensors, metadata, shapes);

  // Everything checked: write.
  for (let i = 0; i < parts.length; i++) await parts[i].write(values[i]);
  if (optimizer !== undefined && state !== undefined) await optimizer.loadState(state);
  return metadata;
}

/** The optimizer's state held by the file, checked against `optimizer`. */
function optimizerState(
  fail: (name: string, expected: string, received: string) => FWLInputError,
  optimizer: Optimizer,
  tensors: DecodedSafetensors["tensors"],
  metadata: Record<string, string>,
  shapes: Map<string, readonly number[]>,
): OptimizerState {
  const legacy = !(CHECKPOINT_METADATA.optimizer in metadata);
  const kindKey = legacy ? LEGACY_OPTIMIZER_KEYS.kind : CHECKPOINT_METADATA.optimizer;
  const stepKey = legacy ? LEGACY_OPTIMIZER_KEYS.step : CHECKPOINT_METADATA.optimizerStep;
  const kind = metadata[kindKey];
  if (kind === undefined) {
    throw fail(
      `metadata ${CHECKPOINT_METADATA.optimizer}`,
      `optimizer state of kind "${optimizer.kind}"`,
      "no optimizer state in the file",
    );
  }
  const stepText = metadata[stepKey];
  const step = Number(stepText);
  if (!/^[0-9]+$/.test(stepText ?? "") || !Number.isSafeInteger(step)) {
    throw fail(
      `metadata ${stepKey}`,
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
          listSome(Object.keys(expected).map((k) => OPTIMIZER_PREFIX + k), 3)
        })`,
        "an unknown slot",
      );
    }
    // Shaped like its parameter, or flat (as version-1 language-model files stored it).
    checkStoredTensor(fail, name, t, [slotShape(key, length, shapes), [length]]);
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
  const state = { kind: kind as OptimizerKind, step, slots };
  try {
    optimizer.validateState(state);
  } catch (e) {
    if (e instanceof FWLInputError) {
      throw fail(`optimizer state: ${e.argument}`, e.expected, e.received);
    }
    throw e;
  }
  return state;
}

/** Throws unless `t` has one of the `allowed` shapes (the first is named) and finite values. */
function checkStoredTensor(
  fail: (name: string, expected: string, received: string) => FWLInputError,
  name: string,
  t: DecodedSafetensors["tensors"][string],
  allowed: readonly (readonly number[])[],
): void {
  const same = (want: readonly number[]) =>
    t.shape.length === want.length && t.shape.every((d, i) => d === want[i]);
  if (!allowed.some(same)) {
    throw fail(name, `shape [${allowed[0].join(", ")}]`, `[${t.shape.join(", ")}]`);
  }
  const bad = firstNonFinite(t.data);
  if (bad) throw fail(name, "finite values", `${bad[1]} at flat index ${bad[0]}`);
}
