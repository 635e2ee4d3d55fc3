// Tokens per second of `lm.generate` (200 tokens after a 16-token prompt, temperature 0.8,
// top-p 0.95, from the first token) in ANY checkout of this library, for before/after
// comparisons across versions: the same three models as bench/generate_bench.ts (an LSTM
// of width 64 + head 32 and a transformer of width 32 × 2 blocks + head 16 at vocabulary
// 256; an LSTM of width 256 + head 128 at vocabulary 4096), one JSON line. Run it on each
// checkout in turn, alternating, several rounds:
//
//   deno run -A --import-map=tests/offline_import_map.json bench/generate_compare.ts /path/to/checkout

import type { LanguageModel } from "../mod.ts";
import { generationModels } from "./generation_models.ts";

const checkout = Deno.args[0] ?? new URL("..", import.meta.url).pathname;
const fwl = await import(new URL("mod.ts", `file://${checkout.replace(/\/?$/, "/")}`).href);

const rates: Record<string, number> = {};
for (const { key, make } of generationModels<LanguageModel>(fwl)) {
  const lm = await make();
  const prompt = Array.from({ length: 16 }, (_, i) => (i * 37) % lm.vocabSize);
  const rate = async () => {
    let n = 0, t0 = 0;
    const options = { maxTokens: 200, temperature: 0.8, topP: 0.95, seed: 1 };
    for await (const _ of lm.generate(prompt, options)) if (n++ === 0) t0 = performance.now();
    return (n - 1) / ((performance.now() - t0) / 1000);
  };
  await rate(); // compiles the kernels
  rates[key] = await rate();
  lm.dispose();
}
console.log(JSON.stringify(rates));
