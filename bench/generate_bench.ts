// Tokens per second of `LanguageModel.generate` (temperature 0.8, top-p 0.95), the GPU
// token loop against the host loop (the same model through a body without `recordStep`,
// which is how every token was generated before the GPU loop), paired and alternating in
// one process: at the examples' sizes (vocabulary 256; an LSTM of width 64 + head 32, a
// transformer of width 32 × 2 blocks + head 16) and at the small bench shape (an LSTM of
// width 256 + head 128, vocabulary 4096), and the GPU loop at several tokens per
// submission. Prints one table; `deno bench` times the default GPU loop once more.
//
//   deno bench -A --import-map=tests/offline_import_map.json bench/generate_bench.ts
//   deno run -A --import-map=tests/offline_import_map.json bench/generate_bench.ts --rounds 5

import { LanguageModel, LSTMBody, TOKENS_PER_SUBMISSION, TransformerBody } from "../mod.ts";
import { median } from "./bench_utils.ts";
import {
  GENERATION_TOKENS as TOKENS,
  generationModels,
  generationRate as rate,
  hostLoop,
} from "./generation_models.ts";

const args = Deno.args;
const at = args.indexOf("--rounds");
const ROUNDS = at >= 0 ? Number(args[at + 1]) : 3;

const CONFIGS = generationModels<LanguageModel>({ LanguageModel, LSTMBody, TransformerBody });

const models = new Map<string, LanguageModel>();
const lines: string[] = [];
for (const config of CONFIGS) {
  const lm = await config.make();
  models.set(config.name, lm);
  const host = hostLoop(lm);
  await rate(host); // compiles every pipeline of both loops
  await rate(lm);
  const hostRates: number[] = [], gpuRates: number[] = [];
  const perSubmission = new Map<number, number[]>([1, 4, 16, 32, 64].map((k) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    hostRates.push(await rate(host));
    gpuRates.push(await rate(lm));
    for (const [k, list] of perSubmission) list.push(await rate(lm, k));
  }
  const h = median(hostRates), g = median(gpuRates);
  const ks = [...perSubmission].map(([k, l]) => `K=${k} ${median(l).toFixed(0)}`).join(", ");
  lines.push(
    `| ${config.name} | ${h.toFixed(1)} | ${g.toFixed(1)} | ${(g / h).toFixed(1)}× | ${ks} |`,
  );
}
console.log(`adapter: ${models.values().next().value!.context.adapter}`);
console.log(
  `generate, ${TOKENS} tokens, medians of ${ROUNDS} paired rounds (tokens/s; default ` +
    `K = ${TOKENS_PER_SUBMISSION} tokens per submission)`,
);
console.log("| model | host loop | GPU loop | speed-up | GPU loop by K |");
console.log("| --- | ---: | ---: | ---: | --- |");
for (const line of lines) console.log(line);

for (const [name, lm] of models) {
  Deno.bench({
    name: `generate ${TOKENS} tokens, GPU loop, ${name}`,
    n: 1,
    warmup: 0,
    async fn() {
      await rate(lm);
    },
  });
}
