/**
 * The plug between a model body and the FWL head: any body that turns token ids into
 * hidden states can drive an FWL head through this interface.
 *
 * ## Writing a body with parameters
 *
 * A body that owns GPU parameters composes the shared lifecycle
 * (`ParamLifecycle` from `@x/fwl/gpu`) and forwards to it, as
 * `LSTMBody` and `TransformerBody` do, so that it follows the same rules as they and the
 * FWL head: `build()` checks every size against the device before allocating and, called
 * again, starts afresh from the seed (releasing the old buffers once the new exist);
 * `setParams` takes any subset of the names and checks everything before writing;
 * `getParams`, `getGrads` and `parameters()` (the list optimizers and checkpoints use)
 * read the current build; `dispose()` is idempotent and every later call throws an
 * `FWLStateError`. Give the lifecycle:
 *
 * - the **layout** (`layoutOf([[name, shape], …], init)`): the parameters in order and
 *   their deterministic initial values (`initByRule` draws them
 *   from one seeded generator);
 * - a **release** hook for what the body makes from its parameters (a forward's saved
 *   activations), called on rebuild and dispose;
 * - and `track(state)` each generation state, so that a rebuild or dispose disposes it.
 *
 * @example A body whose hidden state is its token's row of a learned table
 * ```ts
 * import { assertEquals, assertRejects } from "@std/assert";
 * import { FWLStateError, type ModelBody, tensor, type Tensor } from "@x/fwl";
 * import { initByRule, layoutOf, ParamLifecycle } from "@x/fwl/gpu";
 *
 * class TableBody implements ModelBody {
 *   readonly hiddenSize = 2;
 *   readonly #params = new ParamLifecycle({
 *     where: "TableBody",
 *     noun: "body",
 *     buildHint: "call build() first",
 *     grads: true,
 *     layout: () => {
 *       const shapes: [string, number[]][] = [["table", [4, 2]]];
 *       return layoutOf(shapes, () => initByRule(shapes, 7, () => ({ normal: 0.1 })));
 *     },
 *   });
 *   build = () => this.#params.build().then(() => {});
 *   getParams = () => this.#params.getParams();
 *   setParams = (v: Record<string, Float32Array>) => this.#params.setParams(v);
 *   parameters = () => this.#params.parameters();
 *   dispose = () => this.#params.dispose();
 *   [Symbol.dispose] = this.dispose;
 *   async forward(tokens: Tensor<"int32">): Promise<Tensor<"float32">> {
 *     const { table } = await this.getParams(); // a real body computes on the GPU
 *     const ids = tokens.hostData!, hidden = new Float32Array(ids.length * 2);
 *     ids.forEach((id, i) => hidden.set(table.subarray(2 * id, 2 * id + 2), 2 * i));
 *     return tensor(hidden, [...tokens.shape, 2]);
 *   }
 * }
 *
 * using body = new TableBody();
 * await body.build();
 * const init = await body.getParams();
 * await body.setParams({ table: new Float32Array(8).fill(1) });
 * const hidden = await body.forward(tensor(new Int32Array([3, 0]), [1, 2]));
 * assertEquals([hidden.shape, Array.from(await hidden.read())], [[1, 2, 2], [1, 1, 1, 1]]);
 * await body.build(); // afresh: the initial values again
 * assertEquals(await body.getParams(), init);
 * assertEquals(body.parameters().map((p) => [p.name, p.shape]), [["table", [4, 2]]]);
 * body.dispose();
 * await assertRejects(() => body.getParams(), FWLStateError, "TableBody.getParams: the body was disposed");
 * ```
 *
 * @module
 */

import type { Recorder } from "../gpu/recorder.ts";
import type { BodyParameter } from "../params/parameter.ts";
import type { Tensor } from "../tensor.ts";

