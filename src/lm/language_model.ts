/**
 * `LanguageModel`: a model body (anything that implements {@linkcode ModelBody}) under an
 * FWL head, with scoring, joint training, generation and checkpoints.
 *
 * Hidden states stay on the GPU when the body keeps them there: `body.forward` →
 * `lossAndGradsGPU(head, hidden, …)` → `dL/dhidden` → `body.backward` → one optimizer
 * step over the head's and the body's parameters.
 *
 * The class checks liveness and the one-call-at-a-time rule (`busy.ts`) and hands each
 * job to its module: `scoring.ts`, `training.ts`, `dynamic_evaluation.ts`,
 * `generation_plan.ts` + `generate.ts`, `checkpoints.ts`, `head.ts` (what `create` builds).
 *
 * @module
 */

import type { ModelBody } from "../bodies/model_body.ts";
import type { FWLBlock } from "../fwl/block.ts";
import { checkOptions } from "../fwl/inputs.ts";
import { createGradBuffers, type GradBuffers, releaseGradBuffers } from "../fwl/grad_buffers.ts";
import type { GPUContext } from "../gpu/context.ts";
import {
  languageModelBytes,
  type LoadCheckpointOptions,
  type SaveCheckpointOptions,
} from "../io/checkpoint.ts";
import { writeFileAtomic } from "../io/files.ts";
import type { Optimizer, OptimParam } from "../optim/mod.ts";
import type { Tensor } from "../tensor.ts";
import { checkBoolean, checkPositiveInteger } from "../util/validate.ts";
import { CallGuard } from "./busy.ts";
import { loadCheckpoint, loadCheckpointFile } from "./checkpoints.ts";
import { DocumentState } from "./document_state.ts";
import { dynamicEvaluate } from "./dynamic_evaluation.ts";
import { type GenerateOptions, generateTokens } from "./generate.ts";
import { planGeneration } from "./generation_plan.ts";
import { checkDocument } from "./inputs.ts";
import { modelParameters, zeroStepSizes } from "./model_parts.ts";
import type {
  CreateLanguageModelOptions,
  DocumentOptions,
  DynamicEvaluationOptions,
  LanguageModelOptions,
  TokensOptions,
  TrainStepOptions,
  TrainStepResult,
} from "./options.ts";
import type { TokenScores } from "./perplexity.ts";
import { checkBody, checkHead } from "./plug.ts";
import { buildHead, LM_NORMALIZER } from "./head.ts";
import { scoreBatch, scoreWindows } from "./scoring.ts";
import { type TrainableModel, trainStep } from "./training.ts";

export type {
  CreateLanguageModelOptions,
  DocumentOptions,
  DynamicEvaluationOptions,
  GenerateOptions,
  LanguageModelOptions,
  TokensOptions,
  TrainStepOptions,
  TrainStepResult,
};
export { LM_NORMALIZER };

const WHERE = "LanguageModel";

/**
 * A language model: a {@linkcode ModelBody} that turns token ids into hidden states, and
 * an {@linkcode FWLBlock} head that turns them into next-token distributions.
 *
 * What works depends on what the body offers: every body can be scored and can have its
 * head trained; a body with `backward` and `parameters` is trained jointly with the head;
 * a body with `initState` and `step` can generate. `score` never forms a `[B, T, V]`
 * tensor. The model owns its head and body: `dispose()` releases both.
 *
 * @example
 * ```ts
 * import { assert, assertEquals } from "@std/assert";
 * import { Adam, LanguageModel, LSTMBody, tensor } from "@x/fwl";
 * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
 * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
 * const opt = new Adam(lm.context, lm.parameters(), { lr: 3e-3 });
 * const batch = tensor(new Int32Array(2 * 8).map((_, i) => (3 * i) % 16), [2, 8]);
 * const { loss } = await lm.trainStep(batch, opt);
 * const { perplexity } = await lm.score(batch);
 * const out: number[] = [];
 * for await (const token of lm.generate([1, 2, 3], { maxTokens: 4, temperature: 0.8 })) {
 *   out.push(token);
 * }
 * assert(Number.isFinite(loss) && perplexity > 1);
 * assertEquals(out.length, 4);
 * opt.dispose();
 * ```
 */
