// An LSTM language model with a Fast Weight Layer head, against the same LSTM with a
// plain head: same data, same seed, same number of steps. Then the validation
// perplexity of both (overall, and on the rare "entity" names that documents repeat),
// and a sample generated token by token.
//
//   deno run -A examples/rnn.ts                 synthetic documents, default settings
//   deno run -A examples/rnn.ts --steps 20      a quick run
//   deno run -A examples/rnn.ts --text FILE     byte-level training on any text file
//   deno run -A examples/rnn.ts --help          every flag
//
// Without --text the data is generated (src/data/synthetic.ts): a small word language in
// which each document picks a few names from a large pool and keeps coming back to them,
// always at least --gap tokens apart. Which names a document uses can't be learned from
// other documents; the FWL head learns it from the document itself, as it reads.

import { LSTMBody } from "../src/bodies/lstm.ts";
import type { TokenDataset } from "../src/data/dataset.ts";
import { SyntheticLanguage } from "../src/data/synthetic.ts";
import { ByteText } from "../src/data/text.ts";
import { FWLError } from "../src/errors.ts";
import { SeededRandom, STEP_NAMES } from "../src/fwl/params.ts";
import { LanguageModel } from "../src/lm/language_model.ts";
import { perplexity, type TokenScores } from "../src/lm/perplexity.ts";
import { tensor } from "../src/tensor.ts";
import { Adam } from "../src/train/optimizer.ts";
import { warmupCosineSchedule } from "../src/train/schedules.ts";
import { loadParseArgs } from "./lib/flags.ts";
import { formatDuration, ProgressBar } from "./lib/progress.ts";
import { lineChartSVG } from "./lib/svg_plot.ts";

/** Every numeric flag: name → [default, value name, help]. */
const FLAGS = {
  steps: [200, "N", "training steps for each model"],
  batch: [8, "N", "sequences per training step"],
  length: [96, "N", "tokens per sequence"],
  size: [64, "N", "LSTM width; the head's size is half of it"],
  seed: [0, "N", "seed of the data, the initialization and the sampler"],
  lr: [0.01, "X", "peak Adam learning rate (warm-up, cosine decay)"],
  "step-size": [16, "X", "initial value of the six FWL step sizes"],
  normalizer: [0, "X", "FWL inner-loss normalizer (0: batch·(length − 1))"],
  entities: [256, "N", "synthetic data: pool of entity names"],
  gap: [20, "N", "synthetic data: fewest tokens between two mentions"],
  "val-batches": [4, "N", "validation batches scored at the end"],
  sample: [48, "N", "tokens to generate at the end (0: none)"],
  temperature: [0.8, "X", "sampling temperature (0: greedy)"],
  "top-k": [0, "N", "sample from the k most likely tokens (0: all)"],
  "top-p": [0.95, "X", "nucleus sampling probability, in (0, 1]"],
} as const;
const STRING_FLAGS = ["text", "plot"] as const;
const BOOLEAN_FLAGS = ["help"] as const;

const USAGE = `Usage: deno run -A examples/rnn.ts [flags]

Trains an LSTM with an FWL head and the same LSTM with a plain head (same data, seed
and steps), then prints their validation perplexity and a generated sample.

Flags:
${
  Object.entries(FLAGS).map(([name, [value, meta, help]]) =>
    `  --${`${name} ${meta}`.padEnd(17)} ${help} (default ${value})`
  ).join("\n")
}
  --text FILE         train on the bytes of a text file (vocabulary 256) instead
                      of synthetic documents; its last 10% is the validation set
  --plot FILE.svg     write both training curves to an SVG chart
  --help, -h          this help
`;

/** A command-line mistake: printed with the usage hint, exit code 2. */
class UsageError extends Error {}

interface Config {
  steps: number;
  batch: number;
  length: number;
  size: number;
  seed: number;
  lr: number;
  stepSize: number;
  normalizer: number;
  entities: number;
  gap: number;
  valBatches: number;
  sample: number;
  temperature: number;
  topK: number;
  topP: number;
  text?: string;
  plot?: string;
}

