/**
 * Parameter names, shapes and deterministic initialization of the LSTM body, shared by
 * the GPU body and its float64 reference.
 *
 * @module
 */

import { SeededRandom } from "../util/random.ts";
import { shapeSize } from "../util/shape.ts";

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
 * import { initLSTMParams } from "./lstm_params.ts";
 * const p = initLSTMParams({ vocabSize: 10, embedSize: 3, hiddenSize: 2, layers: 1 }, 7);
 * console.log(Array.from(p["lstm_0/bias"])); // [0, 0, 1, 1, 0, 0, 0, 0]
 * ```
 */
export function initLSTMParams(
  dims: LSTMDims,
  seed = 0,
): Record<string, Float32Array> {
  const rng = new SeededRandom(seed);
  const shapes = lstmParamShapes(dims);
  const H = dims.hiddenSize;
  const bound = 1 / Math.sqrt(H);
  const out: Record<string, Float32Array> = {};
  for (const name of lstmParamNames(dims.layers)) {
    const data = new Float32Array(shapeSize(shapes[name]));
    if (name === "embedding") {
      for (let i = 0; i < data.length; i++) data[i] = 0.1 * rng.normal();
    } else if (name.endsWith("/bias")) {
      data.fill(1, H, 2 * H);
    } else {
      for (let i = 0; i < data.length; i++) data[i] = bound * (2 * rng.uniform() - 1);
    }
    out[name] = data;
  }
  return out;
}
