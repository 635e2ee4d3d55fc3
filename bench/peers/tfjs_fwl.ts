/**
 * A peer implementation of the FWL block written with TensorFlow.js on its WebGPU backend,
 * as an ordinary tfjs user would write it: `tf.matMul`, `tf.cumsum`, `tf.softmax` under
 * `tf.tidy`, no custom kernels (one custom *gradient*, for the cumsum: see below). It exists only to measure the library against (see
 * `bench/peers/peer_bench.ts`, `bench/peers/matmul_bench.ts`) and is checked against the float64
 * reference by `bench/peers/check_peer.ts`. Nothing under `src/` or `mod.ts` imports it.
 *
 * What it computes (docs/definition.md §2, the efficient form):
 * - the slow forward of all positions, then the inner backward written by hand with
 *   ordinary differentiable ops (not `tf.grad`): `g_z`, `g_n`, layer-norm backward
 *   `g_h2`, `g_h1`;
 * - the fast forward with causal linear attention by mixed chunks (quadratic with a
 *   strictly-lower mask inside a chunk, the exclusive running `Σ kᵀv` of earlier chunks
 *   across), exclusive `tf.cumsum` for the bias and layer-norm updates;
 * - two tfjs 4.22 bugs worked around, both in Cumsum's gradient (see `exclCumsumLast`):
 *   a wrong layout for a non-last axis, and on WebGPU a shader-cache collision that
 *   silently gives wrong numbers. Without the workaround the WebGPU gradients are off by
 *   10–100 % (the CPU backend's are right): the failure DESIGN.md records.
 * - {@linkcode peerLossAndGrads}: the outer loss and `tf.grads` of it with respect to all 14
 *   parameters and `x`. Because the inner backward is itself made of differentiable ops,
 *   `tf.grads` differentiates through it: the second-order (meta-learning) path is
 *   included, as in `referenceLossAndGrads`.
 *
 * Versions: `@tensorflow/tfjs` and `@tensorflow/tfjs-backend-webgpu` 4.22.0 (the latest
 * the npm registry serves). In Deno 2.9.6 the WebGPU backend initializes as is
 * (`navigator.gpu` exists, the adapter has `info`, no canvas is needed for compute): no
 * shims. tfjs' CPU backend (part of `@tensorflow/tfjs`) serves as a second opinion; it
 * prints a harmless "install tfjs-node" banner when first used.
 *
 * @module
 */

// The union package, not tfjs-core alone: tfjs-core's main entry (a CommonJS bundle) registers
// no gradients, and its ESM tree (whose `dist/register_all_gradients.js` would add them) uses
// extension-less relative imports that Deno cannot resolve. `@tensorflow/tfjs` registers the
// gradients and the CPU backend; the WebGPU backend is a separate package.
// Pinned inline, on purpose: a bench-only dependency that stays out of deno.json's imports
// (and so out of the published package's dependency graph and the offline import map).
// deno-lint-ignore no-import-prefix
import * as tf from "npm:@tensorflow/tfjs@4.22.0";
// deno-lint-ignore no-import-prefix
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import { describeDevice, PARAM_NAMES, type ParamName, paramShapes, STEP_NAMES } from "../../gpu.ts";

export { tf };

/** The backends the peer can run on. */
export type PeerBackend = "webgpu" | "cpu";

/**
 * Switches tfjs to `backend` and waits until it is ready; returns a description of it
 * (the WebGPU adapter's description, or "cpu").
 *
 * @example
 * ```ts ignore
 * import { usePeerBackend } from "./tfjs_fwl.ts";
 * console.log(await usePeerBackend("webgpu")); // e.g. "webgpu: llvmpipe (LLVM 15.0.6, 256 bits)"
 * ```
 */
export async function usePeerBackend(backend: PeerBackend): Promise<string> {
  if (!(await tf.setBackend(backend))) {
    throw new Error(`tfjs could not initialize its ${backend} backend`);
  }
  await tf.ready();
  if (backend !== "webgpu") return backend;
  return `webgpu: ${describeDevice(peerDevice()!)}`;
}

/**
 * The GPUDevice tfjs' WebGPU backend runs on (when it is the active backend).
 *
 * @example
 * ```ts ignore
 * import { peerDevice, usePeerBackend } from "./tfjs_fwl.ts";
 * await usePeerBackend("webgpu");
 * console.log(peerDevice()?.limits.maxStorageBufferBindingSize);
 * ```
 */
export function peerDevice(): GPUDevice | undefined {
  return (tf.backend() as unknown as { device?: GPUDevice }).device;
}

