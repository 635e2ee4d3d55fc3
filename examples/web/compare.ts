// The demo's model work, without the page: a character vocabulary, one language model
// trained on random windows of a training text — with the FWL head or with the plain
// head — and the per-character surprise under it of a text it has not seen.

import {
  Adam,
  LanguageModel,
  LSTMBody,
  type ModelBody,
  SeededRandom,
  tensor,
  TransformerBody,
  warmupCosineSchedule,
} from "../../mod.ts";

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
  /** Characters per scoring window (the FWL head adapts within one). */
  scoreLength: number;
  /** LSTM width (embedding and hidden). */
  width: number;
  /** FWL head size. */
  head: number;
  /** Initial value of the FWL head's six step sizes. */
  stepSize: number;
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
    stepSize: 4,
    maxChars: 300,
  },
  default: {
    body: "lstm",
    steps: 60,
    batch: 4,
    length: 64,
    scoreLength: 256,
    width: 32,
    head: 16,
    stepSize: 4,
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
}

/** Progress of a run: the step done (1-based) and its loss. */
export type OnStep = (step: number, loss: number) => void | Promise<void>;

/**
 * Trains a language model with the FWL head (`fastWeights`) or the plain head on random
 * windows of `train`, then scores `text` window by window. Same seed, same batches for
 * both heads.
 */
export async function trainAndScore(
  train: Int32Array,
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
    normalizer: batch * (length - 1),
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
  try {
    const rng = new SeededRandom(2);
    const losses: number[] = [];
    const start = performance.now();
    for (let i = 0; i < steps; i++) {
      const windows = new Int32Array(batch * length);
      for (let b = 0; b < batch; b++) {
        const from = Math.floor(rng.uniform() * Math.max(1, train.length - length));
        for (let t = 0; t < length; t++) windows[b * length + t] = train[(from + t) % train.length];
      }
      const { loss } = await lm.trainStep(tensor(windows, [batch, length]), opt);
      losses.push(loss);
      await onStep(i + 1, loss);
    }
    const seconds = (performance.now() - start) / 1000;
    // Score the text in consecutive windows (the tail padded with id 0, not scored).
    const L = scoreLength;
    const rows = Math.ceil(text.length / L);
    const tokens = new Int32Array(rows * L);
    tokens.set(text);
    const scores = await lm.score(tensor(tokens, [rows, L]), { padId: 0 });
    const bits = new Float64Array(text.length).fill(NaN);
    for (let r = 0; r < rows; r++) {
      for (let t = 0; t + 1 < L; t++) {
        const q = r * (L - 1) + t;
        if (scores.targets[q] >= 0) bits[r * L + t + 1] = scores.nll[q] / Math.LN2;
      }
    }
    return { bits, perplexity: scores.perplexity, losses, seconds };
  } finally {
    opt.dispose();
    lm.dispose();
  }
}
