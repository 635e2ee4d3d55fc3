/**
 * `LanguageModel`: a model body (anything that implements {@linkcode ModelBody}) under an
 * FWL head, with scoring, joint training, generation and checkpoints.
 *
 * Hidden states stay on the GPU when the body keeps them there: `body.forward` →
 * `lossAndGradsGPU(head, hidden, …)` → `dL/dhidden` → `body.backward` → one optimizer
 * step over the head's and the body's parameters.
 *
 * @module
 */

import type { BodyState, ModelBody } from "../bodies/model_body.ts";
import { FWLError, FWLInputError, FWLStateError } from "../errors.ts";
import { FWLBlock } from "../fwl/block.ts";
import type { FWLState } from "../fwl/fast_state.ts";
import { makeLabels } from "../fwl/labels.ts";
import { STEP_NAMES } from "../fwl/params.ts";
import { SeededRandom } from "../util/random.ts";
import { shapeSize } from "../util/shape.ts";
import { sampleToken } from "../fwl/sampling.ts";
import type { GPUContext } from "../gpu/context.ts";
import { ownedGPUTensor, Tensor, tensor } from "../tensor.ts";
import {
  createGradBuffers,
  type GradBuffers,
  namedGrads,
  releaseGradBuffers,
} from "../fwl/grad_buffers.ts";
import { lossAndGradsGPU } from "../fwl/loss_and_grads.ts";
import {
  Adam,
  blockParams,
  type GradSource,
  Optimizer,
  type OptimParam,
  SGD,
} from "../optim/mod.ts";
import { Recorder } from "../gpu/recorder.ts";
import { elementwise } from "../kernels/elementwise.ts";
import {
  checkBoolean,
  checkCount,
  checkFraction,
  checkNonNegative,
  checkNumber,
  checkPositive,
  checkPositiveInteger,
  checkSignal,
} from "../util/validate.ts";
import { checkOptions } from "../fwl/inputs.ts";
import {
  languageModelBytes,
  type LoadCheckpointOptions,
  loadLanguageModelBytes,
  type SaveCheckpointOptions,
} from "../io/checkpoint.ts";
import { readFileBytes, writeFileAtomic } from "../io/files.ts";
import type { TokenScores } from "./perplexity.ts";
import { checkBody, checkHidden } from "./plug.ts";
import { carriesBody, DocumentState } from "./document_state.ts";
import { type GenerateOptions, generateTokens, TOKENS_PER_SUBMISSION } from "./generate.ts";
import { describeValue } from "../util/describe.ts";
import type { MeanNormalizerOptions, NormalizerOption } from "../fwl/normalizer.ts";
import {
  BODY_PREFIX,
  type BodyParameter,
  bodyParameters,
  HEAD_PREFIX,
} from "../params/parameter.ts";
export type { GenerateOptions };

const WHERE = "LanguageModel";

/**
 * The inner-loss normalizer `LanguageModel.create` gives a head by default: the running
 * mean of docs/definition.md §6, its decay λ learned from 0.99 (a memory of about 100 tokens; on the
 * Node.js docs an LSTM's head learned 0.995) and a prior count of 16, so a document's
 * first tokens move the fast weights less. Measured on real text (`examples/real_text.ts`,
 * README): the best of the settings tried for heads trained on long documents.
 */
export const LM_NORMALIZER: Readonly<MeanNormalizerOptions> = Object.freeze({
  decay: 0.99,
  prior: 16,
  learnDecay: true,
});

/** Options of the {@linkcode LanguageModel} constructor. */
export interface LanguageModelOptions {
  /**
   * `true` (default): the FWL head. `false`: the plain-head baseline — the same block
   * with its six step sizes held at 0 and left out of the optimizer, so the fast weights
   * never move and the head is an ordinary dense → squared ReLU → dense → layer norm →
   * softmax head with the same parameters and cost.
   */
  fastWeights?: boolean;
}

/** Options of {@linkcode LanguageModel.create}. */
export interface CreateLanguageModelOptions extends LanguageModelOptions {
  /** Number of token ids `V` (the head's output width). */
  vocabSize: number;
  /** Width of the FWL head (`size`; its hidden layer is `4·size`). Default 32. */
  headSize?: number;
  /** Chunks of the head's mixed chunk attention (default 4). */
  attnChunks?: number;
  /**
   * The head's inner-loss normalizer (default {@linkcode LM_NORMALIZER}: the running
   * mean of docs/definition.md §6 with a learned decay from 0.99 and a prior count of 16). The running
   * mean keeps each sequence independent of the others in its batch, so scores do not
   * depend on batching and generation (which streams) matches training, and keeps the
   * update's size the same at every position of a long document, so the fast weights can
   * be carried through it (`scoreDocument`, `trainStep` with a `DocumentState`). A fixed
   * number `N` (the default before version 0.3 was 512) is independent of the batch too,
   * but its update grows with every token carried. `"batch"` is the reference's
   * `Σ weights` of the whole batch. The optimizers learn the step sizes in log space,
   * which is blind to their scale.
   */
  normalizer?: NormalizerOption;
  /**
   * Initial value of the six learned step sizes (default 0.001; the block alone starts
   * at docs/definition.md §1's 0.01). With the default normalizer the fast updates start close to
   * zero, so an untrained FWL head behaves like the plain head, and training grows the
   * step sizes (the optimizers learn `*_step` in log space, with 10× the learning rate)
   * to the size the data and the window length want: by factors of 10–1000 in a few
   * hundred steps. Starting larger is worse: early fast updates get in the way of the
   * slow weights' learning (on Node.js's API docs, 200 steps of an LSTM: 0.001 gave
   * 7.2–7.5 % lower perplexity than the plain head, 0.01 gave 3.5–5.3 %). Ignored with
   * `fastWeights: false` (they are 0).
   */
  stepSize?: number;
  /** Seed of the head's initialization (default 0). */
  seed?: number;
  /** A GPUDevice to run on; use the body's device (default: the shared device). */
  device?: GPUDevice;
}

