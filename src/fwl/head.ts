/**
 * What the FWL pipeline needs of a head: its dimensions and its parameter buffers. The
 * stages take these plain values, so they depend on no class; `FWLBlock` provides them.
 *
 * @module
 */

import type { GPUContext } from "../gpu/context.ts";
import type { DecayRef } from "../kernels/running_count.ts";
import { hasDecay, type Normalizer } from "./normalizer.ts";
import { DECAY_INDEX } from "./params.ts";

/** GPU buffers of the block's parameters. */
export interface ParamBuffers {
  /** `dense_0/kernel` [D, H]. */
  k0: GPUBuffer;
  /** `dense_0/bias` [H]. */
  b0: GPUBuffer;
  /** `dense_1/kernel` [H, size]. */
  k1: GPUBuffer;
  /** `dense_1/bias` [size]. */
  b1: GPUBuffer;
  /** `layer_norm/scale` [size]. */
  scale: GPUBuffer;
  /** `layer_norm/bias` [size]. */
  bias: GPUBuffer;
  /** `unembed/kernel` [size, V]. */
  ku: GPUBuffer;
  /** `unembed/bias` [V]. */
  bu: GPUBuffer;
  /** The six step sizes, in STEP_NAMES order (then the decay λ, if the block has one). */
  steps: GPUBuffer;
}

/**
 * A built head as the training call and the stream read it (an `FWLBlock` is one).
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FWLBlock } from "@x/fwl";
 * import type { Head } from "@x/fwl/gpu";
 * using block = new FWLBlock(2, 5, 1);
 * await block.build(3);
 * const head: Head = block;
 * assertEquals([head.inputSize, head.buffers.steps.size >= 6 * 4], [3, true]);
 * ```
 */
export interface Head {
  /** Width of the fast weight layers (`H = 4·size`). */
  readonly size: number;
  /** Vocabulary size `V`. */
  readonly vocabSize: number;
  /** Number of chunks of the mixed chunk attention. */
  readonly attnChunks: number;
  /** The inner-loss normalizer (docs/definition.md §1, §6). */
  readonly normalizer: Normalizer;
  /** Layer-norm epsilon. */
  readonly epsilon: number;
  /** The input width `D`, once built. */
  readonly inputSize: number | undefined;
  /** Whether the parameters are allocated. */
  readonly built: boolean;
  /** The GPU context (throws before `build`). */
  readonly context: GPUContext;
  /** The parameter buffers (throws before `build`). */
  readonly buffers: ParamBuffers;
}

/**
 * Where a built head keeps its decay λ (docs/definition.md §6), or `undefined` when its normalizer
 * does not decay.
 */
export function headDecay(head: Head): DecayRef | undefined {
  return hasDecay(head.normalizer) ? { buffer: head.buffers.steps, index: DECAY_INDEX } : undefined;
}

/**
 * Whether `value` looks like a {@linkcode Head} (a structural check, so that callers
 * need not import the block class).
 */
export function isHead(value: unknown): value is Head {
  if (value === null || typeof value !== "object") return false;
  const h = value as Record<string, unknown>;
  return typeof h.size === "number" && typeof h.vocabSize === "number" &&
    typeof h.attnChunks === "number" && typeof h.epsilon === "number" &&
    typeof h.built === "boolean" && "buffers" in h && "context" in h;
}
