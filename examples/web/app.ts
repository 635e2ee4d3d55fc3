/// <reference lib="dom" />
// The demo page (examples/web/index.html): pick or paste a text, train the FWL model and
// the plain model on it in the browser, and colour the text by each one's surprise; then
// "Continue the text" streams what each model writes after it, side by side, until done
// or Stop. `?size=tiny` runs a very small version (the browser test suite); `&autorun=1`
// starts at once and sets `globalThis.fwlDemo` to a promise of the figures shown, and with
// `&generate=N` also continues the text by N characters (the report's `generated`).
// `globalThis.fwlDemoGenerate(n)` continues the text as the button does and resolves to
// what was written, or rejects with an `AbortError` when Stop is pressed.

import type { LanguageModel } from "../../mod.ts";
import {
  CharVocab,
  type Continuation,
  CONTINUE,
  continueText,
  type DemoSize,
  type ModelRun,
  SIZES,
  trainAndScore,
} from "./compare.ts";
import { SAMPLES } from "./samples.ts";

/** What one model wrote in "Continue the text". */
export interface GeneratedText extends Continuation {
  /** `ids` decoded (padding, id 0, decodes to nothing). */
  text: string;
}

/** What "Continue the text" wrote, for the test suite. */
export interface GenerationReport {
  /** Characters asked of each model. */
  requested: number;
  /** Characters of the prompt (the text the models read). */
  prompt: number;
  fwl: GeneratedText;
  plain: GeneratedText;
  /** Bytes of the library's buffer pool after the run: it grows if a run leaks GPU memory. */
  poolBytes: number;
}

/** The figures the page shows, for the test suite. */
export interface DemoReport {
  /** Which size ran: `"tiny"` or `"default"` (overrides in the address make it `"custom"`). */
  size: string;
  fwl: number;
  plain: number;
  /** Characters coloured (predicted) in each panel. */
  tokens: number;
  vocab: number;
  seconds: number;
  /** With `&generate=N`: the continuation written after training. */
  generated?: GenerationReport;
}

/** The trained models (owned by the page: disposed when replaced), and what they read. */
interface Trained {
  /** The FWL model, then the plain one. */
  models: [LanguageModel, LanguageModel];
  vocab: CharVocab;
  /** The text they read, as ids and as characters: the prompt of "Continue the text". */
  prompt: Int32Array;
  chars: string[];
}
let trained: Trained | undefined;
/** The continuation running now: its Stop, and a promise that settles when it has ended. */
let continuing: { controller: AbortController; ended: Promise<void> } | undefined;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const sizeName = params.get("size") === "tiny" ? "tiny" : "default";
const size: DemoSize = { ...SIZES[sizeName] };
let custom = false;
// Any field can be overridden in the address, e.g. ?steps=300&length=96&body=transformer.
for (
  const key of ["steps", "batch", "length", "scoreLength", "width", "head", "maxChars"] as const
) {
  const v = Number(params.get(key));
  if (Number.isInteger(v) && v > 0) {
    size[key] = v;
    custom = true;
  }
}
for (const key of ["stepSize", "decay", "prior"] as const) {
  const v = Number(params.get(key) ?? NaN);
  if (v >= 0 && (key !== "decay" || (v > 0 && v <= 1))) {
    size[key] = v;
    custom = true;
  }
}
if (params.get("body") === "transformer") {
  size.body = "transformer";
  custom = true;
}

const sample = $<HTMLSelectElement>("sample");
const textArea = $<HTMLTextAreaElement>("text");
for (const title of Object.keys(SAMPLES)) sample.add(new Option(title, title));
textArea.value = SAMPLES[sample.value];
sample.onchange = () => textArea.value = SAMPLES[sample.value];
$<HTMLInputElement>("file").onchange = async (e) => {
  const file = (e.target as HTMLInputElement).files?.[0];
  if (file) textArea.value = await file.text();
};

/** A background colour for `bits` of surprise: white (0) to orange (8 or more). */
function surpriseColour(bits: number): string {
  return `rgba(230, 81, 0, ${(Math.min(bits, 8) / 8 * 0.85).toFixed(3)})`;
}

/** Green where the FWL model needed fewer bits than the plain one, red where more (±4 bits). */
function gainColour(saved: number): string {
  const a = (Math.min(Math.abs(saved), 4) / 4 * 0.75).toFixed(3);
  return saved >= 0 ? `rgba(46, 125, 50, ${a})` : `rgba(198, 40, 40, ${a})`;
}

