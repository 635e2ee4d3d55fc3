/**
 * The forward recordings of an `LSTMBody`: every position of `[B, T]` tokens
 * at once (keeping what the backward needs), and one position from a generation state.
 *
 * @module
 */

import type { GPUContext } from "../gpu/context.ts";
import type { Recorder } from "../gpu/recorder.ts";
import { matmulNN } from "../kernels/matmul.ts";
import { lstmForward, lstmGather } from "../kernels/lstm.ts";
import type { ParamStore } from "../params/store.ts";
import type { LSTMDims } from "./lstm_params.ts";
import type { LSTMState } from "./lstm_state.ts";

/** What a forward keeps for the backward (padded row layout `[B, T+1, ·]`). */
export interface LSTMSaved {
  B: number;
  T: number;
  tokens: Int32Array;
  /** The embedded tokens `[B, T+1, E]` (layer 0's input). */
  x0: GPUBuffer;
  /** Per layer: gate activations `[B, T+1, 4H]`, cells and hidden states `[B, T+1, H]`. */
  layers: { gates: GPUBuffer; c: GPUBuffer; h: GPUBuffer }[];
}

/** Returns a forward's saved activations to the pool. */
export function releaseLSTMSaved(ctx: GPUContext, saved: LSTMSaved): void {
  ctx.pool.release(saved.x0);
  for (const l of saved.layers) {
    for (const b of [l.gates, l.c, l.h]) ctx.pool.release(b);
  }
}

/** The buffers and sizes of one parallel forward. */
export interface LSTMForwardArgs {
  /** Token ids `[B, T]` (int32, valid) on the GPU. */
  tokens: GPUBuffer;
  /** The token ids on the host, kept for the embedding gradient. */
  ids: Int32Array;
  batch: number;
  time: number;
  /** The last layer's hidden states `[B, T, H]`. */
  out: GPUBuffer;
  /** A state to start from and leave at the end (`forwardFrom`), or none: from zero. */
  state?: LSTMState;
  /** Takes a buffer from the pool for the saved activations (the caller releases on failure). */
  acquire: (bytes: number) => GPUBuffer;
}

/**
 * Records the forward of every position into `rec`: the embedding gather, then per layer
 * one input-projection matmul over all rows and one recurrence dispatch. Returns what
 * the backward needs (valid once `rec` is submitted).
 */
export function recordLSTMForward(
  rec: Recorder,
  dims: LSTMDims,
  params: ParamStore,
  args: LSTMForwardArgs,
): LSTMSaved {
  const { batch: B, time: T, out, state, acquire } = args;
  const H = dims.hiddenSize, E = dims.embedSize, G = 4 * H;
  const R = B * (T + 1);
  const x0 = acquire(R * E * 4);
  lstmGather(rec, {
    tokens: args.tokens,
    embedding: params.buffer("embedding"),
    x: x0,
    rows: R,
    width: E,
    time: T,
    padded: true,
  });
  const layers: LSTMSaved["layers"] = [];
  let input = x0, width = E;
  for (let l = 0; l < dims.layers; l++) {
    const gates = acquire(R * G * 4);
    const c = acquire(R * H * 4);
    const h = acquire(R * H * 4);
    matmulNN(rec, input, params.buffer(`lstm_${l}/kernel`), gates, R, width, G, {
      bias: { buffer: params.buffer(`lstm_${l}/bias`) },
    });
    // A carried state goes in as row 0 of each sequence and comes back from row T.
    const carry = (toState: boolean) => {
      const st = state!.buffers(l), seq = (T + 1) * H * 4, row = H * 4;
      for (let b = 0; b < B; b++) {
        for (const [rows, at] of [[h, st.h], [c, st.c]] as const) {
          if (toState) rec.copy(rows, b * seq + T * row, at, b * row, row);
          else rec.copy(at, b * row, rows, b * seq, row);
        }
      }
    };
    if (state) carry(false);
    lstmForward(rec, {
      batch: B,
      time: T,
      hidden: H,
      gates,
      gatesLayout: { base: G, seq: (T + 1) * G },
      recurrent: params.buffer(`lstm_${l}/recurrent_kernel`),
      h,
      c,
      stateLayout: { base: H, seq: (T + 1) * H },
      initLayout: { base: 0, seq: (T + 1) * H },
      zeroInit: !state,
      out: l === dims.layers - 1 ? { buffer: out, layout: { base: 0, seq: T * H } } : undefined,
    });
    if (state) carry(true);
    layers.push({ gates, c, h });
    input = h;
    width = H;
  }
  return { B, T, tokens: args.ids, x0, layers };
}

/**
 * Records one position of `state.batchSize` sequences: token ids `[B]` (int32, valid)
 * from `tokens`, hidden states `[B, H]` to `out`; `state` advances when it runs.
 */
export function recordLSTMStep(
  rec: Recorder,
  dims: LSTMDims,
  params: ParamStore,
  state: LSTMState,
  tokens: GPUBuffer,
  out: GPUBuffer,
): void {
  const B = state.batchSize, H = dims.hiddenSize, E = dims.embedSize, G = 4 * H;
  const x = rec.scratch(B * E * 4);
  lstmGather(rec, {
    tokens,
    embedding: params.buffer("embedding"),
    x,
    rows: B,
    width: E,
    time: 1,
    padded: false,
  });
  let input = x, width = E;
  for (let l = 0; l < dims.layers; l++) {
    const { h, c } = state.buffers(l);
    const gates = rec.scratch(B * G * 4);
    matmulNN(rec, input, params.buffer(`lstm_${l}/kernel`), gates, B, width, G, {
      bias: { buffer: params.buffer(`lstm_${l}/bias`) },
    });
    const layout = { base: 0, seq: H };
    lstmForward(rec, {
      batch: B,
      time: 1,
      hidden: H,
      gates,
      gatesLayout: { base: 0, seq: G },
      recurrent: params.buffer(`lstm_${l}/recurrent_kernel`),
      h,
      c,
      stateLayout: layout,
      initLayout: layout,
      zeroInit: false,
      out: l === dims.layers - 1 ? { buffer: out, layout } : undefined,
    });
    input = h;
    width = H;
  }
}
