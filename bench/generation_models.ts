// The models the generation benchmarks time (bench/generate_bench.ts,
// bench/generate_compare.ts, `deno task profile --generate`), built from a library module
// passed in, so that one list serves any checkout's copy of the library.

/** What of the library the models need (any version's `mod.ts`). */
export interface GenerationLibrary {
  // deno-lint-ignore no-explicit-any
  LanguageModel: { create(body: any, options: any): Promise<any> };
  // deno-lint-ignore no-explicit-any
  LSTMBody: { create(options: any): Promise<any> };
  // deno-lint-ignore no-explicit-any
  TransformerBody: { create(options: any): Promise<any> };
}

/** A benchmarked model: a short key, a label, and a maker. */
export interface GenerationModel<M> {
  key: string;
  name: string;
  make(): Promise<M>;
}

/**
 * The examples' sizes (vocabulary 256: an LSTM of width 64 + head 32, a transformer of
 * width 32 × 2 blocks + head 16 with `maxLength` positions) and the small bench shape (an
 * LSTM of width 256 + head 128, vocabulary 4096).
 */
export function generationModels<M>(
  lib: GenerationLibrary,
  maxLength = 256,
): GenerationModel<M>[] {
  const lstm = async (V: number, width: number, head: number) =>
    await lib.LanguageModel.create(
      await lib.LSTMBody.create({ vocabSize: V, embedSize: width, hiddenSize: width, seed: 1 }),
      { vocabSize: V, headSize: head, seed: 1 },
    );
  return [
    { key: "lstm", name: "LSTM 64 + head 32, V 256", make: () => lstm(256, 64, 32) },
    {
      key: "transformer",
      name: "transformer 32 × 2 + head 16, V 256",
      make: async () =>
        await lib.LanguageModel.create(
          await lib.TransformerBody.create({
            vocabSize: 256,
            hiddenSize: 32,
            layers: 2,
            heads: 2,
            maxLength,
            seed: 1,
          }),
          { vocabSize: 256, headSize: 16, seed: 1 },
        ),
    },
    {
      key: "small",
      name: "LSTM 256 + head 128, V 4096 (small shape)",
      make: () => lstm(4096, 256, 128),
    },
  ];
}
