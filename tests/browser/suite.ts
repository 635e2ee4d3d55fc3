/// <reference lib="dom" />
// The browser test suite (bundled and run by tests/browser/run.ts): the library's public
// API in a browser against the float64 reference, at the tolerances of the Deno tests
// (tests/fwl_block_test.ts, stream_test.ts, train_grads_test.ts, optimizer_test.ts,
// checkpoint_test.ts). The page sets `globalThis.fwlSuite` to a promise of the report
// and logs each result as it finishes ("@" + JSON).

import {
  Adam,
  blockParams,
  checkpointBytes,
  FWLBlock,
  FWLError,
  FWLInputError,
  FWLStateError,
  type GPUContext,
  loadCheckpointBytes,
  type Optimizer,
  SGD,
  type Tensor,
  tensor,
} from "../../mod.ts";
import { lossAndGrads, PARAM_NAMES, STEP_NAMES } from "../../gpu.ts";
import {
  referenceDefinition,
  referenceFastForward,
  referenceSlowForward,
} from "../../src/reference/mod.ts";
import { referenceLossAndGrads } from "../../src/reference/outer_grad.ts";
import { howToGetAnAdapter } from "../../src/errors.ts";
import {
  assertClose,
  type CaseShape,
  maxAbsDiff,
  randomCase,
  relativeNormError,
} from "../helpers.ts";

/** What the page reports to the driver. */
export interface SuiteReport {
  /** The adapter, in words. */
  adapter: string;
  results: { name: string; ok: boolean; ms: number; detail?: string; error?: string }[];
}

/** Forward, score and stream tolerance (tests/fwl_block_test.ts, stream_test.ts). */
const TOL = 2e-4;
/** Gradient tolerance, relative in norm (tests/train_grads_test.ts). */
const GRAD_TOL = 1e-3;
/** Optimizer tolerance (tests/optimizer_test.ts). */
const OPT_TOL = 2e-5;

type Case = ReturnType<typeof randomCase>;

function check(ok: boolean, message: string): asserts ok {
  if (!ok) throw new Error(message);
}

/** Throws unless `f` throws (or rejects with) an instance of `type` whose message includes `text`. */
async function throwsTyped(
  f: () => unknown,
  type: new (...a: never[]) => Error,
  text: string,
): Promise<string> {
  try {
    await f();
  } catch (e) {
    check(e instanceof type, `expected a ${type.name}, got ${e}`);
    check(e instanceof FWLError, `${e} is not an FWLError`);
    check(e.message.includes(text), `expected "${text}" in: ${e.message}`);
    return e.name;
  }
  throw new Error(`expected a ${type.name} mentioning "${text}", nothing was thrown`);
}

async function newBlock(
  s: CaseShape,
  c: Case,
  normalizer: "batch" | number = "batch",
): Promise<FWLBlock> {
  const block = new FWLBlock(s.size, s.V, s.C, { normalizer });
  await block.build(s.D);
  await block.setParams(c.params);
  return block;
}

function inputs(s: CaseShape, c: Case, oneHot = false): [Tensor, Tensor, Tensor] {
  return [
    tensor(c.x, [s.B, s.T, s.D]),
    oneHot ? tensor(c.oneHot, [s.B, s.T, s.V]) : tensor(c.ids, [s.B, s.T]),
    tensor(c.weights, [s.B, s.T]),
  ];
}

async function readAndDispose(t: Tensor): Promise<Float32Array> {
  try {
    return await t.read() as Float32Array;
  } finally {
    t.dispose();
  }
}

/** Per-position cross-entropy of reference logits (0 where the weight is 0) and the mean loss. */
function referenceNll(
  c: Case,
  logits: Float64Array,
  V: number,
): { nll: Float64Array; loss: number } {
  const nll = new Float64Array(c.weights.length);
  let total = 0, weight = 0;
  for (let i = 0; i < nll.length; i++) {
    if (c.weights[i] === 0) continue;
    const row = logits.subarray(i * V, (i + 1) * V);
    const max = Math.max(...row);
    nll[i] = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0)) - row[c.ids[i]];
    total += c.weights[i] * nll[i];
    weight += c.weights[i];
  }
  return { nll, loss: total / weight };
}