/** Options of {@linkcode LanguageModel.score} and {@linkcode LanguageModel.trainStep}. */
export interface TokensOptions {
  /** A padding id: positions whose token or next token is `padId` are not scored. */
  padId?: number;
}

/** Options of {@linkcode LanguageModel.trainStep}. */
export interface TrainStepOptions extends TokensOptions {
  /**
   * Continue `B` documents from where the last call on this state left them (from
   * `lm.documentState(B)`): the head's fast weights and the body's state (when it can
   * carry one) start from there, and are advanced by this window. The tokens `[B, L]`
   * then read as a window of `L − 1` predictions: positions `0 … L−2` are read, tokens
   * `1 … L−1` predicted, so the next window starts with this one's last token. No
   * gradient flows into earlier windows.
   */
  state?: DocumentState;
  /**
   * Cancels the step before it starts: it rejects with `signal.reason` and changes
   * nothing, so a training loop that passes its signal to every step stops within one
   * window, the model and the state at the last completed window.
   */
  signal?: AbortSignal;
}

/** What {@linkcode LanguageModel.trainStep} returns. */
export interface TrainStepResult {
  /** The loss before the update (mean NLL over the batch's predicted tokens, nats). */
  loss: number;
  /** Whether the body was trained too (it has `backward` and its parameters were in the optimizer). */
  trainedBody: boolean;
}

/** Options of {@linkcode LanguageModel.scoreDocument}. */
export interface DocumentOptions {
  /** Tokens predicted per call of the body and the head (default 256). */
  window?: number;
  /**
   * For a body without `forwardFrom` (whose state can't be carried across windows): the
   * tokens before each window (or piece, with `bodyWindow`) it re-reads for context (not
   * scored again; default 0).
   */
  context?: number;
  /**
   * For a body without `forwardFrom` (`scoreDocument` only): it reads each window in
   * pieces of at most `bodyWindow` tokens, side by side in one batch, each piece with its
   * own `context` (default: the whole window at once). The head still reads `window`
   * tokens a call with its state carried, so a body with few positions (a transformer's
   * `maxLength`) is scored in large, fast head windows; the scores are those of windows
   * of `bodyWindow` tokens.
   */
  bodyWindow?: number;
  /**
   * A fixed normalizer for the head's carried state; default the head's own, which
   * must then be one that can be carried (a number or the running mean).
   */
  normalizer?: number;
  /**
   * Whether the head's fast-weight state is carried from window to window (default
   * `true`: every position's fast weights learn from the whole document before it).
   * `false` starts each window's fast weights from the slow weights, so they learn from
   * at most `window` tokens, as in training on independent windows of that length. With
   * a fixed normalizer the update grows with the number of tokens it has seen (docs/definition.md
   * §3), so a head trained on short windows is out of its range far into a long document;
   * the running mean (docs/definition.md §6) keeps the update's size, and a head trained on long
   * documents (`trainStep` with a `DocumentState`) reads them best carried.
   */
  carryFastWeights?: boolean;
  /** Called after each window with the tokens scored so far and the document's total. */
  progress?: (scored: number, total: number) => void;
  /**
   * Cancels the call between windows: it rejects with `signal.reason` within one window;
   * the model is left as before the call (`dynamicEvaluate` restores the trained
   * weights) and every buffer released.
   */
  signal?: AbortSignal;
}

/** Options of {@linkcode LanguageModel.dynamicEvaluate}. */
export interface DynamicEvaluationOptions extends Omit<DocumentOptions, "window" | "bodyWindow"> {
  /** Learning rate of the adaptation step (required; > 0). */
  lr: number;
  /** Tokens per segment: scored, then learned from (default 128). */
  segment?: number;
  /** `"sgd"` (default) or `"rms"` (the gradient divided by its running RMS). */
  method?: "sgd" | "rms";
  /** λ in [0, 1]: after each step, `θ += λ·(θ_trained − θ)` (default 0). */
  decay?: number;
  /** `"rms"`: decay of the running mean of `g²`, in [0, 1) (default 0.99). */
  beta2?: number;
  /** `"rms"`: added to the RMS (default 1e-8). */
  eps?: number;
}

/** `value` as token ids in `[0, V)`, at least `min` of them, or an FWLInputError. */
function tokenIds(where: string, name: string, value: unknown, min: number, V: number): Int32Array {
  const a = value as ArrayLike<number>;
  if (a === null || typeof a !== "object" || typeof a.length !== "number" || a.length < min) {
    const what = `at least ${min} token id(s) (an array, Int32Array or int32 host tensor)`;
    throw new FWLInputError(where, name, what, describeValue(value));
  }
  return Int32Array.from({ length: a.length }, (_, i) => {
    const id = a[i];
    if (!Number.isInteger(id) || id < 0 || id >= V) {
      throw new FWLInputError(where, name, `token ids in [0, ${V})`, `${id} at index ${i}`);
    }
    return id;
  });
}

/** Rethrows `e`, an input error of a helper, as one of the public method `where`. */
function rethrowAt(where: string, e: unknown): never {
  if (!(e instanceof FWLInputError)) throw e;
  throw new FWLInputError(where, e.argument, e.expected, e.received);
}

/** A checked document and its window options. */
interface DocumentParts {
  ids: Int32Array;
  window: number;
  context: number;
  bodyWindow: number;
  normalizer: number | undefined;
  carryFastWeights: boolean;
  progress: ((scored: number, total: number) => void) | undefined;
  signal: AbortSignal | undefined;
}

