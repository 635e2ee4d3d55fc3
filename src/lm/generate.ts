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
import type { FWLState } from "../fwl/state.ts";
import { sampleToken } from "../fwl/sampling.ts";
import type { FWLStream } from "../fwl/stream.ts";
import type { GPUContext } from "../gpu/context.ts";
import { Recorder } from "../gpu/recorder.ts";
import { MAP_READ_COPY_DST } from "../gpu/readback.ts";
import { recordSample } from "../kernels/sample.ts";
import { type Tensor, tensor } from "../tensor.ts";
import { counterKey, counterUniform } from "../util/random.ts";
import type { DocumentState } from "./document_state.ts";
import { checkHidden } from "./plug.ts";

/**
 * Tokens sampled per GPU submission by default: on llvmpipe 64 gave 2.5× the tokens/s
 * of 16 (515 against 203 for the examples' LSTM; docs/benchmarks.md, "Generation"), in
 * submissions of about a third of a second there, far less on a GPU.
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
   * the last token yielded. Already aborted, the first `next()` rejects with its reason.
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
function recordsSteps(body: ModelBody): boolean {
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
      const fresh = await loop.advance();
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
      await loop?.dispose();
      if (holding) leave();
    }
  }
}

/** A submission of sampled tokens on its way: its ids come back through `slot`. */
interface InFlight {
  slot: Slot;
  /** Tokens it samples. */
  count: number;
  /** Resolves when `slot.staging` is mapped (the submission finished). */
  mapped: Promise<void>;
}

/** One of the two sets of buffers that let two submissions be in flight at once. */
interface Slot {
  /** The ids sampled by a submission. */
  ids: GPUBuffer;
  /** Their copy, mapped for reading. */
  staging: GPUBuffer;
  /** The states just before that submission, with its iteration count (rewinding only). */
  snapshot: { head: FWLState; body: BodyState; done: number } | undefined;
}

/** The buffers and states of one run, and the tokens read so far. */
class TokenLoop {
  readonly #plan: GenerationPlan;
  readonly #ctx: GPUContext;
  readonly #stream: FWLStream;
  readonly #body: BodyState;
  readonly #ownsBody: boolean;
  /** The prompt, then every token chosen and read back. */
  readonly #tokens: number[];
  /** Iterations submitted: token `t` has been (or is being) read for every `t < #done`. */
  #done = 0;
  /** Tokens sampled in submissions so far, read back or in flight. */
  #sampled = 0;
  readonly #gpu: GPUResources | undefined;
  readonly #inFlight: InFlight[] = [];
  /** An error met while recording, thrown once the tokens before it are read. */
  #failure: unknown;
  readonly #perSubmission: number;
  /** The document position of token 0 (the random numbers are keyed by position). */
  readonly #origin: number;
  readonly #made: (() => void)[] = [];

