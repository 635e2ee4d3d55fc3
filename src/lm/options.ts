/**
 * The options and results of `LanguageModel`'s methods: the public shapes the facade
 * and its jobs share.
 *
 * @module
 */

import type { NormalizerOption } from "../fwl/normalizer.ts";
import type { DocumentState } from "./document_state.ts";

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
