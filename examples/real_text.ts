// Fast weights on real text: the same body trained twice on a text file you give it,
// once with an FWL head and once with a plain head, both reading long stretches of the
// training text in consecutive windows with their states carried; then four ways of
// reading each held-out document from its first byte to its last, with one carried state:
//
//   plain           the plain head
//   plain+dynamic   the plain head with dynamic evaluation (Krause et al., 2018): after
//                   every 128 bytes, one RMS-normalized gradient step on them
//   fwl             the FWL head: its fast weights learn from everything read so far
//                   (the running mean of docs/definition.md §6: every earlier byte, the recent ones
//                   most, whatever the position)
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
// The flags are read with parseArgs from jsr:@std/cli (deno.json's imports). Without
// access to JSR, add --import-map=tests/offline_import_map.json, which maps it to the
// stand-in in tests/offline/.
//
// The flags, the training loop and the report are those of examples/rnn.ts and
// examples/transformer.ts (examples/lib/compare.ts), with defaults for real text: 16 rows
// of 2,048-byte stretches read in windows of 64, dynamic evaluation on, and every
// held-out byte scored up to 65,536 (--eval-tokens 0: all of them, whatever the size;
// --restart-windows: each window's fast weights start from the slow weights, the way of
// version 0.2).

import { runComparison } from "./lib/compare.ts";
import {
  type FlagDefaults,
  lstmComparison,
  takeBodyFlag,
  transformerComparison,
} from "./lib/bodies.ts";
import { UsageError } from "./lib/flags.ts";

// Long documents: 16 rows of the training text read in consecutive windows of 64 bytes,
// 32 windows a stretch,
// with the states carried (more rows than 2 × 512 keep the batches apart; the carried
// state, not the window, holds the document), every held-out byte of a text up to 64 KiB
// scored with one carried state per document.
const REAL_TEXT: FlagDefaults = {
  batch: 16,
  length: 64,
  "dynamic-lr": 0.002,
  "eval-tokens": 65536,
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
