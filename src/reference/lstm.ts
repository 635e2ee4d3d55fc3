/**
 * The LSTM body in float64 on the CPU: the oracle of the GPU body. The forward runs the
 * recurrence position by position; the backward is plain backpropagation through time.
 *
 * Per layer, with `x_t` the layer's input (the token embedding for layer 0, the layer
 * below's `h_t` above) and `h_{-1} = c_{-1} = 0`:
 *
 * ```
 * z_t = x_t·W + h_{t-1}·U + b            (4H columns: i, f, g, o)
 * i = σ(z_i)  f = σ(z_f)  g = tanh(z_g)  o = σ(z_o)
 * c_t = f·c_{t-1} + i·g    h_t = o·tanh(c_t)
 * ```
 *
 * @module
 */

import type { LSTMDims } from "../bodies/lstm_params.ts";
import { lstmParamNames, lstmParamShapes } from "../bodies/lstm_params.ts";
import { shapeSize } from "../util/shape.ts";

/** One LSTM case: sizes, token ids `[B, T]` and parameters by name. */
export interface ReferenceLSTMCase extends LSTMDims {
  /** Number of sequences. */
  B: number;
  /** Positions per sequence. */
  T: number;
  /** Token ids `[B, T]`, each in `[0, vocabSize)`. */
  tokens: ArrayLike<number>;
  /** Every parameter of {@linkcode lstmParamNames}, row-major. */
  params: Record<string, ArrayLike<number>>;
}

/** What the forward computed, per layer (everything `[B, T, ·]` row-major). */
export interface ReferenceLSTMLayer {
  /** The layer's input `[B, T, in]`. */
  input: Float64Array;
  /** Gate activations `[B, T, 4H]` (i, f, g, o after their nonlinearities). */
  gates: Float64Array;
  /** Cell states `[B, T, H]`. */
  c: Float64Array;
  /** Hidden states `[B, T, H]`. */
  h: Float64Array;
}

/** The reference forward: the body's output and each layer's intermediates. */
export interface ReferenceLSTMForward {
  /** The last layer's hidden states `[B, T, H]`. */
  hidden: Float64Array;
  /** Per layer, bottom first. */
  layers: ReferenceLSTMLayer[];
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Throws a RangeError unless the case is consistent. */
function checkCase(c: ReferenceLSTMCase): void {
  for (const k of ["vocabSize", "embedSize", "hiddenSize", "layers"] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) {
      throw new RangeError(`${k} must be a positive integer, got ${c[k]}`);
    }
  }
  if (!Number.isInteger(c.B) || c.B < 0 || !Number.isInteger(c.T) || c.T < 0) {
    throw new RangeError(`B and T must be non-negative integers`);
  }
  if (c.tokens.length !== c.B * c.T) {
    throw new RangeError(`tokens has length ${c.tokens.length}, expected ${c.B * c.T}`);
  }
  for (let i = 0; i < c.tokens.length; i++) {
    const id = c.tokens[i];
    if (!Number.isInteger(id) || id < 0 || id >= c.vocabSize) {
      throw new RangeError(`token ${id} at ${i} is outside [0, ${c.vocabSize})`);
    }
  }
  const shapes = lstmParamShapes(c);
  for (const name of lstmParamNames(c.layers)) {
    const p = c.params[name];
    if (p === undefined) throw new RangeError(`missing parameter ${name}`);
    if (p.length !== shapeSize(shapes[name])) {
      throw new RangeError(
        `${name} has length ${p.length}, expected ${shapeSize(shapes[name])}`,
      );
    }
  }
}

/**
 * The forward of every layer at every position, in float64.
 */
export function referenceLSTMForward(c: ReferenceLSTMCase): ReferenceLSTMForward {
  checkCase(c);
  const { B, T, embedSize: E, hiddenSize: H } = c;
  const G = 4 * H;
  const emb = c.params.embedding;
  let input = new Float64Array(B * T * E);
  for (let p = 0; p < B * T; p++) {
    for (let e = 0; e < E; e++) input[p * E + e] = emb[c.tokens[p] * E + e];
  }
  let width = E;
  const layers: ReferenceLSTMLayer[] = [];
  for (let l = 0; l < c.layers; l++) {
    const W = c.params[`lstm_${l}/kernel`];
    const U = c.params[`lstm_${l}/recurrent_kernel`];
    const bias = c.params[`lstm_${l}/bias`];
    const gates = new Float64Array(B * T * G);
    const cs = new Float64Array(B * T * H);
    const hs = new Float64Array(B * T * H);
    const z = new Float64Array(G);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const p = b * T + t;
        for (let j = 0; j < G; j++) {
          let s = bias[j];
          for (let k = 0; k < width; k++) s += input[p * width + k] * W[k * G + j];
          if (t > 0) {
            for (let k = 0; k < H; k++) s += hs[(p - 1) * H + k] * U[k * G + j];
          }
          z[j] = s;
        }
        for (let m = 0; m < H; m++) {
          const i = sigmoid(z[m]);
          const f = sigmoid(z[H + m]);
          const g = Math.tanh(z[2 * H + m]);
          const o = sigmoid(z[3 * H + m]);
          const cPrev = t > 0 ? cs[(p - 1) * H + m] : 0;
          const cv = f * cPrev + i * g;
          gates[p * G + m] = i;
          gates[p * G + H + m] = f;
          gates[p * G + 2 * H + m] = g;
          gates[p * G + 3 * H + m] = o;
          cs[p * H + m] = cv;
          hs[p * H + m] = o * Math.tanh(cv);
        }
      }
    }
    layers.push({ input, gates, c: cs, h: hs });
    input = hs;
    width = H;
  }
  return { hidden: layers[layers.length - 1].h, layers };
}

