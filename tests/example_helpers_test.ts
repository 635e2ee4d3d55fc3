// Tests of the examples' helpers (examples/lib/): the progress bar, the SVG line chart and
// the flag parser loader.

import { assert, assertEquals, assertThrows } from "@std/assert";
import { formatDuration, ProgressBar } from "../examples/lib/progress.ts";
import { lineChartSVG, niceTicks } from "../examples/lib/svg_plot.ts";
import { loadParseArgs } from "../examples/lib/flags.ts";

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

Deno.test("flags: parseArgs loads (from @std/cli or the offline stand-in)", async () => {
  const { parseArgs, source } = await loadParseArgs();
  assert(source === "@std/cli" || source === "offline stand-in");
  const args = parseArgs(["--steps", "20", "--text=a.txt", "-h"], {
    string: ["steps", "text"],
    boolean: ["help"],
    alias: { h: "help" },
  });
  assertEquals(args.steps, "20");
  assertEquals(args.text, "a.txt");
  assertEquals(args.help, true);
});
