import { LanguageModel, type ModelBody } from "../mod.ts";

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

/** The sampling every generation benchmark uses. */
export const GENERATION_SAMPLING = { temperature: 0.8, topP: 0.95, seed: 1 };

/** Tokens each timed `generate` call yields. */
export const GENERATION_TOKENS = 200;

/** What a rate needs of a model (any version's `LanguageModel`). */
export interface Generator {
  readonly vocabSize: number;
  generate(prompt: number[], options: object): AsyncIterable<number>;
}

/**
 * Tokens per second of one `generate` call of {@linkcode GENERATION_TOKENS} tokens after a
 * 16-token prompt, timed from the first token (the prompt is not timed).
 */
export async function generationRate(lm: Generator, tokensPerSubmission?: number): Promise<number> {
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 37) % lm.vocabSize);
  const options = { ...GENERATION_SAMPLING, maxTokens: GENERATION_TOKENS, tokensPerSubmission };
  let n = 0, t0 = 0;
  for await (const _ of lm.generate(prompt, options)) if (n++ === 0) t0 = performance.now();
  return (n - 1) / ((performance.now() - t0) / 1000);
}

/**
 * The same model (its body and head, shared) through a body without `recordStep`, so that
 * `generate` runs its host loop: what the GPU loop is timed (bench/generate_bench.ts) and
 * tested (tests/generate_test.ts) against.
 */
export function hostLoop(lm: LanguageModel): LanguageModel {
  const b = lm.body;
  const body: ModelBody = {
    hiddenSize: b.hiddenSize,
    forward: (tokens) => b.forward(tokens),
    initState: (batch) => b.initState!(batch),
    step: (tokens, state) => b.step!(tokens, state),
  };
  return new LanguageModel(body, lm.head);
}