async function parseFlags(argv: string[]): Promise<Config | undefined> {
  const { parseArgs } = await loadParseArgs();
  const numeric = Object.keys(FLAGS);
  const known = new Set([...numeric, ...STRING_FLAGS, ...BOOLEAN_FLAGS, "h", "_"]);
  const args = parseArgs(argv, {
    string: [...numeric, ...STRING_FLAGS],
    boolean: [...BOOLEAN_FLAGS],
    alias: { h: "help" },
    unknown: (arg: string) => {
      if (arg.startsWith("-")) {
        throw new UsageError(`unknown flag ${arg.split("=")[0]}`);
      }
      throw new UsageError(`unexpected argument ${JSON.stringify(arg)} (flags start with --)`);
    },
  }) as Record<string, unknown>;
  if (args.help) return undefined;
  for (const key of Object.keys(args)) {
    if (!known.has(key)) throw new UsageError(`unknown flag --${key}`);
  }
  const value = (name: keyof typeof FLAGS, check: (v: number) => boolean, what: string) => {
    const raw = args[name];
    if (raw === undefined) return FLAGS[name][0];
    if (Array.isArray(raw)) throw new UsageError(`--${name} given more than once`);
    const v = Number(raw);
    if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(v) || !check(v)) {
      throw new UsageError(`--${name} needs ${what}, got ${JSON.stringify(raw)}`);
    }
    return v;
  };
  const int = (min: number) => (v: number) => Number.isInteger(v) && v >= min;
  const text = (name: string) => {
    const raw = args[name];
    if (raw === undefined) return undefined;
    if (typeof raw !== "string" || raw === "") throw new UsageError(`--${name} needs a file name`);
    return raw;
  };
  const config: Config = {
    steps: value("steps", int(1), "a whole number ≥ 1"),
    batch: value("batch", int(1), "a whole number ≥ 1"),
    length: value("length", int(2), "a whole number ≥ 2"),
    size: value("size", (v) => int(2)(v) && v <= 1024, "a whole number in [2, 1024]"),
    seed: value("seed", (v) => Number.isSafeInteger(v), "a whole number"),
    lr: value("lr", (v) => v > 0 && v < 1, "a number in (0, 1)"),
    stepSize: value("step-size", (v) => v >= 0, "a number ≥ 0"),
    normalizer: value("normalizer", (v) => v >= 0, "a number ≥ 0"),
    entities: value("entities", int(4), "a whole number ≥ 4"),
    gap: value("gap", int(1), "a whole number ≥ 1"),
    valBatches: value("val-batches", int(1), "a whole number ≥ 1"),
    sample: value("sample", int(0), "a whole number ≥ 0"),
    temperature: value("temperature", (v) => v >= 0, "a number ≥ 0"),
    topK: value("top-k", int(0), "a whole number ≥ 0"),
    topP: value("top-p", (v) => v > 0 && v <= 1, "a number in (0, 1]"),
    text: text("text"),
    plot: text("plot"),
  };
  if (config.plot !== undefined && !config.plot.endsWith(".svg")) {
    throw new UsageError(
      `--plot needs a file name ending in .svg, got ${JSON.stringify(config.plot)}`,
    );
  }
  return config;
}

/** What training one model gives. */
interface Trained {
  name: string;
  lm: LanguageModel;
  losses: number[];
  seconds: number;
  scores: TokenScores[];
}

async function train(
  name: string,
  fastWeights: boolean,
  data: TokenDataset,
  c: Config,
): Promise<Trained> {
  const body = await LSTMBody.create({
    vocabSize: data.vocabSize,
    embedSize: c.size,
    hiddenSize: c.size,
    seed: c.seed,
  });
  let lm: LanguageModel;
  try {
    lm = await LanguageModel.create(body, {
      vocabSize: data.vocabSize,
      headSize: Math.max(1, Math.floor(c.size / 2)),
      attnChunks: 4,
      normalizer: c.normalizer > 0 ? c.normalizer : c.batch * (c.length - 1),
      stepSize: c.stepSize,
      seed: c.seed,
      fastWeights,
    });
  } catch (e) {
    body.dispose();
    throw e;
  }
  try {
    using opt = new Adam(lm.context, lm.parameters(), {
      lr: warmupCosineSchedule({
        peak: c.lr,
        warmupSteps: Math.min(20, Math.floor(c.steps / 10)),
        totalSteps: c.steps,
        final: c.lr / 10,
      }),
      clipNorm: 1,
    });
    // Both models see the same batches.
    const rng = new SeededRandom(c.seed + 1);
    const bar = new ProgressBar({ label: name.padEnd(10), total: c.steps });
    const losses: number[] = [];
    let smooth = NaN;
    for (let i = 0; i < c.steps; i++) {
      const batch = tensor(data.trainBatch(c.batch, c.length, rng), [c.batch, c.length]);
      const { loss } = await lm.trainStep(batch, opt);
      losses.push(loss);
      smooth = Number.isNaN(smooth) ? loss : 0.9 * smooth + 0.1 * loss;
      bar.tick({ loss: smooth });
    }
    bar.done();
    const seconds = bar.elapsed;
    const scores: TokenScores[] = [];
    for (const v of data.validationBatches(c.batch, c.length, c.valBatches)) {
      scores.push(await lm.score(tensor(v, [v.length / c.length, c.length])));
    }
    return { name, lm, losses, seconds, scores };
  } catch (e) {
    lm.dispose();
    throw e;
  }
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  const line = (r: string[]) =>
    "| " + r.map((cell, j) =>
      j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j])
    ).join(" | ") +
    " |";
  const rule = "| " +
    widths.map((w, j) => (j === 0 ? "-" : "").padEnd(w - 1, "-") + (j === 0 ? "-" : ":"))
      .join(" | ") +
    " |";
  return [line(rows[0]), rule, ...rows.slice(1).map(line)].join("\n");
}

