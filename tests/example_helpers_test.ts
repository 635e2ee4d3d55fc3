// Tests of the examples' helpers (examples/lib/): the progress bar, the SVG line chart, the
// flag parser and the head comparison shared by examples/rnn.ts and
// examples/transformer.ts.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { formatDuration, ProgressBar } from "../examples/lib/progress.ts";
import { lineChartSVG, niceTicks } from "../examples/lib/svg_plot.ts";
import { parseFlags, UsageError } from "../examples/lib/flags.ts";
import { runComparison } from "../examples/lib/compare.ts";
import { comparisonFlags, numberFlag, wholeFlag } from "../examples/lib/comparison_options.ts";
import { comparisonUsage, parseComparisonFlags } from "../examples/lib/comparison_cli.ts";
import { heldOutDocuments, lossByPart } from "../examples/lib/evaluation.ts";
import { markdownTable, perplexityChange } from "../examples/lib/report.ts";
import { smoothCurve } from "../examples/lib/comparison_plots.ts";
import { headNormalizer } from "../examples/lib/training.ts";
import { lstmComparison, takeBodyFlag, transformerComparison } from "../examples/lib/bodies.ts";
import { LSTMBody } from "../src/bodies/lstm.ts";
import { TransformerBody } from "../src/bodies/transformer.ts";

function capture(): { writer: { writeSync(p: Uint8Array): number }; text: () => string } {
  const chunks: string[] = [];
  const decoder = new TextDecoder();
  return {
    writer: { writeSync: (p: Uint8Array) => (chunks.push(decoder.decode(p)), p.length) },
    text: () => chunks.join(""),
  };
}

Deno.test("progress: plain lines every tenth, ETA from a fake clock, values", () => {
  let now = 0;
  const out = capture();
  const bar = new ProgressBar({
    label: "train",
    total: 20,
    writer: out.writer,
    interactive: false,
    now: () => now,
  });
  for (let i = 0; i < 20; i++) {
    now += 500;
    bar.tick({ loss: 3 - i / 10 });
  }
  bar.done();
  const lines = out.text().trimEnd().split("\n");
  assertEquals(lines.length, 10);
  assert(lines[0].startsWith("train ") && lines[0].includes("2/20"), lines[0]);
  assert(lines[0].includes("ETA 0:09"), lines[0]); // 1 s for 2 steps, 18 to go
  assert(lines[9].includes("20/20") && lines[9].includes("0:10"), lines[9]);
  assert(lines[9].includes("loss 1.100"), lines[9]);
  assert(!lines[9].includes("ETA"), "no ETA once done");
});

Deno.test("progress: a terminal bar redraws in place at most every 100 ms", () => {
  let now = 0;
  const out = capture();
  const bar = new ProgressBar({
    label: "x",
    total: 100,
    writer: out.writer,
    interactive: true,
    now: () => now,
  });
  for (let i = 0; i < 100; i++) {
    now += 10;
    bar.tick();
  }
  bar.done();
  bar.done();
  const draws = out.text().split("\r").length - 1;
  assert(draws >= 10 && draws <= 13, `${draws} redraws`);
  assert(out.text().endsWith("\n"));
  assertEquals(formatDuration(3725), "1:02:05");
  assertEquals(formatDuration(NaN), "--:--");
  assertThrows(() => new ProgressBar({ label: "x", total: 0 }), RangeError);
});

Deno.test("svg: ticks and a chart with every series", () => {
  assertEquals(niceTicks(0, 97, 5), [0, 20, 40, 60, 80, 100]);
  assertEquals(niceTicks(1.2, 1.9, 4), [1.2, 1.4, 1.6, 1.8, 2]);
  assertEquals(niceTicks(3, 3).length > 1, true);
  const svg = lineChartSVG([
    { name: "FWL <head>", points: [[1, 5], [2, 4], [3, NaN], [4, 3]] },
    { name: "plain head", points: [[1, 5.5], [2, 4.5], [4, 3.5]] },
  ], { title: "loss & more", xLabel: "step", yLabel: "nats" });
  assert(svg.startsWith("<svg") && svg.trimEnd().endsWith("</svg>"));
  assertEquals(svg.match(/<polyline/g)?.length, 2);
  assert(svg.includes("FWL &lt;head&gt;") && svg.includes("loss &amp; more"));
  // The NaN point is skipped: 3 points in the first line.
  const first = svg.match(/points="([^"]*)"/)![1];
  assertEquals(first.split(" ").length, 3);
  assert(!svg.includes("NaN"));
});

