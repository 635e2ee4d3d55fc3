/**
 * The float64 CPU reference of the causal transformer body: forward (token and
 * position embeddings, pre-layer-norm blocks of multi-head causal softmax attention and
 * a GELU MLP, final layer norm) and its backward. Plain loops: the oracle the GPU body is
 * tested against.
 *
 * @module
 */

import {
  blockParamName,
  TRANSFORMER_EPSILON,
  type TransformerBlockParam,
  type TransformerDims,
  transformerParamShapes,
} from "../bodies/transformer_params.ts";
import { shapeSize } from "../util/shape.ts";

/** One input of the reference transformer. */
export interface ReferenceTransformerCase {
  /** The body's sizes. */
  dims: TransformerDims;
  /** Every parameter by name (see `transformerParamShapes`). */
  params: Record<string, ArrayLike<number>>;
  /** Token ids `[B, T]`, each in `[0, vocabSize)`. */
  ids: ArrayLike<number>;
  /** Batch size. */
  B: number;
  /** Sequence length (`≤ maxLength`). */
  T: number;
}

const GELU_C = Math.sqrt(2 / Math.PI);

/**
 * GELU, tanh form: `x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
 */
export function referenceGelu(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
}

/**
 * The derivative of {@linkcode referenceGelu}.
 */
export function referenceGeluGrad(x: number): number {
  const t = Math.tanh(GELU_C * (x + 0.044715 * x * x * x));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x);
}

interface LayerNormTape {
  out: Float64Array;
  nhat: Float64Array;
  rstd: Float64Array;
}

interface BlockTape {
  ln1: LayerNormTape;
  qkv: Float64Array;
  /** Attention probabilities `[B, H, T, T]` (0 above the diagonal). */
  probs: Float64Array;
  /** Attention output before the out projection `[B, T, D]`. */
  attn: Float64Array;
  ln2: LayerNormTape;
  pre: Float64Array;
  act: Float64Array;
}

interface Tape {
  blocks: BlockTape[];
  final: LayerNormTape;
}

function checkCase(c: ReferenceTransformerCase): void {
  const { dims, B, T } = c;
  if (!Number.isInteger(B) || B < 0 || !Number.isInteger(T) || T < 0) {
    throw new RangeError(`B and T must be non-negative integers, got ${B}, ${T}`);
  }
  if (dims.hiddenSize % dims.heads !== 0) {
    throw new RangeError(`hiddenSize ${dims.hiddenSize} is not a multiple of heads ${dims.heads}`);
  }
  if (T > dims.maxLength) throw new RangeError(`T = ${T} exceeds maxLength ${dims.maxLength}`);
  if (c.ids.length !== B * T) {
    throw new RangeError(`ids has length ${c.ids.length}, expected ${B * T}`);
  }
  for (let i = 0; i < c.ids.length; i++) {
    const id = c.ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= dims.vocabSize) {
      throw new RangeError(`ids[${i}] = ${id} is outside [0, ${dims.vocabSize})`);
    }
  }
  for (const [name, shape] of transformerParamShapes(dims)) {
    const p = c.params[name];
    if (p === undefined) throw new RangeError(`missing parameter ${name}`);
    if (p.length !== shapeSize(shape)) {
      throw new RangeError(`${name} has length ${p.length}, expected ${shapeSize(shape)}`);
    }
  }
}

function layerNorm(
  x: Float64Array,
  rows: number,
  width: number,
  scale: ArrayLike<number>,
  bias: ArrayLike<number>,
): LayerNormTape {
  const out = new Float64Array(rows * width);
  const nhat = new Float64Array(rows * width);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let mean = 0;
    for (let j = 0; j < width; j++) mean += x[o + j];
    mean /= width;
    let v = 0;
    for (let j = 0; j < width; j++) v += (x[o + j] - mean) ** 2;
    const rs = 1 / Math.sqrt(v / width + TRANSFORMER_EPSILON);
    rstd[r] = rs;
    for (let j = 0; j < width; j++) {
      const nh = (x[o + j] - mean) * rs;
      nhat[o + j] = nh;
      out[o + j] = nh * scale[j] + bias[j];
    }
  }
  return { out, nhat, rstd };
}