const tests: { name: string; run: () => Promise<string | void> }[] = [];
function test(name: string, run: () => Promise<string | void>): void {
  tests.push({ name, run });
}

test("forward equals the definition at odd shapes", async () => {
  const shapes: CaseShape[] = [
    { B: 1, T: 1, D: 5, size: 3, V: 7, C: 1 },
    { B: 2, T: 7, D: 5, size: 3, V: 11, C: 3 },
    { B: 3, T: 13, D: 9, size: 5, V: 17, C: 4 },
    { B: 2, T: 9, D: 7, size: 3, V: 97, C: 1 },
    { B: 3, T: 64, D: 48, size: 24, V: 97, C: 23 },
    { B: 1, T: 40, D: 33, size: 9, V: 65, C: 5 },
  ];
  let worst = 0;
  for (const [i, s] of shapes.entries()) {
    const c = randomCase(s, 100 + i);
    c.ref.epsilon = 1e-6;
    const want = referenceDefinition(c.ref);
    const block = await newBlock(s, c);
    try {
      const got = await readAndDispose(await block.forward(...inputs(s, c)));
      worst = Math.max(worst, assertClose(got, want, TOL, `shape ${JSON.stringify(s)}`));
    } finally {
      block.dispose();
    }
    if (s.T > 1) {
      const slow = referenceSlowForward(c.ref).logits;
      check(maxAbsDiff(slow, want) > 100 * TOL, `fast ≈ slow at ${JSON.stringify(s)}`);
    }
  }
  return `${shapes.length} shapes, worst error ${worst.toExponential(1)}`;
});

test("score: per-position cross-entropy (ids and one-hot)", async () => {
  const s = { B: 2, T: 45, D: 6, size: 3, V: 29, C: 4 };
  const c = randomCase(s, 71);
  const want = referenceNll(c, referenceFastForward(c.ref), s.V);
  const block = await newBlock(s, c);
  try {
    const [x, ids, w] = inputs(s, c);
    const byIds = await block.score(x, ids, w);
    let worst = assertClose(byIds.nll, want.nll, TOL, "nll (ids)");
    assertClose([byIds.loss], [want.loss], TOL, "loss");
    const byOneHot = await block.score(x, inputs(s, c, true)[1], w);
    worst = Math.max(worst, assertClose(byOneHot.nll, want.nll, TOL, "nll (one-hot)"));
    return `loss ${byIds.loss.toFixed(4)}, worst error ${worst.toExponential(1)}`;
  } finally {
    block.dispose();
  }
});

test("the stream equals the forward and the reference", async () => {
  const specs: (CaseShape & { N: number })[] = [
    { B: 1, T: 13, D: 5, size: 3, V: 7, C: 3, N: 1.5 },
    { B: 2, T: 11, D: 33, size: 9, V: 67, C: 4, N: 3 },
  ];
  let worst = 0;
  for (const [k, s] of specs.entries()) {
    const c = randomCase(s, 10 + k, { normalizer: s.N });
    const want = referenceFastForward(c.ref);
    check(maxAbsDiff(referenceSlowForward(c.ref).logits, want) > 0.05, "fast effect too small");
    const block = await newBlock(s, c, s.N);
    const stream = block.stream(s.B);
    try {
      const forward = await readAndDispose(await block.forward(...inputs(s, c)));
      for (let t = 0; t < s.T; t++) {
        const pick = <A extends Float32Array | Int32Array>(a: A, width: number): A => {
          const out = new (a.constructor as new (n: number) => A)(s.B * width);
          for (let b = 0; b < s.B; b++) {
            out.set(a.subarray((b * s.T + t) * width, (b * s.T + t + 1) * width), b * width);
          }
          return out;
        };
        const row = await readAndDispose(await stream.predict(tensor(pick(c.x, s.D), [s.B, s.D])));
        const ref = new Float32Array(s.B * s.V), par = new Float32Array(s.B * s.V);
        for (let b = 0; b < s.B; b++) {
          ref.set(want.subarray((b * s.T + t) * s.V, (b * s.T + t + 1) * s.V), b * s.V);
          par.set(forward.subarray((b * s.T + t) * s.V, (b * s.T + t + 1) * s.V), b * s.V);
        }
        worst = Math.max(worst, assertClose(row, ref, TOL, `spec ${k} t=${t} vs reference`));
        assertClose(row, par, TOL, `spec ${k} t=${t} vs forward`);
        await stream.observe(tensor(pick(c.ids, 1), [s.B]), tensor(pick(c.weights, 1), [s.B]));
      }
      check(stream.position === s.T, `position ${stream.position} ≠ ${s.T}`);
    } finally {
      stream.dispose();
      block.dispose();
    }
  }
  return `worst error ${worst.toExponential(1)}`;
});