Deno.test("flags: values, booleans, aliases, and every mistake", () => {
  const spec = { string: ["steps", "text", "lr"], boolean: ["help"], alias: { h: "help" } };
  assertEquals(parseFlags(["--steps", "20", "--text=a.txt", "-h"], spec), {
    steps: "20",
    text: "a.txt",
    help: true,
  });
  assertEquals(parseFlags(["--lr", "-0.5", "--text"], spec), { lr: "-0.5", text: "" });
  assertEquals(parseFlags(["--text", "--help"], spec), { text: "", help: true });
  assertEquals(parseFlags(["--text=", "--steps=a=b"], spec), { text: "", steps: "a=b" });
  const mistakes: [string[], string][] = [
    [["--bogus", "1"], "unknown flag --bogus"],
    [["-x"], "unknown flag -x"],
    [["extra"], 'unexpected argument "extra"'],
    [["-"], 'unexpected argument "-"'],
    [["--steps", "1", "--steps=2"], "--steps given more than once"],
    [["-h", "--help"], "--help given more than once"],
    [["--help=yes"], "--help takes no value"],
  ];
  for (const [argv, message] of mistakes) {
    assertThrows(() => parseFlags(argv, spec), UsageError, message);
  }
  // parseArgs's conventions: `--` ends the flags (and no example takes positionals), a
  // boolean takes a literal true/false after it, and a negative number needs no `=`.
  assertThrows(() => parseFlags(["--", "x"], spec), UsageError, 'unexpected argument "x"');
  assertEquals(parseFlags(["--help", "false", "--steps", "3"], spec), { steps: "3" });
  assertEquals(parseFlags(["--lr", "-.5", "--steps=-2"], spec), { lr: "-.5", steps: "-2" });
  assertThrows(() => parseFlags(["-hx"], spec), UsageError, "unknown flag -hx");
});

Deno.test("compare: flag tables, defaults, the body's flags after --length, help text", () => {
  const size = wholeFlag(64, "width", 2, 1024);
  assertEquals(size.expected, "a whole number in [2, 1024]");
  assert(size.valid(2) && size.valid(1024) && !size.valid(1) && !size.valid(3.5));
  assertEquals(wholeFlag(1, "x", 1).expected, "a whole number ≥ 1");
  const lr = numberFlag(0.01, "lr", "a number in (0, 1)", (v) => v > 0 && v < 1);
  assertEquals([lr.meta, lr.valid(0.5), lr.valid(1)], ["X", true, false]);

  const flags = comparisonFlags({ size, layers: wholeFlag(2, "blocks", 1) }, { steps: 150 });
  assertEquals(Object.keys(flags).slice(0, 6), [
    "steps",
    "batch",
    "length",
    "size",
    "layers",
    "seed",
  ]);
  assertEquals(Object.keys(flags).at(-1), "top-p");
  assertEquals([flags.steps.value, flags.batch.value, flags.lr.value], [150, 8, 0.01]);
  assertEquals(comparisonFlags({}).steps.value, 200);
  assertThrows(() => comparisonFlags({ seed: size }), RangeError, "--seed");

  const help = comparisonUsage({ script: "examples/x.ts", about: "Does things.", flags });
  const lines = help.split("\n");
  assertEquals(lines[0], "Usage: deno run examples/x.ts [flags]");
  assertEquals(lines[2], "Does things.");
  assert(help.includes("\n  --size N            width (default 64)\n"), help);
  assert(
    help.includes(
      "\n  --step-size X       initial value of the six FWL step sizes (learned in log space) (default 0.001)\n",
    ),
  );
  assert(help.includes("\n  --steps N           training steps for each model (default 150)\n"));
  assert(help.includes("  --plot FILE.svg") && help.includes("  --help, -h"));
});