/** Adds the gradient through a layer norm to `dx`, and its scale and bias gradients. */
function layerNormBackward(
  g: Float64Array,
  tape: LayerNormTape,
  scale: ArrayLike<number>,
  rows: number,
  width: number,
  dx: Float64Array,
  dScale: Float64Array,
  dBias: Float64Array,
): void {
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let m1 = 0, m2 = 0;
    for (let j = 0; j < width; j++) {
      const gh = g[o + j] * scale[j];
      m1 += gh;
      m2 += gh * tape.nhat[o + j];
      dScale[j] += g[o + j] * tape.nhat[o + j];
      dBias[j] += g[o + j];
    }
    m1 /= width;
    m2 /= width;
    for (let j = 0; j < width; j++) {
      const gh = g[o + j] * scale[j];
      dx[o + j] += tape.rstd[r] * (gh - m1 - tape.nhat[o + j] * m2);
    }
  }
}

/** `y[rows, n] = x[rows, k]·w[k, n] + b`. */
function linear(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  rows: number,
  k: number,
  n: number,
): Float64Array {
  const y = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = b[j];
      for (let t = 0; t < k; t++) s += x[r * k + t] * w[t * n + j];
      y[r * n + j] = s;
    }
  }
  return y;
}

/** Gradients of `y = x·w + b`: adds to `dw`, `db`; returns `dx`. */
function linearBackward(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dy: Float64Array,
  rows: number,
  k: number,
  n: number,
  dw: Float64Array,
  db: Float64Array,
): Float64Array {
  const dx = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      const g = dy[r * n + j];
      db[j] += g;
      for (let t = 0; t < k; t++) {
        dw[t * n + j] += x[r * k + t] * g;
        dx[r * k + t] += g * w[t * n + j];
      }
    }
  }
  return dx;
}

function run(c: ReferenceTransformerCase): { hidden: Float64Array; tape: Tape } {
  checkCase(c);
  const { dims, params: p, ids, B, T } = c;
  const D = dims.hiddenSize, H = dims.heads, M = dims.mlpSize, dh = D / H;
  const N = B * T;
  const scale = 1 / Math.sqrt(dh);
  const tok = p["embedding/tokens"], pos = p["embedding/positions"];
  const x = new Float64Array(N * D);
  for (let n = 0; n < N; n++) {
    const t = n % T;
    for (let d = 0; d < D; d++) x[n * D + d] = tok[ids[n] * D + d] + pos[t * D + d];
  }
  const blocks: BlockTape[] = [];
  for (let l = 0; l < dims.layers; l++) {
    const q = (name: TransformerBlockParam) => p[blockParamName(l, name)];
    const ln1 = layerNorm(x, N, D, q("layer_norm_1/scale"), q("layer_norm_1/bias"));
    const qkv = linear(ln1.out, q("attention/qkv/kernel"), q("attention/qkv/bias"), N, D, 3 * D);
    const probs = new Float64Array(B * H * T * T);
    const attn = new Float64Array(N * D);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < T; i++) {
          const row = ((b * H + h) * T + i) * T;
          let max = -Infinity;
          for (let j = 0; j <= i; j++) {
            let s = 0;
            for (let d = 0; d < dh; d++) {
              s += qkv[(b * T + i) * 3 * D + h * dh + d] *
                qkv[(b * T + j) * 3 * D + D + h * dh + d];
            }
            probs[row + j] = s * scale;
            max = Math.max(max, s * scale);
          }
          let sum = 0;
          for (let j = 0; j <= i; j++) {
            probs[row + j] = Math.exp(probs[row + j] - max);
            sum += probs[row + j];
          }
          for (let j = 0; j <= i; j++) probs[row + j] /= sum;
          for (let d = 0; d < dh; d++) {
            let s = 0;
            for (let j = 0; j <= i; j++) {
              s += probs[row + j] * qkv[(b * T + j) * 3 * D + 2 * D + h * dh + d];
            }
            attn[(b * T + i) * D + h * dh + d] = s;
          }
        }
      }
    }
    const proj = linear(attn, q("attention/out/kernel"), q("attention/out/bias"), N, D, D);
    for (let i = 0; i < N * D; i++) x[i] += proj[i];
    const ln2 = layerNorm(x, N, D, q("layer_norm_2/scale"), q("layer_norm_2/bias"));
    const pre = linear(ln2.out, q("mlp/dense_0/kernel"), q("mlp/dense_0/bias"), N, D, M);
    const act = pre.map(referenceGelu);
    const mlp = linear(act, q("mlp/dense_1/kernel"), q("mlp/dense_1/bias"), N, M, D);
    for (let i = 0; i < N * D; i++) x[i] += mlp[i];
    blocks.push({ ln1, qkv, probs, attn, ln2, pre, act });
  }
  const final = layerNorm(x, N, D, p["final_layer_norm/scale"], p["final_layer_norm/bias"]);
  return { hidden: final.out, tape: { blocks, final } };
}

/**
 * The hidden states `[B, T, hiddenSize]` of the body for token ids `[B, T]`.
 */
