// Fast weights on real text: the same body trained twice on a text file you give it,
// once with an FWL head and once with a plain head, then four ways of reading the
// held-out documents, in windows with the body's state carried:
//
//   plain           the plain head
//   plain+dynamic   the plain head with dynamic evaluation (Krause et al., 2018): after
//                   each window, one RMS-normalized gradient step on it
//   fwl             the FWL head: its fast weights learn from the window as they read it
//   fwl+dynamic     both
//
// It prints bits per byte, perplexity, evaluation tokens per second and training time
// for each, and can chart the loss against the position in the document.
//
//   deno run examples/real_text.ts --text FILE                    LSTM body, default settings
//   deno run examples/real_text.ts --text FILE --body transformer
//   deno run examples/real_text.ts --text FILE --json             + a JSON summary, last line
//   deno run examples/real_text.ts --text FILE --position-plot loss.svg
//   deno run examples/real_text.ts --help                         every flag
//
// For example the Node.js API documentation that ships with Node (Debian:
// /usr/share/doc/nodejs/api/), e.g. fs.md, stream.md and http.md concatenated. No
// permission flag is needed: --text asks to read its file and the plots to write theirs.
//
// The flags, the training loop and the report are those of examples/rnn.ts and
// examples/transformer.ts (examples/lib/compare.ts), with defaults for real text: long
// training windows (2 × 512 bytes), dynamic evaluation on, and the first 16,384 held-out
// bytes scored (--eval-tokens 0 scores them all).

import { runComparison } from "./lib/compare.ts";
import {
  type FlagDefaults,
  lstmComparison,
  takeBodyFlag,
  transformerComparison,
} from "./lib/bodies.ts";
import { UsageError } from "./lib/flags.ts";

const REAL_TEXT: FlagDefaults = {
  batch: 2,
  length: 512,
  "dynamic-lr": 0.002,
  "eval-tokens": 16384,
  sample: 0,
};
const ABOUT = `Trains a body with an FWL head and with a plain head on a text file, then scores its
held-out documents four ways: plain, plain + dynamic evaluation, FWL, FWL + dynamic
evaluation. --body lstm (default) or transformer picks the body.`;

function main(argv: string[]): Promise<number> | number {
  let chosen: { body: "lstm" | "transformer"; rest: string[] };
  try {
    chosen = takeBodyFlag(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`error: ${e.message}\n\nRun with --help to see every flag.`);
    return 2;
  }
  const make = chosen.body === "lstm" ? lstmComparison : transformerComparison;
  const spec = make(
    "examples/real_text.ts --text FILE [--body lstm|transformer]",
    ABOUT,
    REAL_TEXT,
  );
  const check = spec.check;
  spec.check = (c) => {
    if (c.text === undefined) {
      throw new UsageError(
        "--text FILE is needed: a long text, e.g. /usr/share/doc/nodejs/api/fs.md",
      );
    }
    check?.(c);
  };
  return runComparison(spec, chosen.rest);
}

Deno.exit(await main(Deno.args));