test("lossAndGrads: loss and all 15 gradients against the reference", async () => {
  const shapes: (CaseShape & { oneHot?: boolean })[] = [
    { B: 1, T: 1, D: 3, size: 3, V: 5, C: 1 },
    { B: 2, T: 5, D: 4, size: 3, V: 7, C: 3, oneHot: true },
    { B: 3, T: 13, D: 5, size: 3, V: 11, C: 4 },
    { B: 2, T: 5, D: 8, size: 4, V: 12, C: 3 },
  ];
  let worst = 0;
  for (const [i, s] of shapes.entries()) {
    const c = randomCase(s, 200 + i);
    if (s.oneHot) c.ref.labels = { oneHot: c.oneHot };
    const block = await newBlock(s, c);
    try {
      for (const firstOrderOnly of [false, true]) {
        const got = await lossAndGrads(block, ...inputs(s, c, s.oneHot), { firstOrderOnly });
        const want = referenceLossAndGrads(c.ref, { firstOrderOnly });
        const what = `${JSON.stringify(s)}${firstOrderOnly ? " first order" : ""}`;
        const lossErr = Math.abs(got.loss - want.loss) / Math.max(1, Math.abs(want.loss));
        check(lossErr <= 1e-5, `${what}: loss ${got.loss} vs ${want.loss}`);
        const names = [...PARAM_NAMES, "x"];
        check(Object.keys(got.grads).length === names.length, `${what}: gradient names`);
        for (const name of names) {
          const e = relativeNormError(got.grads[name], want.grads[name]);
          check(e <= GRAD_TOL, `${what}: ${name} relative error ${e.toExponential(2)}`);
          worst = Math.max(worst, e);
        }
      }
    } finally {
      block.dispose();
    }
  }
  return `${shapes.length} shapes × 2 orders, worst relative error ${worst.toExponential(1)}`;
});

/** Gradients as an optimizer's record: the eight tensors and one 1-float gradient per step. */
function gradRecord(grads: Record<string, Float32Array>): Record<string, Tensor> {
  const record: Record<string, Tensor> = {};
  for (const name of PARAM_NAMES) record[name] = tensor(grads[name], [grads[name].length]);
  return record;
}

