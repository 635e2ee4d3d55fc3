// Shared by the benchmarks.

export { FWLBlock, SeededRandom as SeededRandomForBench, tensor } from "../mod.ts";

import {
  Adam,
  blockParams,
  FWLBlock,
  type FWLBlockOptions,
  SeededRandom,
  type Tensor,
  tensor,
} from "../mod.ts";
import { createGradBuffers, gpuTensor, lossAndGradsGPU, namedGrads } from "../gpu.ts";

/** The small shape of the benchmarks: B=1, T=1024, D=256, size=128, V=4096, C=8. */
export const SMALL_SHAPE = { B: 1, T: 1024, D: 256, SIZE: 128, V: 4096, C: 8 } as const;

/** The paper-like shape: B=1, T=4096, D=1024, size=256, V=32000, C=16. */
export const PAPER_SHAPE = { B: 1, T: 4096, D: 1024, SIZE: 256, V: 32000, C: 16 } as const;

/** A benchmark shape: batch, length, input width, block size, vocabulary, chunks. */
export type BenchShape = { [K in keyof typeof SMALL_SHAPE]: number };

/** A built block at a benchmark shape and one batch of inputs, on the host and on the GPU. */
export interface BenchBatch {
  block: FWLBlock;
  /** Host tensors: `[B, T, D]` hidden states, `[B, T]` ids, `[B, T]` weights (last 0). */
  x: Tensor<"float32">;
  ids: Tensor<"int32">;
  weights: Tensor<"float32">;
  /** The same, resident on the GPU (uploaded once, as a GPU body would hand them). */
  gx: Tensor<"float32">;
  gIds: Tensor<"int32">;
  gWeights: Tensor<"float32">;
}

/** Builds the block at `shape` (default: the small one; seed 1) and its batch (random, from seed 1). */
export async function benchBatch(
  options: FWLBlockOptions = {},
  shape: BenchShape = SMALL_SHAPE,
): Promise<BenchBatch> {
  const { B, T, D, SIZE, V, C } = shape;
  const rng = new SeededRandom(1);
  const block = new FWLBlock(SIZE, V, C, { seed: 1, ...options });
  await block.build(D);
  const ctx = block.context;
  const hostX = new Float32Array(B * T * D).map(() => rng.normal());
  const hostIds = new Int32Array(B * T).map(() => Math.floor(rng.uniform() * V));
  const hostWeights = new Float32Array(B * T).fill(1);
  hostWeights[T - 1] = 0; // the last position has no next token
  const upload = (data: Float32Array | Int32Array) => {
    const buffer = ctx.pool.acquire(data.byteLength);
    ctx.device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
    return buffer;
  };
  return {
    block,
    x: tensor(hostX, [B, T, D]),
    ids: tensor(hostIds, [B, T]),
    weights: tensor(hostWeights, [B, T]),
    gx: gpuTensor(ctx, upload(hostX), [B, T, D]),
    gIds: gpuTensor(ctx, upload(hostIds), [B, T], "int32"),
    gWeights: gpuTensor(ctx, upload(hostWeights), [B, T]),
  };
}

/**
 * A GPU-resident training step on the batch's GPU tensors: `lossAndGradsGPU` into
 * gradient buffers made once (`checkValues: false`, as a loop fed by a GPU body runs it),
 * one Adam step over `blockParams`, then a wait for the GPU. The learning rate is tiny,
 * so the parameters barely move and every step costs the same. `dispose` frees the
 * optimizer state.
 */
export function gpuTrainStep(batch: BenchBatch): { step(): Promise<void>; dispose(): void } {
  const { block, gx, gIds, gWeights } = batch;
  const grads = createGradBuffers(block), named = namedGrads(grads);
  const opt = new Adam(block.context, blockParams(block), { lr: 1e-6 });
  return {
    async step() {
      const r = await lossAndGradsGPU(block, gx, gIds, gWeights, {
        gradBuffers: grads,
        checkValues: false,
      });
      r.loss?.dispose();
      r.dx.dispose();
      await opt.step(named);
      await block.context.device.queue.onSubmittedWorkDone();
    },
    dispose: () => opt.dispose(),
  };
}

/** The median of `values` (the upper one of an even count). */
export function median(values: readonly number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1];
}

/** This process's CPU time in ms (user + system, all threads: llvmpipe's workers too). */
export function cpuMs(): number {
  try {
    const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return NaN;
  }
}
