/**
 * Scoring: the negative log-likelihood of every predicted token of a batch of
 * sequences (`LanguageModel.score`), and of one long document read window by window in
 * memory that does not grow with its length (`LanguageModel.scoreDocument`, and the
 * segments of dynamic evaluation), carrying the head's fast-weight state and the
 * body's state (when it can carry one) from window to window.
 *
 * @module
 */

import type { BodyState } from "../bodies/model_body.ts";
import { FWLError } from "../errors.ts";
import type { FWLState } from "../fwl/state.ts";
import { Recorder } from "../gpu/recorder.ts";
import { ownedGPUTensor, Tensor, tensor } from "../tensor.ts";
import { carriesBody } from "./document_state.ts";
import { type DocumentParts, prepareBatch } from "./inputs.ts";
import { forwardBody, type ModelParts } from "./model_parts.ts";
import type { TokensOptions } from "./options.ts";
import type { TokenScores } from "./perplexity.ts";
import { checkHidden } from "./plug.ts";

/** Learns from one window of a document: its hidden states, targets and weights. */
export type LearnFromWindow = (
  hidden: Tensor<"float32">,
  labels: Tensor,
  weights: Tensor<"float32">,
) => Promise<void>;

/**
 * Scores a batch of token sequences `[B, T]` (`LanguageModel.score` inside its busy
 * mark): the NLL `[B, T − 1]` of every token after the first, 0 (target −1) where
 * padding is not scored.
 *
 * @throws {FWLInputError} For bad tokens or options.
 * @throws {FWLError} If the body returns hidden states of the wrong shape.
 */
export async function scoreBatch(
  where: string,
  model: ModelParts,
  tokens: Tensor<"int32">,
  options: TokensOptions,
): Promise<TokenScores> {
  const { B, T, labels, weights } = prepareBatch(where, tokens, options, model.head.vocabSize);
  const hidden = await forwardBody(where, model, tokens, B, T);
  let nll: Float32Array;
  try {
    nll = (await model.head.score(hidden, labels, weights)).nll;
  } finally {
    hidden.dispose();
  }
  const ids = labels.hostData as Int32Array;
  const w = weights.hostData!;
  const shape: [number, number] = [B, T - 1];
  const out = new Float32Array(B * (T - 1));
  const targets = new Int32Array(B * (T - 1)).fill(-1);
  let total = 0, count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const p = b * T + t, q = b * (T - 1) + t;
      if (w[p] === 0) continue;
      out[q] = nll[p];
      targets[q] = ids[p];
      total += nll[p];
      count++;
    }
  }
  const loss = count > 0 ? total / count : NaN;
  return { shape, nll: out, targets, loss, perplexity: Math.exp(loss), count };
}

/**
 * Scores a document in consecutive windows of up to `window` predicted tokens, carrying
 * the head's fast-weight state and, when the body has `forwardFrom` and `initState`,
 * the body's state (else the body re-reads up to `context` tokens, of weight 0, before
 * each window). `learn` then gets each window's hidden states and targets. Between
 * windows, an aborted `signal` rejects with its reason.
 *
 * @throws {FWLError} If a loss is not finite or the body returns hidden states of the
 *   wrong shape.
 */
export async function scoreWindows(
  where: string,
  model: ModelParts,
  d: DocumentParts,
  learn?: LearnFromWindow,
): Promise<TokenScores> {
  const { ids, window, context, normalizer, carryFastWeights, progress } = d;
  const n = ids.length - 1, body = model.body, fastWeights = model.fastWeights;
  const nll = new Float32Array(n);
  const carries = carriesBody(body);
  // A window that starts from the slow weights needs a state only for a normalizer
  // other than the head's own.
  const state = fastWeights && (carryFastWeights || normalizer !== undefined)
    ? model.head.state(1, normalizer === undefined ? {} : { normalizer })
    : undefined;
  let bodyState: BodyState | undefined;
  try {
    bodyState = carries ? body.initState!(1) : undefined;
    // A stateless body read in pieces side by side (scoring only: learning needs one call).
    const pieces = !carries && !learn && d.bodyWindow < window;
    for (let t0 = 0; t0 < n; t0 += window) {
      d.signal?.throwIfAborted();
      // Positions from…end−1 go through the body; t0…end−1 are scored (and learned from).
      const end = Math.min(n, t0 + window);
      const from = carries || pieces ? t0 : Math.max(0, t0 - context);
      if (!carryFastWeights) state?.reset();
      const T = end - from, shape = [1, T];
      const labels = tensor(ids.slice(from + 1, end + 1), shape);
      const weights = tensor(new Float32Array(T).fill(1, t0 - from), shape);
      const hidden = pieces
        ? await piecewise(where, model, ids, t0, end, d.bodyWindow, context)
        : await (async () => {
          const tokens = tensor(ids.slice(from, end), shape);
          const h = await (bodyState ? body.forwardFrom!(tokens, bodyState) : body.forward(tokens));
          checkHidden(where, h, [1, T, body.hiddenSize], carries ? "forwardFrom" : "forward");
          return h;
        })();
      try {
        // The head reads the window's own positions only: re-read context is no new
        // position of the document (a decaying state would age over it).
        const part = await scoreTail(model, hidden, ids, from, t0, end, state, fastWeights);
        nll.set(part, t0);
        if (!nll.subarray(t0, end).every(Number.isFinite)) {
          throw new FWLError(`${where}: a non-finite loss at tokens ${t0 + 1}…${end}`);
        }
        await learn?.(hidden, labels, weights);
        progress?.(end, n);
      } finally {
        if (hidden instanceof Tensor) hidden.dispose();
      }
    }
  } finally {
    state?.dispose();
    bodyState?.dispose();
  }
  const loss = nll.reduce((a, b) => a + b, 0) / n, shape: [number, number] = [1, n];
  return { shape, nll, targets: ids.slice(1), loss, perplexity: Math.exp(loss), count: n };
}

