/**
 * @x/fwl/data — token datasets for training and evaluating language models without
 * downloads: a synthetic language whose documents repeat their own rare names (what fast
 * weights are for), and byte-level text.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@x/fwl";
 * import { SyntheticLanguage } from "@x/fwl/data";
 * const data = new SyntheticLanguage({ seed: 1 });
 * const batch = data.trainBatch(2, 16, new SeededRandom(0)); // 2 documents of 16 tokens
 * assertEquals(batch.length, 2 * 16);
 * assertEquals(
 *   data.decode(batch.subarray(0, 16)),
 *   "<doc> there , Mutul described the river . Lukonath visited the warm shop . there ,",
 * );
 * ```
 *
 * @module
 */

export type { TokenDataset } from "./src/data/dataset.ts";
export { SyntheticLanguage, type SyntheticLanguageOptions } from "./src/data/synthetic.ts";
export { ByteText, type ByteTextOptions, type EvaluationBatch } from "./src/data/text.ts";
export {
  DocumentReader,
  type DocumentReaderOptions,
  type DocumentWindows,
} from "./src/data/reader.ts";