/** Fills `panel` with one span per character, coloured where the model predicted it. */
function paint(
  panel: HTMLElement,
  chars: string[],
  values: ArrayLike<number>,
  colour: (v: number) => string,
) {
  panel.replaceChildren();
  chars.forEach((c, i) => {
    const span = document.createElement("span");
    span.textContent = c;
    if (Number.isFinite(values[i])) {
      span.className = "t";
      span.style.background = colour(values[i]);
      span.title = values[i].toFixed(2) + " bits";
    }
    panel.append(span);
  });
}

/**
 * Positions of the characters of names (capitalized words) that already came earlier in
 * the text: where reading the text can help, and a plain head can't.
 */
function repeatedNames(chars: string[]): number[] {
  const positions: number[] = [];
  const seen = new Set<string>();
  for (const m of chars.join("").matchAll(/\p{Lu}\p{Ll}{2,}/gu)) {
    // Indices in code points (the arrays are per character).
    const start = [...chars.join("").slice(0, m.index)].length;
    if (seen.has(m[0])) {
      for (let i = 1; i < [...m[0]].length; i++) positions.push(start + i);
    }
    seen.add(m[0]);
  }
  return positions;
}

function meanBits(bits: Float64Array, at: number[]): number {
  const finite = at.map((i) => bits[i]).filter((v) => Number.isFinite(v));
  return finite.reduce((a, b) => a + b, 0) / finite.length;
}

async function adapterName(): Promise<string> {
  const adapter = await (navigator as Navigator & { gpu?: GPU }).gpu?.requestAdapter();
  const info = adapter?.info;
  return info
    ? [info.vendor, info.architecture, info.description].filter((v) => v).join(" ")
    : "no adapter";
}

/** Stops a continuation that is running, and disposes the trained models (their GPU memory). */
async function dropModels(): Promise<void> {
  if (continuing) {
    continuing.controller.abort();
    await continuing.ended;
  }
  const old = trained?.models ?? [];
  trained = undefined;
  for (const lm of old) lm.dispose();
}

async function run(): Promise<DemoReport> {
  const button = $<HTMLButtonElement>("run");
  const progress = $<HTMLProgressElement>("progress");
  const status = $("status");
  button.disabled = true;
  $<HTMLButtonElement>("generate").disabled = true;
  $("error").textContent = "";
  try {
    const chars = [...textArea.value.replace(/\r\n?/g, "\n")].slice(0, size.maxChars);
    if (chars.length < 2) throw new Error("the text needs at least 2 characters");
    // Training again replaces the models: the old ones are disposed first.
    await dropModels();
    button.disabled = true;
    clearContinuation();
    // The models learn from the other samples, then read this text for the first time.
    const others = Object.values(SAMPLES).filter((t) => t !== textArea.value);
    const training = others.join("\n\n");
    const vocab = new CharVocab(training + chars.join(""));
    const train = others.map((t) => vocab.encode(t)), ids = vocab.encode(chars.join(""));
    progress.max = 2 * size.steps;
    const runs: ModelRun[] = [];
    try {
      for (const [k, fastWeights] of [true, false].entries()) {
        const name = fastWeights ? "FWL head" : "plain head";
        runs.push(
          await trainAndScore(train, ids, vocab.size, size, fastWeights, (step, loss) => {
            progress.value = k * size.steps + step;
            status.textContent = `${name}: step ${step}/${size.steps}, loss ${
              (loss / Math.LN2).toFixed(2)
            } bits/char`;
          }),
        );
      }
    } catch (e) {
      for (const r of runs) r.model.dispose();
      throw e;
    }
    const [fwl, plain] = runs;
    trained = { models: [fwl.model, plain.model], vocab, prompt: ids, chars };
    const saved = fwl.bits.map((b, i) => plain.bits[i] - b);
    const scored = saved.filter((v) => Number.isFinite(v));
    $("ppl-fwl").textContent = fwl.perplexity.toFixed(2);
    $("ppl-plain").textContent = plain.perplexity.toFixed(2);
    const names = repeatedNames(chars);
    $("helped").textContent = names.length
      ? `${meanBits(fwl.bits, names).toFixed(2)} vs ${meanBits(plain.bits, names).toFixed(2)}`
      : "none in this text";
    paint($("diff"), chars, saved, gainColour);
    paint($("fwl"), chars, fwl.bits, surpriseColour);
    paint($("plain"), chars, plain.bits, surpriseColour);
    const seconds = fwl.seconds + plain.seconds;
    $("timing").textContent =
      `${chars.length} characters read from the first to the last with one carried state, ` +
      `vocabulary ${vocab.size}; ` +
      `trained on the other samples (${[...training].length} characters, read in consecutive ` +
      `windows with the states carried), ${size.steps} steps ` +
      `of ${size.batch}×${size.length} characters per model, in ` +
      `${fwl.seconds.toFixed(1)} s + ${plain.seconds.toFixed(1)} s on ${await adapterName()}.`;
    $("results").hidden = false;
    $("gen-settings").textContent = `${CONTINUE.maxTokens} characters each, temperature ` +
      `${CONTINUE.temperature}, top-p ${CONTINUE.topP}, seed ${CONTINUE.seed} for both, ` +
      `prompted with the ${chars.length} characters they just read`;
    status.textContent = "done";
    return {
      size: custom ? "custom" : sizeName,
      fwl: fwl.perplexity,
      plain: plain.perplexity,
      tokens: scored.length,
      vocab: vocab.size,
      seconds,
    };
  } catch (e) {
    $("error").textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    status.textContent = "";
    throw e;
  } finally {
    button.disabled = false;
    $<HTMLButtonElement>("generate").disabled = trained === undefined;
  }
}