Deno.test("compare: parsing a command line, and every kind of mistake", () => {
  const flags = comparisonFlags({ size: wholeFlag(64, "width", 2, 1024) }, { lr: 0.003 });
  const c = parseComparisonFlags(
    ["--steps", "20", "--size=32", "--step-size", "2.5", "--plot", "a.svg", "--top-k", "5"],
    flags,
  );
  assert(c);
  assertEquals([c.steps, c.batch, c.length, c.lr, c.stepSize, c.topK], [20, 8, 96, 0.003, 2.5, 5]);
  assertEquals([c.flags.size, c.flags.steps, c.plot, c.text], [32, 20, "a.svg", undefined]);
  const t = parseComparisonFlags(["--text", "a.md", "--separator", "^## "], flags);
  assertEquals([t?.text, t?.separator?.source, t?.separator?.multiline], ["a.md", "^## ", true]);
  assertEquals([t?.json, t?.restartWindows, t?.dynamicLr, t?.evalTokens], [false, false, 0, 0]);
  assertEquals([t?.normalizer, t?.decay, t?.prior, t?.fixedDecay, t?.span], [
    "mean",
    0.99,
    16,
    false,
    2048,
  ]);
  assertEquals(headNormalizer(t!), { decay: 0.99, prior: 16, learnDecay: true });
  const d = parseComparisonFlags(
    ["--text", "a", "--json", "--restart-windows", "--dynamic-lr", "0.01", "--eval-tokens", "9"],
    flags,
  );
  assertEquals([d?.json, d?.restartWindows, d?.dynamicLr, d?.evalTokens], [true, true, 0.01, 9]);
  const n = parseComparisonFlags(["--normalizer", "512", "--span", "0", "--fixed-decay"], flags);
  assertEquals([n?.normalizer, n?.span, headNormalizer(n!)], [512, 0, 512]);
  // Without --text: version 0.2's fixed normalizer and independent windows.
  assertEquals([c.normalizer, c.span], [512, 0]);
  const m = parseComparisonFlags(["--normalizer", "mean", "--decay", "1", "--prior", "4"], flags);
  assertEquals(headNormalizer(m!), { decay: 1, prior: 4, learnDecay: false });
  assertEquals(parseComparisonFlags(["--help"], flags), undefined);
  assertEquals(parseComparisonFlags(["-h", "--steps", "x"], flags), undefined);
  const mistakes: [string[], string][] = [
    [["--bogus", "1"], "unknown flag --bogus"],
    [["extra"], 'unexpected argument "extra"'],
    [["--size", "1"], '--size needs a whole number in [2, 1024], got "1"'],
    [["--steps", "0"], '--steps needs a whole number ≥ 1, got "0"'],
    [["--seed", "1.5"], '--seed needs a whole number, got "1.5"'],
    [["--lr", "1"], '--lr needs a number in (0, 1), got "1"'],
    [["--top-p", "0"], '--top-p needs a number in (0, 1], got "0"'],
    [["--steps", " "], "--steps needs a whole number ≥ 1"],
    [["--steps", "Infinity"], "--steps needs a whole number ≥ 1"],
    [["--plot", "a.png"], '--plot needs a file name ending in .svg, got "a.png"'],
    [["--text"], "--text needs a file name"],
    [["--separator", "^# "], "--separator needs --text"],
    [["--position-plot", "a.svg"], "--position-plot needs --text"],
    [["--carry-fast-weights"], "--carry-fast-weights needs --text"],
    [["--restart-windows"], "--restart-windows needs --text"],
    [["--text", "a", "--restart-windows", "--carry-fast-weights"], "exclude each other"],
    [["--normalizer", "batch"], '--normalizer needs mean or a number > 0, got "batch"'],
    [["--normalizer", "-3"], "--normalizer needs mean or a number > 0"],
    [["--decay", "0"], '--decay needs a number in (0, 1], got "0"'],
    [["--prior", "-1"], '--prior needs a number ≥ 0, got "-1"'],
    [["--span", "50"], "--span needs 0 or at least --length + 1 (97) tokens"],
    [["--text", "a", "--position-plot", "a.png"], "--position-plot needs a file name ending"],
    [["--dynamic-lr", "-1"], '--dynamic-lr needs a number ≥ 0, got "-1"'],
    [["--json=1"], "--json takes no value"],
    [["--text", "a.md", "--separator", "("], "--separator: Invalid regular expression"],
  ];
  for (const [argv, message] of mistakes) {
    let thrown: unknown;
    try {
      parseComparisonFlags(argv, flags);
    } catch (e) {
      thrown = e;
    }
    assert(thrown instanceof UsageError, `${argv.join(" ")}: ${thrown}`);
    assert(thrown.message.includes(message), `${argv.join(" ")}: ${thrown.message}`);
  }
});