export class LanguageModel {
  /** The body. */
  readonly body: ModelBody;
  /** The FWL head (built with `inputSize = body.hiddenSize`). */
  readonly head: FWLBlock;
  /** Whether the fast weights are on (`false`: the plain-head baseline). */
  readonly fastWeights: boolean;
  #grads: GradBuffers | undefined;
  /** The parts the jobs (scoring, training, …) work on, with the head's gradient buffers. */
  readonly #parts: TrainableModel;
  readonly #guard = new CallGuard(WHERE);

  /**
   * Puts a body and a built head together. With `fastWeights: false` the head's step
   * sizes are set to 0 here.
   *
   * @param body the model body
   * @param head an FWL head built with `inputSize = body.hiddenSize`
   * @param options `fastWeights` (default true)
   * @throws {FWLInputError} If `body` is no {@linkcode ModelBody}, `head` no FWLBlock
   *   built for `body.hiddenSize`, or an option is bad.
   * @throws {FWLStateError} If `head` is not built.
   */
  constructor(body: ModelBody, head: FWLBlock, options: LanguageModelOptions = {}) {
    checkBody(WHERE, body);
    checkHead(WHERE, head, body);
    checkOptions(WHERE, options);
    const { fastWeights = true } = options;
    checkBoolean(WHERE, "options.fastWeights", fastWeights);
    this.body = body;
    this.head = head;
    this.fastWeights = fastWeights;
    this.#parts = {
      body,
      head,
      fastWeights,
      gradBuffers: () => this.#grads ??= createGradBuffers(head),
    };
    if (!fastWeights) zeroStepSizes(head);
  }

  /**
   * Builds an FWL head for `body` and returns the model.
   *
   * @throws {FWLInputError} If `body` is no {@linkcode ModelBody} or an option is bad.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const options = { vocabSize: 16, embedSize: 8, hiddenSize: 8 };
   * using fwl = await LanguageModel.create(await LSTMBody.create(options), {
   *   vocabSize: 16,
   *   stepSize: 0.5,
   * });
   * using plain = await LanguageModel.create(await LSTMBody.create(options), {
   *   vocabSize: 16,
   *   fastWeights: false, // the baseline: same head, step sizes held at 0
   * });
   * assertEquals(plain.parameters().length, fwl.parameters().length - 1); // no "head/steps"
   * ```
   */
  static async create(
    body: ModelBody,
    options: CreateLanguageModelOptions,
  ): Promise<LanguageModel> {
    const where = `${WHERE}.create`;
    checkBody(where, body);
    const { head, fastWeights } = await buildHead(where, body, options);
    try {
      return new LanguageModel(body, head, { fastWeights });
    } catch (e) {
      head.dispose();
      throw e;
    }
  }

  /**
   * The GPU context of the head (the body's parameters must live on its device).
   *
   * @throws {FWLStateError} If the model was disposed.
   */
  get context(): GPUContext {
    this.#guard.live("context");
    return this.head.context;
  }

  /** Number of token ids `V`. */
  get vocabSize(): number {
    return this.head.vocabSize;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#guard.disposed;
  }

  /**
   * The trainable parameters, for an optimizer: the head's (docs/definition.md §1 names under
   * `"head/"`, the six step sizes as one packed `"head/steps"` entry — left out when the
   * fast weights are off), then the body's under `"body/"` when the body has `backward`
   * and `parameters`. Leave some out of the optimizer to freeze them.
   *
   * @throws {FWLStateError} If the model was disposed.
   *
   * @example
   * ```ts
   * import { assert } from "@std/assert";
   * import { Adam, LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const all = new Adam(lm.context, lm.parameters(), { lr: 3e-3, clipNorm: 1 });
   * const head = lm.parameters().filter((p) => p.name.startsWith("head/"));
   * assert(head.length < lm.parameters().length); // the rest are "body/…"
   * const headOnly = new Adam(lm.context, head, { lr: 1e-3 }); // the body stays frozen
   * all.dispose(), headOnly.dispose();
   * ```
   */
  parameters(): OptimParam[] {
    this.#guard.live("parameters");
    return modelParameters(this.#parts);
  }

  /**
   * Scores token sequences: the negative log-likelihood of every token after the first
   * under the model, and the perplexity. Nothing of size `[B, T, V]` is formed (the
   * head's `score`).
   *
   * @param tokens token ids `[B, T]` (int32 host data, `T ≥ 2`)
   * @param options a padding id
   * @returns per-token NLL `[B, T − 1]`, the targets, mean loss and perplexity
   * @throws {FWLStateError} If the model was disposed or another call is running.
   * @throws {FWLInputError} For bad tokens or options.
   * @throws {FWLError} If the body returns hidden states of the wrong shape.
   *
   * @example
   * ```ts
   * import { assertAlmostEquals, assertEquals } from "@std/assert";
   * import { LanguageModel, LSTMBody, tensor } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const ids = new Int32Array(4 * 8).map((_, i) => (i * 5) % 16);
   * const { nll, count, loss, perplexity } = await lm.score(tensor(ids, [4, 8]));
   * assertEquals([nll.length, count], [28, 28]);
   * assertAlmostEquals(perplexity, Math.exp(loss));
   * ```
   */
  async score(tokens: Tensor<"int32">, options: TokensOptions = {}): Promise<TokenScores> {
    const where = `${WHERE}.score`;
    return await this.#guard.run("score", () => scoreBatch(where, this.#parts, tokens, options));
  }

  /**
   * One training step on a batch: the loss of the fast logits, its gradients through the
   * head (second order, through the fast-weight update) and — when the body has
   * `backward` and the optimizer holds its parameters — through the body, then one
   * `optimizer.step`. The optimizer must be made over (a subset of)
   * {@linkcode LanguageModel.parameters}. A non-finite loss throws before anything is
   * updated.
   *
   * @param tokens token ids `[B, T]` (int32 host data, `T ≥ 2`)
   * @param optimizer an optimizer over `lm.parameters()` (or some of them)
   * @param options a padding id, a document state, an abort signal
   * @throws {FWLStateError} If the model was disposed or another call is running.
   * @throws {FWLInputError} For bad tokens, optimizer, options or state.
   * @throws {FWLError} If the loss is not finite (nothing is updated) or the body returns
   *   hidden states of the wrong shape.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { Adam, LanguageModel, LSTMBody, tensor } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const opt = new Adam(lm.context, lm.parameters(), { lr: 3e-3 });
   * const batch = tensor(new Int32Array(2 * 8).map((_, i) => (3 * i) % 16), [2, 8]);
   * for (let i = 0; i < 3; i++) {
   *   const { loss, trainedBody } = await lm.trainStep(batch, opt);
   *   assert(Number.isFinite(loss));
   *   assertEquals(trainedBody, true); // the LSTM's parameters are in the optimizer
   * }
   * opt.dispose();
   * ```
   */
  async trainStep(
    tokens: Tensor<"int32">,
    optimizer: Optimizer,
    options: TrainStepOptions = {},
  ): Promise<TrainStepResult> {
    const where = `${WHERE}.trainStep`;
    return await this.#guard.run(
      "trainStep",
      () => trainStep(where, this.#parts, tokens, optimizer, options),
    );
  }

  /**
   * A state to read `batchSize` documents side by side in consecutive windows (see
   * {@linkcode DocumentState}): the head's fast weights (with the fast weights on) and
   * the body's state (when the body has `initState` and `forwardFrom`). The head's
   * normalizer must be one that can be carried (a number or the running mean), or pass a
   * fixed `normalizer`.
   *
   * @param batchSize number of documents read side by side
   * @param options a fixed normalizer for the head's state instead of the head's own
   * @throws {FWLInputError} For a bad batch size or normalizer, or a head whose normalizer
   *   is `"batch"`.
   * @throws {FWLStateError} If the model was disposed.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4, normalizer: "mean" });
   * using state = lm.documentState(4);
   * assertEquals([state.batchSize, state.carriesBody, state.head !== undefined], [4, true, true]);
   * ```
   */
  documentState(batchSize: number, options: { normalizer?: number } = {}): DocumentState {
    const where = `${WHERE}.documentState`;
    this.#guard.live("documentState");
    checkPositiveInteger(where, "batchSize", batchSize);
    checkOptions(where, options);
    return new DocumentState(
      this.body,
      this.fastWeights ? this.head : undefined,
      batchSize,
      options.normalizer,
    );
  }

  /**
   * Scores one long document window by window in memory that does not grow with its
   * length: the negative log-likelihood of every token after the first. With the fast
   * weights on, the head's fast-weight state (docs/definition.md §3) is carried from window to
   * window, so every position's fast weights have learned from the whole document
   * before it, exactly as one long call would (same normalizer). A body with
   * `forwardFrom` and `initState` (the LSTM) carries its own state too; any other body
   * re-reads `context` tokens before each window (not scored again).
   *
   * @param tokens the document's token ids (at least 2)
   * @param options `window` (predicted tokens per call, default 256), `context` (default
   *   0), `normalizer` (of the carried state; default the head's, which must then be one
   *   that can be carried)
   * @returns per-token NLL `[1, n − 1]` and the mean loss and perplexity
   * @throws {FWLStateError} If the model was disposed or another call is running.
   * @throws {FWLInputError} For a bad document or options.
   * @throws {FWLError} If a loss is not finite or the body returns hidden states of the
   *   wrong shape.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const ids = Array.from({ length: 40 }, (_, i) => (i * 7) % 16);
   * const { nll, loss, count } = await lm.scoreDocument(ids, { window: 16 });
   * assertEquals([nll.length, count], [39, 39]);
   * assert(loss / Math.LN2 > 0); // bits per token
   * ```
   */
  async scoreDocument(
    tokens: ArrayLike<number> | Tensor<"int32">,
    options: DocumentOptions = {},
  ): Promise<TokenScores> {
    const where = `${WHERE}.scoreDocument`;
    return await this.#guard.run(
      "scoreDocument",
      () => scoreWindows(where, this.#parts, checkDocument(where, tokens, options, this.vocabSize)),
    );
  }

  /**
   * Dynamic evaluation (Krause et al., 2018), the baseline for fast weights: the document
   * is cut into segments of `segment` tokens; each is scored (as in
   * {@linkcode LanguageModel.scoreDocument}, states carried), then the model takes one
   * gradient step on that segment's loss from the same forward (as `trainStep`: the head,
   * and the body when it has `backward`; a carried body state is a constant), and the
   * adapted weights score the next segment (the carried states keep what earlier weights
   * made of earlier segments, as an RNN's hidden state does in the paper). θ is every
   * parameter of `lm.parameters()` but the step sizes (the fast weights' own learning
   * rates stay as trained). `method: "sgd"`: `θ −= lr·g`; `"rms"`:
   * `θ −= lr·g / (√v̂ + eps)` with `v` a running mean of `g²` over the document's segments so far (decay `beta2`,
   * bias corrected: the paper's RMS normalization, its statistics gathered on the fly
   * rather than on training data). With `decay` λ, each step is followed by
   * `θ += λ·(θ_trained − θ)`. The trained weights are restored when the call ends
   * (also on error): one call is one document.
   *
   * @param tokens the document's token ids (at least 2)
   * @param options `lr` (required), `segment` (default 128), `method`, `decay`, `beta2`,
   *   `eps`, `context`, `normalizer`
   * @returns per-token NLL `[1, n − 1]` as each token was scored
   * @throws {FWLStateError} If the model was disposed or another call is running.
   * @throws {FWLInputError} For a bad document or options.
   * @throws {FWLError} If a loss is not finite or the body returns hidden states of the
   *   wrong shape.
   *
   * @example
   * ```ts
   * import { assert, assertEquals } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const ids = Array.from({ length: 40 }, (_, i) => (i * 7) % 16);
   * const base = await lm.scoreDocument(ids, { window: 16 });
   * const dyn = await lm.dynamicEvaluate(ids, { segment: 16, lr: 0.01, method: "rms" });
   * assertEquals(dyn.count, base.count);
   * assert(Number.isFinite(dyn.perplexity));
   * const again = await lm.scoreDocument(ids, { window: 16 }); // the trained weights are back
   * assertEquals(again.nll, base.nll);
   * ```
   */
  async dynamicEvaluate(
    tokens: ArrayLike<number> | Tensor<"int32">,
    options: DynamicEvaluationOptions,
  ): Promise<TokenScores> {
    const where = `${WHERE}.dynamicEvaluate`;
    return await this.#guard.run(
      "dynamicEvaluate",
      () => dynamicEvaluate(where, this.#parts, tokens, options),
    );
  }

  /**
   * Generates tokens after `prompt`, yielding each one as soon as it is chosen. The body
   * runs one token at a time and the head as an `FWLStream`, so each token
   * costs the same whatever its position, and the fast weights learn from the prompt and
   * from every generated token. With a body that records its step (`recordStep`: both
   * built-in bodies) the whole loop — body, head, sampler, the next input — stays on the
   * GPU for `tokensPerSubmission` tokens at a time and only the chosen ids are read back;
   * any other body with `initState` + `step` goes through the host, choosing the same
   * tokens. Options are checked when `generate` is called; GPU memory is released when
   * the loop ends (also on `break` and on abort).
   *
   * @param prompt one sequence of token ids (at least one)
   * @param options `maxTokens`, `temperature`, `topK`, `topP`, `seed`, `stop`,
   *   `tokensPerSubmission`, `normalizer`, `state`, `signal`
   * @throws {FWLStateError} If the model was disposed or the body can't generate (and,
   *   from the first `next()`, if another call is running).
   * @throws {FWLInputError} For a bad prompt, option or state.
   *
   * @example
   * ```ts
   * import { assertEquals, assertRejects } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const out: number[] = [];
   * const options = { maxTokens: 6, temperature: 0.8, topK: 5, seed: 1 };
   * for await (const t of lm.generate([5, 9, 2], options)) out.push(t);
   * assertEquals(out.length, 6);
   * // Stop: an AbortSignal ends the loop (the pending next() rejects with its reason).
   * const stop = new AbortController();
   * const kept: number[] = [];
   * const error = await assertRejects(async () => {
   *   for await (const t of lm.generate([5], { maxTokens: 100, signal: stop.signal })) {
   *     kept.push(t);
   *     if (kept.length === 3) stop.abort();
   *   }
   * });
   * assertEquals([(error as Error).name, kept.length], ["AbortError", 3]);
   * ```
   */
  generate(prompt: ArrayLike<number>, options: GenerateOptions = {}): AsyncGenerator<number> {
    const where = `${WHERE}.generate`;
    this.#guard.live("generate");
    const busy = { enter: () => this.#guard.enter("generate"), leave: () => this.#guard.leave() };
    return generateTokens(planGeneration(where, this.#parts, prompt, options, busy));
  }

  /**
   * The model as `.safetensors` bytes: the head's parameters under `"head/"`, the body's
   * (when it has `parameters`) under `"body/"`, optionally an optimizer's state under
   * `"optimizer/"`, and `fwl.lm.*` metadata. A body without `parameters` (an external
   * model) is not stored.
   *
   * @throws {FWLStateError} If the model was disposed.
   * @throws {FWLInputError} For bad options (such as an optimizer over other parameters).
   *
   * @example
   * ```ts
   * import { assert } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * import { decodeSafetensors } from "@x/fwl/io";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const bytes = await lm.checkpointBytes();
   * const names = Object.keys(decodeSafetensors(bytes).tensors);
   * assert(names.includes("head/unembed/kernel") && names.includes("body/embedding"));
   * ```
   */
  checkpointBytes(options: SaveCheckpointOptions = {}): Promise<Uint8Array> {
    this.#guard.live("checkpointBytes");
    return languageModelBytes(this.#parts, options);
  }

  /**
   * Loads bytes written by {@linkcode LanguageModel.checkpointBytes} into this model
   * (same shapes). Every name, shape and value is checked before anything is written.
   * With the fast weights off, the step sizes stay 0 whatever the file holds.
   *
   * @throws {FWLStateError} If the model was disposed.
   * @throws {FWLInputError} If the bytes are no checkpoint of this model's shapes.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const bytes = await lm.checkpointBytes({ metadata: { run: "a" } });
   * const metadata = await lm.loadCheckpointBytes(bytes); // the same model again
   * assertEquals(metadata.run, "a");
   * ```
   */
  async loadCheckpointBytes(
    bytes: Uint8Array,
    options: LoadCheckpointOptions = {},
  ): Promise<Record<string, string>> {
    this.#guard.live("loadCheckpointBytes");
    return await loadCheckpoint(this.#parts, bytes, "bytes", options);
  }

  /**
   * Writes the checkpoint to a `.safetensors` file (through a temporary file, then a
   * rename). Needs `--allow-write`.
   *
   * @throws {FWLStateError} If the model was disposed.
   * @throws {FWLInputError} For a bad path or options.
   * @throws {FWLError} Outside Deno (no file API: use `checkpointBytes`).
   *
   * @example
   * ```ts
   * import { assert } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const dir = await Deno.makeTempDir();
   * await lm.save(`${dir}/lm.safetensors`);
   * assert((await Deno.stat(`${dir}/lm.safetensors`)).size > 0);
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async save(path: string | URL, options: SaveCheckpointOptions = {}): Promise<void> {
    const bytes = () => this.checkpointBytes(options);
    await writeFileAtomic(`${WHERE}.save`, path, bytes, "lm.checkpointBytes");
  }

  /**
   * Reads a checkpoint file written by {@linkcode LanguageModel.save}, with the checks of
   * {@linkcode LanguageModel.loadCheckpointBytes}. Needs `--allow-read`.
   *
   * @throws {FWLStateError} If the model was disposed.
   * @throws {FWLInputError} For a bad path, or a file that is no checkpoint of this
   *   model's shapes.
   * @throws {FWLError} Outside Deno (no file API: use `loadCheckpointBytes`).
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const dir = await Deno.makeTempDir();
   * try {
   *   await lm.save(`${dir}/lm.safetensors`, { metadata: { run: "a" } });
   *   assertEquals((await lm.load(`${dir}/lm.safetensors`)).run, "a");
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  async load(
    path: string | URL,
    options: LoadCheckpointOptions = {},
  ): Promise<Record<string, string>> {
    this.#guard.live("load");
    return await loadCheckpointFile(`${WHERE}.load`, this.#parts, path, options);
  }

  /** Releases the gradient buffers, the head and the body. Idempotent. */
  dispose(): void {
    if (!this.#guard.dispose()) return;
    if (this.#grads) releaseGradBuffers(this.head, this.#grads);
    this.#grads = undefined;
    this.head.dispose();
    this.body.dispose?.();
  }

  /** `using lm = …` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
