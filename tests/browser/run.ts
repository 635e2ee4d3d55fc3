// The browser test suite: bundles tests/browser/suite.ts and the demo page
// (examples/web/), serves them on 127.0.0.1 (a secure context, so pages get
// navigator.gpu), starts headless Chromium with WebGPU and a DevTools port, runs the
// suite and the demo at its default size through the DevTools protocol (training, the
// figures shown, "Continue the text" and its Stop), prints every result with the adapter
// and the counts, saves a screenshot of the demo, and exits non-zero on any failure. The
// browser (its whole process group), the server and the bundler are always stopped: on
// success, on failure, on SIGINT/SIGTERM and on the overall timeout.
//
//   deno task test:browser
//   deno task test:browser --browser /usr/bin/chromium --timeout 300
//   deno task test:browser --screenshot docs/browser_demo.png
//   deno task test:browser --demo size=tiny     the demo's quick run (no FWL-wins check)
//
// The browser: --browser, else $FWL_BROWSER, else the first of chromium-headless-shell,
// chromium, google-chrome on PATH. Debian: apt-get install chromium-headless-shell.

import {
  demoRoutes,
  type Route,
  serveStatic,
  type StaticServer,
} from "../../examples/web/serve.ts";
import { bundle } from "../../examples/web/serve.ts";
import type { DemoReport, GenerationReport } from "../../examples/web/app.ts";
import { SAMPLES } from "../../examples/web/samples.ts";
import { CDPSession } from "./cdp.ts";
import type { SuiteReport } from "./suite.ts";

const HERE = new URL("./", import.meta.url);

/** Characters each demo model writes after training (the page's `&generate=N`). */
const GENERATE = 120;
/** Characters asked of the run that Stop cuts short (far more than it gets to). */
const LONG_RUN = 100_000;

interface Options {
  browser: string | undefined;
  timeoutSeconds: number;
  /** The demo page's query: its size and any override (see examples/web/app.ts). */
  demo: string;
  screenshot: string;
}

function parseArgs(args: string[]): Options {
  const o: Options = {
    browser: Deno.env.get("FWL_BROWSER"),
    timeoutSeconds: 600,
    demo: "size=default",
    screenshot: `${Deno.env.get("TMPDIR") ?? "/tmp"}/fwl_browser_demo.png`,
  };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === "--browser") o.browser = value;
    else if (flag === "--timeout") o.timeoutSeconds = Number(value);
    else if (flag === "--screenshot") o.screenshot = value;
    else if (flag === "--demo") o.demo = value;
    else throw new Error(`unknown flag ${flag} ${value}`);
  }
  if (!(o.timeoutSeconds > 0)) throw new Error("--timeout needs seconds > 0");
  return o;
}

/** The browser's path: the option, or the first known name found on PATH. */
function findBrowser(given: string | undefined): string {
  if (given) return given;
  for (const name of ["chromium-headless-shell", "chromium", "google-chrome"]) {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      try {
        if (Deno.statSync(`${dir}/${name}`).isFile) return `${dir}/${name}`;
      } catch { /* not here */ }
    }
  }
  throw new Error(
    "no Chromium found: apt-get install chromium-headless-shell, or pass --browser PATH",
  );
}

/** A headless browser in its own process group, with a DevTools port. */
class Browser {
  readonly #child: Deno.ChildProcess;
  readonly profile: string;
  readonly #log: string[] = [];

  constructor(path: string, profile: string) {
    this.profile = profile;
    // setsid makes the browser a process-group leader, so one kill reaches every
    // process it starts (GPU, renderer, zygote).
    this.#child = new Deno.Command("setsid", {
      args: [
        path,
        "--headless",
        "--no-sandbox",
        "--enable-unsafe-webgpu",
        "--disable-gpu-sandbox",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--window-size=1200,900",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#keepLog(this.#child.stderr);
  }

  /** The last lines the browser wrote to stderr (for failures). */
  get log(): string {
    return this.#log.join("").split("\n").slice(-15).join("\n");
  }

  async #keepLog(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    try {
      for await (const chunk of stream) {
        this.#log.push(decoder.decode(chunk));
        if (this.#log.length > 200) this.#log.splice(0, 100);
      }
    } catch { /* closed */ }
  }