Deno.test("bodies: the two comparisons and --body", () => {
  assertEquals(lstmComparison("x.ts", "X.", { length: 512 }).flags.length.value, 512);
  const t = transformerComparison("x.ts", "X.", { "dynamic-lr": 0.002 });
  assertEquals([t.flags["step-size"].value, t.flags["dynamic-lr"].value], [0.3, 0.002]);
  // With --text the transformer's step sizes start at 0.03, a default given for all stands.
  assertEquals([t.flags["step-size"].textValue, t.flags["dynamic-lr"].textValue], [
    0.03,
    undefined,
  ]);
  const text = parseComparisonFlags(["--text", "a.md"], t.flags);
  assertEquals([text?.stepSize, text?.dynamicLr, text?.span], [0.03, 0.002, 2048]);
  assert(
    comparisonUsage({ script: "x.ts", about: "X.", flags: t.flags }).includes(
      "(default 0.3; 0.03 with --text)",
    ),
  );
  assertEquals(takeBodyFlag(["--steps", "5"]), { body: "lstm", rest: ["--steps", "5"] });
  assertEquals(takeBodyFlag(["--body=transformer", "-h"]), { body: "transformer", rest: ["-h"] });
  assertThrows(
    () => takeBodyFlag(["--body", "gru"]),
    UsageError,
    '--body needs lstm or transformer, got "gru"',
  );
  assertThrows(() => takeBodyFlag(["--body"]), UsageError, 'got ""');
  assertThrows(() => takeBodyFlag(["--body=lstm", "--body=lstm"]), UsageError, "more than once");
  assertEquals(takeBodyFlag(["--", "--body", "x"]), { body: "lstm", rest: ["--", "--body", "x"] });
});

Deno.test("compare: held-out documents within a budget; loss by part of the documents", () => {
  const docs = [new Uint8Array(10), new Uint8Array(1), new Uint8Array(5), new Uint8Array(8)];
  assertEquals(heldOutDocuments(docs, 0).map((d) => d.length), [10, 5, 8]);
  assertEquals(heldOutDocuments(docs, 13).map((d) => d.length), [10, 5]);
  assertEquals(heldOutDocuments(docs, 9).map((d) => d.length), [10]);
  assertEquals(heldOutDocuments(docs, 3).map((d) => d.length), [4]);
  assertEquals(heldOutDocuments([], 3), []);
  const bits = (...v: number[]) => Float32Array.from(v, (b) => b * Math.LN2);
  // halves: [1, 3] and [2] of the first document, [3] and [] of the second
  const halves = lossByPart([{ nll: bits(1, 3, 2) }, { nll: bits(3) }], 2);
  assertEquals(halves.map((y) => Number(y.toFixed(5))), [2.33333, 2]);
  const quarters = lossByPart([{ nll: bits(1, 2, 3, 4, 5, 6, 7, 8) }], 4);
  assertEquals(quarters.map((y) => Number(y.toFixed(5))), [1.5, 3.5, 5.5, 7.5]);
});

Deno.test("compare: table, perplexity change, smoothed curve", () => {
  assertEquals(
    markdownTable([["head", "perplexity", "time"], ["FWL head", "8.34", "70 s"], [
      "plain",
      "12.00",
      "5 s",
    ]]),
    [
      "| head     | perplexity | time |",
      "| -------- | ---------: | ---: |",
      "| FWL head |       8.34 | 70 s |",
      "| plain    |      12.00 |  5 s |",
    ].join("\n"),
  );
  assertEquals(perplexityChange(8.34, 8.61), "−3.1 % perplexity");
  assertEquals(perplexityChange(12, 10), "+20.0 % perplexity");
  const curve = smoothCurve([2, 1, 1]);
  assertEquals(curve.map(([x]) => x), [1, 2, 3]);
  assertEquals(curve[0][1], 2);
  assert(Math.abs(curve[1][1] - 1.9) < 1e-12 && Math.abs(curve[2][1] - 1.81) < 1e-12);
  assertEquals(smoothCurve([]), []);
});

