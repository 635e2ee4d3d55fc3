/**
 * Parameter names, shapes and deterministic initialization of the LSTM body, shared by
 * the GPU body and its float64 reference.
 *
 * @module
 */

import { initByRule } from "../params/init.ts";

/** The sizes that fix every parameter shape of an LSTM body. */
export interface LSTMDims {
  /** Number of token ids `V`. */
  vocabSize: number;
  /** Width `E` of the token embedding. */
  embedSize: number;
  /** Width `H` of each layer's hidden state (the body's output width). */
  hiddenSize: number;
  /** Number of stacked LSTM layers. */
  layers: number;
}

/**
 * Every parameter name of an LSTM body, in a fixed order: `"embedding"`, then per layer
 * `l` `"lstm_l/kernel"`, `"lstm_l/recurrent_kernel"`, `"lstm_l/bias"`.
 */
export function lstmParamNames(layers: number): string[] {
  const names = ["embedding"];
  for (let l = 0; l < layers; l++) {
    names.push(`lstm_${l}/kernel`, `lstm_${l}/recurrent_kernel`, `lstm_${l}/bias`);
  }
  return names;
}

/**
 * The shape of every parameter: embedding `[V, E]`; per layer a kernel `[in, 4H]`
 * (`in` = E for layer 0, H above), a recurrent kernel `[H, 4H]` and a bias `[4H]`. The
 * `4H` columns hold the gates in the order input, forget, cell candidate, output.
 */
export function lstmParamShapes(dims: LSTMDims): Record<string, number[]> {
  const { vocabSize: V, embedSize: E, hiddenSize: H, layers } = dims;
  const shapes: Record<string, number[]> = { embedding: [V, E] };
  for (let l = 0; l < layers; l++) {
    shapes[`lstm_${l}/kernel`] = [l === 0 ? E : H, 4 * H];
    shapes[`lstm_${l}/recurrent_kernel`] = [H, 4 * H];
    shapes[`lstm_${l}/bias`] = [4 * H];
  }
  return shapes;
}

/**
 * Deterministic initialization from `seed`: embedding N(0, 0.1²); kernels and recurrent
 * kernels uniform in ±1/√H; biases 0 except the forget gate's, 1. Values are drawn in
 * the order of {@linkcode lstmParamNames}.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { initLSTMParams } from "./lstm_params.ts";
 * const p = initLSTMParams({ vocabSize: 10, embedSize: 3, hiddenSize: 2, layers: 1 }, 7);
 * assertEquals(Array.from(p["lstm_0/bias"]), [0, 0, 1, 1, 0, 0, 0, 0]);
 * assertEquals(p["lstm_0/kernel"].every((v) => Math.abs(v) <= 1 / Math.sqrt(2)), true);
 * ```
 */
export function initLSTMParams(
  dims: LSTMDims,
  seed = 0,
): Record<string, Float32Array> {
  const shapes = lstmParamShapes(dims);
  const H = dims.hiddenSize;
  const names = lstmParamNames(dims.layers);
  return initByRule(names.map((n) => [n, shapes[n]]), seed, (name) => {
    if (name === "embedding") return { normal: 0.1 };
    if (name.endsWith("/bias")) return { fill: 1, from: H, to: 2 * H };
    return { uniform: 1 / Math.sqrt(H) };
  });
}
