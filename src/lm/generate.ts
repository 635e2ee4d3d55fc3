/**
 * The token loop of `LanguageModel.generate`. Each iteration reads one token: the body
 * steps it, the head predicts the next one from its fast weights, the next token is
 * chosen (the prompt's, or sampled), and the head observes it as its label. With a body
 * that can record its step (`recordStep`), a whole run of iterations is one GPU
 * submission — body, head, sampler and the next input never leave the GPU, and only
 * the chosen ids are read back; otherwise each iteration is a few host round trips.
 * Both loops draw the same random numbers (keyed by seed and position), so they choose
 * the same tokens.
 *
 * @module
 */

import type { BodyState, ModelBody } from "../bodies/model_body.ts";
import type { FWLBlock } from "../fwl/block.ts";
import type { FWLState } from "../fwl/fast_state.ts";
import { sampleToken } from "../fwl/sampling.ts";
import type { FWLStream } from "../fwl/stream.ts";
import type { GPUContext } from "../gpu/context.ts";
import { readBytes } from "../gpu/readback.ts";
import { Recorder } from "../gpu/recorder.ts";
import { recordSample } from "../kernels/sample.ts";
import { tensor } from "../tensor.ts";
import { counterKey, counterUniformKeyed } from "../util/random.ts";
import type { DocumentState } from "./document_state.ts";
import { checkHidden } from "./plug.ts";

/**
 * Tokens sampled per GPU submission by default: on llvmpipe 64 gave 1.4× the tokens/s
 * of 16 (README, figures), in submissions of about a third of a second there, far less
 * on a GPU.
 */
export const TOKENS_PER_SUBMISSION = 64;

/** Prompt tokens read per GPU submission: nothing is read back, so runs can be longer. */
const PROMPT_TOKENS_PER_SUBMISSION = 64;

/** Options of {@linkcode LanguageModel.generate}. */
export interface GenerateOptions {
  /** Number of tokens to generate after the prompt (default 32). */
  maxTokens?: number;
  /** Softmax temperature (default 1); 0 is greedy. */
  temperature?: number;
  /** Keep only the `topK` most likely tokens. */
  topK?: number;
  /** Nucleus sampling: the smallest set of most likely tokens with probability ≥ `topP`. */
  topP?: number;
  /**
   * Seed of the sampler (default 0): the random number of the token at position `t` of
   * the document (prompt first; with `state`, counted from the state's start) is
   * `counterUniform(seed, t, 0)`, so the same seed gives the same tokens on the GPU and
   * host loops, at any `tokensPerSubmission`, and a document generated in several calls
   * gets the tokens of one call.
   */
  seed?: number;
  /** Token id(s) that end the generation; the stop token is yielded, last. */
  stop?: number | readonly number[];
  /**
   * Tokens sampled per GPU submission (default {@linkcode TOKENS_PER_SUBMISSION}): more
   * amortizes the submission and the read-back, fewer keeps each submission short. A
   * stop token, `break` or an abort inside a submission costs nothing extra unless a
   * `state` must be rewound to the last token yielded.
   */
  tokensPerSubmission?: number;
  /**
   * A fixed normalizer for the head's stream; default: the head's own, which must then
   * be one that can be carried (a number or the running mean; generation then matches
   * training). Not with `state` (its head state has its normalizer).
   */
  normalizer?: number;
  /**
   * Continue this document state of one row (`lm.documentState(1)`, possibly advanced by
   * `scoreDocument`/`trainStep` windows or earlier `generate` calls) and leave it at the
   * last token yielded. As with windows, calls overlap by one token: `prompt[0]` is the
   * state's last token (the last one yielded, or the last of the window read), which the
   * state has predicted but not yet read. Default: a fresh state, dropped at the end.
   */
  state?: DocumentState;
  /**
   * Cancels the run: the pending `next()` rejects with `signal.reason` (an `AbortError`
   * by default) within one submission; GPU memory is released and a `state` is left at
   * the last token yielded. Already aborted, `generate` throws its reason.
   */
  signal?: AbortSignal;
}

/** How tokens are chosen (checked by the caller). */
export interface Sampling {
  temperature: number;
  topK: number | undefined;
  topP: number;
  seed: number;
}

/** Everything a generation run needs, checked by `LanguageModel.generate`. */
export interface GenerationPlan {
  where: string;
  body: ModelBody;
  head: FWLBlock;
  vocabSize: number;
  prompt: Int32Array;
  maxTokens: number;
  sampling: Sampling;
  /** Ids that end the run (yielded last). */
  stop: ReadonlySet<number>;
  /** Sampled tokens per submission of the GPU loop. */
  tokensPerSubmission: number;
  normalizer: number | undefined;
  /** Continue this document (one row) and leave it at the last token yielded. */
  state: DocumentState | undefined;
  signal: AbortSignal | undefined;
  /** Marks the model busy (throws if it is) / free again. */
  enter(): void;
  leave(): void;
}