  /** The DevTools HTTP origin, once the browser has written its port. */
  async devtools(timeoutMs = 30_000): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      try {
        const [port] = (await Deno.readTextFile(`${this.profile}/DevToolsActivePort`)).split("\n");
        if (port) return `http://127.0.0.1:${port}`;
      } catch { /* not yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the browser wrote no DevTools port in ${timeoutMs / 1000} s:\n${this.log}`);
  }

  /** Stops the whole process group (TERM, then KILL), then any straggler using the profile. */
  async stop(): Promise<void> {
    const pid = this.#child.pid;
    const signalGroup = (sig: Deno.Signal) => {
      try {
        Deno.kill(-pid, sig);
      } catch { /* gone */ }
    };
    signalGroup("SIGTERM");
    const exited = await Promise.race([
      this.#child.status.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
    ]);
    signalGroup("SIGKILL");
    if (!exited) await this.#child.status;
    for (const straggler of await processesUsing(this.profile)) {
      try {
        Deno.kill(straggler, "SIGKILL");
      } catch { /* gone */ }
    }
  }
}

/** Pids of processes whose command line names `text` (our own profile directory). */
async function processesUsing(text: string): Promise<number[]> {
  const { stdout } = await new Deno.Command("ps", { args: ["-eo", "pid=,args="], stderr: "null" })
    .output();
  return new TextDecoder().decode(stdout).split("\n")
    .filter((line) => line.includes(text))
    .map((line) => Number(line.trim().split(/\s+/)[0]))
    .filter((pid) => Number.isInteger(pid) && pid !== Deno.pid);
}

/** One result line of the suite or of the demo checks. */
interface Result {
  name: string;
  ok: boolean;
  ms: number;
  detail?: string;
  error?: string;
}

/**
 * `using` declarations in src/: browsers without explicit resource management can't parse
 * them, and a bundler may not lower them. Returns `file:line` of each.
 */
async function usingDeclarations(dir: URL): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) found.push(...await usingDeclarations(url));
    else if (entry.name.endsWith(".ts")) {
      (await Deno.readTextFile(url)).split("\n").forEach((line, i) => {
        if (/^\s*(await\s+)?using\s+[\w$]+\s*=/.test(line)) found.push(`${url.pathname}:${i + 1}`);
      });
    }
  }
  return found;
}

/** Opens a page in the browser and returns a session to drive it. */
async function openPage(devtools: string, url: string): Promise<CDPSession> {
  // A blank tab first, then navigate and wait for the load event: evaluating while the
  // tab is still switching documents would run in a context about to be destroyed.
  const res = await fetch(`${devtools}/json/new?about:blank`, { method: "PUT" });
  const target = await res.json() as { webSocketDebuggerUrl: string };
  const page = await CDPSession.connect(target.webSocketDebuggerUrl);
  page.on("Runtime.consoleAPICalled", (p) => {
    const args = p.args as { value?: unknown; description?: string }[];
    const text = args.map((a) => a.value ?? a.description ?? "").join(" ");
    if (p.type === "error" || p.type === "warning") console.log(`  [page ${p.type}] ${text}`);
  });
  page.on("Runtime.exceptionThrown", (p) => {
    const d = p.exceptionDetails as { exception?: { description?: string }; text?: string };
    console.log(`  [page exception] ${d.exception?.description ?? d.text}`);
  });
  await page.send("Runtime.enable");
  await page.send("Page.enable");
  const loaded = new Promise<void>((resolve) => page.on("Page.loadEventFired", () => resolve()));
  const nav = await page.send("Page.navigate", { url });
  if (nav.errorText) throw new Error(`cannot load ${url}: ${nav.errorText}`);
  await loaded;
  return page;
}

