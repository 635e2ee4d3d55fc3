// An LSTM language model with a Fast Weight Layer head, against the same LSTM with a
// plain head: same data, same seed, same number of steps. Then the validation
// perplexity of both (overall, and on the rare "entity" names that documents repeat),
// and a sample generated token by token.
//
//   deno run examples/rnn.ts                 synthetic documents, default settings
//   deno run examples/rnn.ts --steps 20      a quick run
//   deno run examples/rnn.ts --text FILE     byte-level training on any text file
//   deno run examples/rnn.ts --help          every flag
//
// No permission flag is needed: --text asks to read its file and --plot to write its
// chart (or pass --allow-read / --allow-write).
//
// The flags are read with parseArgs from jsr:@std/cli (deno.json's imports). Without
// access to JSR, add --import-map=tests/offline_import_map.json, which maps it to the
// stand-in in tests/offline/.
//
// Without --text the data is generated (src/data/synthetic.ts): a small word language in
// which each document picks a few names from a large pool and keeps coming back to them,
// always at least --gap tokens apart. Which names a document uses can't be learned from
// other documents; the FWL head learns it from the document itself, as it reads.
//
// The flags, the data, the training loop and the report are shared with
// examples/transformer.ts (examples/lib/compare.ts, examples/lib/bodies.ts).

import { runComparison } from "./lib/compare.ts";
import { lstmComparison } from "./lib/bodies.ts";

Deno.exit(
  await runComparison(
    lstmComparison(
      "examples/rnn.ts",
      `Trains an LSTM with an FWL head and the same LSTM with a plain head (same data, seed
and steps), then prints their validation perplexity and a generated sample.`,
    ),
    Deno.args,
  ),
);
