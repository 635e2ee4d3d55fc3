// The demo's model work, without the page: a character vocabulary, one language model
// trained on the training documents read in consecutive windows with its states carried
// — with the FWL head or with the plain head — and the per-character surprise under it
// of a text it has not seen, read from its first character to its last with one state;
// then the trained models continue that text side by side (`continueText`).

import {
  Adam,
  LanguageModel,
  LSTMBody,
  type ModelBody,
  type RandomSource,
  SeededRandom,
  tensor,
  TransformerBody,
  warmupCosineSchedule,
} from "../../mod.ts";
import { DocumentReader, type TokenDataset } from "../../data.ts";

/** How big a run is. */
export interface DemoSize {
  /** The body: an LSTM, or a one-layer transformer. */
  body: "lstm" | "transformer";
  /** Training steps of each model. */
  steps: number;
  /** Windows per step. */
  batch: number;
  /** Characters per training window. */
  length: number;
  /** Characters per scoring call (the states carry through the whole text). */
  scoreLength: number;
  /** LSTM width (embedding and hidden). */
  width: number;
  /** FWL head size. */
  head: number;
  /** Initial value of the FWL head's six step sizes. */
  stepSize: number;
  /** Initial decay λ of the FWL head's running mean (docs/definition.md §6), learned. */
  decay: number;
  /** Prior count n0 of the running mean. */
  prior: number;
  /** The text is cut to this many characters. */
  maxChars: number;
}

/** `tiny` is the browser suite's quick check; `default` is what a person gets. */
export const SIZES: Record<"tiny" | "default", DemoSize> = {
  tiny: {
    body: "lstm",
    steps: 6,
    batch: 2,
    length: 32,
    scoreLength: 128,
    width: 16,
    head: 8,
    stepSize: 0.01,
    decay: 0.99,
    prior: 4,
    maxChars: 300,
  },
  // Measured in Deno on llvmpipe, each sample read after training on the other five: the
  // FWL model below the plain one on all six (perplexity −2 % to −15 %); at 60 steps it was
  // above on all of them (its step sizes had not grown yet).
  default: {
    body: "lstm",
    steps: 150,
    batch: 4,
    length: 64,
    scoreLength: 256,
    width: 32,
    head: 32,
    stepSize: 0.01,
    decay: 0.99,
    prior: 4,
    maxChars: 1500,
  },
};

/** Characters ↔ ids; id 0 is padding. */
export class CharVocab {
  readonly chars: string[];
  readonly #ids: Map<string, number>;

  constructor(text: string) {
    this.chars = ["", ...[...new Set(text)].sort()];
    this.#ids = new Map(this.chars.map((c, i) => [c, i]));
  }

  /** Number of ids, padding included. */
  get size(): number {
    return this.chars.length;
  }