test("one SGD step and one Adam step equal the float64 update", async () => {
  const s = { B: 2, T: 9, D: 5, size: 3, V: 11, C: 3 };
  const c = randomCase(s, 301);
  const lr = 0.05;
  const steps = new Set<string>(STEP_NAMES);
  // The direction of a first step: SGD g; Adam (bias-corrected) g / (|g| + ε). Step sizes are
  // learned in log space with 10× the learning rate: s·exp(−10·lr·d(s·g)); the rest x − lr·d(g).
  const rules: [string, (p: OptimParams) => Optimizer, (g: number) => number][] = [
    ["SGD", (p) => new SGD(p.ctx, p.params, { lr }), (g) => g],
    ["Adam", (p) => new Adam(p.ctx, p.params, { lr }), (g) => g / (Math.abs(g) + 1e-8)],
  ];
  let worst = 0;
  for (const [name, make, direction] of rules) {
    const block = await newBlock(s, c);
    const opt = make({ ctx: block.context, params: blockParams(block) });
    try {
      const { grads } = await lossAndGrads(block, ...inputs(s, c));
      await opt.step(gradRecord(grads));
      const after = await block.getParams();
      for (const p of PARAM_NAMES) {
        const want = Array.from(c.params[p], (x, i) => {
          const g = grads[p][i];
          return steps.has(p) ? x * Math.exp(-10 * lr * direction(x * g)) : x - lr * direction(g);
        });
        worst = Math.max(worst, assertClose(after[p], want, OPT_TOL, `${name} ${p}`));
      }
      check(opt.stepCount === 1, `${name}: stepCount ${opt.stepCount}`);
    } finally {
      opt.dispose();
      block.dispose();
    }
  }
  return `worst error ${worst.toExponential(1)}`;
});

interface OptimParams {
  ctx: GPUContext;
  params: ReturnType<typeof blockParams>;
}

test("checkpoint bytes round trip (parameters and Adam state, bit-exact)", async () => {
  const s = { B: 2, T: 7, D: 6, size: 4, V: 13, C: 2 };
  const c = randomCase(s, 401);
  const a = await newBlock(s, c);
  const b = new FWLBlock(s.size, s.V, s.C);
  const optA = new Adam(a.context, blockParams(a), { lr: 0.01 });
  let optB: Optimizer | undefined;
  try {
    const { grads } = await lossAndGrads(a, ...inputs(s, c));
    await optA.step(gradRecord(grads));
    const bytes = await checkpointBytes(a, { optimizer: optA, metadata: { run: "browser" } });
    await b.build(s.D);
    optB = new Adam(b.context, blockParams(b), { lr: 0.01 });
    const { metadata } = await loadCheckpointBytes(b, bytes, { optimizer: optB });
    check(metadata.run === "browser", `metadata ${JSON.stringify(metadata)}`);
    const [pa, pb] = [await a.getParams(), await b.getParams()];
    for (const name of PARAM_NAMES) {
      check(pa[name].every((v, i) => Object.is(v, pb[name][i])), `${name} differs after loading`);
    }
    const [sa, sb] = [await optA.state(), await optB.state()];
    check(sa.step === 1 && sb.step === 1, `optimizer steps ${sa.step}, ${sb.step}`);
    for (const [key, v] of Object.entries(sa.slots)) {
      check(v.every((x, i) => Object.is(x, sb.slots[key][i])), `optimizer slot ${key} differs`);
    }
    await throwsTyped(
      () => loadCheckpointBytes(b, bytes.subarray(0, 20)),
      FWLError,
      "loadCheckpointBytes",
    );
    return `${bytes.length} bytes, ${Object.keys(sa.slots).length} optimizer slots`;
  } finally {
    optA.dispose();
    optB?.dispose();
    a.dispose();
    b.dispose();
  }
});

test("bad inputs throw typed errors that name the argument", async () => {
  const names = new Set<string>();
  names.add(await throwsTyped(() => new FWLBlock(0, 5, 1), FWLInputError, "size"));
  names.add(await throwsTyped(() => new FWLBlock(3, 5, 0), FWLInputError, "attnChunks"));
  const block = new FWLBlock(3, 5, 2);
  try {
    const x = tensor(new Float32Array(24), [2, 3, 4]);
    const ids = tensor(new Int32Array(6), [2, 3]);
    const w = tensor(new Float32Array(6).fill(1), [2, 3]);
    names.add(await throwsTyped(() => block.forward(x, ids, w), FWLStateError, "build"));
    await block.build(4);
    const nan = new Float32Array(24);
    nan[5] = NaN;
    await throwsTyped(
      () => block.forward(tensor(nan, [2, 3, 4]), ids, w),
      FWLInputError,
      "x: expected finite",
    );
    await throwsTyped(
      () => block.forward(x, tensor(new Int32Array([0, 5, 0, 0, 0, 0]), [2, 3]), w),
      FWLInputError,
      "[0, 5)",
    );
    await throwsTyped(
      () => block.forward(x, ids, tensor(new Float32Array(3), [3])),
      FWLInputError,
      "weights",
    );
  } finally {
    block.dispose();
  }
  names.add(
    await throwsTyped(
      () =>
        block.forward(
          tensor(new Float32Array(4), [1, 1, 4]),
          tensor(new Int32Array(1), [1, 1]),
          tensor(new Float32Array(1), [1, 1]),
        ),
      FWLStateError,
      "disposed",
    ),
  );
  return [...names].join(", ");
});