/** An expression that waits for `globalThis[name]` (a promise the page sets) and awaits it. */
function awaitGlobal(name: string): string {
  return `new Promise((resolve) => {
    const poll = () => globalThis[${JSON.stringify(name)}]
      ? resolve(globalThis[${JSON.stringify(name)}])
      : setTimeout(poll, 50);
    poll();
  })`;
}

function printResult(r: Result): void {
  const time = `${(r.ms / 1000).toFixed(1)} s`;
  if (r.ok) console.log(`ok    ${r.name} (${time})${r.detail ? `  ${r.detail}` : ""}`);
  else console.log(`FAIL  ${r.name} (${time})\n      ${r.error?.replaceAll("\n", "\n      ")}`);
}

/** Characters the models may write: those of the samples (the training text and the text read). */
const ALPHABET = new Set([...Object.values(SAMPLES).join("")]);

/** What is wrong with one continuation report and what the page shows (none: `[]`). */
function continuationProblems(
  g: GenerationReport,
  vocab: number,
  shown: { fwl: string; plain: string },
): string[] {
  const problems: string[] = [];
  for (const [name, c] of [["FWL", g.fwl], ["plain", g.plain]] as const) {
    const badIds = c.ids.filter((id) => !(Number.isInteger(id) && id >= 0 && id < vocab));
    if (badIds.length) problems.push(`${name}: ids outside [0, ${vocab}): ${badIds.slice(0, 5)}`);
    const chars = [...c.text];
    // Padding (id 0) decodes to nothing; every other id to one character.
    const expected = c.ids.filter((id) => id !== 0).length;
    if (chars.length !== expected) {
      problems.push(`${name}: ${chars.length} characters decoded from ${expected} non-padding ids`);
    }
    const strange = chars.filter((ch) => !ALPHABET.has(ch));
    if (strange.length) problems.push(`${name}: characters not in the samples: ${strange}`);
    if (shown[name === "FWL" ? "fwl" : "plain"] !== c.text) {
      problems.push(`${name}: the panel shows other text than the report's`);
    }
    if (!(c.tokensPerSecond > 0 && Number.isFinite(c.tokensPerSecond))) {
      problems.push(`${name}: ${c.tokensPerSecond} characters/s`);
    }
  }
  return problems;
}

/** What the continuation panels show (the written part) and their speed lines. */
const SHOWN_CONTINUATION = `({
  fwl: document.querySelector("#gen-fwl .out")?.textContent ?? "",
  plain: document.querySelector("#gen-plain .out")?.textContent ?? "",
  speeds: [...document.querySelectorAll("#gen-fwl-speed, #gen-plain-speed")].map((p) => p.textContent),
})`;

/**
 * An expression that starts a long continuation, presses Stop once both panels have
 * characters, and reports how the run ended, the characters counted at Stop, when the
 * run ended and half a second later, and which buttons are enabled afterwards.
 */
const STOP_SCENARIO = `(async () => {
  const count = () => ["#gen-fwl", "#gen-plain"].map((s) => Number(document.querySelector(s).dataset.tokens));
  const button = (id) => !document.querySelector(id).disabled;
  const started = performance.now();
  const ended = globalThis.fwlDemoGenerate(${LONG_RUN}).then(
    (r) => "resolved with " + r.fwl.ids.length + " + " + r.plain.ids.length + " characters",
    (e) => (e && e.name) + ": " + (e && e.message),
  );
  let waited = false;
  while (Math.min(...count()) < 1) {
    if (performance.now() - started > 180000) { waited = true; break; }
    await new Promise((r) => setTimeout(r, 5));
  }
  const stopEnabled = button("#stop"), busy = { generate: button("#generate"), train: button("#run") };
  document.querySelector("#stop").click();
  const atStop = count();
  const outcome = await ended;
  const atEnd = count();
  await new Promise((r) => setTimeout(r, 500));
  return {
    timedOut: waited, stopEnabled, busy, atStop, atEnd, later: count(), outcome,
    after: { generate: button("#generate"), stop: button("#stop"), train: button("#run") },
    status: document.querySelector("#gen-status").textContent,
    ms: performance.now() - started,
  };
})()`;