/** Options of the peer forward. */
export interface PeerOptions {
  /** Chunks of the mixed chunk attention (any positive integer; T need not divide). */
  chunks: number;
  /** Layer-norm epsilon (default 1e-6). */
  epsilon?: number;
  /** `"batch"` (default): `N = max(Σw, 1e-8)`; a number: that fixed `N`. */
  normalizer?: "batch" | number;
}

/** The 14 parameters as tfjs tensors (kernels `[in, out]`, step sizes scalars). */
export type PeerParams = Record<ParamName, tf.Tensor>;

/**
 * Uploads parameters (docs/definition.md §1 names, row-major Float32Arrays) as tfjs tensors of the
 * active backend. Dispose them with {@linkcode disposePeerParams}.
 *
 * @example
 * ```ts ignore
 * import { peerParams } from "./tfjs_fwl.ts";
 * import { initParams } from "../../mod.ts";
 * const dims = { inputSize: 8, size: 4, vocabSize: 11 };
 * const p = peerParams(initParams(dims), dims);
 * console.log(p["dense_0/kernel"].shape); // [8, 16]
 * ```
 */
export function peerParams(
  params: Record<string, Float32Array>,
  dims: { inputSize: number; size: number; vocabSize: number },
): PeerParams {
  const shapes = paramShapes(dims);
  const out = {} as PeerParams;
  for (const name of PARAM_NAMES) {
    const value = params[name];
    if (!(value instanceof Float32Array)) throw new Error(`peerParams: missing ${name}`);
    out[name] = tf.tensor(value, shapes[name], "float32");
  }
  return out;
}

/**
 * Disposes the tensors of {@linkcode peerParams}.
 *
 * @example
 * ```ts ignore
 * import { disposePeerParams, peerParams } from "./tfjs_fwl.ts";
 * import { initParams } from "../../mod.ts";
 * const dims = { inputSize: 8, size: 4, vocabSize: 11 };
 * disposePeerParams(peerParams(initParams(dims), dims));
 * ```
 */
export function disposePeerParams(p: PeerParams): void {
  for (const t of Object.values(p)) t.dispose();
}

/**
 * Exclusive cumulative sum over the last axis, with a hand-written gradient (the reversed
 * exclusive cumsum, computed as reverse → forward cumsum → reverse). tfjs' own Cumsum
 * gradient can't be used on WebGPU: it runs a *reverse* cumsum, whose WGSL bakes the axis
 * length into the source while tfjs caches the compiled shader under a key holding only
 * the ranks, so the second length to come (here: T and the number of chunks) reuses the
 * first one's shader and silently reads the wrong elements (tfjs 4.22.0, reproduced by
 * `cumsum(range(1, 4), 0, true, true)` then `cumsum(range(1, 6), 0, true, true)`: the
 * second gives [5, 3, 0, 5, 0] instead of [14, 12, 9, 5, 0]). The forward cumsum's
 * shader does not depend on the length.
 */
