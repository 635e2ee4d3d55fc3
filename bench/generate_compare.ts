// Tokens per second of `lm.generate` (200 tokens after a 16-token prompt, temperature 0.8,
// top-p 0.95, from the first token) in ANY checkout of this library, for before/after
// comparisons across versions: the same three models as bench/generate_bench.ts (an LSTM
// of width 64 + head 32 and a transformer of width 32 × 2 blocks + head 16 at vocabulary
// 256; an LSTM of width 256 + head 128 at vocabulary 4096), one JSON line. Run it on each
// checkout in turn, alternating, several rounds:
//
//   deno run -A --import-map=tests/offline_import_map.json bench/generate_compare.ts /path/to/checkout

import type { LanguageModel } from "../mod.ts";
import { generationModels, generationRate } from "./generation_models.ts";

const checkout = Deno.args[0] ?? new URL("..", import.meta.url).pathname;
const fwl = await import(new URL("mod.ts", `file://${checkout.replace(/\/?$/, "/")}`).href);

const rates: Record<string, number> = {};
for (const { key, make } of generationModels<LanguageModel>(fwl)) {
  const lm = await make();
  await generationRate(lm); // compiles the kernels
  rates[key] = await generationRate(lm);
  lm.dispose();
}
console.log(JSON.stringify(rates));