/**
 * "Continue the text": the continuation of the autorun (`&generate=N`), then Stop on a long
 * one, then a second continuation, which must repeat the first (same seed, fresh states)
 * without the buffer pool growing.
 */
async function checkContinuation(
  page: CDPSession,
  report: DemoReport,
  check: (name: string, ok: boolean, detail: string, took?: number) => void,
): Promise<void> {
  const g = report.generated;
  if (!g) {
    check("Continue the text", false, "the report has no `generated` (the page ignored &generate)");
    return;
  }
  const shown = await page.evaluate<{ fwl: string; plain: string; speeds: string[] }>(
    SHOWN_CONTINUATION,
  );
  check(
    `Continue the text: each model wrote ${GENERATE} characters after the ${g.prompt} read`,
    g.requested === GENERATE && g.fwl.ids.length === GENERATE && g.plain.ids.length === GENERATE,
    `FWL ${g.fwl.ids.length}, plain ${g.plain.ids.length} of ${g.requested}; ` +
      `${g.fwl.tokensPerSecond.toFixed(1)} and ${g.plain.tokensPerSecond.toFixed(1)} characters/s`,
  );
  const problems = continuationProblems(g, report.vocab, shown);
  const pads = [g.fwl, g.plain].map((c) => c.ids.filter((id) => id === 0).length);
  check(
    "the characters written are the samples' and the panels show them as they were written",
    problems.length === 0,
    problems.length
      ? problems.join("; ")
      : `FWL ${JSON.stringify(g.fwl.text.slice(0, 40))}…, plain ${
        JSON.stringify(g.plain.text.slice(0, 40))
      }… (padding drawn ${pads.join(" and ")} times)`,
  );
  check(
    "each panel shows its characters per second",
    shown.speeds.length === 2 && shown.speeds.every((s) => s.includes("characters/s")),
    shown.speeds.join(" | "),
  );

  const stop = await page.evaluate<{
    timedOut: boolean;
    stopEnabled: boolean;
    busy: { generate: boolean; train: boolean };
    atStop: number[];
    atEnd: number[];
    later: number[];
    outcome: string;
    after: { generate: boolean; stop: boolean; train: boolean };
    status: string;
    ms: number;
  }>(STOP_SCENARIO);
  check(
    "Stop: the running continuation rejects with an AbortError",
    stop.outcome.startsWith("AbortError") && !stop.timedOut && stop.stopEnabled,
    `${stop.outcome}; Stop enabled while running: ${stop.stopEnabled}` +
      (stop.timedOut ? "; no character came in 180 s, Stop pressed anyway" : "") +
      `; status "${stop.status}"`,
    stop.ms,
  );
  const same = (a: number[], b: number[]) => a.every((v, i) => v === b[i]);
  check(
    "Stop: no character comes after Stop",
    stop.atStop.every((n) => n > 0 && n < LONG_RUN) && same(stop.atStop, stop.atEnd) &&
      same(stop.atEnd, stop.later),
    `characters (FWL, plain) at Stop ${stop.atStop}, when the run ended ${stop.atEnd}, ` +
      `0.5 s later ${stop.later}`,
  );
  check(
    "Stop: the page is usable again (Continue and Train enabled, Stop disabled)",
    !stop.busy.generate && !stop.busy.train && stop.after.generate && stop.after.train &&
      !stop.after.stop,
    `while running: Continue ${stop.busy.generate}, Train ${stop.busy.train}; after: ` +
      `Continue ${stop.after.generate}, Stop ${stop.after.stop}, Train ${stop.after.train}`,
  );

  const t0 = Date.now();
  const again = await page.evaluate<GenerationReport>(`globalThis.fwlDemoGenerate(${GENERATE})`);
  const shownAgain = await page.evaluate<{ fwl: string; plain: string }>(SHOWN_CONTINUATION);
  const repeats = same(again.fwl.ids, g.fwl.ids) && same(again.plain.ids, g.plain.ids) &&
    again.fwl.ids.length === GENERATE && again.plain.ids.length === GENERATE;
  const againProblems = continuationProblems(again, report.vocab, shownAgain);
  check(
    "after Stop, Continue writes the same characters again (same seed, fresh states)",
    repeats && againProblems.length === 0,
    repeats
      ? `${again.fwl.ids.length} + ${again.plain.ids.length} characters, identical`
      : `FWL ${JSON.stringify(again.fwl.text.slice(0, 40))}… against ` +
        `${JSON.stringify(g.fwl.text.slice(0, 40))}…; plain ` +
        `${JSON.stringify(again.plain.text.slice(0, 40))}… against ` +
        `${JSON.stringify(g.plain.text.slice(0, 40))}…` +
        (againProblems.length ? `; ${againProblems.join("; ")}` : ""),
    Date.now() - t0,
  );
  check(
    "the stopped run kept no GPU memory (the buffer pool did not grow)",
    again.poolBytes === g.poolBytes,
    `${g.poolBytes} bytes pooled after the first continuation, ${again.poolBytes} after Stop ` +
      `and a second one`,
  );
}