  /** The ids of `text` (every character must be in the vocabulary). */
  encode(text: string): Int32Array {
    return Int32Array.from([...text], (c) => this.#ids.get(c) ?? 0);
  }

  /** The character of `id`; padding (id 0, never in a text) and unknown ids are `""`. */
  decode(id: number): string {
    return this.chars[id] ?? "";
  }
}

/** What one trained model gives the page. */
export interface ModelRun {
  /** Per character of the text: surprise in bits, NaN where the model made no prediction. */
  bits: Float64Array;
  /** Perplexity per character over the predicted characters. */
  perplexity: number;
  /** Training losses (nats per character), one per step. */
  losses: number[];
  /** Training time, seconds. */
  seconds: number;
  /** The trained model, kept for `continueText`: the caller owns it and must dispose it. */
  model: LanguageModel;
}

/** Progress of a run: the step done (1-based) and its loss. */
export type OnStep = (step: number, loss: number) => void | Promise<void>;

/**
 * The training documents as a data set a `DocumentReader` reads: each document, or a
 * random piece of one, chosen in proportion to its length.
 */
function documentsOf(docs: readonly Int32Array[], vocabSize: number): TokenDataset {
  const total = docs.reduce((n, d) => n + d.length, 0);
  return {
    name: "the other samples",
    vocabSize,
    trainBatch: () => {
      throw new Error("the demo reads whole documents");
    },
    validationBatches: () => [],
    decode: (ids) => Array.from(ids).join(" "),
    trainDocument(maxLength: number, rng: RandomSource, minLength = 2): Int32Array {
      let at = rng.uniform() * total;
      let doc = docs[docs.length - 1];
      for (const d of docs) {
        if (at < d.length) {
          doc = d;
          break;
        }
        at -= d.length;
      }
      if (doc.length < minLength) doc = docs.reduce((a, b) => (b.length > a.length ? b : a));
      const start = Math.floor(rng.uniform() * (Math.max(0, doc.length - maxLength) + 1));
      return doc.subarray(start, start + maxLength);
    },
  };
}

/**
 * Trains a language model with the FWL head (`fastWeights`) or the plain head on the
 * training documents, read in consecutive windows of `size.length` characters with the
 * head's and the body's states carried through each document (as the text will be read),
 * then scores `text` from its first character to its last with one carried state. Same
 * seed, same batches for both heads. The model is returned (`model`), not disposed; on an
 * error it is disposed before the error is thrown.
 */
export async function trainAndScore(
  train: readonly Int32Array[],
  text: Int32Array,
  vocabSize: number,
  size: DemoSize,
  fastWeights: boolean,
  onStep: OnStep,
): Promise<ModelRun> {
  const { steps, batch, length, scoreLength, width, head } = size;
  const body: ModelBody = size.body === "lstm"
    ? await LSTMBody.create({ vocabSize, embedSize: width, hiddenSize: width, seed: 1 })
    : await TransformerBody.create({
      vocabSize,
      hiddenSize: width,
      layers: 1,
      heads: 2,
      maxLength: Math.max(length, scoreLength),
      seed: 1,
    });
  const lm = await LanguageModel.create(body, {
    vocabSize,
    headSize: head,
    normalizer: { decay: size.decay, prior: size.prior, learnDecay: size.decay < 1 },
    stepSize: size.stepSize,
    seed: 1,
    fastWeights,
  });
  const opt = new Adam(lm.context, lm.parameters(), {
    lr: warmupCosineSchedule({
      peak: 0.01,
      warmupSteps: Math.min(20, Math.floor(steps / 10)),
      totalSteps: steps,
      final: 0.001,
    }),
    clipNorm: 1,
  });
  const state = lm.documentState(batch);
  let kept = false;
  try {
    const reader = new DocumentReader(documentsOf(train, vocabSize), {
      batchSize: batch,
      window: length,
      span: Math.max(...train.map((d) => d.length)),
      rng: new SeededRandom(2),
    });
    const losses: number[] = [];
    const start = performance.now();
    for (let i = 0; i < steps; i++) {
      const { tokens, restarted } = reader.next();
      if (restarted.length > 0) state.reset(restarted);
      const { loss } = await lm.trainStep(tensor(tokens, [batch, length + 1]), opt, { state });
      losses.push(loss);
      await onStep(i + 1, loss);
    }
    const seconds = (performance.now() - start) / 1000;
    // The text from its first character to its last: every character after the first is
    // predicted from everything before it.
    const scores = await lm.scoreDocument(text, { window: scoreLength });
    const bits = new Float64Array(text.length).fill(NaN);
    scores.nll.forEach((nll, t) => bits[t + 1] = nll / Math.LN2);
    kept = true;
    return { bits, perplexity: scores.perplexity, losses, seconds, model: lm };
  } finally {
    state.dispose();
    opt.dispose();
    if (!kept) lm.dispose();
  }
}

/** How the models continue the text (the page's "Continue the text"). */
export interface ContinueSettings {
  /** Characters each model writes. */
  maxTokens: number;
  temperature: number;
  /** Nucleus sampling: the most likely characters up to this probability. */
  topP: number;
  /** The sampler's seed, the same for both models. */
  seed: number;
}

/** The page's defaults. */
export const CONTINUE: ContinueSettings = {
  maxTokens: 300,
  temperature: 0.8,
  topP: 0.95,
  seed: 12345,
};

/** What one model wrote. */
export interface Continuation {
  /** The ids it chose, in order (fewer than asked when stopped). */
  ids: number[];
  /** Time spent waiting for this model's characters, prompt reading included, seconds. */
  seconds: number;
  /** Time until its first character: reading the prompt and the first submission, seconds. */
  firstSeconds: number;
  /** Characters per second over `seconds`. */
  tokensPerSecond: number;
}

/**
 * The prompt and the number of characters that fit the model's body: all of them for an
 * LSTM; a transformer holds at most `maxLength` positions, so the prompt keeps its end and
 * the count is cut to what is left.
 */
export function fitPrompt(
  lm: LanguageModel,
  prompt: Int32Array,
  maxTokens: number,
): { prompt: Int32Array; maxTokens: number } {
  if (!(lm.body instanceof TransformerBody)) return { prompt, maxTokens };
  // Reading the prompt and choosing n characters reads prompt.length + n − 1 positions.
  const room = lm.body.maxLength;
  const keep = Math.max(1, Math.min(prompt.length, room + 1 - maxTokens));
  return {
    prompt: prompt.subarray(prompt.length - keep),
    maxTokens: Math.max(0, Math.min(maxTokens, room + 1 - keep)),
  };
}

/**
 * Continues `prompt` with each model (`lm.generate`, the same settings and seed), taking
 * one character from each in turn so that both panels fill together, and calls
 * `onToken(model, id)` for each as it arrives. Each model's time is the time spent
 * waiting for its own characters. When `signal` aborts, both runs end (their GPU memory
 * is released) and the promise rejects with the signal's reason (an `AbortError`); on
 * any error the other run is closed too. The models stay usable.
 */
export async function continueText(
  models: readonly LanguageModel[],
  prompt: Int32Array,
  settings: ContinueSettings,
  signal: AbortSignal,
  onToken: (model: number, id: number) => void,
): Promise<Continuation[]> {
  const { maxTokens, temperature, topP, seed } = settings;
  const runs: AsyncGenerator<number>[] = [];
  const out = models.map(() => ({ ids: [] as number[], ms: 0, firstMs: NaN }));
  try {
    for (const lm of models) {
      const fit = fitPrompt(lm, prompt, maxTokens);
      const options = { maxTokens: fit.maxTokens, temperature, topP, seed, signal };
      runs.push(lm.generate(fit.prompt, options));
    }
    const live = new Set(runs.keys());
    while (live.size > 0) {
      for (const k of [...live]) {
        signal.throwIfAborted();
        const t0 = performance.now();
        const next = await runs[k].next();
        const o = out[k];
        o.ms += performance.now() - t0;
        if (next.done) live.delete(k);
        else {
          if (o.ids.length === 0) o.firstMs = o.ms;
          o.ids.push(next.value);
          onToken(k, next.value);
        }
      }
    }
  } finally {
    // A run that did not end (the other one failed, or was stopped) is closed here: its
    // loop releases its GPU memory.
    await Promise.allSettled(runs.map((r) => r.return(undefined)));
  }
  return out.map((o) => ({
    ids: o.ids,
    seconds: o.ms / 1000,
    firstSeconds: o.firstMs / 1000,
    tokensPerSecond: o.ids.length / Math.max(o.ms / 1000, 1e-9),
  }));
}
