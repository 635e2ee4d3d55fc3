/// <reference lib="dom" />
// The demo page (examples/web/index.html): pick or paste a text, train the FWL model and
// the plain model on it in the browser, and colour the text by each one's surprise.
// `?size=tiny` runs a very small version (the browser test suite); `&autorun=1` starts at
// once and sets `globalThis.fwlDemo` to a promise of the figures shown.

import { CharVocab, type DemoSize, type ModelRun, SIZES, trainAndScore } from "./compare.ts";
import { SAMPLES } from "./samples.ts";

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
}

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

async function run(): Promise<DemoReport> {
  const button = $<HTMLButtonElement>("run");
  const progress = $<HTMLProgressElement>("progress");
  const status = $("status");
  button.disabled = true;
  $("error").textContent = "";
  try {
    const chars = [...textArea.value.replace(/\r\n?/g, "\n")].slice(0, size.maxChars);
    if (chars.length < 2) throw new Error("the text needs at least 2 characters");
    // The models learn from the other samples, then read this text for the first time.
    const others = Object.values(SAMPLES).filter((t) => t !== textArea.value);
    const training = others.join("\n\n");
    const vocab = new CharVocab(training + chars.join(""));
    const train = others.map((t) => vocab.encode(t)), ids = vocab.encode(chars.join(""));
    progress.max = 2 * size.steps;
    const runs: ModelRun[] = [];
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
    const [fwl, plain] = runs;
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
  }
}

$<HTMLButtonElement>("run").onclick = () => run().catch(() => {});
if (params.get("autorun") === "1") {
  (globalThis as { fwlDemo?: Promise<DemoReport> }).fwlDemo = run();
}
