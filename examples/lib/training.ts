/**
 * Training the two models of a comparison: the same body and seed, one with an FWL head
 * and one with a plain head (fast weights off), on the same batches.
 *
 * @module
 */

import {
  Adam,
  LanguageModel,
  type NormalizerOption,
  SeededRandom,
  tensor,
  warmupCosineSchedule,
} from "../../mod.ts";
import { DocumentReader, type TokenDataset } from "../../data.ts";
import type { ComparisonConfig, ComparisonSpec } from "./comparison_options.ts";
import { ProgressBar } from "./progress.ts";

/**
 * The head's normalizer for `LanguageModel.create`, from the flags: the fixed number, or
 * the running mean with its decay λ learned unless `--fixed-decay` (or λ = 1).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { headNormalizer } from "./training.ts";
 * const mean = { normalizer: "mean", decay: 0.99, prior: 16, fixedDecay: false } as const;
 * assertEquals(headNormalizer(mean), { decay: 0.99, prior: 16, learnDecay: true });
 * assertEquals(headNormalizer({ ...mean, normalizer: 512 }), 512);
 * ```
 */
export function headNormalizer(
  c: Pick<ComparisonConfig, "normalizer" | "decay" | "prior" | "fixedDecay">,
): NormalizerOption {
  if (c.normalizer !== "mean") return c.normalizer;
  return { decay: c.decay, prior: c.prior, learnDecay: !c.fixedDecay && c.decay < 1 };
}

/** One trained model. */
export interface Trained {
  /** `"fwl"` or `"plain"`. */
  model: "fwl" | "plain";
  /** The model, its head trained with or without fast weights. */
  lm: LanguageModel;
  /** The loss of every training step. */
  losses: number[];
  /** Wall-clock seconds of the training. */
  seconds: number;
}

/** How the report and the charts name the two heads. */
export const HEAD_NAMES = { fwl: "FWL head", plain: "plain head" } as const;

/**
 * Trains one model of the comparison: `spec`'s body with an FWL head (`"fwl"`) or a plain
 * head (`"plain"`), with Adam (warm-up, cosine decay, gradients clipped to norm 1), a
 * progress bar on standard error. Disposes of what it built if training fails.
 */
export async function train(
  spec: ComparisonSpec,
  model: "fwl" | "plain",
  data: TokenDataset,
  c: ComparisonConfig,
): Promise<Trained> {
  const body = await spec.createBody(data.vocabSize, c);
  let lm: LanguageModel;
  try {
    lm = await LanguageModel.create(body, {
      vocabSize: data.vocabSize,
      headSize: spec.headSize(c),
      attnChunks: 4,
      normalizer: headNormalizer(c),
      stepSize: c.stepSize,
      seed: c.seed,
      fastWeights: model === "fwl",
    });
  } catch (e) {
    body.dispose?.();
    throw e;
  }
  try {
    using opt = new Adam(lm.context, lm.parameters(), {
      lr: warmupCosineSchedule({
        peak: c.lr,
        warmupSteps: Math.min(20, Math.floor(c.steps / 10)),
        totalSteps: c.steps,
        final: c.lr / 10,
      }),
      clipNorm: 1,
    });
    // Both models see the same batches: independent windows, or long documents read in
    // consecutive windows with the head's and the body's states carried.
    const rng = new SeededRandom(c.seed + 1);
    const reader = c.span > 0
      ? new DocumentReader(data, { batchSize: c.batch, window: c.length, span: c.span, rng })
      : undefined;
    using state = reader ? lm.documentState(c.batch) : undefined;
    const bar = new ProgressBar({ label: HEAD_NAMES[model].padEnd(13), total: c.steps });
    const losses: number[] = [];
    let smooth = NaN;
    for (let i = 0; i < c.steps; i++) {
      let result;
      if (reader && state) {
        const { tokens, restarted } = reader.next();
        if (restarted.length > 0) state.reset(restarted);
        result = await lm.trainStep(tensor(tokens, [c.batch, c.length + 1]), opt, { state });
      } else {
        const batch = tensor(data.trainBatch(c.batch, c.length, rng), [c.batch, c.length]);
        result = await lm.trainStep(batch, opt);
      }
      const loss = result.loss;
      losses.push(loss);
      smooth = Number.isNaN(smooth) ? loss : 0.9 * smooth + 0.1 * loss;
      bar.tick({ loss: smooth });
    }
    bar.done();
    return { model, lm, losses, seconds: bar.elapsed };
  } catch (e) {
    lm.dispose();
    throw e;
  }
}