async function main(): Promise<number> {
  let c: Config | undefined;
  try {
    c = await parseFlags(Deno.args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}\n\nRun with --help to see every flag.`);
    return 2;
  }
  if (!c) {
    console.log(USAGE);
    return 0;
  }
  const started = performance.now();
  let data: TokenDataset;
  if (c.text !== undefined) {
    try {
      data = await ByteText.fromFile(c.text);
    } catch (e) {
      console.error(`error: --text: ${(e as Error).message}`);
      return 1;
    }
  } else {
    data = new SyntheticLanguage({ seed: c.seed, entityPool: c.entities, minGap: c.gap });
  }
  const entity = data.isEntity?.bind(data);
  console.log(`data: ${data.name}; vocabulary ${data.vocabSize}`);
  console.log(
    `model: LSTM (width ${c.size}) + head (size ${Math.floor(c.size / 2)}); ` +
      `${c.steps} steps of ${c.batch}×${c.length} tokens, Adam lr ${c.lr}, seed ${c.seed}`,
  );

  const results: Trained[] = [];
  try {
    results.push(await train("FWL head", true, data, c));
    results.push(await train("plain head", false, data, c));
    const adapter = results[0].lm.context.adapter;
    console.log(`\nvalidation (${perplexity(results[0].scores).count} predicted tokens):\n`);
    const header = ["head", "perplexity", entity ? "entity perplexity" : "", "train time"];
    const rows = results.map((r) => [
      r.name,
      perplexity(r.scores).perplexity.toFixed(2),
      entity ? perplexity(r.scores, entity).perplexity.toFixed(1) : "",
      `${r.seconds.toFixed(0)} s`,
    ]);
    const keep = (r: string[]) => entity ? r : [r[0], r[1], r[3]];
    console.log(table([header, ...rows].map(keep)));
    const [fwl, plain] = results.map((r) => perplexity(r.scores));
    let summary = `\nFWL vs plain: ${pct(fwl.perplexity, plain.perplexity)} overall`;
    if (entity) {
      const [fe, pe] = results.map((r) => perplexity(r.scores, entity));
      summary += `, ${pct(fe.perplexity, pe.perplexity)} on entity tokens (${fe.count} of them)`;
    }
    console.log(`${summary}.`);
    const steps = await results[0].lm.head.getParams();
    console.log(
      `FWL step sizes, learned from ${c.stepSize}: ` +
        STEP_NAMES.map((n) => `${n.replace("_step", "")} ${steps[n][0].toFixed(2)}`).join(", "),
    );

    if (c.plot) {
      const curve = (losses: number[]) => {
        const out: [number, number][] = [];
        let s = losses[0];
        losses.forEach((l, i) => {
          s = i === 0 ? l : 0.9 * s + 0.1 * l;
          out.push([i + 1, s]);
        });
        return out;
      };
      const svg = lineChartSVG(
        results.map((r) => ({ name: r.name, points: curve(r.losses) })),
        {
          title: `Training loss (smoothed), ${
            data instanceof ByteText ? "bytes" : "synthetic documents"
          }`,
          xLabel: "step",
          yLabel: "loss (nats per token)",
        },
      );
      await Deno.writeTextFile(c.plot, svg);
      console.log(`training curves written to ${c.plot}`);
    }

    if (c.sample > 0) {
      const prompt = data.validationBatches(1, c.length, 1)[0].slice(0, Math.min(24, c.length));
      const sep = data instanceof ByteText ? "" : " ";
      const encoder = new TextEncoder();
      console.log(`\nsample from the FWL model (temperature ${c.temperature}):\n`);
      await Deno.stdout.write(encoder.encode(data.decode(prompt) + sep + "»"));
      const bytes = data instanceof ByteText;
      let pending: number[] = []; // bytes of a UTF-8 character not yet complete
      for await (
        const token of results[0].lm.generate(prompt, {
          maxTokens: c.sample,
          temperature: c.temperature,
          topK: c.topK > 0 ? c.topK : undefined,
          topP: c.topP,
          seed: c.seed,
        })
      ) {
        if (!bytes) {
          await Deno.stdout.write(encoder.encode(sep + data.decode([token])));
          continue;
        }
        pending.push(token);
        const text = data.decode(pending);
        if (!text.endsWith("\ufffd") || pending.length >= 4) {
          await Deno.stdout.write(encoder.encode(text));
          pending = [];
        }
      }
      if (pending.length) await Deno.stdout.write(encoder.encode(data.decode(pending)));
      console.log("\n");
    }
    console.log(
      `done in ${formatDuration((performance.now() - started) / 1000)} on ${adapter}`,
    );
    return 0;
  } catch (e) {
    if (e instanceof FWLError) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    throw e;
  } finally {
    for (const r of results) r.lm.dispose();
  }
}

/** "−31.2 %" for a 31.2 % lower value. */
function pct(value: number, base: number): string {
  const change = (value / base - 1) * 100;
  return `${change < 0 ? "−" : "+"}${Math.abs(change).toFixed(1)} % perplexity`;
}

Deno.exit(await main());