Deno.test("compare: runComparison exit codes, and a whole tiny run of each body", async () => {
  const dir = await Deno.makeTempDir();
  const log = console.log, error = console.error;
  const printed: string[] = [];
  console.log = (...a: unknown[]) => printed.push(a.join(" "));
  console.error = (...a: unknown[]) => printed.push(a.join(" "));
  try {
    const lstm = {
      script: "examples/tiny.ts",
      about: "Tiny.",
      flags: comparisonFlags({ size: wholeFlag(8, "width", 2) }),
      describe: (c: { flags: Readonly<Record<string, number>> }) => `LSTM (width ${c.flags.size})`,
      headSize: () => 4,
      createBody: (
        vocabSize: number,
        c: { seed: number; flags: Readonly<Record<string, number>> },
      ) =>
        LSTMBody.create({
          vocabSize,
          embedSize: c.flags.size,
          hiddenSize: c.flags.size,
          seed: c.seed,
        }),
      check: (c: { flags: Readonly<Record<string, number>> }) => {
        if (c.flags.size === 13) throw new UsageError("--size can't be 13");
      },
    };
    assertEquals(await runComparison(lstm, ["--help"]), 0);
    assert(printed.join("\n").includes("Usage: deno run examples/tiny.ts [flags]"));
    assertEquals(await runComparison(lstm, ["--steps", "0"]), 2);
    assertEquals(await runComparison(lstm, ["--size", "13"]), 2);
    assert(printed.join("\n").includes("error: --size can't be 13"));
    assertEquals(await runComparison(lstm, ["--text", `${dir}/missing.txt`]), 1);

    printed.length = 0;
    const tiny = ["--steps", "2", "--batch", "2", "--length", "12", "--val-batches", "1"];
    const plot = `${dir}/curves.svg`;
    assertEquals(await runComparison(lstm, [...tiny, "--sample", "3", "--plot", plot]), 0);
    const out = printed.join("\n");
    assert(out.includes("model: LSTM (width 8) + head (size 4); 2 steps of 2×12 tokens"), out);
    assert(/\| fwl +\| +[\d.]+ \| +[\d.]+ \|/.test(out), out);
    assert(/\| plain +\| +[\d.]+ \| +[\d.]+ \|/.test(out), out);
    assert(out.includes("on entity tokens") && out.includes("done in "), out);
    assert((await Deno.readTextFile(plot)).includes("<polyline"));

    // A text of documents: every held-out byte scored, bits per byte reported.
    printed.length = 0;
    const md = `${dir}/docs.md`;
    const section = (t: string) => `# ${t}\n` + `The ${t} function reads ${t}.\n`.repeat(6);
    await Deno.writeTextFile(
      md,
      ["alpha", "beta", "gamma", "delta", "epsilon"].map(section).join("") + "# end\nbye.\n",
    );
    const pos = `${dir}/position.svg`;
    const textRun = [...tiny, "--text", md, "--separator", "^# ", "--dynamic-lr", "0.01"];
    assertEquals(await runComparison(lstm, [...textRun, "--position-plot", pos, "--json"]), 0);
    const text = printed.join("\n");
    assert(text.includes("5 training documents, 1 held-out document"), text);
    assert(text.includes("validation: 1 held-out document of 1 (10 predicted bytes"), text);
    for (const row of ["plain", "plain+dynamic", "fwl", "fwl+dynamic"]) {
      const cells = new RegExp(`\\| ${row.replace("+", "\\+")} +\\| +[\\d.]+ \\| +[\\d.]+ \\|`);
      assert(cells.test(text), `${row}: ${text}`);
    }
    assert(text.includes("bits per byte") && text.includes("eval tokens/s"), text);
    assert(text.includes("dynamic evaluation of the plain head"), text);
    assert((await Deno.readTextFile(pos)).includes("<polyline"));
    const summary = JSON.parse(printed.at(-1)!);
    assertEquals(
      summary.rows.map((r: { model: string }) => r.model),
      ["plain", "plain+dynamic", "fwl", "fwl+dynamic"],
    );
    for (const r of summary.rows) {
      for (const key of ["perplexity", "bits_per_token", "eval_tokens_per_s", "train_seconds"]) {
        assert(Number.isFinite(r[key]) && r[key] > 0, `${r.model} ${key}`);
      }
      assertEquals(r.tokens, 10);
    }

    // A body with a fixed number of positions: the sample is cut to fit (prompt 12 + 1).
    printed.length = 0;
    const transformer = {
      ...lstm,
      describe: () => "transformer",
      createBody: (vocabSize: number, c: { seed: number }) =>
        TransformerBody.create({
          vocabSize,
          hiddenSize: 8,
          layers: 1,
          heads: 2,
          maxLength: 12,
          seed: c.seed,
        }),
      maxPositions: () => 12,
    };
    assertEquals(await runComparison(transformer, [...tiny, "--sample", "5"]), 0);
    assert(printed.join("\n").includes("1 token, as many as the body's positions allow"));
  } finally {
    console.log = log;
    console.error = error;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("examples and benches import the library through its entry points only", async () => {
  for (const dir of ["examples", "examples/lib", "bench"]) {
    const url = new URL(`../${dir}/`, import.meta.url);
    for await (const entry of Deno.readDir(url)) {
      if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
      const text = await Deno.readTextFile(new URL(entry.name, url));
      for (const [, from] of text.matchAll(/^(?:import|export)\b[^;]*?\bfrom "([^"]+)"/gm)) {
        assert(!/\/(src|tests)\//.test(from), `${dir}/${entry.name} imports ${from}`);
      }
    }
  }
});