function checkDynamicOptions(
  where: string,
  options: DynamicEvaluationOptions,
):
  & Required<
    Omit<DynamicEvaluationOptions, "normalizer" | "carryFastWeights" | "progress" | "signal">
  >
  & DynamicEvaluationOptions {
  checkOptions(where, options);
  const { lr, segment = 128, method = "sgd", decay = 0, beta2 = 0.99, eps = 1e-8 } = options;
  checkPositive(where, "options.lr", lr);
  checkPositiveInteger(where, "options.segment", segment);
  if (method !== "sgd" && method !== "rms") {
    throw new FWLInputError(where, "options.method", '"sgd" or "rms"', describeValue(method));
  }
  checkNumber(where, "options.decay", decay, (v) => v >= 0 && v <= 1, "a number in [0, 1]");
  checkFraction(where, "options.beta2", beta2);
  checkPositive(where, "options.eps", eps);
  return { ...options, lr, segment, method, decay, beta2, eps, context: options.context ?? 0 };
}

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
 * console.log(loss, perplexity, out.length); // … … 4
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
  #busy = false;
  #disposed = false;

  /**
   * Puts a body and a built head together. With `fastWeights: false` the head's step
   * sizes are set to 0 here.
   *
   * @param body the model body
   * @param head an FWL head built with `inputSize = body.hiddenSize`
   * @param options `fastWeights` (default true)
   */
  constructor(body: ModelBody, head: FWLBlock, options: LanguageModelOptions = {}) {
    checkBody(WHERE, body);
    if (!(head instanceof FWLBlock)) {
      throw new FWLInputError(WHERE, "head", "an FWLBlock", describeValue(head));
    }
    if (!head.built) {
      throw new FWLStateError(`${WHERE}: the head is not built: call head.build(body.hiddenSize)`);
    }
    if (head.inputSize !== body.hiddenSize) {
      const want = `a head built with inputSize = body.hiddenSize = ${body.hiddenSize}`;
      throw new FWLInputError(WHERE, "head", want, `a head with inputSize ${head.inputSize}`);
    }
    checkOptions(WHERE, options);
    const { fastWeights = true } = options;
    checkBoolean(WHERE, "options.fastWeights", fastWeights);
    this.body = body;
    this.head = head;
    this.fastWeights = fastWeights;
    if (!fastWeights) this.#zeroSteps();
  }

  /**
   * Builds an FWL head for `body` and returns the model.
   *
   * @example
   * ```ts
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
   * console.log(fwl.parameters().length, plain.parameters().length); // one fewer: no "head/steps"
   * ```
   */
  static async create(
    body: ModelBody,
    options: CreateLanguageModelOptions,
  ): Promise<LanguageModel> {
    const where = `${WHERE}.create`;
    checkBody(where, body);
    if (options === null || typeof options !== "object") {
      const what = "an object with at least { vocabSize }";
      throw new FWLInputError(where, "options", what, describeValue(options));
    }
    const {
      vocabSize,
      headSize = 32,
      attnChunks = 4,
      normalizer = LM_NORMALIZER,
      stepSize = 0.001,
    } = options;
    const { seed = 0, device, fastWeights = true } = options;
    if (stepSize !== undefined) checkNonNegative(where, "options.stepSize", stepSize);
    const head = new FWLBlock(headSize, vocabSize, attnChunks, { normalizer, seed, device });
    try {
      await head.build(body.hiddenSize);
      if (stepSize !== undefined && fastWeights) {
        const params = await head.getParams();
        for (const name of STEP_NAMES) params[name] = new Float32Array([stepSize]);
        await head.setParams(params);
      }
      return new LanguageModel(body, head, { fastWeights });
    } catch (e) {
      head.dispose();
      throw e;
    }
  }

  /** The GPU context of the head (the body's parameters must live on its device). */
  get context(): GPUContext {
    this.#live("context");
    return this.head.context;
  }

  /** Number of token ids `V`. */
  get vocabSize(): number {
    return this.head.vocabSize;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /**
   * The trainable parameters, for an optimizer: the head's (docs/definition.md §1 names under
   * `"head/"`, the six step sizes as one packed `"head/steps"` entry — left out when the
   * fast weights are off), then the body's under `"body/"` when the body has `backward`
   * and `parameters`. Leave some out of the optimizer to freeze them.
   *
   * @example
   * ```ts
   * import { Adam } from "@x/fwl";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const all = new Adam(lm.context, lm.parameters(), { lr: 3e-3, clipNorm: 1 });
   * const head = lm.parameters().filter((p) => p.name.startsWith("head/"));
   * const headOnly = new Adam(lm.context, head, { lr: 1e-3 }); // the body stays frozen
   * all.dispose(), headOnly.dispose();
   * ```
   */
  parameters(): OptimParam[] {
    this.#live("parameters");
    const head = blockParams(this.head)
      .filter((p) => this.fastWeights || p.name !== "steps")
      .map((p) => ({
        ...p,
        name: HEAD_PREFIX + p.name,
        elementNames: p.elementNames?.map((n) => HEAD_PREFIX + n),
      }));
    if (!this.body.backward) return head;
    return [
      ...head,
      ...bodyParameters(WHERE, this.body).map((p) => ({
        name: BODY_PREFIX + p.name,
        buffer: p.buffer,
        length: shapeSize(p.shape),
      })),
    ];
  }

  /**
   * Scores token sequences: the negative log-likelihood of every token after the first
   * under the model, and the perplexity. Nothing of size `[B, T, V]` is formed (the
   * head's `score`).
   *
   * @param tokens token ids `[B, T]` (int32 host data, `T ≥ 2`)
   * @param options a padding id
   * @returns per-token NLL `[B, T − 1]`, the targets, mean loss and perplexity
   *
   * @example
   * ```ts
   * import { tensor } from "@x/fwl";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const ids = new Int32Array(4 * 8).map((_, i) => (i * 5) % 16);
   * const { nll, loss, perplexity } = await lm.score(tensor(ids, [4, 8]));
   * console.log(nll.length, loss, perplexity); // 28 … …
   * ```
   */
  async score(tokens: Tensor<"int32">, options: TokensOptions = {}): Promise<TokenScores> {
    const where = `${WHERE}.score`;
    return await this.#run("score", async () => {
      const { B, T, labels, weights } = this.#prepare(where, tokens, options);
      const hidden = await this.#forward(where, tokens, B, T);
      let nll: Float32Array;
      try {
        nll = (await this.head.score(hidden, labels, weights)).nll;
      } finally {
        hidden.dispose();
      }
      const ids = labels.hostData as Int32Array;
      const w = weights.hostData!;
      const shape: [number, number] = [B, T - 1];
      const out = new Float32Array(B * (T - 1));
      const targets = new Int32Array(B * (T - 1)).fill(-1);
      let total = 0, count = 0;
      for (let b = 0; b < B; b++) {
        for (let t = 0; t + 1 < T; t++) {
          const p = b * T + t, q = b * (T - 1) + t;
          if (w[p] === 0) continue;
          out[q] = nll[p];
          targets[q] = ids[p];
          total += nll[p];
          count++;
        }
      }
      const loss = count > 0 ? total / count : NaN;
      return { shape, nll: out, targets, loss, perplexity: Math.exp(loss), count };
    });
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
   * @param options a padding id
   *
   * @example
   * ```ts
   * import { Adam, tensor } from "@x/fwl";
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const opt = new Adam(lm.context, lm.parameters(), { lr: 3e-3 });
   * const batch = tensor(new Int32Array(2 * 8).map((_, i) => (3 * i) % 16), [2, 8]);
   * for (let i = 0; i < 3; i++) console.log((await lm.trainStep(batch, opt)).loss);
   * opt.dispose();
   * ```
   */
  async trainStep(
    tokens: Tensor<"int32">,
    optimizer: Optimizer,
    options: TrainStepOptions = {},
  ): Promise<TrainStepResult> {
    const where = `${WHERE}.trainStep`;
    return await this.#run("trainStep", () => this.#trainStep(where, tokens, optimizer, options));
  }

  /** `trainStep` without the busy mark. */
  async #trainStep(
    where: string,
    tokens: Tensor<"int32">,
    optimizer: Optimizer,
    options: TrainStepOptions,
  ): Promise<TrainStepResult> {
    const plan = this.#checkOptimizer(where, optimizer);
    const { state, signal, ...rest } = options;
    const { B, T, labels, weights } = this.#prepare(where, tokens, rest);
    checkSignal(where, "options.signal", signal);
    if (state === undefined) {
      const hidden = await this.#forward(where, tokens, B, T);
      try {
        return await this.#learn(where, hidden, labels, weights, optimizer, plan);
      } finally {
        hidden.dispose();
      }
    }
    this.#checkDocumentState(where, state, B);
    // A window of T − 1 predictions: the last token is only a target (the next window's first).
    const window = (t: Tensor, dtype: "int32" | "float32") => {
      const data = t.hostData!;
      const out = dtype === "int32" ? new Int32Array(B * (T - 1)) : new Float32Array(B * (T - 1));
      for (let b = 0; b < B; b++) out.set(data.subarray(b * T, b * T + T - 1), b * (T - 1));
      return tensor(out, [B, T - 1]);
    };
    const inputs = window(tokens, "int32") as Tensor<"int32">;
    const body = this.body, bodyState = state.body;
    const hidden = bodyState
      ? await body.forwardFrom!(inputs, bodyState)
      : await this.#forward(where, inputs, B, T - 1);
    try {
      if (bodyState) checkHidden(where, hidden, [B, T - 1, body.hiddenSize], "forwardFrom");
      const w = window(weights, "float32") as Tensor<"float32">;
      const result = await this.#learn(
        where,
        hidden,
        window(labels, "int32"),
        w,
        optimizer,
        plan,
        state,
      );
      state.advance(T - 1);
      return result;
    } finally {
      if (hidden instanceof Tensor) hidden.dispose();
    }
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
   * @throws {FWLInputError} for a bad batch size or normalizer, or a head whose normalizer is `"batch"`
   *
   * @example
   * ```ts
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4, normalizer: "mean" });
   * using state = lm.documentState(4);
   * console.log(state.batchSize, state.carriesBody, state.head !== undefined); // 4 true true
   * ```
   */
  documentState(batchSize: number, options: { normalizer?: number } = {}): DocumentState {
    const where = `${WHERE}.documentState`;
    this.#live("documentState");
    checkPositiveInteger(where, "batchSize", batchSize);
    checkOptions(where, options);
    return new DocumentState(
      this.body,
      this.fastWeights ? this.head : undefined,
      batchSize,
      options.normalizer,
    );
  }

  /** The gradient step of `trainStep` from the body's hidden states (left to the caller). */
  async #learn(
    where: string,
    hidden: Tensor<"float32">,
    labels: Tensor,
    weights: Tensor<"float32">,
    optimizer: Optimizer,
    plan: { trainBody: boolean; bodyParams: BodyParameter[] },
    state?: DocumentState,
  ): Promise<TrainStepResult> {
    this.#grads ??= createGradBuffers(this.head);
    const grads = this.#grads;
    // checkValues (the default) rejects non-finite hidden states before anything runs.
    const result = await lossAndGradsGPU(this.head, hidden, labels, weights, {
      gradBuffers: grads,
      ...(state?.head ? { state: state.head } : {}),
    });
    let loss: number;
    try {
      loss = (await result.loss!.read())[0];
      if (!Number.isFinite(loss)) {
        throw new FWLError(
          `${where}: the loss is ${loss} (training diverged: try a lower learning rate ` +
            `or clipNorm); nothing was updated`,
        );
      }
      if (plan.trainBody) await this.body.backward!(result.dx);
    } finally {
      result.loss!.dispose();
      result.dx.dispose();
    }
    const record: Record<string, GradSource> = {};
    for (const [name, g] of Object.entries(namedGrads(grads))) record[HEAD_PREFIX + name] = g;
    if (plan.trainBody) {
      for (const p of plan.bodyParams) record[BODY_PREFIX + p.name] = p.grad;
    }
    await optimizer.step(record);
    return { loss, trainedBody: plan.trainBody };
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
   *
   * @example
   * ```ts
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const ids = Array.from({ length: 40 }, (_, i) => (i * 7) % 16);
   * const { loss, count } = await lm.scoreDocument(ids, { window: 16 });
   * console.log(count, loss / Math.LN2, "bits per token"); // 39 … bits per token
   * ```
   */
  async scoreDocument(
    tokens: ArrayLike<number> | Tensor<"int32">,
    options: DocumentOptions = {},
  ): Promise<TokenScores> {
    const where = `${WHERE}.scoreDocument`;
    return await this.#run(
      "scoreDocument",
      () => this.#segments(where, this.#document(where, tokens, options)),
    );
  }

  /**
   * Dynamic evaluation (Krause et al., 2018), the baseline for fast weights: the document
   * is cut into segments of `segment` tokens; each is scored (as in
   * {@linkcode LanguageModel.scoreDocument}, states carried), then the model takes one
   * gradient step on that segment's loss from the same forward (as `trainStep`: the head,
   * and the body when it has `backward`; a carried body state is a constant), and the
   * adapted weights score the next segment (the carried states keep what earlier weights
   * made of earlier segments, as an RNN's hidden state does in the paper). θ is every parameter of `lm.parameters()` but the step sizes (the fast
   * weights' own learning rates stay as trained). `method: "sgd"`: `θ −= lr·g`; `"rms"`:
   * `θ −= lr·g / (√v̂ + eps)` with `v` a running mean of `g²` over the document's segments so far (decay `beta2`, bias
   * corrected: the paper's RMS normalization, its statistics gathered on the fly rather
   * than on training data). With `decay` λ, each step is followed by
   * `θ += λ·(θ_trained − θ)`. The trained weights are restored when the call ends
   * (also on error): one call is one document.
   *
   * @param tokens the document's token ids (at least 2)
   * @param options `lr` (required), `segment` (default 128), `method`, `decay`, `beta2`,
   *   `eps`, `context`, `normalizer`
   * @returns per-token NLL `[1, n − 1]` as each token was scored
   *
   * @example
   * ```ts
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const ids = Array.from({ length: 40 }, (_, i) => (i * 7) % 16);
   * const base = await lm.scoreDocument(ids, { window: 16 });
   * const dyn = await lm.dynamicEvaluate(ids, { segment: 16, lr: 0.01, method: "rms" });
   * console.log(base.perplexity, dyn.perplexity);
   * ```
   */
  async dynamicEvaluate(
    tokens: ArrayLike<number> | Tensor<"int32">,
    options: DynamicEvaluationOptions,
  ): Promise<TokenScores> {
    const where = `${WHERE}.dynamicEvaluate`;
    return await this.#run("dynamicEvaluate", async () => {
      const o = checkDynamicOptions(where, options);
      const doc = this.#document(where, tokens, { ...o, window: o.segment });
      const ctx = this.head.context;
      // The step sizes are meta-parameters of the fast weights' own learning: left alone.
      const params = this.parameters().filter((p) => p.name !== `${HEAD_PREFIX}steps`);
      const trained = params.map((p) => ctx.pool.acquire(p.length * 4));
      const copy = (toTrained: boolean) => {
        ctx.encodeNow(where, (encoder) => {
          params.forEach(({ buffer, offset = 0, length }, i) => {
            if (toTrained) {
              encoder.copyBufferToBuffer(buffer, offset * 4, trained[i], 0, length * 4);
            } else encoder.copyBufferToBuffer(trained[i], 0, buffer, offset * 4, length * 4);
          });
        });
      };
      copy(true);
      const optimizer = o.method === "sgd"
        ? new SGD(ctx, params, { lr: o.lr })
        : new Adam(ctx, params, { lr: o.lr, beta1: 0, beta2: o.beta2, eps: o.eps });
      try {
        const plan = this.#checkOptimizer(where, optimizer);
        return await this.#segments(where, doc, async (hidden, labels, weights) => {
          await this.#learn(where, hidden, labels, weights, optimizer, plan);
          if (o.decay === 0) return;
          const rec = new Recorder(ctx); // θ += λ·(θ_trained − θ)
          params.forEach(({ buffer, offset = 0, length: count }, i) => {
            const out = { buffer, offset: offset * 4, size: count * 4 };
            elementwise(rec, { count, out, a: trained[i], alpha: o.decay, beta: 1 - o.decay });
          });
          await rec.submit(where);
        });
      } finally {
        optimizer.dispose();
        copy(false);
        for (const b of trained) ctx.pool.release(b);
      }
    });
  }

  /**
   * Scores a document in consecutive windows of up to `window` predicted tokens, carrying
   * the head's fast-weight state and, when the body has `forwardFrom` and `initState`,
   * the body's state (else the body re-reads up to `context` tokens, of weight 0, before
   * each window). `learn` then gets each window's hidden states and targets.
   */
  async #segments(
    where: string,
    d: DocumentParts,
    learn?: (hidden: Tensor<"float32">, labels: Tensor, w: Tensor<"float32">) => Promise<void>,
  ): Promise<TokenScores> {
    const { ids, window, context, normalizer, carryFastWeights, progress } = d;
    const n = ids.length - 1, body = this.body, fastWeights = this.fastWeights;
    const nll = new Float32Array(n);
    const carries = carriesBody(body);
    // A window that starts from the slow weights needs a state only for a normalizer
    // other than the head's own.
    const state = fastWeights && (carryFastWeights || normalizer !== undefined)
      ? this.head.state(1, normalizer === undefined ? {} : { normalizer })
      : undefined;
    let bodyState: BodyState | undefined;
    try {
      bodyState = carries ? body.initState!(1) : undefined;
      // A stateless body read in pieces side by side (scoring only: learning needs one call).
      const pieces = !carries && !learn && d.bodyWindow < window;
      for (let t0 = 0; t0 < n; t0 += window) {
        d.signal?.throwIfAborted();
        // Positions from…end−1 go through the body; t0…end−1 are scored (and learned from).
        const end = Math.min(n, t0 + window);
        const from = carries || pieces ? t0 : Math.max(0, t0 - context);
        if (!carryFastWeights) state?.reset();
        const T = end - from, shape = [1, T];
        const labels = tensor(ids.slice(from + 1, end + 1), shape);
        const weights = tensor(new Float32Array(T).fill(1, t0 - from), shape);
        const hidden = pieces
          ? await this.#piecewise(where, ids, t0, end, d.bodyWindow, context)
          : await (async () => {
            const tokens = tensor(ids.slice(from, end), shape);
            const h =
              await (bodyState ? body.forwardFrom!(tokens, bodyState) : body.forward(tokens));
            checkHidden(where, h, [1, T, body.hiddenSize], carries ? "forwardFrom" : "forward");
            return h;
          })();
        try {
          // The head reads the window's own positions only: re-read context is no new
          // position of the document (a decaying state would age over it).
          const part = await this.#scoreTail(hidden, ids, from, t0, end, state, fastWeights);
          nll.set(part, t0);
          if (!nll.subarray(t0, end).every(Number.isFinite)) {
            throw new FWLError(`${where}: a non-finite loss at tokens ${t0 + 1}…${end}`);
          }
          await learn?.(hidden, labels, weights);
          progress?.(end, n);
        } finally {
          if (hidden instanceof Tensor) hidden.dispose();
        }
      }
    } finally {
      state?.dispose();
      bodyState?.dispose();
    }
    const loss = nll.reduce((a, b) => a + b, 0) / n, shape: [number, number] = [1, n];
    return { shape, nll, targets: ids.slice(1), loss, perplexity: Math.exp(loss), count: n };
  }

  /**
   * The head's per-position NLL of positions `t0 … end−1`, from the hidden states of
   * positions `from … end−1` (the first `t0 − from` being context, left out).
   */
  async #scoreTail(
    hidden: Tensor<"float32">,
    ids: Int32Array,
    from: number,
    t0: number,
    end: number,
    state: FWLState | undefined,
    fastWeights: boolean,
  ): Promise<Float32Array> {
    const T = end - t0, D = this.body.hiddenSize, skip = t0 - from;
    const labels = tensor(ids.slice(t0 + 1, end + 1), [1, T]);
    const weights = tensor(new Float32Array(T).fill(1), [1, T]);
    if (skip === 0) {
      return (await this.head.score(hidden, labels, weights, { state, fastWeights })).nll;
    }
    const ctx = this.head.context;
    const resident = hidden.gpuBuffer(ctx);
    let tail: Tensor<"float32">;
    if (resident) {
      const buffer = ctx.pool.acquire(T * D * 4);
      const rec = new Recorder(ctx);
      rec.copy(resident, skip * D * 4, buffer, 0, T * D * 4);
      await rec.submit("LanguageModel.scoreDocument");
      tail = ownedGPUTensor(ctx, buffer, [1, T, D], "float32");
    } else {
      tail = tensor((hidden.hostData as Float32Array).slice(skip * D), [1, T, D]);
    }
    try {
      return (await this.head.score(tail, labels, weights, { state, fastWeights })).nll;
    } finally {
      tail.dispose();
    }
  }

  /**
   * The hidden states `[1, end − t0, D]` of positions `t0 … end−1` from a stateless body
   * read in pieces of `piece` tokens, each after up to `context` tokens before it: pieces
   * of one shape go through the body together, as one batch.
   */
  async #piecewise(
    where: string,
    ids: Int32Array,
    t0: number,
    end: number,
    piece: number,
    context: number,
  ): Promise<Tensor<"float32">> {
    const D = this.body.hiddenSize, T = end - t0;
    // Pieces by shape: (context read before it, positions it scores).
    const groups = new Map<string, { before: number; len: number; starts: number[] }>();
    for (let p0 = t0; p0 < end; p0 += piece) {
      const before = Math.min(context, p0), len = Math.min(piece, end - p0);
      const key = `${before}:${len}`;
      if (!groups.has(key)) groups.set(key, { before, len, starts: [] });
      groups.get(key)!.starts.push(p0);
    }
    const ctx = this.head.context;
    let host: Float32Array | undefined;
    let gpu: GPUBuffer | undefined;
    try {
      for (const { before, len, starts } of groups.values()) {
        const L = before + len, R = starts.length;
        const rows = new Int32Array(R * L);
        starts.forEach((p0, r) => rows.set(ids.subarray(p0 - before, p0 + len), r * L));
        const hidden = await this.body.forward(tensor(rows, [R, L]));
        try {
          checkHidden(where, hidden, [R, L, D], "forward");
          const resident = hidden.gpuBuffer(ctx);
          if (resident) {
            gpu ??= ctx.pool.acquire(T * D * 4);
            const rec = new Recorder(ctx);
            starts.forEach((p0, r) =>
              rec.copy(resident, (r * L + before) * D * 4, gpu!, (p0 - t0) * D * 4, len * D * 4)
            );
            await rec.submit(where);
          } else {
            host ??= new Float32Array(T * D);
            const data = hidden.hostData as Float32Array;
            starts.forEach((p0, r) =>
              host!.set(data.subarray((r * L + before) * D, (r * L + L) * D), (p0 - t0) * D)
            );
          }
        } finally {
          if (hidden instanceof Tensor) hidden.dispose();
        }
      }
      if (gpu && host) {
        throw new FWLError(
          `${where}: the body gave GPU tensors for some pieces and host data for others`,
        );
      }
      if (host) return tensor(host, [1, T, D]);
      const out = ownedGPUTensor(ctx, gpu!, [1, T, D], "float32");
      gpu = undefined;
      return out;
    } finally {
      if (gpu) ctx.pool.release(gpu);
    }
  }

  /** Checks a document and its window options. */
  #document(
    where: string,
    tokens: ArrayLike<number> | Tensor<"int32">,
    options: DocumentOptions,
  ): DocumentParts {
    checkOptions(where, options);
    const { window = 256, context = 0, normalizer, carryFastWeights = true, progress } = options;
    checkPositiveInteger(where, "options.window", window);
    const bodyWindow = options.bodyWindow ?? window;
    checkPositiveInteger(where, "options.bodyWindow", bodyWindow);
    checkCount(where, "options.context", context);
    checkBoolean(where, "options.carryFastWeights", carryFastWeights);
    if (progress !== undefined && typeof progress !== "function") {
      throw new FWLInputError(where, "options.progress", "a function", describeValue(progress));
    }
    const data = tokens instanceof Tensor
      ? (tokens.disposed || tokens.dtype !== "int32" ? undefined : tokens.hostData)
      : tokens;
    const ids = tokenIds(where, "tokens", data, 2, this.vocabSize);
    const signal = checkSignal(where, "options.signal", options.signal);
    return { ids, window, context, bodyWindow, normalizer, carryFastWeights, progress, signal };
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
   *
   * @example
   * ```ts
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const out: number[] = [];
   * const options = { maxTokens: 6, temperature: 0.8, topK: 5, seed: 1 };
   * for await (const t of lm.generate([5, 9, 2], options)) out.push(t);
   * console.log(out.length); // 6
   * // Stop: an AbortSignal ends the loop (the pending next() rejects with its reason).
   * const stop = new AbortController();
   * const kept: number[] = [];
   * try {
   *   for await (const t of lm.generate([5], { maxTokens: 100, signal: stop.signal })) {
   *     kept.push(t);
   *     if (kept.length === 3) stop.abort();
   *   }
   * } catch (e) {
   *   console.log((e as Error).name, kept.length); // AbortError 3
   * }
   * ```
   */
  generate(prompt: ArrayLike<number>, options: GenerateOptions = {}): AsyncGenerator<number> {
    const where = `${WHERE}.generate`;
    this.#live("generate");
    const body = this.body;
    if (typeof body.initState !== "function" || typeof body.step !== "function") {
      throw new FWLStateError(
        `${where}: the body can't generate: it needs initState(batchSize) and ` +
          `step(tokens, state) (see ModelBody)`,
      );
    }
    checkOptions(where, options);
    const ids = tokenIds(where, "prompt", prompt, 1, this.vocabSize);
    const {
      maxTokens = 32,
      temperature = 1,
      topK,
      topP = 1,
      seed = 0,
      normalizer,
      stop = [],
      tokensPerSubmission = TOKENS_PER_SUBMISSION,
      state,
      signal,
    } = options;
    checkCount(where, "options.maxTokens", maxTokens);
    checkNumber(where, "options.seed", seed, Number.isSafeInteger, "a safe integer");
    checkPositiveInteger(where, "options.tokensPerSubmission", tokensPerSubmission);
    // Checks temperature, topK and topP now (sampleToken validates its options first).
    try {
      sampleToken(new Float32Array([0]), { temperature, topK, topP, rng: new SeededRandom(0) });
    } catch (e) {
      rethrowAt(where, e);
    }
    const stopIds = tokenIds(
      where,
      "options.stop",
      typeof stop === "number" ? [stop] : stop,
      0,
      this.vocabSize,
    );
    checkSignal(where, "options.signal", signal);
    if (state !== undefined) {
      this.#checkDocumentState(where, state, 1);
      if (normalizer !== undefined) {
        const what = "nothing (the state's head state carries its normalizer)";
        throw new FWLInputError(where, "options.normalizer", what, describeValue(normalizer));
      }
    } else {
      // Checks the normalizer now: a stream of the head's is made and dropped.
      this.head.stream(1, normalizer === undefined ? {} : { normalizer }).dispose();
    }
    return generateTokens({
      where,
      body,
      head: this.head,
      vocabSize: this.vocabSize,
      prompt: ids,
      maxTokens,
      sampling: { temperature, topK, topP, seed },
      stop: new Set(stopIds),
      tokensPerSubmission,
      normalizer,
      state,
      signal,
      enter: () => this.#enter("generate"),
      leave: () => this.#leave(),
    });
  }

  /**
   * The model as `.safetensors` bytes: the head's parameters under `"head/"`, the body's
   * (when it has `parameters`) under `"body/"`, optionally an optimizer's state under
   * `"optimizer/"`, and `fwl.lm.*` metadata. A body without `parameters` (an external
   * model) is not stored.
   *
   * @example
   * ```ts
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const bytes = await lm.checkpointBytes();
   * console.log(bytes.length > 0); // true
   * ```
   */
  checkpointBytes(options: SaveCheckpointOptions = {}): Promise<Uint8Array> {
    this.#live("checkpointBytes");
    return languageModelBytes(this, options);
  }

  /**
   * Loads bytes written by {@linkcode LanguageModel.checkpointBytes} into this model
   * (same shapes). Every name, shape and value is checked before anything is written.
   * With the fast weights off, the step sizes stay 0 whatever the file holds.
   *
   * @example
   * ```ts
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const bytes = await lm.checkpointBytes();
   * const metadata = await lm.loadCheckpointBytes(bytes); // the same model again
   * console.log(Object.keys(metadata).length > 0); // true
   * ```
   */
  async loadCheckpointBytes(
    bytes: Uint8Array,
    options: LoadCheckpointOptions = {},
  ): Promise<Record<string, string>> {
    this.#live("loadCheckpointBytes");
    const metadata = await loadLanguageModelBytes(this, bytes, "bytes", options);
    if (!this.fastWeights) this.#zeroSteps();
    return metadata;
  }

  /**
   * Writes the checkpoint to a `.safetensors` file (through a temporary file, then a
   * rename). Needs `--allow-write`.
   *
   * @example
   * ```ts
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const dir = await Deno.makeTempDir();
   * await lm.save(`${dir}/lm.safetensors`);
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
   * @example
   * ```ts
   * import { LanguageModel, LSTMBody } from "@x/fwl";
   * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
   * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
   * const dir = await Deno.makeTempDir();
   * try {
   *   await lm.save(`${dir}/lm.safetensors`);
   *   await lm.load(`${dir}/lm.safetensors`);
   * } finally {
   *   await Deno.remove(dir, { recursive: true });
   * }
   * ```
   */
  async load(
    path: string | URL,
    options: LoadCheckpointOptions = {},
  ): Promise<Record<string, string>> {
    this.#live("load");
    const bytes = await readFileBytes(`${WHERE}.load`, path, "lm.loadCheckpointBytes");
    const metadata = await loadLanguageModelBytes(this, bytes, String(path), options);
    if (!this.fastWeights) this.#zeroSteps();
    return metadata;
  }

  /** Releases the gradient buffers, the head and the body. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#grads) releaseGradBuffers(this.head, this.#grads);
    this.#grads = undefined;
    this.head.dispose();
    this.body.dispose?.();
  }

  /** `using lm = …` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Runs `fn` with the model marked busy (one call at a time). */
  async #run<R>(what: string, fn: () => Promise<R>): Promise<R> {
    this.#enter(what);
    try {
      return await fn();
    } finally {
      this.#leave();
    }
  }

  #enter(what: string): void {
    this.#live(what);
    if (this.#busy) {
      throw new FWLStateError(
        `${WHERE}.${what}: another call on this model is still running (or a generate ` +
          `loop is open); await it first`,
      );
    }
    this.#busy = true;
  }

  #leave(): void {
    this.#busy = false;
  }

  #live(what: string): void {
    if (this.#disposed) throw new FWLStateError(`${WHERE}.${what}: the model was disposed`);
  }

  #zeroSteps(): void {
    const ctx = this.head.context;
    ctx.device.queue.writeBuffer(this.head.buffers.steps, 0, new Float32Array(STEP_NAMES.length));
  }

  /** Throws unless `state` is a live document state of this model for `B` rows. */
  #checkDocumentState(where: string, state: unknown, B: number): asserts state is DocumentState {
    if (!(state instanceof DocumentState) || state.disposed) {
      const what = "a live DocumentState (from lm.documentState(B))";
      throw new FWLInputError(where, "options.state", what, describeValue(state));
    }
    if (state.batchSize !== B) {
      const what = `a state of ${B} rows (the batch's)`;
      throw new FWLInputError(where, "options.state", what, `one of ${state.batchSize}`);
    }
    if ((state.head !== undefined) !== this.fastWeights) {
      const what = "a state made by this model's documentState";
      throw new FWLInputError(where, "options.state", what, "one of another model");
    }
  }

  /** Checks the tokens and makes the next-token labels and weights. */
  #prepare(
    where: string,
    tokens: Tensor<"int32">,
    options: TokensOptions,
  ): { B: number; T: number; labels: Tensor; weights: Tensor<"float32"> } {
    if (!(tokens instanceof Tensor) || tokens.disposed) {
      const what = "a live int32 Tensor [B, T] (see tensor())";
      throw new FWLInputError(where, "tokens", what, describeValue(tokens));
    }
    if (tokens.dtype !== "int32" || tokens.shape.length !== 2 || tokens.shape[0] < 1) {
      const got = `${tokens.dtype} [${tokens.shape.join(", ")}]`;
      throw new FWLInputError(where, "tokens", "int32 token ids of shape [B, T]", got);
    }
    const [B, T] = tokens.shape;
    if (T < 2) {
      const what = "T ≥ 2 tokens per sequence (the first one is never predicted)";
      throw new FWLInputError(where, "tokens", what, `T = ${T}`);
    }
    checkOptions(where, options);
    try {
      return { B, T, ...makeLabels(tokens, this.vocabSize, { padId: options.padId }) };
    } catch (e) {
      rethrowAt(where, e);
    }
  }

  /** Runs the body and checks what it returns. */
  async #forward(
    where: string,
    tokens: Tensor<"int32">,
    B: number,
    T: number,
  ): Promise<Tensor<"float32">> {
    const hidden = await this.body.forward(tokens);
    try {
      checkHidden(where, hidden, [B, T, this.body.hiddenSize], "forward");
    } catch (e) {
      if (hidden instanceof Tensor) hidden.dispose();
      throw e;
    }
    return hidden;
  }

  /** Decides what `trainStep` trains with `optimizer`; throws on a mismatch. */
  #checkOptimizer(
    where: string,
    optimizer: Optimizer,
  ): { trainBody: boolean; bodyParams: BodyParameter[] } {
    if (!(optimizer instanceof Optimizer)) {
      const what = "an Optimizer (SGD, Adam, AdamW) over lm.parameters()";
      throw new FWLInputError(where, "optimizer", what, describeValue(optimizer));
    }
    if (optimizer.context !== this.head.context) {
      const what = "an optimizer on the model's device (lm.context)";
      throw new FWLInputError(where, "optimizer", what, "an optimizer on another device");
    }
    const known = new Set(this.parameters().map((p) => p.name));
    const names = optimizer.paramNames;
    for (const name of names) {
      if (known.has(name)) continue;
      const why = name === `${HEAD_PREFIX}steps`
        ? "the step sizes, but the fast weights are off (plain head): leave them out"
        : name.startsWith(BODY_PREFIX) && !this.body.backward
        ? "a body parameter, but the body has no backward: train the head only"
        : "a parameter this model does not have";
      throw new FWLInputError(
        where,
        "optimizer",
        `an optimizer over lm.parameters() (names such as "${HEAD_PREFIX}dense_0/kernel")`,
        `one with ${JSON.stringify(name)}, ${why}`,
      );
    }
    const trainBody = names.some((n) => n.startsWith(BODY_PREFIX));
    return { trainBody, bodyParams: trainBody ? bodyParameters(where, this.body) : [] };
  }
}