  constructor(plan: GenerationPlan) {
    this.#plan = plan;
    this.#origin = plan.state?.position ?? 0;
    const { body, head, state, normalizer } = plan;
    this.#ctx = head.context;
    this.#tokens = Array.from(plan.prompt);
    const made = this.#made;
    try {
      const streamOptions = state?.head
        ? { state: state.head }
        : normalizer === undefined
        ? {}
        : { normalizer };
      const stream = head.stream(1, streamOptions);
      made.push(() => stream.dispose());
      this.#stream = stream;
      const carried = state?.carriesBody ? state.body : undefined;
      this.#body = carried ?? body.initState!(1);
      this.#ownsBody = carried === undefined;
      if (this.#ownsBody) made.push(() => this.#body.dispose());
      const canRewind = typeof this.#body.copyFrom === "function";
      this.#perSubmission = state && !canRewind ? 1 : plan.tokensPerSubmission;
      if (recordsSteps(body)) {
        const pool = this.#ctx.pool;
        const acquire = (bytes: number, usage?: number) => {
          const b = pool.acquire(bytes, usage);
          made.push(() => pool.release(b));
          return b;
        };
        const K = this.#perSubmission;
        const slot = (): Slot => {
          let snapshot: Slot["snapshot"];
          if (state && canRewind) {
            snapshot = { head: this.#stream.state.clone(), body: body.initState!(1), done: 0 };
            made.push(() => snapshot!.head.dispose(), () => snapshot!.body.dispose());
          }
          return { ids: acquire(K * 4), staging: acquire(K * 4, MAP_READ_COPY_DST), snapshot };
        };
        this.#gpu = {
          current: acquire(4),
          hidden: acquire(body.hiddenSize * 4),
          logits: acquire(plan.vocabSize * 4),
          ones: acquire(4),
          slots: [slot(), slot()],
        };
        this.#ctx.device.queue.writeBuffer(this.#gpu.ones, 0, new Float32Array([1]));
      }
    } catch (e) {
      for (const release of made.reverse()) release();
      throw e;
    }
  }

  /** Iterations run (tokens read) so far. */
  get done(): number {
    return this.#done;
  }

  /**
   * The next tokens chosen: on the GPU, the ids of the oldest submission in flight, with
   * the next one submitted first, so the GPU computes while the host reads and yields;
   * through the host, one token (after the prompt). Throws an error met while recording
   * once the tokens before it are returned.
   */
  async advance(): Promise<number[]> {
    if (!this.#gpu) return await this.#hostIteration();
    const known = this.#tokens.length, max = this.#plan.maxTokens;
    // The prompt's positions: no ids to read, so nothing waits for them.
    while (this.#failure === undefined && this.#done < known - 1) {
      await this.#submit(Math.min(known - 1 - this.#done, PROMPT_TOKENS_PER_SUBMISSION));
    }
    while (
      this.#failure === undefined && this.#inFlight.length < 2 && this.#sampled < max
    ) {
      await this.#submit(Math.min(max - this.#sampled, this.#perSubmission));
    }
    const oldest = this.#inFlight.shift();
    if (!oldest) {
      if (this.#failure !== undefined) throw this.#failure;
      return [];
    }
    await oldest.mapped;
    const staging = oldest.slot.staging;
    const ids = Array.from(new Int32Array(staging.getMappedRange(0, oldest.count * 4)));
    staging.unmap();
    this.#tokens.push(...ids);
    return ids;
  }

  /** Brings the states back to just after token `P + yielded − 1` was chosen. */
  async rewind(yielded: number): Promise<void> {
    await this.#settle();
    const target = this.#plan.prompt.length - 1 + yielded;
    if (this.#done <= target) return;
    let snap: Slot["snapshot"];
    for (const slot of this.#gpu?.slots ?? []) {
      const s = slot.snapshot;
      if (s && s.done <= target && (!snap || s.done > snap.done)) snap = s;
    }
    if (!snap) return; // nothing ran ahead that can be undone
    this.#tokens.length = target + 1;
    this.#stream.state.copyFrom(snap.head);
    this.#body.copyFrom!(snap.body);
    this.#done = snap.done;
    while (this.#done < target) {
      await this.#submit(Math.min(target - this.#done, PROMPT_TOKENS_PER_SUBMISSION));
    }
  }

  /**
   * One submission of `count` iterations on the GPU: while the tokens are known (the
   * prompt, a replay) each is copied in as the next input; past them, each is sampled
   * into a free slot, whose ids are read back when the submission finishes.
   */
  async #submit(count: number): Promise<void> {
    const plan = this.#plan, gpu = this.#gpu!, ctx = this.#ctx;
    const t0 = this.#done, tokens = this.#tokens;
    const forced = Math.max(0, Math.min(count, tokens.length - 1 - t0));
    const rec = new Recorder(ctx);
    // A known first token is written in; else `current` holds the one the submission
    // before this one sampled last (not read back yet).
    if (t0 < tokens.length) {
      ctx.device.queue.writeBuffer(gpu.current, 0, new Int32Array([tokens[t0]]));
    }
    const next = forced > 0
      ? rec.upload(Int32Array.from(tokens.slice(t0 + 1, t0 + 1 + forced)))
      : undefined;
    // The slot no submission in flight uses; its snapshot is the states as they are now.
    const slot = forced < count
      ? gpu.slots.find((s) => !this.#inFlight.some((f) => f.slot === s))!
      : undefined;
    if (slot?.snapshot) {
      slot.snapshot.head.copyFrom(this.#stream.state);
      slot.snapshot.body.copyFrom!(this.#body);
      slot.snapshot.done = t0;
    }
    const key = counterKey(plan.sampling.seed);
    let recorded = 0;
    for (let i = 0; i < count; i++) {
      const t = t0 + i;
      try {
        plan.body.recordStep!(rec, gpu.current, this.#body, gpu.hidden);
      } catch (e) {
        // Such as a transformer's last position: the iterations before it still run.
        if (i === 0) throw e;
        this.#failure = e;
        break;
      }
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
          out: slot!.ids,
          outIndex: i - forced,
          next: gpu.current,
        });
      }
      this.#stream.recordObserve(rec, gpu.current, gpu.ones);
      recorded++;
    }
    const sampled = recorded - Math.min(forced, recorded);
    if (sampled > 0) rec.copy(slot!.ids, 0, slot!.staging, 0, sampled * 4);
    await rec.submit(plan.where);
    this.#done = t0 + recorded;
    if (sampled > 0) {
      this.#sampled += sampled;
      const mapped = slot!.staging.mapAsync(GPUMapMode.READ, 0, sampled * 4);
      this.#inFlight.push({ slot: slot!, count: sampled, mapped });
    }
  }

  /** Waits for the submissions in flight (their ids are not needed any more). */
  async #settle(): Promise<void> {
    for (const f of this.#inFlight.splice(0)) {
      try {
        await f.mapped;
        f.slot.staging.unmap();
      } catch {
        // A failed submission: its buffers are released all the same.
      }
    }
  }

  /** One iteration through the host: the body's `step`, the head's stream, `sampleToken`. */
  async #hostIteration(): Promise<number[]> {
    const plan = this.#plan, t = this.#done, tokens = this.#tokens;
    const id = (token: number) => tensor(new Int32Array([token]), [1]);
    const hidden = await plan.body.step!(id(tokens[t]), this.#body);
    let token: number;
    let logits: Tensor<"float32"> | undefined;
    try {
      checkHidden(plan.where, hidden, [1, plan.body.hiddenSize], "step");
      logits = await this.#stream.predict(hidden);
      if (t + 1 < tokens.length) token = tokens[t + 1];
      else {
        const { temperature, topK, topP, seed } = plan.sampling;
        const uniform = () => counterUniform(seed, this.#origin + t + 1, 0);
        token = sampleToken(await logits.read(), { temperature, topK, topP, rng: { uniform } });
      }
    } finally {
      logits?.dispose(); // no `using`: not every browser has it
      hidden.dispose();
    }
    await this.#stream.observe(id(token), tensor(new Float32Array([1]), [1]));
    this.#done = t + 1;
    if (t + 1 < tokens.length) return [];
    tokens.push(token);
    return [token];
  }

  /** Waits for the GPU work in flight, then releases every buffer and state of the run. */
  async dispose(): Promise<void> {
    await this.#settle();
    for (const release of this.#made.reverse()) release();
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
  /** Two, so that one submission computes while the other's ids are read. */
  slots: [Slot, Slot];
}