test("memory is flat over repeated forward, score, lossAndGrads and stream calls", async () => {
  const s = { B: 2, T: 9, D: 5, size: 3, V: 11, C: 3 };
  const c = randomCase(s, 501, { normalizer: 4 });
  const block = await newBlock(s, c, 4);
  const stream = block.stream(s.B);
  try {
    const round = async () => {
      (await block.forward(...inputs(s, c))).dispose();
      await block.score(...inputs(s, c));
      await lossAndGrads(block, ...inputs(s, c));
      const x = tensor(c.x.subarray(0, s.B * s.D), [s.B, s.D]);
      (await stream.predict(x)).dispose();
      await stream.observe(
        tensor(new Int32Array(s.B), [s.B]),
        tensor(new Float32Array(s.B).fill(1), [s.B]),
      );
    };
    await round();
    const pool = block.context.pool;
    const before = pool.allocatedBytes;
    for (let i = 0; i < 5; i++) await round();
    check(
      pool.allocatedBytes === before,
      `pool grew from ${before} to ${pool.allocatedBytes} bytes`,
    );
    return `${before} bytes pooled, unchanged over 5 rounds`;
  } finally {
    stream.dispose();
    block.dispose();
  }
});

test("without an adapter, the advice is for a browser user", () => {
  const advice = howToGetAnAdapter();
  for (const words of ["secure context", "WebGPU enabled"]) {
    check(advice.includes(words), `"${words}" missing from: ${advice}`);
  }
  check(!advice.includes("Mesa"), `Deno advice in a browser: ${advice}`);
  return Promise.resolve("secure context, a browser with WebGPU enabled");
});

async function adapterInfo(): Promise<string> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = await gpu?.requestAdapter();
  if (!adapter) return "none";
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  const limits = adapter.limits;
  return [
    [info.vendor, info.architecture, info.device, info.description].filter((v) => v).join(" "),
    info.isFallbackAdapter ? "(fallback adapter)" : "",
    `maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}`,
    `maxComputeInvocationsPerWorkgroup ${limits.maxComputeInvocationsPerWorkgroup}`,
    `shader-f16 ${adapter.features.has("shader-f16") ? "yes" : "no"}`,
  ].filter((v) => v).join(", ");
}

async function runAll(): Promise<SuiteReport> {
  const log = document.querySelector("#log")!;
  const adapter = await adapterInfo();
  document.querySelector("#adapter")!.textContent = `adapter: ${adapter}`;
  const results: SuiteReport["results"] = [];
  for (const t of tests) {
    const start = performance.now();
    let result: SuiteReport["results"][number];
    try {
      const detail = await t.run();
      result = { name: t.name, ok: true, ms: performance.now() - start, detail: detail ?? "" };
    } catch (e) {
      const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      result = { name: t.name, ok: false, ms: performance.now() - start, error };
    }
    results.push(result);
    console.log("@" + JSON.stringify(result));
    const line = document.createElement("div");
    line.textContent = `${result.ok ? "ok  " : "FAIL"} ${t.name} ${result.detail ?? result.error}`;
    if (!result.ok) line.className = "fail";
    log.append(line);
  }
  return { adapter, results };
}

(globalThis as { fwlSuite?: Promise<SuiteReport> }).fwlSuite = runAll();