export function referenceTransformerForward(c: ReferenceTransformerCase): Float64Array {
  return run(c).hidden;
}

/**
 * The gradient of `Σ dHidden ⊙ hidden` with respect to every parameter (by name), for
 * the hidden states of {@linkcode referenceTransformerForward}.
 */
export function referenceTransformerBackward(
  c: ReferenceTransformerCase,
  dHidden: ArrayLike<number>,
): Record<string, Float64Array> {
  const { tape } = run(c);
  const { dims, params: p, ids, B, T } = c;
  const D = dims.hiddenSize, H = dims.heads, M = dims.mlpSize, dh = D / H;
  const N = B * T;
  if (dHidden.length !== N * D) {
    throw new RangeError(`dHidden has length ${dHidden.length}, expected ${N * D}`);
  }
  const scale = 1 / Math.sqrt(dh);
  const grads: Record<string, Float64Array> = {};
  for (const [name, shape] of transformerParamShapes(dims)) {
    grads[name] = new Float64Array(shapeSize(shape));
  }
  const dx = new Float64Array(N * D);
  layerNormBackward(
    Float64Array.from(dHidden),
    tape.final,
    p["final_layer_norm/scale"],
    N,
    D,
    dx,
    grads["final_layer_norm/scale"],
    grads["final_layer_norm/bias"],
  );
  for (let l = dims.layers - 1; l >= 0; l--) {
    const q = (name: TransformerBlockParam) => p[blockParamName(l, name)];
    const g = (name: TransformerBlockParam) => grads[blockParamName(l, name)];
    const t = tape.blocks[l];
    // MLP
    const dAct = linearBackward(
      t.act,
      q("mlp/dense_1/kernel"),
      dx,
      N,
      M,
      D,
      g("mlp/dense_1/kernel"),
      g("mlp/dense_1/bias"),
    );
    const dPre = dAct.map((v, i) => v * referenceGeluGrad(t.pre[i]));
    const dLn2 = linearBackward(
      t.ln2.out,
      q("mlp/dense_0/kernel"),
      dPre,
      N,
      D,
      M,
      g("mlp/dense_0/kernel"),
      g("mlp/dense_0/bias"),
    );
    layerNormBackward(
      dLn2,
      t.ln2,
      q("layer_norm_2/scale"),
      N,
      D,
      dx,
      g("layer_norm_2/scale"),
      g("layer_norm_2/bias"),
    );
    // attention
    const dAttn = linearBackward(
      t.attn,
      q("attention/out/kernel"),
      dx,
      N,
      D,
      D,
      g("attention/out/kernel"),
      g("attention/out/bias"),
    );
    const dQkv = new Float64Array(N * 3 * D);
    const dP = new Float64Array(T);
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < T; i++) {
          const row = ((b * H + h) * T + i) * T;
          const qi = (b * T + i) * 3 * D + h * dh;
          let dot = 0;
          for (let j = 0; j <= i; j++) {
            const vj = (b * T + j) * 3 * D + 2 * D + h * dh;
            let s = 0;
            for (let d = 0; d < dh; d++) {
              const go = dAttn[(b * T + i) * D + h * dh + d];
              s += go * t.qkv[vj + d];
              dQkv[vj + d] += t.probs[row + j] * go;
            }
            dP[j] = s;
            dot += t.probs[row + j] * s;
          }
          for (let j = 0; j <= i; j++) {
            const ds = scale * t.probs[row + j] * (dP[j] - dot);
            const kj = (b * T + j) * 3 * D + D + h * dh;
            for (let d = 0; d < dh; d++) {
              dQkv[qi + d] += ds * t.qkv[kj + d];
              dQkv[kj + d] += ds * t.qkv[qi + d];
            }
          }
        }
      }
    }
    const dLn1 = linearBackward(
      t.ln1.out,
      q("attention/qkv/kernel"),
      dQkv,
      N,
      D,
      3 * D,
      g("attention/qkv/kernel"),
      g("attention/qkv/bias"),
    );
    layerNormBackward(
      dLn1,
      t.ln1,
      q("layer_norm_1/scale"),
      N,
      D,
      dx,
      g("layer_norm_1/scale"),
      g("layer_norm_1/bias"),
    );
  }
  const dTok = grads["embedding/tokens"], dPos = grads["embedding/positions"];
  for (let n = 0; n < N; n++) {
    const tt = n % T;
    for (let d = 0; d < D; d++) {
      dTok[ids[n] * D + d] += dx[n * D + d];
      dPos[tt * D + d] += dx[n * D + d];
    }
  }
  return grads;
}