/**
 * Backpropagation through time: the gradient of `Σ dHidden ⊙ hidden` with respect to
 * every parameter, by name. Pass the forward's result to avoid recomputing it.
 */
export function referenceLSTMBackward(
  c: ReferenceLSTMCase,
  dHidden: ArrayLike<number>,
  forward: ReferenceLSTMForward = referenceLSTMForward(c),
): Record<string, Float64Array> {
  checkCase(c);
  const { B, T, vocabSize: V, embedSize: E, hiddenSize: H } = c;
  const G = 4 * H;
  if (dHidden.length !== B * T * H) {
    throw new RangeError(`dHidden has length ${dHidden.length}, expected ${B * T * H}`);
  }
  const grads: Record<string, Float64Array> = {};
  // dOut: the gradient reaching the current layer's h from above.
  let dOut = Float64Array.from(dHidden);
  for (let l = c.layers - 1; l >= 0; l--) {
    const { input, gates, c: cs, h: hs } = forward.layers[l];
    const width = l === 0 ? E : H;
    const W = c.params[`lstm_${l}/kernel`];
    const U = c.params[`lstm_${l}/recurrent_kernel`];
    const dW = new Float64Array(width * G);
    const dU = new Float64Array(H * G);
    const db = new Float64Array(G);
    const dInput = new Float64Array(B * T * width);
    const dz = new Float64Array(G);
    for (let b = 0; b < B; b++) {
      const dhNext = new Float64Array(H); // from position t+1 through U
      const dcNext = new Float64Array(H); // dc_{t+1}·f_{t+1}
      for (let t = T - 1; t >= 0; t--) {
        const p = b * T + t;
        for (let m = 0; m < H; m++) {
          const i = gates[p * G + m];
          const f = gates[p * G + H + m];
          const g = gates[p * G + 2 * H + m];
          const o = gates[p * G + 3 * H + m];
          const cv = cs[p * H + m];
          const cPrev = t > 0 ? cs[(p - 1) * H + m] : 0;
          const tc = Math.tanh(cv);
          const dh = dOut[p * H + m] + dhNext[m];
          const dc = dh * o * (1 - tc * tc) + dcNext[m];
          dz[m] = dc * g * i * (1 - i);
          dz[H + m] = dc * cPrev * f * (1 - f);
          dz[2 * H + m] = dc * i * (1 - g * g);
          dz[3 * H + m] = dh * tc * o * (1 - o);
          dcNext[m] = dc * f;
        }
        for (let j = 0; j < G; j++) {
          db[j] += dz[j];
          for (let k = 0; k < width; k++) dW[k * G + j] += input[p * width + k] * dz[j];
          if (t > 0) {
            for (let k = 0; k < H; k++) dU[k * G + j] += hs[(p - 1) * H + k] * dz[j];
          }
        }
        for (let k = 0; k < width; k++) {
          let s = 0;
          for (let j = 0; j < G; j++) s += dz[j] * W[k * G + j];
          dInput[p * width + k] = s;
        }
        for (let k = 0; k < H; k++) {
          let s = 0;
          for (let j = 0; j < G; j++) s += dz[j] * U[k * G + j];
          dhNext[k] = s;
        }
      }
    }
    grads[`lstm_${l}/kernel`] = dW;
    grads[`lstm_${l}/recurrent_kernel`] = dU;
    grads[`lstm_${l}/bias`] = db;
    dOut = dInput;
  }
  const dEmb = new Float64Array(V * E);
  for (let p = 0; p < B * T; p++) {
    const v = c.tokens[p];
    for (let e = 0; e < E; e++) dEmb[v * E + e] += dOut[p * E + e];
  }
  grads.embedding = dEmb;
  return grads;
}
