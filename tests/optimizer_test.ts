// Tests of the GPU optimizers (src/optim/) against a plain float64 CPU
// implementation of the same update rules, and of the learning-rate schedules.

import { assert, assertAlmostEquals, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { FWLInputError, FWLStateError } from "../src/errors.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { STEP_NAMES } from "../src/fwl/params.ts";
import { SeededRandom } from "../src/util/random.ts";
import { GPUContext } from "../src/gpu/context.ts";
import { tensor } from "../src/tensor.ts";
import {
  Adam,
  type AdamOptions,
  AdamW,
  blockParams,
  defaultDecayFilter,
  defaultLogSpace,
  defaultLrScale,
  defaultNonNegative,
  type GradSource,
  LOG_SPACE_LR_SCALE,
  type OptimParam,
  SGD,
} from "../src/optim/mod.ts";
import { constantSchedule, type Schedule, warmupCosineSchedule } from "../src/optim/mod.ts";
import { assertClose, readFloats, uploadExact } from "./helpers.ts";

const ctx = await GPUContext.default();

// ---------------------------------------------------------------------------------------
// The float64 CPU optimizer (the oracle).

interface RefOptions {
  kind: "sgd" | "adam" | "adamw";
  lr: number | Schedule;
  weightDecay?: number;
  momentum?: number;
  nesterov?: boolean;
  beta1?: number;
  beta2?: number;
  eps?: number;
  biasCorrection?: boolean;
  clipNorm?: number;
}

class RefOptimizer {
  t = 0;
  readonly m: Float64Array[];
  readonly v: Float64Array[];

  constructor(
    readonly o: RefOptions,
    /** Per parameter, per element: weight decay applies. */
    readonly decays: boolean[][],
    /** Per parameter, per element: clamp to ≥ 0. */
    readonly nonNeg: boolean[][],
    /** Per parameter, per element: learned in log space (default: none). */
    readonly logSpace: boolean[][] = decays.map((d) => d.map(() => false)),
    /** Per parameter, per element: learning-rate multiplier (default: 1). */
    readonly lrScale: number[][] = decays.map((d) => d.map(() => 1)),
  ) {
    this.m = decays.map((d) => new Float64Array(d.length));
    this.v = decays.map((d) => new Float64Array(d.length));
  }

  /** One update in place; returns the global gradient norm. */
  step(params: Float64Array[], grads: Float64Array[]): number {
    const o = this.o;
    const lr = typeof o.lr === "number" ? o.lr : o.lr(this.t);
    let sq = 0;
    for (const g of grads) for (const x of g) sq += x * x;
    const norm = Math.sqrt(sq);
    const scale = o.clipNorm === undefined ? 1 : o.clipNorm / Math.max(norm, o.clipNorm);
    this.t++;
    const wd = o.weightDecay ?? (o.kind === "adamw" ? 0.01 : 0);
    const mu = o.momentum ?? 0;
    const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999, eps = o.eps ?? 1e-8;
    const bc = o.biasCorrection ?? true;
    const bc1 = bc ? 1 - b1 ** this.t : 1;
    const bc2 = bc ? 1 - b2 ** this.t : 1;
    params.forEach((p, i) => {
      for (let j = 0; j < p.length; j++) {
        let x = p[j];
        // In log space the rule runs on u = log x: ∂L/∂u = x·∂L/∂x, u −= Δ is x·exp(−Δ).
        const log = this.logSpace[i][j];
        let g = grads[i][j] * scale * (log ? x : 1);
        const descend = (d: number) => log ? x * Math.exp(-d) : x - d;
        const rate = lr * this.lrScale[i][j];
        const decays = this.decays[i][j];
        if (o.kind === "sgd") {
          if (decays) g += wd * x;
          let d = g;
          if (mu > 0) {
            this.m[i][j] = mu * this.m[i][j] + g;
            d = o.nesterov ? g + mu * this.m[i][j] : this.m[i][j];
          }
          x = descend(rate * d);
        } else {
          if (decays && o.kind === "adam") g += wd * x;
          if (decays && o.kind === "adamw") x -= rate * wd * x;
          this.m[i][j] = b1 * this.m[i][j] + (1 - b1) * g;
          this.v[i][j] = b2 * this.v[i][j] + (1 - b2) * g * g;
          x = descend(rate * (this.m[i][j] / bc1) / (Math.sqrt(this.v[i][j] / bc2) + eps));
        }
        if (this.nonNeg[i][j]) x = Math.max(x, 0);
        p[j] = x;
      }
    });
    return norm;
  }
}

// ---------------------------------------------------------------------------------------
// Helpers.

function randomArray(rng: SeededRandom, n: number, sd = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = sd * rng.normal();
  return a;
}

interface Spec {
  name: string;
  length: number;
  /** Place the parameter at this element of a larger buffer with sentinels around it. */
  offset?: number;
}

/**
 * Runs `steps` updates of `make(params)` on the GPU and of `ref` on the CPU from the
 * same start and gradients, and compares every parameter after each step. Returns the
 * GPU norms reported by `lastGradNorm` and the reference norms.
 */
async function compare(
  specs: Spec[],
  make: (params: OptimParam[]) => SGD | Adam,
  refOptions: RefOptions,
  opts: {
    steps?: number;
    seed?: number;
    decides?: (name: string) => [boolean, boolean];
    /** Per name: learned in log space, and the learning-rate multiplier. */
    logRules?: (name: string) => [boolean, number];
    gradMean?: number;
  } = {},
): Promise<{ gpu: (number | undefined)[]; ref: number[] }> {
  const rng = new SeededRandom(opts.seed ?? 1);
  const decide = opts.decides ??
    ((n: string) => [defaultDecayFilter(n), defaultNonNegative(n)]);
  const start = specs.map((s) => randomArray(rng, s.length));
  const buffers = specs.map((s, i) => {
    const off = s.offset ?? 0;
    const data = new Float32Array(off + s.length + 3).fill(12345);
    data.set(start[i], off);
    return uploadExact(ctx, data);
  });
  const params: OptimParam[] = specs.map((s, i) => ({
    name: s.name,
    buffer: buffers[i],
    length: s.length,
    offset: s.offset,
  }));
  const logRules = opts.logRules ??
    ((n: string) => [defaultLogSpace(n), defaultLrScale(n)] as [boolean, number]);
  const ref = new RefOptimizer(
    refOptions,
    specs.map((s) => Array(s.length).fill(decide(s.name)[0])),
    specs.map((s) => Array(s.length).fill(decide(s.name)[1])),
    specs.map((s) => Array(s.length).fill(logRules(s.name)[0])),
    specs.map((s) => Array(s.length).fill(logRules(s.name)[1])),
  );
  const cpu = start.map((a) => Float64Array.from(a));
  const opt = make(params);
  const norms = { gpu: [] as (number | undefined)[], ref: [] as number[] };
  const gradBuffers: GPUBuffer[] = [];
  try {
    for (let step = 0; step < (opts.steps ?? 4); step++) {
      const g = specs.map((s) => {
        const a = randomArray(rng, s.length);
        if (opts.gradMean) { for (let i = 0; i < a.length; i++) a[i] += opts.gradMean; }
        return a;
      });
      const grads: Record<string, GradSource> = {};
      specs.forEach((s, i) => {
        const b = uploadExact(ctx, g[i]);
        gradBuffers.push(b);
        grads[s.name] = b;
      });
      await opt.step(grads);
      norms.ref.push(ref.step(cpu, g.map((a) => Float64Array.from(a))));
      norms.gpu.push(await opt.lastGradNorm());
      for (let i = 0; i < specs.length; i++) {
        const off = specs[i].offset ?? 0;
        const all = await readFloats(ctx, buffers[i], off + specs[i].length + 3);
        assertClose(
          all.subarray(off, off + specs[i].length),
          cpu[i],
          2e-5,
          `step ${step + 1} ${specs[i].name}`,
        );
        for (let j = 0; j < all.length; j++) {
          if (j < off || j >= off + specs[i].length) {
            assertEquals(all[j], 12345, `${specs[i].name}: sentinel ${j}`);
          }
        }
      }
    }
    assertEquals(opt.stepCount, opts.steps ?? 4);
  } finally {
    opt.dispose();
    for (const b of [...buffers, ...gradBuffers]) b.destroy();
  }
  return norms;
}

const ODD: Spec[] = [
  { name: "a/kernel", length: 1 },
  { name: "b/kernel", length: 7, offset: 3 },
  { name: "c/kernel", length: 1000 },
];

// ---------------------------------------------------------------------------------------
// SGD.

Deno.test("SGD matches float64 SGD (plain, momentum, Nesterov, L2 decay)", async () => {
  await compare(ODD, (p) => new SGD(ctx, p, { lr: 0.1 }), {
    kind: "sgd",
    lr: 0.1,
  });
  await compare(
    ODD,
    (p) => new SGD(ctx, p, { lr: 0.05, momentum: 0.9 }),
    { kind: "sgd", lr: 0.05, momentum: 0.9 },
  );
  const specs: Spec[] = [...ODD, { name: "c/bias", length: 7 }];
  await compare(
    specs,
    (p) =>
      new SGD(ctx, p, {
        lr: 0.05,
        momentum: 0.8,
        nesterov: true,
        weightDecay: 0.5,
      }),
    { kind: "sgd", lr: 0.05, momentum: 0.8, nesterov: true, weightDecay: 0.5 },
  );
});

// ---------------------------------------------------------------------------------------
// Adam / AdamW.

const NAMED: Spec[] = [
  { name: "dense/kernel", length: 1000 },
  { name: "dense/bias", length: 7, offset: 5 },
  { name: "layer_norm/scale", length: 7 },
  { name: "embedding", length: 1 },
];

Deno.test("Adam matches float64 Adam, with and without bias correction", async () => {
  await compare(NAMED, (p) => new Adam(ctx, p, { lr: 0.01 }), {
    kind: "adam",
    lr: 0.01,
  }, { steps: 5 });
  await compare(
    NAMED,
    (p) =>
      new Adam(ctx, p, {
        lr: 0.02,
        beta1: 0.5,
        beta2: 0.9,
        eps: 1e-3,
        biasCorrection: false,
      }),
    {
      kind: "adam",
      lr: 0.02,
      beta1: 0.5,
      beta2: 0.9,
      eps: 1e-3,
      biasCorrection: false,
    },
    { steps: 5 },
  );
});

Deno.test("bias correction changes the first steps (the test can tell)", async () => {
  // With correction the first step moves each element by ≈ lr; without, by ≈ lr·(1−β1)/sqrt(1−β2).
  const rng = new SeededRandom(3);
  const start = randomArray(rng, 7);
  const grad = uploadExact(ctx, randomArray(rng, 7));
  const moved: number[] = [];
  for (const biasCorrection of [true, false]) {
    const b = uploadExact(ctx, start);
    const opt = new Adam(ctx, [{ name: "w", buffer: b, length: 7 }], {
      lr: 0.1,
      biasCorrection,
    });
    await opt.step({ w: grad });
    const after = await readFloats(ctx, b, 7);
    moved.push(Math.abs(after[0] - start[0]));
    opt.dispose();
    b.destroy();
  }
  grad.destroy();
  assertAlmostEquals(moved[0], 0.1, 1e-5);
  assertAlmostEquals(moved[1], 0.1 * 0.1 / Math.sqrt(0.001), 1e-4);
});

Deno.test("Adam L2 and AdamW decoupled decay skip biases, layer norm and steps", async () => {
  const specs: Spec[] = [...NAMED, { name: "x_step", length: 1 }];
  await compare(
    specs,
    (p) => new Adam(ctx, p, { lr: 0.05, weightDecay: 0.5 }),
    { kind: "adam", lr: 0.05, weightDecay: 0.5 },
  );
  await compare(
    specs,
    (p) => new AdamW(ctx, p, { lr: 0.05, weightDecay: 0.5 }),
    { kind: "adamw", lr: 0.05, weightDecay: 0.5 },
  );
  // AdamW's default weight decay is 0.01.
  await compare(specs, (p) => new AdamW(ctx, p, { lr: 0.05 }), {
    kind: "adamw",
    lr: 0.05,
  });
  // The predicate overrides the default: decay everything but "dense/kernel" (the step
  // size then learned additively: decay in log space is refused).
  const filter = (n: string) => n !== "dense/kernel";
  await compare(
    specs,
    (p) => new AdamW(ctx, p, { lr: 0.05, weightDecay: 0.5, decayFilter: filter, logSpace: [] }),
    { kind: "adamw", lr: 0.05, weightDecay: 0.5 },
    {
      decides: (n) => [filter(n), defaultNonNegative(n)],
      logRules: (n) => [false, defaultLrScale(n)],
    },
  );
  const b = uploadExact(ctx, new Float32Array(2));
  assertThrows(
    () =>
      new AdamW(ctx, [{ name: "x_step", buffer: b, length: 1 }], { lr: 1, decayFilter: filter }),
    FWLInputError,
    'no weight decay on a parameter learned in log space, got decay on "x_step"',
  );
  // Without weight decay the filter doesn't matter.
  new Adam(ctx, [{ name: "x_step", buffer: b, length: 1 }], { lr: 1, decayFilter: filter })
    .dispose();
  b.destroy();
});

Deno.test("log-space parameters: float64 match, factors, own learning rate", async () => {
  const specs: Spec[] = [...NAMED, { name: "x_step", length: 1 }, { name: "y", length: 5 }];
  // Defaults: "x_step" in log space with 10× the learning rate.
  await compare(specs, (p) => new Adam(ctx, p, { lr: 0.01, clipNorm: 2 }), {
    kind: "adam",
    lr: 0.01,
    clipNorm: 2,
  }, { steps: 5 });
  await compare(specs, (p) => new SGD(ctx, p, { lr: 0.05, momentum: 0.5 }), {
    kind: "sgd",
    lr: 0.05,
    momentum: 0.5,
  }, { steps: 3 });
  // A list of names and an explicit multiplier; AdamW decays the others.
  const log = (n: string) => n === "y" || n === "layer_norm/scale";
  await compare(
    specs,
    (p) =>
      new AdamW(ctx, p, {
        lr: 0.02,
        logSpace: ["y", "layer_norm/scale"],
        lrScale: (n) => (log(n) ? 3 : 0.5),
        decayFilter: (n) => defaultDecayFilter(n) && !log(n),
      }),
    { kind: "adamw", lr: 0.02 },
    {
      decides: (n) => [defaultDecayFilter(n) && !log(n), defaultNonNegative(n)],
      logRules: (n) => [log(n), log(n) ? 3 : 0.5],
      steps: 4,
    },
  );
  // A step size moves by orders of magnitude: 100 Adam steps at lr 0.01 (0.1 for step
  // sizes) with a gradient that keeps asking for more multiply it by more than e^9.
  const b = uploadExact(ctx, new Float32Array([0.01, 0, 2]));
  const g = uploadExact(ctx, new Float32Array([-1e-3, -5, 1e-3]));
  const opt = new Adam(ctx, [{
    name: "s",
    buffer: b,
    length: 3,
    elementNames: ["a_step", "b_step", "c_step"],
  }], {
    lr: 0.01,
  });
  for (let i = 0; i < 100; i++) await opt.step({ s: g });
  const [up, zero, down] = await readFloats(ctx, b, 3);
  assert(Math.log(up / 0.01) > 9, `grew ${up / 0.01}×`);
  assertEquals(zero, 0, "a step size at 0 stays at 0");
  // Shrinking, its log-space gradient shrinks too: Adam's v remembers the larger ones.
  assert(down < 2 / 20 && down > 0, `shrank to ${down}`);
  opt.dispose();
  b.destroy();
  g.destroy();
});

Deno.test("Adam with decoupledWeightDecay is AdamW (kind, updates, options)", async () => {
  const specs: Spec[] = [...NAMED, { name: "x_step", length: 1 }];
  await compare(
    specs,
    (p) => new Adam(ctx, p, { lr: 0.05, weightDecay: 0.5, decoupledWeightDecay: true }),
    { kind: "adamw", lr: 0.05, weightDecay: 0.5 },
  );
  const b = uploadExact(ctx, new Float32Array(2));
  const p = [{ name: "w", buffer: b, length: 2 }];
  const kinds = [
    new Adam(ctx, p, { lr: 1 }),
    new Adam(ctx, p, { lr: 1, decoupledWeightDecay: true }),
    new AdamW(ctx, p, { lr: 1 }),
  ];
  assertEquals(kinds.map((o) => o.kind), ["adam", "adamw", "adamw"]);
  assert(kinds[2] instanceof Adam);
  kinds.forEach((o) => o.dispose());
  assertThrows(
    () => new Adam(ctx, p, { lr: 1, decoupledWeightDecay: 1 as unknown as boolean }),
    FWLInputError,
    "options.decoupledWeightDecay",
  );
  assertThrows(
    () => new AdamW(ctx, p, null as unknown as AdamOptions),
    FWLInputError,
    "AdamW: options",
  );
  b.destroy();
});

Deno.test("the default filters", () => {
  assert(defaultDecayFilter("dense_0/kernel"));
  assert(defaultDecayFilter("unembed/kernel"));
  assert(!defaultDecayFilter("dense_0/bias"));
  assert(!defaultDecayFilter("unembed/bias"));
  assert(!defaultDecayFilter("layer_norm/scale"));
  assert(!defaultDecayFilter("layer_norm/bias"));
  assert(!defaultDecayFilter("dense_1/kernel_step"));
  assert(defaultNonNegative("layer_norm/scale_step"));
  assert(!defaultNonNegative("layer_norm/scale"));
  assert(defaultLogSpace("dense_0/bias_step"));
  assert(!defaultLogSpace("dense_0/bias"));
  assertEquals(defaultLrScale("dense_0/bias_step"), LOG_SPACE_LR_SCALE);
  assertEquals(defaultLrScale("dense_0/bias"), 1);
});

// ---------------------------------------------------------------------------------------
// Clipping.

Deno.test("global-norm clipping: norm on the GPU, updates scaled", async () => {
  // SGD shows the scaling directly; the gradient norm is ≈ sqrt(1008) ≫ 0.5.
  const norms = await compare(
    ODD,
    (p) => new SGD(ctx, p, { lr: 1, clipNorm: 0.5 }),
    { kind: "sgd", lr: 1, clipNorm: 0.5 },
  );
  norms.ref.forEach((n, i) => {
    assert(n > 20, "the gradient is much larger than the clip");
    assertAlmostEquals(norms.gpu[i]!, n, 1e-5 * n);
  });
  // Above the norm: no clipping, and the result equals plain SGD (checked against ref).
  const loose = await compare(
    ODD,
    (p) => new SGD(ctx, p, { lr: 0.1, clipNorm: 1e6 }),
    { kind: "sgd", lr: 0.1 },
  );
  assert(loose.gpu.every((n) => n !== undefined && n > 20));
  // Adam with momentum sees the clipped gradients through its moments and ε.
  await compare(
    NAMED,
    (p) => new Adam(ctx, p, { lr: 0.01, eps: 0.05, clipNorm: 2 }),
    { kind: "adam", lr: 0.01, eps: 0.05, clipNorm: 2 },
  );
  // Without clipNorm there is no norm to report.
  const b = uploadExact(ctx, new Float32Array(3));
  const g = uploadExact(ctx, new Float32Array([1, 2, 3]));
  const opt = new SGD(ctx, [{ name: "w", buffer: b, length: 3 }], { lr: 1 });
  await opt.step({ w: g });
  assertEquals(await opt.lastGradNorm(), undefined);
  opt.dispose();
  b.destroy();
  g.destroy();
});

// ---------------------------------------------------------------------------------------
// Schedules.

Deno.test("constantSchedule and warmupCosineSchedule values", () => {
  const c = constantSchedule(0.25);
  assertEquals([c(0), c(7), c(1e6)], [0.25, 0.25, 0.25]);
  const s = warmupCosineSchedule({
    peak: 2,
    warmupSteps: 4,
    totalSteps: 14,
    final: 0.2,
  });
  assertEquals([s(0), s(1), s(2), s(3)], [0.5, 1, 1.5, 2]);
  assertAlmostEquals(s(4), 2, 1e-12);
  for (let k = 4; k < 14; k++) {
    const p = (k - 4) / 10;
    assertAlmostEquals(s(k), 0.2 + 1.8 * (1 + Math.cos(Math.PI * p)) / 2, 1e-12);
    assert(s(k + 1) <= s(k), "decreasing after the warm-up");
  }
  assertAlmostEquals(s(9), 1.1, 1e-12); // halfway: (peak + final) / 2
  assertEquals([s(14), s(15), s(1000)], [0.2, 0.2, 0.2]);
  const noWarmup = warmupCosineSchedule({
    peak: 1,
    warmupSteps: 0,
    totalSteps: 2,
  });
  assertEquals([noWarmup(0), noWarmup(2)], [1, 0]);
  assertAlmostEquals(noWarmup(1), 0.5, 1e-12);
  assertThrows(() => constantSchedule(-1), FWLInputError, "lr");
  assertThrows(
    () => warmupCosineSchedule({ peak: 1, warmupSteps: 5, totalSteps: 4 }),
    FWLInputError,
    "totalSteps",
  );
  assertThrows(
    () => warmupCosineSchedule({ peak: NaN, warmupSteps: 0, totalSteps: 4 }),
    FWLInputError,
    "peak",
  );
  assertThrows(
    () => warmupCosineSchedule({ peak: 1, warmupSteps: 1.5, totalSteps: 4 }),
    FWLInputError,
    "warmupSteps",
  );
});

Deno.test("an optimizer follows its schedule, step by step", async () => {
  const lr = warmupCosineSchedule({ peak: 0.3, warmupSteps: 2, totalSteps: 5 });
  await compare(ODD, (p) => new SGD(ctx, p, { lr, momentum: 0.5 }), {
    kind: "sgd",
    lr,
    momentum: 0.5,
  }, { steps: 6 });
  const b = uploadExact(ctx, new Float32Array(1));
  const opt = new SGD(ctx, [{ name: "w", buffer: b, length: 1 }], { lr });
  assertEquals(opt.learningRate, lr(0));
  const g = uploadExact(ctx, new Float32Array([1]));
  await opt.step({ w: g });
  assertEquals(opt.learningRate, lr(1));
  const bad = new SGD(ctx, [{ name: "w", buffer: b, length: 1 }], {
    lr: () => NaN,
  });
  await assertRejects(() => bad.step({ w: g }), FWLInputError, "lr(0)");
  assertEquals(bad.stepCount, 0);
  bad.dispose();
  opt.dispose();
  b.destroy();
  g.destroy();
});

// ---------------------------------------------------------------------------------------
// Non-negativity.

Deno.test("non-negative parameters are clamped after each update", async () => {
  const specs: Spec[] = [
    { name: "a_step", length: 1 },
    { name: "w", length: 7 },
    { name: "v", length: 33 },
  ];
  // Positive gradients push everything down; by default only "a_step" is clamped.
  await compare(specs, (p) => new SGD(ctx, p, { lr: 1 }), {
    kind: "sgd",
    lr: 1,
  }, { gradMean: 3 });
  // A list of names, and a predicate.
  await compare(
    specs,
    (p) => new Adam(ctx, p, { lr: 0.5, nonNegative: ["w"] }),
    { kind: "adam", lr: 0.5 },
    { gradMean: 3, decides: (n) => [false, n === "w"] },
  );
  await compare(
    specs,
    (p) => new AdamW(ctx, p, { lr: 0.5, nonNegative: (n) => n !== "w" }),
    { kind: "adamw", lr: 0.5 },
    { gradMean: 3, decides: (n) => [defaultDecayFilter(n), n !== "w"] },
  );
  // The clamp bites: a step size pushed below 0 ends at exactly 0.
  const b = uploadExact(ctx, new Float32Array([0.01, 0.01]));
  const g = uploadExact(ctx, new Float32Array([5, 5]));
  const opt = new SGD(ctx, [{ name: "x_step", buffer: b, length: 2 }], {
    lr: 1,
    logSpace: [],
  });
  await opt.step({ x_step: g });
  assertEquals([...await readFloats(ctx, b, 2)], [0, 0]);
  opt.dispose();
  // In log space (the default for step sizes) it shrinks by a factor instead:
  // 0.01·exp(−lr·10·(0.01·5)).
  ctx.device.queue.writeBuffer(b, 0, new Float32Array([0.01, 0.01]));
  const logOpt = new SGD(ctx, [{ name: "x_step", buffer: b, length: 2 }], { lr: 1 });
  await logOpt.step({ x_step: g });
  for (const v of await readFloats(ctx, b, 2)) assertAlmostEquals(v, 0.01 * Math.exp(-0.5), 1e-7);
  logOpt.dispose();
  b.destroy();
  g.destroy();
});

// ---------------------------------------------------------------------------------------
// The block's parameters, packed step sizes, state.

Deno.test("blockParams: names, lengths, packed steps with per-element rules", async () => {
  const block = new FWLBlock(3, 5, 1, { seed: 7 });
  await block.build(4);
  try {
    const params = blockParams(block);
    assertEquals(params.map((p) => [p.name, p.length]), [
      ["dense_0/kernel", 48],
      ["dense_0/bias", 12],
      ["dense_1/kernel", 36],
      ["dense_1/bias", 3],
      ["layer_norm/scale", 3],
      ["layer_norm/bias", 3],
      ["unembed/kernel", 15],
      ["unembed/bias", 5],
      ["steps", 6],
    ]);
    assertEquals(params[8].elementNames, STEP_NAMES);
    assertEquals(params[8].buffer, block.buffers.steps);

    // Start from random values (step sizes ~0.5) and run AdamW with a decay filter that
    // decays dense_0/kernel_step only and a clamp on every step but dense_1/bias_step.
    const rng = new SeededRandom(11);
    const shapes = block.paramShapes;
    const start: Record<string, Float32Array> = {};
    for (const [name, shape] of Object.entries(shapes)) {
      const n = shape.reduce((a, b) => a * b, 1);
      start[name] = name.endsWith("_step")
        ? new Float32Array([0.5 + 0.1 * rng.normal()])
        : randomArray(rng, n, 0.5);
    }
    await block.setParams(start);
    const order = params.flatMap((p) => p.elementNames ?? [p.name]);
    // The layer-norm step sizes are learned in log space (with 10× the rate), the
    // others additively.
    const decay = (n: string) => n === "dense_0/kernel_step" || defaultDecayFilter(n);
    const clamp = (n: string) => n.endsWith("_step") && n !== "dense_1/bias_step";
    const log = (n: string) => n.startsWith("layer_norm/") && n.endsWith("_step");
    const make = () =>
      new AdamW(ctx, blockParams(block), {
        lr: 0.3,
        weightDecay: 0.5,
        decayFilter: decay,
        nonNegative: clamp,
        logSpace: log,
      });
    // The reference treats each step size as its own length-1 parameter.
    const lengthOf = (n: string) => start[n].length;
    const refParams = order.map((n) => Float64Array.from(start[n]));
    const ref = new RefOptimizer(
      { kind: "adamw", lr: 0.3, weightDecay: 0.5 },
      order.map((n) => Array(lengthOf(n)).fill(decay(n))),
      order.map((n) => Array(lengthOf(n)).fill(clamp(n))),
      order.map((n) => Array(lengthOf(n)).fill(log(n))),
      order.map((n) => Array(lengthOf(n)).fill(defaultLrScale(n))),
    );

    const opt = make();
    for (let step = 0; step < 3; step++) {
      const g: Record<string, Float32Array> = {};
      for (const n of order) {
        g[n] = randomArray(rng, lengthOf(n));
        if (n.endsWith("_step")) g[n][0] += 5; // push the step sizes below 0
      }
      const grads: Record<string, GradSource> = {};
      for (const p of params) {
        if (p.name !== "steps") {
          grads[p.name] = tensor(g[p.name], [p.length]);
        }
      }
      if (step % 2 === 0) {
        // One packed 6-float gradient …
        grads.steps = tensor(
          Float32Array.from(STEP_NAMES, (n) => g[n][0]),
          [6],
        );
      } else {
        // … or one gradient per step name.
        for (const n of STEP_NAMES) grads[n] = uploadExact(ctx, g[n]);
      }
      await opt.step(grads);
      ref.step(refParams, order.map((n) => Float64Array.from(g[n])));
      const got = await block.getParams();
      order.forEach((n, i) => assertClose(got[n], refParams[i], 2e-5, `step ${step + 1} ${n}`));
    }
    const got = await block.getParams();
    assertEquals(got["dense_0/kernel_step"][0], 0, "clamped");
    assert(got["dense_1/bias_step"][0] < 0, "not clamped");
    assert(got["layer_norm/scale_step"][0] > 0, "log space: shrinks by factors");

    // The state names packed elements by their own names.
    const state = await opt.state();
    assertEquals(state.kind, "adamw");
    assertEquals(state.step, 3);
    assertEquals(state.slots["layer_norm/bias_step/v"].length, 1);
    assertEquals(state.slots["unembed/kernel/m"].length, 15);
    assertEquals(Object.keys(state.slots).length, 2 * 14);
    opt.dispose();
  } finally {
    block.dispose();
  }
});

Deno.test("state / loadState round trip resumes bit-exactly", async () => {
  const rng = new SeededRandom(5);
  const start = [randomArray(rng, 7), randomArray(rng, 1000)];
  const grads = Array.from({ length: 4 }, () => [
    uploadExact(ctx, randomArray(rng, 7)),
    uploadExact(ctx, randomArray(rng, 1000)),
  ]);
  const names = ["p/kernel", "q/kernel"];
  const setup = () => {
    const buffers = start.map((s) => uploadExact(ctx, s));
    const params = names.map((name, i) => ({
      name,
      buffer: buffers[i],
      length: start[i].length,
    }));
    return { buffers, params };
  };
  const run = async (opt: Adam | SGD, from: number, to: number) => {
    for (let s = from; s < to; s++) {
      await opt.step({ [names[0]]: grads[s][0], [names[1]]: grads[s][1] });
    }
  };
  for (
    const make of [
      (p: OptimParam[]) => new AdamW(ctx, p, { lr: 0.01, clipNorm: 3 }),
      (p: OptimParam[]) => new SGD(ctx, p, { lr: 0.01, momentum: 0.9 }),
    ]
  ) {
    const a = setup();
    const straight = make(a.params);
    await run(straight, 0, 4);
    const b = setup();
    const first = make(b.params);
    await run(first, 0, 2);
    const state = await first.state();
    first.dispose();
    const resumed = make(b.params);
    await resumed.loadState(state);
    assertEquals(resumed.stepCount, 2);
    await run(resumed, 2, 4);
    for (let i = 0; i < 2; i++) {
      assertEquals(
        await readFloats(ctx, b.buffers[i], start[i].length),
        await readFloats(ctx, a.buffers[i], start[i].length),
      );
    }
    const s1 = await straight.state(), s2 = await resumed.state();
    assertEquals(s2, s1);
    straight.dispose();
    resumed.dispose();
    for (const x of [...a.buffers, ...b.buffers]) x.destroy();
  }
  for (const g of grads.flat()) g.destroy();
});

// ---------------------------------------------------------------------------------------
// Errors and memory.

Deno.test("bad parameters, options, gradients and states are rejected", async () => {
  const b = uploadExact(ctx, new Float32Array(8));
  const g = uploadExact(ctx, new Float32Array(8));
  const p = [{ name: "w", buffer: b, length: 8 }];
  const err = (f: () => unknown, msg: string) => assertThrows(f, FWLInputError, msg);
  err(() => new Adam(ctx, [], { lr: 1 }), "params");
  err(() => new Adam(ctx, p, { lr: -1 }), "options.lr");
  err(() => new Adam(ctx, p, { lr: 1, beta1: 1 }), "options.beta1");
  err(() => new Adam(ctx, p, { lr: 1, eps: 0 }), "options.eps");
  err(() => new Adam(ctx, p, { lr: 1, clipNorm: 0 }), "options.clipNorm");
  err(() => new AdamW(ctx, p, { lr: 1, weightDecay: -1 }), "weightDecay");
  err(() => new SGD(ctx, p, { lr: 1, nesterov: true }), "nesterov");
  err(() => new SGD(ctx, p, { lr: 1, momentum: 1 }), "momentum");
  err(
    () => new SGD(ctx, p, { lr: 1, nonNegative: 3 as unknown as string[] }),
    "nonNegative",
  );
  err(() => new SGD(ctx, p, { lr: 1, logSpace: 3 as unknown as string[] }), "logSpace");
  err(() => new SGD(ctx, p, { lr: 1, lrScale: 2 as unknown as () => number }), "lrScale");
  err(() => new SGD(ctx, p, { lr: 1, lrScale: () => -1 }), 'options.lrScale("w")');
  err(() => new SGD(ctx, p, { lr: 1, lrScale: () => NaN }), 'options.lrScale("w")');
  err(() => new SGD(ctx, [...p, ...p], { lr: 1 }), "a name used once");
  err(
    () =>
      new SGD(ctx, [p[0], { name: "x", buffer: b, length: 2, offset: 6 }], {
        lr: 1,
      }),
    "overlap",
  );
  err(
    () => new SGD(ctx, [{ name: "w", buffer: b, length: 9 }], { lr: 1 }),
    'params["w"]',
  );
  err(
    () =>
      new SGD(ctx, [{ name: "w", buffer: b, length: 2, elementNames: ["a"] }], {
        lr: 1,
      }),
    "elementNames",
  );

  const before = ctx.pool.allocatedBytes;
  const opt = new Adam(ctx, p, { lr: 1, clipNorm: 1 });
  const rejects = (grads: unknown, msg: string) =>
    assertRejects(
      () => opt.step(grads as Record<string, GPUBuffer>),
      FWLInputError,
      msg,
    );
  await rejects({}, 'grads["w"]: expected a GPUBuffer or float32 Tensor of 8 values');
  await rejects({ w: uploadExact(ctx, new Float32Array(4)) }, "≥ 32 bytes");
  await rejects({ w: b }, "a parameter or state buffer");
  await rejects({ w: tensor(new Float32Array(3), [3]) }, "shape [3]");
  await rejects({ w: new Float32Array(8) }, "Float32Array");
  assertEquals(opt.stepCount, 0, "nothing ran");
  assertEquals(
    [...await readFloats(ctx, b, 8)],
    [0, 0, 0, 0, 0, 0, 0, 0],
    "nothing written",
  );

  await opt.step({ w: g });
  const state = await opt.state();
  err(() => opt.validateState({ ...state, kind: "sgd" }), "state.kind");
  err(
    () => opt.validateState({ ...state, slots: { "w/m": state.slots["w/m"] } }),
    'state.slots["w/v"]: expected a Float32Array of 8, got nothing (missing)',
  );
  err(
    () =>
      opt.validateState({
        ...state,
        slots: { ...state.slots, "w/m": new Float32Array(3) },
      }),
    "8 values",
  );
  err(
    () =>
      opt.validateState({
        ...state,
        slots: { ...state.slots, "z/m": new Float32Array(1) },
      }),
    "unknown slot",
  );
  err(() => opt.validateState({ ...state, step: -1 }), "state.step");
  opt.dispose();
  assertEquals(ctx.pool.allocatedBytes >= before, true);
  await assertRejects(() => opt.step({ w: g }), FWLStateError, "disposed");
  opt.dispose(); // idempotent
});

Deno.test("repeated steps do not grow the buffer pool", async () => {
  const rng = new SeededRandom(9);
  const b = uploadExact(ctx, randomArray(rng, 1000));
  const s = uploadExact(ctx, randomArray(rng, 6));
  const g = uploadExact(ctx, randomArray(rng, 1000));
  const opt = new Adam(ctx, [
    { name: "w", buffer: b, length: 1000 },
    { name: "steps", buffer: s, length: 6, elementNames: [...STEP_NAMES] },
  ], { lr: 0.01, clipNorm: 1 });
  const gs = tensor(randomArray(rng, 6), [6]); // host data: uploaded into scratch
  await opt.step({ w: g, steps: gs });
  const after = ctx.pool.allocatedBytes;
  for (let i = 0; i < 5; i++) await opt.step({ w: g, steps: gs });
  assertEquals(ctx.pool.allocatedBytes, after);
  opt.dispose();
  for (const x of [b, s, g]) x.destroy();
});
