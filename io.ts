/**
 * @x/fwl/io — the checkpoint format underneath `saveCheckpoint` / `LanguageModel.save`:
 * safetensors encoding and decoding (for reading weights trained elsewhere, see
 * docs/loading_reference_weights.md), the metadata keys, and a language model's
 * checkpoint bytes as free functions.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { decodeSafetensors, encodeSafetensors } from "@x/fwl/io";
 * const bytes = encodeSafetensors({
 *   w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) },
 * });
 * const { w } = decodeSafetensors(bytes).tensors;
 * assertEquals([w.shape, w.data], [[2], new Float32Array([1, 2])]);
 * ```
 *
 * @module
 */

export {
  CHECKPOINT_METADATA,
  type CheckpointedModel,
  languageModelBytes,
  type LoadedCheckpoint,
  loadLanguageModelBytes,
  OPTIMIZER_PREFIX,
} from "./src/io/checkpoint.ts";
export {
  type DecodedSafetensors,
  type DecodedTensor,
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "./src/io/safetensors.ts";