/** Runs the demo at its given size and checks what it shows; returns one result per check. */
async function runDemo(devtools: string, origin: string, o: Options): Promise<Result[]> {
  const started = Date.now();
  const page = await openPage(
    devtools,
    `${origin}/web/?${o.demo}&autorun=1&generate=${GENERATE}`,
  );
  try {
    const report = await page.evaluate<DemoReport>(awaitGlobal("fwlDemo"));
    const ms = Date.now() - started;
    const shown = await page.evaluate<{ fwl: string; plain: string; spans: number[] }>(`({
      fwl: document.querySelector("#ppl-fwl").textContent,
      plain: document.querySelector("#ppl-plain").textContent,
      spans: [...document.querySelectorAll(".tokens")].map((p) => p.querySelectorAll("span.t").length),
    })`);
    const results: Result[] = [];
    const check = (name: string, ok: boolean, detail: string, took?: number) =>
      results.push({
        name: `demo: ${name}`,
        ok,
        ms: took ?? (results.length ? 0 : ms),
        detail,
        error: detail,
      });
    const sane = (p: number) => Number.isFinite(p) && p >= 1;
    check(
      "both perplexities are finite and ≥ 1",
      sane(report.fwl) && sane(report.plain),
      `FWL ${report.fwl.toFixed(2)}, plain ${
        report.plain.toFixed(2)
      }, vocabulary ${report.vocab}, ` +
        `trained in ${report.seconds.toFixed(1)} s`,
    );
    if (report.size === "default") {
      // What the demo is for: reading the text with its fast weights carried helps.
      check(
        "at the default size the FWL model's perplexity is below the plain model's",
        report.fwl < report.plain,
        `FWL ${report.fwl.toFixed(2)} against plain ${report.plain.toFixed(2)} ` +
          `(${((report.fwl / report.plain - 1) * 100).toFixed(1)} %)`,
      );
    }
    check(
      "the page shows the same perplexities",
      shown.fwl === report.fwl.toFixed(2) && shown.plain === report.plain.toFixed(2),
      `shown ${shown.fwl} / ${shown.plain}`,
    );
    check(
      "every token is coloured in the three panels",
      shown.spans.length === 3 && shown.spans.every((n) => n === report.tokens),
      `${shown.spans.join(", ")} coloured of ${report.tokens} tokens`,
    );
    try {
      await checkContinuation(page, report, check);
    } catch (e) {
      check("Continue the text and Stop", false, `the page failed: ${e}`);
    }
    const { height } = await page.evaluate<{ height: number }>(
      `({ height: document.documentElement.scrollHeight })`,
    );
    await page.send("Emulation.setDeviceMetricsOverride", {
      width: 1200,
      height: Math.min(Math.max(height, 600), 2400),
      deviceScaleFactor: 1,
      mobile: false,
    });
    const shot = await page.send("Page.captureScreenshot", { format: "png" });
    const png = Uint8Array.from(atob(shot.data as string), (c) => c.charCodeAt(0));
    await Deno.writeFile(o.screenshot, png);
    check("screenshot saved", png.length > 10_000, `${o.screenshot} (${png.length} bytes)`);
    return results;
  } finally {
    page.close();
  }
}

