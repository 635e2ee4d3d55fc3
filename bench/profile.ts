// Where the head's time goes, per kernel family, at the forward benchmark's shape (B=1,
// T=1024, D=256, size=128, V=4096, C=8): the forward (`block.score`) and one training
// step on the GPU (`lossAndGradsGPU` + Adam), each run with a `KernelProfiler` attached,
// which submits every op on its own and waits for it. Ops then run one at a time with a
// host round trip each; the table subtracts that round trip (the median time of a 4-byte
// copy, profiled the same way) from every op, so the rest is the kernels' own time.
//
//   deno task profile [--kernels | --grids] [--paper | --generate]
//
// `--kernels` lists single kernels instead of families, `--grids` also keeps a kernel's
// dispatch grids (its shapes) apart; `--paper` profiles the paper-like shape (B=1,
// T=4096, D=1024, size=256, V=32000, C=16) once instead of three times; `--generate`
// profiles `lm.generate` per token instead (64 tokens, temperature 0.8, top-p 0.95) at
// the examples' sizes: an LSTM of width 64 + head 32 and a transformer of width 32 × 2
// blocks + head 16, vocabulary 256.

import { type GPUContext, KernelProfiler, Recorder } from "../gpu.ts";
import { LanguageModel, LSTMBody, TransformerBody } from "../mod.ts";
import { benchBatch, gpuTrainStep, PAPER_SHAPE, SMALL_SHAPE } from "./bench_utils.ts";
import { generationModels } from "./generation_models.ts";

const paper = Deno.args.includes("--paper");
const ROUNDS = paper ? 1 : 3;
/** A kernel's family: its name up to the first digit or layout suffix. */
function kernelFamily(name: string): string {
  if (name.startsWith("matmul")) return "matmul (A·B, A·Bᵀ, Aᵀ·B)";
  if (name.startsWith("chunk_") || name.includes("attention")) return "chunk attention";
  if (name.includes("vocab_tile") || name.includes("xent") || name.includes("softmax")) {
    return "softmax / cross-entropy (vocabulary)";
  }
  if (name.includes("layer_norm")) return "layer norm";
  if (name.includes("cumsum") || name.includes("segment_sum")) return "cumulative sums";
  if (name.startsWith("optimizer")) return "optimizer";
  if (name === "copy") return "copies";
  return name.replace(/_\d+$/, "");
}

/** What is profiled, and what its figures are divided by (a call, or a generated token). */
interface Profiled {
  what: string;
  run: () => Promise<unknown>;
  per: number;
}
const TOKENS = 64;
/** A `generate` call of `TOKENS` tokens after a one-token prompt (`TOKENS` iterations). */
const generation = (lm: LanguageModel) => async () => {
  const options = { maxTokens: TOKENS, temperature: 0.8, topP: 0.95, seed: 1 };
  for await (const _ of lm.generate([1], options));
};
/** The calls to profile, their context, and what releases them afterwards. */
async function toProfile(): Promise<{ ctx: GPUContext; profiled: Profiled[]; dispose(): void }> {
  if (Deno.args.includes("--generate")) {
    const models = await Promise.all(
      generationModels<LanguageModel>({ LanguageModel, LSTMBody, TransformerBody }, 128)
        .filter((m) => m.key !== "small")
        .map(async (m) => ({ name: m.name, lm: await m.make() })),
    );
    return {
      ctx: models[0].lm.context,
      profiled: models.map(({ name, lm }) => ({
        what: `generate, ${name}, per token`,
        run: generation(lm),
        per: TOKENS,
      })),
      dispose: () => models.forEach(({ lm }) => lm.dispose()),
    };
  }
  const batch = await benchBatch({}, paper ? PAPER_SHAPE : SMALL_SHAPE);
  const { block, x, ids, weights } = batch;
  const training = gpuTrainStep(batch);
  return {
    ctx: block.context,
    profiled: [
      { what: "forward (score)", run: () => block.score(x, ids, weights), per: 1 },
      { what: "training step", run: training.step, per: 1 },
    ],
    dispose: () => {
      training.dispose();
      block.dispose();
    },
  };
}
const { ctx, profiled, dispose } = await toProfile();
const grids = Deno.args.includes("--grids");
const perKernel = grids || Deno.args.includes("--kernels");
/** The profiler's own cost of one op: a 4-byte copy, submitted and waited for. */
async function roundTripMs(): Promise<number> {
  const a = ctx.pool.acquire(4), b = ctx.pool.acquire(4);
  const times: number[] = [];
  const profiler = new KernelProfiler();
  ctx.profiler = profiler;
  for (let i = 0; i < 21; i++) {
    profiler.clear();
    const rec = new Recorder(ctx);
    rec.copy(a, 0, b, 0, 4);
    await rec.submit("round trip");
    times.push(profiler.totalMs);
  }
  ctx.profiler = undefined;
  ctx.pool.release(a);
  ctx.pool.release(b);
  return times.sort((x, y) => x - y)[10];
}
const overhead = await roundTripMs();
console.log(`round trip of one profiled op: ${overhead.toFixed(1)} ms, subtracted below`);
for (const { what, run, per } of profiled) {
  await run(); // compile outside the profile
  const profiler = new KernelProfiler({ grids });
  ctx.profiler = profiler;
  for (let i = 0; i < ROUNDS; i++) await run();
  ctx.profiler = undefined;
  const rows = (perKernel ? profiler.kernels : profiler.byFamily(kernelFamily)).map((r) => ({
    ...r,
    ms: Math.max(0, (r.ms - overhead * r.count) / (ROUNDS * per)),
    count: r.count / (ROUNDS * per),
  })).sort((a, b) => b.ms - a.ms);
  const total = rows.reduce((sum, r) => sum + r.ms, 0);
  const ops = rows.reduce((sum, r) => sum + r.count, 0);
  const digits = per > 1 ? 2 : 0;
  console.log(
    `\n${what}: ${total.toFixed(digits)} ms in ${+ops.toFixed(2)} ops (${ctx.adapter})\n`,
  );
  console.log(`| ${perKernel ? "kernel" : "kernel family"} | ms | share | ops |`);
  console.log("| --- | ---: | ---: | ---: |");
  for (const r of rows) {
    console.log(
      `| ${r.name} | ${r.ms.toFixed(digits + 1)} | ${(100 * r.ms / total).toFixed(1)} % | ${+r.count
        .toFixed(2)} |`,
    );
  }
}
dispose();