/** Whether `body` can keep the whole token loop on the GPU. */
export function recordsSteps(body: ModelBody): boolean {
  return typeof body.recordStep === "function";
}

/**
 * The tokens of one generation run, yielded as they are chosen. The model is marked
 * busy while the loop computes, not while the caller holds a token. However the run
 * ends (the last token, a stop id, `break`, an abort, an error), every GPU buffer it
 * made is released, and a document state passed in is left at the last token yielded.
 */
export async function* generateTokens(plan: GenerationPlan): AsyncGenerator<number> {
  if (plan.maxTokens === 0) return;
  let holding = false;
  const enter = () => {
    plan.enter();
    holding = true;
  };
  const leave = () => {
    holding = false;
    plan.leave();
  };
  enter();
  let loop: TokenLoop | undefined;
  let yielded = 0;
  try {
    plan.signal?.throwIfAborted();
    loop = new TokenLoop(plan);
    while (yielded < plan.maxTokens) {
      const remaining = plan.maxTokens - yielded;
      const fresh = await loop.advance(remaining);
      for (const token of fresh) {
        plan.signal?.throwIfAborted();
        yielded++; // before the yield: a `break` there returns from it
        leave();
        yield token;
        enter();
        if (plan.stop.has(token)) return;
      }
      plan.signal?.throwIfAborted();
    }
  } finally {
    try {
      if (loop) {
        if (!holding) enter();
        // A document state is left at the last token yielded (undoing tokens chosen ahead).
        if (plan.state) {
          await loop.rewind(yielded);
          plan.state.advance(loop.done);
        }
      }
    } finally {
      loop?.dispose();
      if (holding) leave();
    }
  }
}

/** The GPU buffers and states of one run. */
class TokenLoop {
  readonly #plan: GenerationPlan;
  readonly #ctx: GPUContext;
  readonly #stream: FWLStream;
  readonly #body: BodyState;
  readonly #ownsBody: boolean;
  /** The prompt, then every token chosen (some possibly not yielded yet). */
  readonly #tokens: number[];
  /** Iterations run: token `t` has been read for every `t < #done`. */
  #done = 0;
  readonly #gpu: GPUResources | undefined;
  /** Where the states stood before the last submission (to come back to). */
  #snapshot: { head: FWLState; body: BodyState; done: number } | undefined;
  readonly #perSubmission: number;
  /** The document position of token 0 (the random numbers are keyed by position). */
  readonly #origin: number;