/**
 * The head's per-position NLL of positions `t0 … end−1`, from the hidden states of
 * positions `from … end−1` (the first `t0 − from` being context, left out).
 */
async function scoreTail(
  model: ModelParts,
  hidden: Tensor<"float32">,
  ids: Int32Array,
  from: number,
  t0: number,
  end: number,
  state: FWLState | undefined,
  fastWeights: boolean,
): Promise<Float32Array> {
  const T = end - t0, D = model.body.hiddenSize, skip = t0 - from;
  const labels = tensor(ids.slice(t0 + 1, end + 1), [1, T]);
  const weights = tensor(new Float32Array(T).fill(1), [1, T]);
  if (skip === 0) {
    return (await model.head.score(hidden, labels, weights, { state, fastWeights })).nll;
  }
  const ctx = model.head.context;
  const resident = hidden.gpuBuffer(ctx);
  let tail: Tensor<"float32">;
  if (resident) {
    const buffer = ctx.pool.acquire(T * D * 4);
    const rec = new Recorder(ctx);
    rec.copy(resident, skip * D * 4, buffer, 0, T * D * 4);
    await rec.submit("LanguageModel.scoreDocument");
    tail = ownedGPUTensor(ctx, buffer, [1, T, D], "float32");
  } else {
    tail = tensor((hidden.hostData as Float32Array).slice(skip * D), [1, T, D]);
  }
  try {
    return (await model.head.score(tail, labels, weights, { state, fastWeights })).nll;
  } finally {
    tail.dispose();
  }
}

/**
 * The hidden states `[1, end − t0, D]` of positions `t0 … end−1` from a stateless body
 * read in pieces of `piece` tokens, each after up to `context` tokens before it: pieces
 * of one shape go through the body together, as one batch.
 */
async function piecewise(
  where: string,
  model: ModelParts,
  ids: Int32Array,
  t0: number,
  end: number,
  piece: number,
  context: number,
): Promise<Tensor<"float32">> {
  const D = model.body.hiddenSize, T = end - t0;
  // Pieces by shape: (context read before it, positions it scores).
  const groups = new Map<string, { before: number; len: number; starts: number[] }>();
  for (let p0 = t0; p0 < end; p0 += piece) {
    const before = Math.min(context, p0), len = Math.min(piece, end - p0);
    const key = `${before}:${len}`;
    if (!groups.has(key)) groups.set(key, { before, len, starts: [] });
    groups.get(key)!.starts.push(p0);
  }
  const ctx = model.head.context;
  let host: Float32Array | undefined;
  let gpu: GPUBuffer | undefined;
  try {
    for (const { before, len, starts } of groups.values()) {
      const L = before + len, R = starts.length;
      const rows = new Int32Array(R * L);
      starts.forEach((p0, r) => rows.set(ids.subarray(p0 - before, p0 + len), r * L));
      const hidden = await model.body.forward(tensor(rows, [R, L]));
      try {
        checkHidden(where, hidden, [R, L, D], "forward");
        const resident = hidden.gpuBuffer(ctx);
        if (resident) {
          gpu ??= ctx.pool.acquire(T * D * 4);
          const rec = new Recorder(ctx);
          starts.forEach((p0, r) =>
            rec.copy(resident, (r * L + before) * D * 4, gpu!, (p0 - t0) * D * 4, len * D * 4)
          );
          await rec.submit(where);
        } else {
          host ??= new Float32Array(T * D);
          const data = hidden.hostData as Float32Array;
          starts.forEach((p0, r) =>
            host!.set(data.subarray((r * L + before) * D, (r * L + L) * D), (p0 - t0) * D)
          );
        }
      } finally {
        if (hidden instanceof Tensor) hidden.dispose();
      }
    }
    if (gpu && host) {
      throw new FWLError(
        `${where}: the body gave GPU tensors for some pieces and host data for others`,
      );
    }
    if (host) return tensor(host, [1, T, D]);
    const out = ownedGPUTensor(ctx, gpu!, [1, T, D], "float32");
    gpu = undefined;
    return out;
  } finally {
    if (gpu) ctx.pool.release(gpu);
  }
}
