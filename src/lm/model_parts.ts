/**
 * The parts of a language model that its jobs (scoring, training, dynamic evaluation,
 * generation, checkpoints) work on — the body, the head and whether the fast weights
 * are on — and what follows from them alone: the trainable parameters, the body's
 * checked forward pass and the step sizes held at 0.
 *
 * @module
 */

import type { ModelBody } from "../bodies/model_body.ts";
import type { FWLBlock } from "../fwl/block.ts";
import { STEP_NAMES } from "../fwl/params.ts";
import { blockParams, type OptimParam } from "../optim/mod.ts";
import { BODY_PREFIX, bodyParameters, HEAD_PREFIX } from "../params/parameter.ts";
import { Tensor } from "../tensor.ts";
import { shapeSize } from "../util/shape.ts";
import { checkHidden } from "./plug.ts";

/** The parts of a language model (a `LanguageModel` is one). */
export interface ModelParts {
  /** The body. */
  readonly body: ModelBody;
  /** The FWL head (built with `inputSize = body.hiddenSize`). */
  readonly head: FWLBlock;
  /** Whether the fast weights are on (`false`: the plain-head baseline). */
  readonly fastWeights: boolean;
}

/**
 * The model's trainable parameters: the head's under `"head/"` (the packed step sizes
 * left out when the fast weights are off), then the body's under `"body/"` when the
 * body has `backward` (its `parameters` are then required).
 */
export function modelParameters(model: ModelParts): OptimParam[] {
  const head = blockParams(model.head)
    .filter((p) => model.fastWeights || p.name !== "steps")
    .map((p) => ({
      ...p,
      name: HEAD_PREFIX + p.name,
      elementNames: p.elementNames?.map((n) => HEAD_PREFIX + n),
    }));
  if (!model.body.backward) return head;
  return [
    ...head,
    ...bodyParameters("LanguageModel", model.body).map((p) => ({
      name: BODY_PREFIX + p.name,
      buffer: p.buffer,
      length: shapeSize(p.shape),
    })),
  ];
}

/** Runs the body on tokens `[B, T]` and checks that it returns hidden states `[B, T, D]`. */
export async function forwardBody(
  where: string,
  model: ModelParts,
  tokens: Tensor<"int32">,
  B: number,
  T: number,
): Promise<Tensor<"float32">> {
  const hidden = await model.body.forward(tokens);
  try {
    checkHidden(where, hidden, [B, T, model.body.hiddenSize], "forward");
  } catch (e) {
    if (hidden instanceof Tensor) hidden.dispose();
    throw e;
  }
  return hidden;
}

/** Sets the head's six step sizes to 0: the fast weights never move (the plain head). */
export function zeroStepSizes(head: FWLBlock): void {
  const ctx = head.context;
  ctx.device.queue.writeBuffer(head.buffers.steps, 0, new Float32Array(STEP_NAMES.length));
}
