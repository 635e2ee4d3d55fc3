/**
 * The end of a comparison's report: a sample generated token by token by the FWL model
 * after a prompt from the validation data, streamed to standard output (whole UTF-8
 * characters for byte-level text).
 *
 * @module
 */

import type { LanguageModel } from "../../mod.ts";
import { ByteText, type TokenDataset } from "../../data.ts";
import type { ComparisonConfig, ComparisonSpec } from "./comparison_options.ts";

/**
 * Prints a sample of `--sample` tokens from `lm` after the first tokens of a validation
 * sequence, no more than the body's positions allow (nothing for `--sample 0`).
 */
export async function printSample(
  lm: LanguageModel,
  data: TokenDataset,
  spec: Pick<ComparisonSpec, "maxPositions">,
  c: ComparisonConfig,
): Promise<void> {
  if (c.sample > 0) {
    const prompt = data.validationBatches(1, c.length, 1)[0].slice(0, Math.min(24, c.length));
    const room = spec.maxPositions ? spec.maxPositions(c) - prompt.length + 1 : Infinity;
    const tokens = Math.min(c.sample, room);
    console.log(
      `\nsample from the FWL model (temperature ${c.temperature}` +
        (tokens < c.sample
          ? `; ${tokens} token${tokens === 1 ? "" : "s"}, as many as the body's positions allow`
          : "") +
        `):\n`,
    );
    if (tokens > 0) await writeSample(lm, data, prompt, tokens, c);
    console.log("\n");
  }
}

/** Streams a sample from `lm` after `prompt` to standard output. */
async function writeSample(
  lm: LanguageModel,
  data: TokenDataset,
  prompt: Int32Array,
  tokens: number,
  c: ComparisonConfig,
): Promise<void> {
  const sep = data instanceof ByteText ? "" : " ";
  const encoder = new TextEncoder();
  await Deno.stdout.write(encoder.encode(data.decode(prompt) + sep + "»"));
  const bytes = data instanceof ByteText;
  let pending: number[] = []; // bytes of a UTF-8 character not yet complete
  for await (
    const token of lm.generate(prompt, {
      maxTokens: tokens,
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
}
