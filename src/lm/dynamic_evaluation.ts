/**
 * Dynamic evaluation (Krause et al., 2018), the baseline for fast weights: a document is
 * scored segment by segment, and after each segment the model takes one gradient step
 * on that segment's loss, so later segments are scored by adapted weights. The trained
 * weights are snapshotted first and restored when the call ends (also on error or
 * abort): one call is one document.
 *
 * @module
 */

import { elementwise } from "../kernels/elementwise.ts";
import { Recorder } from "../gpu/recorder.ts";
import { Adam, SGD } from "../optim/mod.ts";
import { HEAD_PREFIX } from "../params/parameter.ts";
import type { Tensor } from "../tensor.ts";
import { checkDocument, checkDynamicOptions } from "./inputs.ts";
import { modelParameters } from "./model_parts.ts";
import type { DynamicEvaluationOptions } from "./options.ts";
import type { TokenScores } from "./perplexity.ts";
import { scoreWindows } from "./scoring.ts";
import { learn, planTraining, type TrainableModel } from "./training.ts";

/**
 * Dynamic evaluation of one document (`LanguageModel.dynamicEvaluate` inside its busy
 * mark): every parameter but the step sizes adapts, by SGD or by RMS-normalized steps,
 * with an optional decay back to the trained weights after each step.
 *
 * @throws {FWLInputError} For a bad document or options.
 * @throws {FWLError} If a loss is not finite or the body returns hidden states of the
 *   wrong shape.
 */
export async function dynamicEvaluate(
  where: string,
  model: TrainableModel,
  tokens: ArrayLike<number> | Tensor<"int32">,
  options: DynamicEvaluationOptions,
): Promise<TokenScores> {
  const o = checkDynamicOptions(where, options);
  const doc = checkDocument(where, tokens, { ...o, window: o.segment }, model.head.vocabSize);
  const ctx = model.head.context;
  // The step sizes are meta-parameters of the fast weights' own learning: left alone.
  const params = modelParameters(model).filter((p) => p.name !== `${HEAD_PREFIX}steps`);
  const trained = params.map((p) => ctx.pool.acquire(p.length * 4));
  // The snapshot is taken and put back by context-level copies inside error scopes.
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
    const plan = planTraining(where, model, optimizer);
    return await scoreWindows(where, model, doc, async (hidden, labels, weights) => {
      await learn(where, model, hidden, labels, weights, optimizer, plan);
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
}