const exclCumsumLast = tf.customGrad(
  ((u: tf.Tensor) => {
    const last = u.rank - 1; // (a negative axis makes the WebGPU kernel transpose wrongly)
    return {
      value: tf.cumsum(u, last, true, false),
      gradFunc: (dy: tf.Tensor) =>
        tf.reverse(tf.cumsum(tf.reverse(dy, last), last, true, false), last),
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0],
);

/**
 * `out[b,t] = Σ_{s<t} u[b,s]` over axis 1 of `[B, T, W]`, as transpose → cumsum on the
 * last axis → transpose: tfjs 4.22's Cumsum gradient is also wrong for a non-last axis (it
 * transposes a result that is already in the input's layout). The WebGPU kernel makes the
 * same two transposes internally for a non-last axis, so this costs the forward nothing.
 */
function exclCumsum(u: tf.Tensor): tf.Tensor {
  return tf.transpose(exclCumsumLast(tf.transpose(u, [0, 2, 1])), [0, 2, 1]);
}

/**
 * Causal linear attention `A(q,k,v)[t] = Σ_{s<t} (q_t·k_s) v_s` per sequence, by mixed
 * chunks (docs/definition.md §2). `q`, `k` are `[B,T,dq]`, `v` is `[B,T,dv]`; returns `[B,T,dv]`.
 */
function chunkAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, chunks: number): tf.Tensor {
  const [B, T, dq] = q.shape as [number, number, number];
  const dv = (v.shape as [number, number, number])[2];
  const L = Math.ceil(T / chunks); // chunk length
  const C = Math.ceil(T / L); // non-empty chunks
  const padded = C * L;
  const toChunks = (t: tf.Tensor, width: number): tf.Tensor => {
    const p = padded === T ? t : tf.pad(t, [[0, 0], [0, padded - T], [0, 0]]);
    return tf.reshape(p, [B * C, L, width]);
  };
  const qc = toChunks(q, dq), kc = toChunks(k, dq), vc = toChunks(v, dv);
  // Inside a chunk: scores masked to s < t.
  const mask = tf.sub(tf.linalg.bandPart(tf.ones([L, L]), -1, 0), tf.eye(L));
  let out = tf.matMul(tf.mul(tf.matMul(qc, kc, false, true), mask), vc);
  if (C > 1) {
    // Across chunks: the running Σ kᵀv of the earlier chunks.
    const kv = tf.reshape(tf.matMul(kc, vc, true, false), [B, C, dq * dv]);
    const state = tf.reshape(exclCumsum(kv), [B * C, dq, dv]);
    out = tf.add(out, tf.matMul(qc, state));
  }
  const full = tf.reshape(out, [B, padded, dv]);
  return padded === T ? full : tf.slice(full, [0, 0, 0], [B, T, dv]);
}

/** Layer norm of the last axis: `(h − μ)·rstd` and `rstd`. */
function normalize(h: tf.Tensor, eps: number): { nhat: tf.Tensor; rstd: tf.Tensor } {
  const { mean, variance } = tf.moments(h, -1, true);
  const rstd = tf.rsqrt(tf.add(variance, eps));
  return { nhat: tf.mul(tf.sub(h, mean), rstd), rstd };
}

/** Targets `[B·T, V]` from ids `[B, T]` (int32) or a one-hot / distribution `[B, T, V]`. */
function targets(labels: tf.Tensor, V: number): tf.Tensor {
  if (labels.dtype === "int32") {
    // A negative id (allowed where the weight is 0) gives a zero row.
    return tf.oneHot(tf.reshape(labels, [-1]) as tf.Tensor1D, V, 1, 0, "float32");
  }
  return tf.reshape(labels, [-1, V]);
}

/** The fast logits `[B·T, V]` and the targets: the body of the forward and of the loss. */
function fastLogits(
  p: PeerParams,
  x: tf.Tensor,
  y: tf.Tensor,
  weights: tf.Tensor,
  opts: PeerOptions,
): tf.Tensor {
  const [B, T, D] = x.shape;
  const S = p["layer_norm/scale"].shape[0];
  const H = 4 * S;
  const eps = opts.epsilon ?? 1e-6;
  const K0 = p["dense_0/kernel"], b0 = p["dense_0/bias"];
  const K1 = p["dense_1/kernel"], b1 = p["dense_1/bias"];
  const scale = p["layer_norm/scale"], bias = p["layer_norm/bias"];
  const Ku = p["unembed/kernel"], bu = p["unembed/bias"];
  const [sK0, sb0, sK1, sb1, sScale, sBias] = STEP_NAMES.map((n) => p[n]);
  const x2 = tf.reshape(x, [B * T, D]);
  const seq = (t: tf.Tensor, w: number) => tf.reshape(t, [B, T, w]);

  // Slow forward, all positions.
  const h1 = tf.add(tf.matMul(x2, K0), b0);
  const a = tf.square(tf.relu(h1));
  const h2 = tf.add(tf.matMul(a, K1), b1);
  const { nhat, rstd } = normalize(h2, eps);
  const z = tf.add(tf.matMul(tf.add(tf.mul(nhat, scale), bias), Ku), bu);

  // Inner backward (docs/definition.md §2), by hand.
  const w = tf.reshape(weights, [B * T, 1]);
  const N = opts.normalizer === undefined || opts.normalizer === "batch"
    ? tf.maximum(tf.sum(weights), 1e-8)
    : tf.scalar(opts.normalizer);
  const gz = tf.mul(tf.sub(tf.softmax(z), y), tf.div(w, N));
  const gn = tf.matMul(gz, Ku, false, true);
  const gnh = tf.mul(gn, scale);
  const gh2 = tf.mul(
    tf.sub(tf.sub(gnh, tf.mean(gnh, -1, true)), tf.mul(nhat, tf.mean(tf.mul(gnh, nhat), -1, true))),
    rstd,
  );
  const gh1 = tf.mul(tf.matMul(gh2, K1, false, true), tf.mul(tf.relu(h1), 2));

  // Fast forward.
  const attn0 = chunkAttention(seq(x2, D), seq(x2, D), seq(gh1, H), opts.chunks);
  const f1 = tf.sub(
    tf.sub(seq(h1, H), tf.mul(attn0, sK0)),
    tf.mul(exclCumsum(seq(gh1, H)), sb0),
  );
  const fa = tf.square(tf.relu(f1));
  const attn1 = chunkAttention(fa, seq(a, H), seq(gh2, S), opts.chunks);
  const f2 = tf.sub(
    tf.sub(
      tf.add(tf.reshape(tf.matMul(tf.reshape(fa, [B * T, H]), K1), [B, T, S]), b1),
      tf.mul(attn1, sK1),
    ),
    tf.mul(exclCumsum(seq(gh2, S)), sb1),
  );
  const scaleT = tf.sub(scale, tf.mul(exclCumsum(seq(tf.mul(gn, nhat), S)), sScale));
  const biasT = tf.sub(bias, tf.mul(exclCumsum(seq(gn, S)), sBias));
  const fastN = tf.add(tf.mul(normalize(f2, eps).nhat, scaleT), biasT);
  return tf.add(tf.matMul(tf.reshape(fastN, [B * T, S]), Ku), bu);
}

/**
 * The fast logits `[B, T, V]` (docs/definition.md §2) on the active tfjs backend. `labels` are int32
 * ids `[B, T]` (any id where the weight is 0) or float32 `[B, T, V]`; `weights` `[B, T]`.
 * The intermediates are freed (`tf.tidy`); the caller owns the result.
 *
 * @example
 * ```ts ignore
 * import { peerFastLogits, peerParams, tf, usePeerBackend } from "./tfjs_fwl.ts";
 * import { initParams } from "../../mod.ts";
 * await usePeerBackend("webgpu");
 * const dims = { inputSize: 8, size: 4, vocabSize: 11 };
 * const p = peerParams(initParams(dims), dims);
 * const x = tf.randomNormal([1, 5, 8]);
 * const ids = tf.tensor2d([[1, 2, 3, 4, -1]], [1, 5], "int32");
 * const w = tf.tensor2d([[1, 1, 1, 1, 0]]);
 * const logits = peerFastLogits(p, x, ids, w, { chunks: 2 });
 * console.log((await logits.data()).length); // 55
 * ```
 */
export function peerFastLogits(
  p: PeerParams,
  x: tf.Tensor,
  labels: tf.Tensor,
  weights: tf.Tensor,
  opts: PeerOptions,
): tf.Tensor {
  const [B, T] = x.shape;
  const V = p["unembed/bias"].shape[0];
  return tf.tidy(() => {
    const y = targets(labels, V);
    return tf.reshape(fastLogits(p, x, y, weights, opts), [B, T, V]);
  });
}

/** The outer loss and its gradients, by name (the 14 parameters and `"x"`). */
export interface PeerLossAndGrads {
  /** `Σ w·CE(fast_logits, y) / max(Σw, 1e-8)`. */
  loss: tf.Scalar;
  /** Gradient of `loss` for each parameter (its shape) and `"x"` (`[B, T, D]`). */
  grads: Record<string, tf.Tensor>;
}

/**
 * The outer loss `Σ w·CE(fast_logits, y) / max(Σw, 1e-8)` (docs/definition.md §4) and `tf.grads` of
 * it with respect to every parameter and `x`, through the inner gradients (second order).
 *
 * @example
 * ```ts ignore
 * import { peerLossAndGrads, peerParams, tf, usePeerBackend } from "./tfjs_fwl.ts";
 * import { initParams } from "../../mod.ts";
 * await usePeerBackend("webgpu");
 * const dims = { inputSize: 8, size: 4, vocabSize: 11 };
 * const p = peerParams(initParams(dims), dims);
 * const x = tf.randomNormal([1, 5, 8]);
 * const ids = tf.tensor2d([[1, 2, 3, 4, -1]], [1, 5], "int32");
 * const w = tf.tensor2d([[1, 1, 1, 1, 0]]);
 * const { loss, grads } = peerLossAndGrads(p, x, ids, w, { chunks: 2 });
 * console.log(await loss.data(), grads["dense_0/kernel"].shape); // [...] [8, 16]
 * ```
 */
export function peerLossAndGrads(
  p: PeerParams,
  x: tf.Tensor,
  labels: tf.Tensor,
  weights: tf.Tensor,
  opts: PeerOptions,
): PeerLossAndGrads {
  const V = p["unembed/bias"].shape[0];
  const names = [...PARAM_NAMES, "x"] as const;
  return tf.tidy(() => {
    const y = targets(labels, V);
    const w = tf.reshape(weights, [-1, 1]);
    const outerN = tf.maximum(tf.sum(weights), 1e-8);
    const lossOf = (...args: tf.Tensor[]): tf.Scalar => {
      const q = {} as PeerParams;
      PARAM_NAMES.forEach((n, i) => (q[n] = args[i]));
      const z = fastLogits(q, args[PARAM_NAMES.length], y, weights, opts);
      const ce = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(z)), -1, true));
      return tf.div(tf.sum(tf.mul(ce, w)), outerN) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(lossOf)([...PARAM_NAMES.map((n) => p[n]), x]);
    const byName: Record<string, tf.Tensor> = {};
    names.forEach((n, i) => (byName[n] = grads[i]));
    return { loss: value, grads: byName };
  });
}