/** The two panels of "Continue the text", FWL first. */
const PANELS = ["gen-fwl", "gen-plain"] as const;

/** Empties the continuation panels, their speeds and the status line. */
function clearContinuation(): void {
  for (const id of PANELS) {
    $(id).replaceChildren();
    $(id).dataset.tokens = "0";
    $(`${id}-speed`).textContent = "";
  }
  $("gen-status").textContent = "";
}

/**
 * Continues the text the models read by `n` characters from each (the settings of
 * `CONTINUE`), appending them to the two panels as they arrive; Stop aborts it. Resolves
 * to what was written, or rejects with the `AbortError` of Stop (the panels keep what came).
 */
async function generate(n: number = CONTINUE.maxTokens): Promise<GenerationReport> {
  if (!trained) throw new Error("train the models first");
  if (continuing) throw new Error("the models are already continuing the text");
  const { models, vocab, prompt, chars } = trained;
  const go = $<HTMLButtonElement>("generate"), stop = $<HTMLButtonElement>("stop");
  const train = $<HTMLButtonElement>("run"), status = $("gen-status");
  const controller = new AbortController();
  let ended = () => {};
  continuing = { controller, ended: new Promise((r) => ended = r) };
  go.disabled = train.disabled = true;
  stop.disabled = false;
  stop.onclick = () => controller.abort();
  $("error").textContent = "";
  clearContinuation();
  // Each panel: the end of the text read (grey), then what the model writes.
  const tail = chars.slice(-120).join("");
  const outs = PANELS.map((id) => {
    const before = document.createElement("span");
    before.className = "prompt";
    before.textContent = (chars.length > 120 ? "…" : "") + tail;
    const written = document.createElement("span");
    written.className = "out";
    const text = document.createTextNode("");
    written.append(text);
    $(id).append(before, written);
    return text;
  });
  const counts = [0, 0];
  status.textContent = `reading the ${chars.length} characters…`;
  try {
    const [fwl, plain] = await continueText(
      models,
      prompt,
      { ...CONTINUE, maxTokens: n },
      controller.signal,
      (k, id) => {
        outs[k].data += vocab.decode(id);
        $(PANELS[k]).dataset.tokens = String(++counts[k]);
        status.textContent = `writing: ${counts[0]} + ${counts[1]} characters`;
      },
    );
    [fwl, plain].forEach((c, k) => {
      $(`${PANELS[k]}-speed`).textContent = `${c.ids.length} characters in ` +
        `${c.seconds.toFixed(2)} s: ${c.tokensPerSecond.toFixed(1)} characters/s (the first ` +
        `after ${c.firstSeconds.toFixed(2)} s, reading the text included)`;
    });
    status.textContent = "done";
    const decode = (c: Continuation) => ({
      ...c,
      text: c.ids.map((id) => vocab.decode(id)).join(""),
    });
    return {
      requested: n,
      prompt: prompt.length,
      fwl: decode(fwl),
      plain: decode(plain),
      poolBytes: models[0].context.pool.allocatedBytes,
    };
  } catch (e) {
    if (controller.signal.aborted) {
      status.textContent = `stopped after ${counts[0]} + ${counts[1]} characters`;
    } else {
      status.textContent = "";
      $("error").textContent = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    }
    throw e;
  } finally {
    continuing = undefined;
    ended();
    stop.disabled = true;
    go.disabled = train.disabled = false;
  }
}

$<HTMLButtonElement>("run").onclick = () => run().catch(() => {});
$<HTMLButtonElement>("generate").onclick = () => generate().catch(() => {});
(globalThis as { fwlDemoGenerate?: typeof generate }).fwlDemoGenerate = generate;
if (params.get("autorun") === "1") {
  const n = Number(params.get("generate"));
  (globalThis as { fwlDemo?: Promise<DemoReport> }).fwlDemo = run().then(async (report) =>
    Number.isInteger(n) && n > 0 ? { ...report, generated: await generate(n) } : report
  );
}