async function main(o: Options, stop: AbortSignal, cleanups: (() => Promise<void>)[]) {
  const browserPath = findBrowser(o.browser);
  const t0 = Date.now();
  const [suite, demo] = await Promise.all([
    bundle(new URL("suite.ts", HERE), stop),
    demoRoutes("/web/", stop),
  ]);
  const routes: Record<string, Route> = {
    "/": new URL("index.html", HERE),
    "/suite.js": { text: suite, type: "text/javascript; charset=utf-8" },
    ...demo,
  };
  const server: StaticServer = serveStatic(routes);
  cleanups.push(() => server.close());
  console.log(`bundled in ${((Date.now() - t0) / 1000).toFixed(1)} s; serving ${server.origin}`);

  const profile = await Deno.makeTempDir({ prefix: "fwl-chromium-" });
  cleanups.push(() => Deno.remove(profile, { recursive: true }).catch(() => {}));
  const browser = new Browser(browserPath, profile);
  cleanups.push(() => browser.stop());
  const devtools = await browser.devtools();
  const version = await (await fetch(`${devtools}/json/version`)).json() as { Browser: string };
  console.log(`browser: ${version.Browser} (${browserPath})`);

  const page = await openPage(devtools, `${server.origin}/`);
  let report: SuiteReport;
  try {
    page.on("Runtime.consoleAPICalled", (p) => {
      const [first] = p.args as { value?: unknown }[];
      if (p.type === "log" && typeof first?.value === "string" && first.value.startsWith("@")) {
        printResult(JSON.parse(first.value.slice(1)));
      }
    });
    report = await page.evaluate<SuiteReport>(awaitGlobal("fwlSuite"));
  } finally {
    page.close();
  }
  console.log(`adapter: ${report.adapter}`);
  const usings = await usingDeclarations(new URL("../../src/", HERE));
  const syntax: Result = {
    name: "src/ has no `using` declarations",
    ok: usings.length === 0,
    ms: 0,
    detail: "explicit resource management is not in every browser",
    error: `found at ${usings.join(", ")}`,
  };
  printResult(syntax);
  const results = [...report.results, syntax];
  if (!stop.aborted) {
    try {
      const demoResults = await runDemo(devtools, server.origin, o);
      demoResults.forEach(printResult);
      results.push(...demoResults);
    } catch (e) {
      const r = { name: "demo page", ok: false, ms: 0, error: String(e) };
      printResult(r);
      results.push(r);
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  console.log(`${results.length - failed} passed, ${failed} failed`);
  console.log(`total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (failed > 0) console.log(`browser log (last lines):\n${browser.log}`);
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) {
  const o = parseArgs(Deno.args);
  const controller = new AbortController();
  const cleanups: (() => Promise<void>)[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    cleaning ??= (async () => {
      controller.abort();
      for (const f of cleanups.reverse()) {
        try {
          await f();
        } catch (e) {
          console.error(`cleanup: ${e}`);
        }
      }
    })();
  const bail = (why: string, code: number) => async () => {
    console.error(`\n${why}: stopping the browser and the server`);
    console.log("0 passed, 1 failed");
    await cleanup();
    Deno.exit(code);
  };
  const onInt = bail("interrupted", 130), onTerm = bail("terminated", 143);
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const timer = setTimeout(
    bail(`timed out after ${o.timeoutSeconds} s`, 124),
    o.timeoutSeconds * 1000,
  );
  let code = 1;
  try {
    code = await main(o, controller.signal, cleanups);
  } catch (e) {
    if (!controller.signal.aborted) {
      console.error(`error: ${e instanceof Error ? e.message : e}`);
      console.log("0 passed, 1 failed");
    }
  } finally {
    clearTimeout(timer);
    await cleanup();
    Deno.removeSignalListener("SIGINT", onInt);
    Deno.removeSignalListener("SIGTERM", onTerm);
  }
  Deno.exit(code);
}