/** Opaque per-sequence state of a body during generation (e.g. an RNN's h and c). */
export interface BodyState {
  /** Releases the state's GPU memory. */
  dispose(): void;
  /**
   * Back to the start of a document: every sequence, or only `sequences` (indices). Lets
   * a training loop carry states through documents of different lengths (each row of a
   * batch starts its next document when it is ready); without it, only all sequences at
   * once restart (a fresh `initState`).
   */
  reset?(sequences?: readonly number[]): void;
  /**
   * Makes this state a copy of `from` (another state of the same body and batch size),
   * on the GPU. Lets a loop keep a snapshot (a second `initState`) to come back to, e.g.
   * when `LanguageModel.generate` stops or is cancelled inside a submission of several
   * tokens; without it such a loop submits one token at a time.
   */
  copyFrom?(from: BodyState): void;
}

/**
 * A model body: token ids in, hidden states out. Only `hiddenSize` and `forward` are
 * required: a body that merely yields hidden states (an external model whose output is a
 * `Float32Array`) still supports head-only training and scoring. `backward` enables
 * joint training, `parameters` lets optimizers and checkpoints see the body's weights,
 * and `initState` + `step` enable generation one token at a time (`initState` +
 * `forwardFrom`: long documents in pieces).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { LanguageModel, type ModelBody, tensor } from "@x/fwl";
 * // Wrap any model that gives hidden states as host data; here a fixed table per token.
 * const D = 4;
 * const external: ModelBody = {
 *   hiddenSize: D,
 *   forward(tokens) {
 *     const [B, T] = tokens.shape;
 *     const ids = tokens.hostData!;
 *     const hidden = new Float32Array(B * T * D).map((_, i) => Math.cos(ids[(i / D) | 0] + i % D));
 *     return Promise.resolve(tensor(hidden, [B, T, D]));
 *   },
 * };
 * using lm = await LanguageModel.create(external, { vocabSize: 8, headSize: 2, attnChunks: 1 });
 * const scores = await lm.score(tensor(new Int32Array([1, 2, 3, 1, 2, 3]), [1, 6]));
 * assertEquals([scores.count, scores.loss > 0], [5, true]);
 * ```
 */
export interface ModelBody {
  /** Width of the hidden states (the FWL head's `inputSize`). */
  readonly hiddenSize: number;
  /**
   * Hidden states `[B, T, hiddenSize]` (float32; a GPU tensor or host data) for token
   * ids `[B, T]` (int32). A body with `backward` keeps what it needs for it.
   */
  forward(tokens: Tensor<"int32">): Promise<Tensor<"float32">>;
  /**
   * Given dLoss/dHidden `[B, T, hiddenSize]` for the last `forward`, writes (overwrites)
   * the gradient of every parameter into its `grad` buffer.
   */
  backward?(dHidden: Tensor<"float32">): Promise<void>;
  /** The trainable parameters and their gradient buffers. */
  parameters?(): BodyParameter[];
  /** A fresh generation state for `batchSize` sequences. */
  initState?(batchSize: number): BodyState;
  /**
   * `forward` continuing from `state` (from `initState`) instead of from the start, and
   * leaving `state` at the end of the tokens: a long document read in consecutive pieces
   * gives the hidden states of one call (`LanguageModel.scoreDocument` carries it).
   */
  forwardFrom?(tokens: Tensor<"int32">, state: BodyState): Promise<Tensor<"float32">>;
  /** Hidden states `[B, hiddenSize]` for one token per sequence (`[B]` int32), advancing `state`. */
  step?(tokens: Tensor<"int32">, state: BodyState): Promise<Tensor<"float32">>;
  /**
   * `step` recorded into `rec` without submitting: token ids `[B]` (int32, valid) read
   * from a GPU buffer, hidden states `[B, hiddenSize]` written to `out`, `state` advanced
   * when the recording runs. With it `LanguageModel.generate` keeps the whole token loop
   * (body step, head, sampling, the next input) on the GPU, several tokens per submission.
   */
  recordStep?(rec: Recorder, tokens: GPUBuffer, state: BodyState, out: GPUBuffer): void;
  /** Releases the body's GPU memory. */
  dispose?(): void;
}
