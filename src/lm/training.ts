/**
 * Training a language model: one optimizer step on a batch (`LanguageModel.trainStep`),
 * on independent sequences or on the next window of documents carried in a
 * {@linkcode DocumentState}, and the gradient step from the body's hidden states that
 * dynamic evaluation shares. The loss's gradients flow through the head (second order,
 * through the fast-weight update) and, when the optimizer holds the body's parameters,
 * through the body's `backward`.
 *
 * @module
 */

import { FWLError, FWLInputError } from "../errors.ts";
import { type GradBuffers, namedGrads } from "../fwl/grad_buffers.ts";
import { lossAndGradsGPU } from "../fwl/loss_and_grads.ts";
import { type GradSource, Optimizer } from "../optim/mod.ts";
import {
  BODY_PREFIX,
  type BodyParameter,
  bodyParameters,
  HEAD_PREFIX,
} from "../params/parameter.ts";
import { Tensor, tensor } from "../tensor.ts";
import { describeValue } from "../util/describe.ts";
import { checkSignal } from "../util/validate.ts";
import type { DocumentState } from "./document_state.ts";
import { checkDocumentState, prepareBatch } from "./inputs.ts";
import { forwardBody, modelParameters, type ModelParts } from "./model_parts.ts";
import type { TrainStepOptions, TrainStepResult } from "./options.ts";
import { checkHidden } from "./plug.ts";

/** A model that can be trained: its parts and the head's gradient buffers. */
export interface TrainableModel extends ModelParts {
  /** The head's gradient buffers (made on first use, kept by the model). */
  gradBuffers(): GradBuffers;
}

/** What a training step trains with an optimizer. */
export interface TrainingPlan {
  /** Whether the optimizer holds some of the body's parameters. */
  trainBody: boolean;
  /** The body's parameters (their gradients), when `trainBody`. */
  bodyParams: BodyParameter[];
}

/**
 * Decides what a step trains with `optimizer`: the head's parameters it holds, and the
 * body when it holds some of the body's.
 *
 * @throws {FWLInputError} If `optimizer` is no optimizer on the model's device over
 *   (some of) the model's parameters.
 */
export function planTraining(
  where: string,
  model: ModelParts,
  optimizer: Optimizer,
): TrainingPlan {
  if (!(optimizer instanceof Optimizer)) {
    const what = "an Optimizer (SGD, Adam, AdamW) over lm.parameters()";
    throw new FWLInputError(where, "optimizer", what, describeValue(optimizer));
  }
  if (optimizer.context !== model.head.context) {
    const what = "an optimizer on the model's device (lm.context)";
    throw new FWLInputError(where, "optimizer", what, "an optimizer on another device");
  }
  const known = new Set(modelParameters(model).map((p) => p.name));
  const names = optimizer.paramNames;
  for (const name of names) {
    if (known.has(name)) continue;
    const why = name === `${HEAD_PREFIX}steps`
      ? "the step sizes, but the fast weights are off (plain head): leave them out"
      : name.startsWith(BODY_PREFIX) && !model.body.backward
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
  return { trainBody, bodyParams: trainBody ? bodyParameters(where, model.body) : [] };
}

/**
 * One training step on a batch (`LanguageModel.trainStep` inside its busy mark): with
 * `options.state`, the next window of the documents it carries.
 *
 * @throws {FWLInputError} For bad tokens, optimizer, options or state.
 * @throws {FWLError} If the loss is not finite (nothing is updated) or the body returns
 *   hidden states of the wrong shape.
 */
export async function trainStep(
  where: string,
  model: TrainableModel,
  tokens: Tensor<"int32">,
  optimizer: Optimizer,
  options: TrainStepOptions,
): Promise<TrainStepResult> {
  const plan = planTraining(where, model, optimizer);
  const { state, signal, ...rest } = options;
  const { B, T, labels, weights } = prepareBatch(where, tokens, rest, model.head.vocabSize);
  checkSignal(where, "options.signal", signal);
  if (state === undefined) {
    const hidden = await forwardBody(where, model, tokens, B, T);
    try {
      return await learn(where, model, hidden, labels, weights, optimizer, plan);
    } finally {
      hidden.dispose();
    }
  }
  checkDocumentState(where, state, B, model.fastWeights);
  // A window of T − 1 predictions: the last token is only a target (the next window's first).
  const window = (t: Tensor, dtype: "int32" | "float32") => {
    const data = t.hostData!;
    const out = dtype === "int32" ? new Int32Array(B * (T - 1)) : new Float32Array(B * (T - 1));
    for (let b = 0; b < B; b++) out.set(data.subarray(b * T, b * T + T - 1), b * (T - 1));
    return tensor(out, [B, T - 1]);
  };
  const inputs = window(tokens, "int32") as Tensor<"int32">;
  const body = model.body, bodyState = state.body;
  const hidden = bodyState
    ? await body.forwardFrom!(inputs, bodyState)
    : await forwardBody(where, model, inputs, B, T - 1);
  try {
    if (bodyState) checkHidden(where, hidden, [B, T - 1, body.hiddenSize], "forwardFrom");
    const w = window(weights, "float32") as Tensor<"float32">;
    const result = await learn(
      where,
      model,
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
 * The gradient step of a training step from the body's hidden states (left to the
 * caller to dispose): the loss and its gradients through the head (from the carried
 * head state of `state`, when given) and the body, then `optimizer.step`.
 *
 * @throws {FWLError} If the loss is not finite: nothing is updated.
 */
export async function learn(
  where: string,
  model: TrainableModel,
  hidden: Tensor<"float32">,
  labels: Tensor,
  weights: Tensor<"float32">,
  optimizer: Optimizer,
  plan: TrainingPlan,
  state?: DocumentState,
): Promise<TrainStepResult> {
  const grads = model.gradBuffers();
  // checkValues (the default) rejects non-finite hidden states before anything runs.
  const result = await lossAndGradsGPU(model.head, hidden, labels, weights, {
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
    if (plan.trainBody) await model.body.backward!(result.dx);
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
