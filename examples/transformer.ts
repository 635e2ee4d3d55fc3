// A small causal transformer with a Fast Weight Layer head, against the same transformer
// with a plain head: same data, same seed, same number of steps. Then the validation
// perplexity of both (overall, and on the rare "entity" names that documents repeat),
// and a sample generated token by token (through the transformer's key/value cache).
//
//   deno run examples/transformer.ts                 synthetic documents, default settings
//   deno run examples/transformer.ts --steps 20      a quick run
//   deno run examples/transformer.ts --text FILE     byte-level training on any text file
//   deno run examples/transformer.ts --help          every flag
//
// No permission flag is needed: --text asks to read its file and --plot to write its
// chart (or pass --allow-read / --allow-write).
//
// The flags are read with parseArgs from jsr:@std/cli (deno.json's imports). Without
// access to JSR, add --import-map=tests/offline_import_map.json, which maps it to the
// stand-in in tests/offline/.
//
// The data is that of examples/rnn.ts (src/data/synthetic.ts): documents that keep
// coming back to a few names drawn from a large pool. Unlike an LSTM, attention can
// copy a name from earlier in the context by itself; the FWL head adds what it learns
// from the document as it reads.
//
// The flags, the data, the training loop and the report are shared with examples/rnn.ts
// (examples/lib/compare.ts, examples/lib/bodies.ts).

import { runComparison } from "./lib/compare.ts";
import { transformerComparison } from "./lib/bodies.ts";

Deno.exit(
  await runComparison(
    transformerComparison(
      "examples/transformer.ts",
      `Trains a transformer with an FWL head and the same transformer with a plain head (same
data, seed and steps), then prints their validation perplexity and a generated sample.`,
    ),
    Deno.args,
  ),
);