  constructor(plan: GenerationPlan) {
    this.#plan = plan;
    this.#origin = plan.state?.position ?? 0;
    const { body, head, state, normalizer } = plan;
    this.#ctx = head.context;
    this.#tokens = Array.from(plan.prompt);
    const made: { dispose(): void }[] = [];
    try {
      const streamOptions = state?.head
        ? { state: state.head }
        : normalizer === undefined
        ? {}
        : { normalizer };
      this.#stream = head.stream(1, streamOptions);
      made.push(this.#stream);
      const carried = state?.carriesBody ? state.body : undefined;
      this.#body = carried ?? body.initState!(1);
      this.#ownsBody = carried === undefined;
      if (this.#ownsBody) made.push(this.#body);
      const canRewind = typeof this.#body.copyFrom === "function";
      this.#perSubmission = state && !canRewind ? 1 : plan.tokensPerSubmission;
      if (recordsSteps(body)) {
        const pool = this.#ctx.pool;
        const acquire = (bytes: number) => {
          const b = pool.acquire(bytes);
          made.push({ dispose: () => pool.release(b) });
          return b;
        };
        this.#gpu = {
          current: acquire(4),
          hidden: acquire(body.hiddenSize * 4),
          logits: acquire(plan.vocabSize * 4),
          ones: acquire(4),
          ids: acquire(this.#perSubmission * 4),
          release: () => {
            for (const b of [gpu.current, gpu.hidden, gpu.logits, gpu.ones, gpu.ids]) {
              pool.release(b);
            }
          },
        };
        const gpu = this.#gpu;
        this.#ctx.device.queue.writeBuffer(gpu.ones, 0, new Float32Array([1]));
        if (state && canRewind) {
          const snapshot = { head: this.#stream.state.clone(), body: body.initState!(1), done: 0 };
          made.push(snapshot.head, snapshot.body);
          this.#snapshot = snapshot;
        }
      }
    } catch (e) {
      for (const m of made.reverse()) m.dispose();
      throw e;
    }
  }

  /** Iterations run (tokens read) so far. */
  get done(): number {
    return this.#done;
  }

  /**
   * Runs iterations until up to `remaining` (at most one submission's worth) new tokens
   * are chosen; returns them.
   */
  async advance(remaining: number): Promise<number[]> {
    const P = this.#plan.prompt.length;
    const known = this.#tokens.length;
    if (this.#gpu) {
      // Prompt positions first, in long forced runs; then sampled runs.
      const forced = known - 1 - this.#done;
      const count = forced > 0
        ? Math.min(forced, PROMPT_TOKENS_PER_SUBMISSION)
        : Math.min(remaining, this.#perSubmission);
      if (forced <= 0) this.#takeSnapshot();
      await this.#submit(count);
    } else {
      await this.#hostIteration();
    }
    // Every token past the prompt that is known now and was not returned before.
    const from = Math.max(P, known);
    return this.#tokens.slice(from);
  }

  /** Brings the states back to just after token `P + yielded − 1` was chosen. */
  async rewind(yielded: number): Promise<void> {
    const target = this.#plan.prompt.length - 1 + yielded;
    if (this.#done <= target) return;
    const snap = this.#snapshot;
    if (!snap || snap.done > target) return; // nothing ran ahead that can be undone
    this.#tokens.length = target + 1;
    this.#stream.state.copyFrom(snap.head);
    this.#body.copyFrom!(snap.body);
    this.#done = snap.done;
    while (this.#done < target) {
      await this.#submit(Math.min(target - this.#done, PROMPT_TOKENS_PER_SUBMISSION));
    }
  }

  /** Keeps the states as they are now, before a submission that samples. */
  #takeSnapshot(): void {
    const snap = this.#snapshot;
    if (!snap) return;
    snap.head.copyFrom(this.#stream.state);
    snap.body.copyFrom!(this.#body);
    snap.done = this.#done;
  }

  /**
   * One submission of `count` iterations on the GPU: known tokens are copied in as the
   * next input (forced), the rest sampled; the sampled ids are read back and appended.
   */
  async #submit(count: number): Promise<void> {
    const plan = this.#plan, gpu = this.#gpu!, ctx = this.#ctx;
    const t0 = this.#done, tokens = this.#tokens;
    const forced = Math.max(0, Math.min(count, tokens.length - 1 - t0));
    const rec = new Recorder(ctx);
    ctx.device.queue.writeBuffer(gpu.current, 0, new Int32Array([tokens[t0]]));
    const next = forced > 0
      ? rec.upload(Int32Array.from(tokens.slice(t0 + 1, t0 + 1 + forced)))
      : undefined;
    const key = counterKey(plan.sampling.seed);
    for (let i = 0; i < count; i++) {
      const t = t0 + i;
      plan.body.recordStep!(rec, gpu.current, this.#body, gpu.hidden);
      this.#stream.recordPredict(rec, gpu.hidden, gpu.logits);
      if (i < forced) rec.copy(next!, i * 4, gpu.current, 0, 4);
      else {
        recordSample(rec, {
          logits: gpu.logits,
          rows: 1,
          vocab: plan.vocabSize,
          temperature: plan.sampling.temperature,
          topK: plan.sampling.topK,
          topP: plan.sampling.topP,
          seedKey: key,
          position: this.#origin + t + 1,
          out: gpu.ids,
          outIndex: i - forced,
          next: gpu.current,
        });
      }
      this.#stream.recordObserve(rec, gpu.current, gpu.ones);
    }
    await rec.submit(plan.where);
    this.#done = t0 + count;
    const sampled = count - forced;
    if (sampled > 0) {
      const ids = new Int32Array(await readBytes(ctx, gpu.ids, sampled * 4, plan.where));
      tokens.push(...ids);
    }
  }

  /** One iteration through the host: the body's `step`, the head's stream, `sampleToken`. */
  async #hostIteration(): Promise<void> {
    const plan = this.#plan, t = this.#done, tokens = this.#tokens;
    const id = (token: number) => tensor(new Int32Array([token]), [1]);
    const hidden = await plan.body.step!(id(tokens[t]), this.#body);
    let token: number;
    try {
      checkHidden(plan.where, hidden, [1, plan.body.hiddenSize], "step");
      using logits = await this.#stream.predict(hidden);
      if (t + 1 < tokens.length) token = tokens[t + 1];
      else {
        const { temperature, topK, topP, seed } = plan.sampling;
        const uniform = () => counterUniformKeyed(counterKey(seed), this.#origin + t + 1, 0);
        token = sampleToken(await logits.read(), { temperature, topK, topP, rng: { uniform } });
      }
    } finally {
      hidden.dispose();
    }
    await this.#stream.observe(id(token), tensor(new Float32Array([1]), [1]));
    if (t + 1 === tokens.length) tokens.push(token);
    this.#done = t + 1;
  }

  dispose(): void {
    this.#gpu?.release();
    this.#stream.dispose();
    if (this.#ownsBody) this.#body.dispose();
    this.#snapshot?.head.dispose();
    this.#snapshot?.body.dispose();
  }
}

/** The GPU loop's buffers. */
interface GPUResources {
  /** The token each iteration reads `[1]` int32 (the next iteration's input once chosen). */
  current: GPUBuffer;
  hidden: GPUBuffer;
  logits: GPUBuffer;
  /** The observe weight 1. */
  ones: GPUBuffer;
  /** The ids sampled in one submission. */
  ids: GPUBuffer;
  release(): void;
}
