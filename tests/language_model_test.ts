// Tests of LanguageModel (src/lm/): scoring against the head's logits, training steps
// against lossAndGrads plus a plain-TypeScript backward of a tiny body, generation
// against the parallel forward, plain-head mode, checkpoints, and errors.
//
// The body is a tiny recurrent net written here in plain TypeScript over host data:
// h_t = tanh(E[x_t] + a·h_{t−1}), with its embedding E on the GPU so that optimizers and
// checkpoints see it like any body's parameter.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import type { BodyState, ModelBody } from "../src/bodies/model_body.ts";
import { FWLError, FWLInputError, FWLStateError } from "../src/errors.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { makeLabels } from "../src/fwl/labels.ts";
import { STEP_NAMES } from "../src/fwl/params.ts";
import { SeededRandom } from "../src/util/random.ts";
import { GPUContext } from "../src/gpu/context.ts";
import { readBytes } from "../src/gpu/readback.ts";
import { LanguageModel } from "../src/lm/language_model.ts";
import { perplexity } from "../src/lm/perplexity.ts";
import { ownedGPUTensor, type Tensor, tensor } from "../src/tensor.ts";
import { Adam, LOG_SPACE_LR_SCALE, SGD } from "../src/optim/mod.ts";
import { assertClose } from "./helpers.ts";
import type { BodyParameter } from "../src/params/parameter.ts";

const ctx = await GPUContext.default();
const USAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const V = 23, D = 12, SIZE = 8, DECAY = 0.5, N = 16;

interface TinyOptions {
  /** Offer backward and parameters (default true). */
  trainable?: boolean;
  /** Offer initState and step (default true). */
  steps?: boolean;
  /** Return hidden states as GPU tensors (default false: host data, like an external model). */
  resident?: boolean;
  seed?: number;
}

/** h_t = tanh(E[x_t] + a·h_{t−1}); backward by hand over host data. */
class TinyRNN implements ModelBody {
  readonly hiddenSize = D;
  readonly table: GPUBuffer;
  readonly grad: GPUBuffer;
  readonly options: TinyOptions;
  saved: { tokens: Int32Array; h: Float32Array; B: number; T: number } | undefined;
  disposed = false;

  constructor(options: TinyOptions = {}) {
    this.options = options;
    const rng = new SeededRandom(options.seed ?? 3);
    const init = new Float32Array(V * D).map(() => rng.normal());
    this.table = ctx.device.createBuffer({ size: V * D * 4, usage: USAGE });
    this.grad = ctx.device.createBuffer({ size: V * D * 4, usage: USAGE });
    ctx.device.queue.writeBuffer(this.table, 0, init);
    if (options.trainable === false) {
      this.backward = undefined;
      this.parameters = undefined;
    }
    if (options.steps === false) {
      this.initState = undefined;
      this.step = undefined;
    }
  }

  async embedding(): Promise<Float32Array> {
    return new Float32Array(await readBytes(ctx, this.table, V * D * 4));
  }

  async forward(tokens: Tensor<"int32">): Promise<Tensor<"float32">> {
    const [B, T] = tokens.shape;
    const ids = tokens.hostData!;
    const e = await this.embedding();
    const h = new Float32Array(B * T * D);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        for (let j = 0; j < D; j++) {
          const prev = t > 0 ? h[(b * T + t - 1) * D + j] : 0;
          h[(b * T + t) * D + j] = Math.tanh(e[ids[b * T + t] * D + j] + DECAY * prev);
        }
      }
    }
    this.saved = { tokens: ids.slice(), h, B, T };
    return this.#out(h, [B, T, D]);
  }

  backward?(dHidden: Tensor<"float32">): Promise<void> {
    return dHidden.read().then((dh) => {
      const g = bodyGrad(this.saved!, dh);
      ctx.device.queue.writeBuffer(this.grad, 0, g as Float32Array<ArrayBuffer>);
    });
  }

  parameters?(): BodyParameter[] {
    return [{ name: "embedding", shape: [V, D], buffer: this.table, grad: this.grad }];
  }

  initState?(batchSize: number): BodyState {
    const state = { h: new Float32Array(batchSize * D), disposed: false, dispose() {} };
    state.dispose = () => state.disposed = true;
    return state;
  }

  async step?(tokens: Tensor<"int32">, state: BodyState): Promise<Tensor<"float32">> {
    const s = state as unknown as { h: Float32Array };
    const ids = tokens.hostData!;
    const e = await this.embedding();
    for (let b = 0; b < ids.length; b++) {
      for (let j = 0; j < D; j++) {
        s.h[b * D + j] = Math.tanh(e[ids[b] * D + j] + DECAY * s.h[b * D + j]);
      }
    }
    return this.#out(s.h.slice(), [ids.length, D]);
  }

  dispose(): void {
    this.disposed = true;
  }

  #out(data: Float32Array, shape: number[]): Tensor<"float32"> {
    if (!this.options.resident) return tensor(data, shape);
    const b = ctx.pool.acquire(data.byteLength);
    ctx.device.queue.writeBuffer(b, 0, data as Float32Array<ArrayBuffer>);
    // A pooled GPU tensor, as a GPU body would return.
    return ownedTensor(b, shape);
  }
}

function ownedTensor(b: GPUBuffer, shape: number[]): Tensor<"float32"> {
  return ownedGPUTensor(ctx, b, shape, "float32");
}

/** dL/dE from dL/dh by backpropagation through time (float64). */
function bodyGrad(
  saved: { tokens: Int32Array; h: Float32Array; B: number; T: number },
  dh: Float32Array,
): Float32Array {
  const { tokens, h, B, T } = saved;
  const g = new Float64Array(V * D);
  for (let b = 0; b < B; b++) {
    const carry = new Float64Array(D); // dL/dz_{t+1}
    for (let t = T - 1; t >= 0; t--) {
      for (let j = 0; j < D; j++) {
        const p = (b * T + t) * D + j;
        const total = dh[p] + DECAY * carry[j];
        const dz = total * (1 - h[p] * h[p]);
        carry[j] = dz;
        g[tokens[b * T + t] * D + j] += dz;
      }
    }
  }
  return Float32Array.from(g);
}

/** Random token ids [B, T]. */
function randomTokens(B: number, T: number, seed: number): Tensor<"int32"> {
  const rng = new SeededRandom(seed);
  return tensor(Int32Array.from({ length: B * T }, () => Math.floor(rng.uniform() * V)), [B, T]);
}

/** A model with large step sizes, so that the fast weights matter. */
async function makeModel(
  body: ModelBody,
  fastWeights = true,
  seed = 5,
): Promise<LanguageModel> {
  return await LanguageModel.create(body, {
    vocabSize: V,
    headSize: SIZE,
    attnChunks: 3,
    normalizer: N,
    stepSize: 0.7,
    seed,
    fastWeights,
  });
}

/** −log softmax(z)[y] per row, in float64. */
function crossEntropy(z: Float32Array, rows: number, ids: Int32Array): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = z.subarray(r * V, (r + 1) * V);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    out.push(max + Math.log(sum) - row[ids[r]]);
  }
  return out;
}

Deno.test("score: per-token NLL of the fast logits, perplexity, padding, batching", async () => {
  using lm = await makeModel(new TinyRNN({ resident: true }));
  const B = 3, T = 7;
  const tokens = randomTokens(B, T, 11);
  const scores = await lm.score(tokens);
  assertEquals(scores.shape, [B, T - 1]);
  assertEquals(scores.count, B * (T - 1));
  // Against the head's logits from block.forward.
  const hidden = await lm.body.forward(tokens);
  const { labels, weights } = makeLabels(tokens, V);
  using logits = await lm.head.forward(hidden, labels, weights);
  hidden.dispose();
  const ce = crossEntropy(await logits.read(), B * T, labels.hostData as Int32Array);
  const want: number[] = [];
  const targets: number[] = [];
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      want.push(ce[b * T + t]);
      targets.push(tokens.hostData![b * T + t + 1]);
    }
  }
  assertClose(scores.nll, want, 2e-4, "nll");
  assertEquals([...scores.targets], targets);
  const mean = want.reduce((a, b) => a + b, 0) / want.length;
  assertClose([scores.loss, scores.perplexity], [mean, Math.exp(mean)], 2e-4, "loss");

  // The fast weights matter here: the plain head (same parameters, steps 0) differs.
  const params = await lm.head.getParams();
  for (const n of STEP_NAMES) params[n] = new Float32Array([0]);
  using plain = await makeModel(new TinyRNN({ resident: true }), false);
  await plain.head.setParams(params);
  const plainScores = await plain.score(tokens);
  const diff = Math.max(...scores.nll.map((v, i) => Math.abs(v - plainScores.nll[i])));
  assert(diff > 0.05, `fast weights change the scores (max |Δ| ${diff})`);
  assertClose(plainScores.nll.subarray(0, 1), scores.nll.subarray(0, 1), 2e-4, "position 0");

  // A fixed normalizer: one sequence scores the same alone as in a batch.
  const one = tensor(tokens.hostData!.slice(T, 2 * T), [1, T]);
  const alone = await lm.score(one);
  assertClose(alone.nll, scores.nll.subarray(T - 1, 2 * (T - 1)), 2e-4, "alone");

  // Padding: positions whose token or next token is the pad id are not scored.
  const padded = tokens.hostData!.slice();
  padded[T - 1] = 0;
  padded[T - 2] = 0;
  const withPad = await lm.score(tensor(padded, [B, T]), { padId: 0 });
  assertEquals(withPad.targets[T - 2], -1);
  assertEquals(withPad.targets[T - 3], -1);
  assertEquals(withPad.nll[T - 2], 0);
  assert(withPad.count <= B * (T - 1) - 2);

  // perplexity() pools and selects.
  const both = perplexity([scores, alone]);
  assertEquals(both.count, scores.count + alone.count);
  const some = perplexity(scores, (id) => id < 5);
  const picked = want.filter((_, i) => targets[i] < 5);
  assertClose(
    [some.loss],
    [picked.reduce((a, b) => a + b, 0) / picked.length],
    2e-4,
    "selected",
  );
  assert(Number.isNaN(perplexity(scores, () => false).perplexity));
});

Deno.test("trainStep: SGD on the head and the body matches lossAndGrads and a hand-written backward", async () => {
  const body = new TinyRNN();
  using lm = await makeModel(body);
  const B = 2, T = 9;
  const tokens = randomTokens(B, T, 21);
  const before = await lm.head.getParams();
  const e0 = await body.embedding();
  // The expected gradients: the head's from lossAndGrads on the body's hidden states,
  // the body's by backpropagation through time of the x-gradient.
  const hidden = await body.forward(tokens);
  const { labels, weights } = makeLabels(tokens, V);
  const ref = await lm.head.lossAndGrads(hidden, labels, weights);
  const eGrad = bodyGrad(body.saved!, ref.grads.x);

  const lr = 0.05;
  using opt = new SGD(lm.context, lm.parameters(), { lr });
  assertEquals(opt.paramNames, [
    "head/dense_0/kernel",
    "head/dense_0/bias",
    "head/dense_1/kernel",
    "head/dense_1/bias",
    "head/layer_norm/scale",
    "head/layer_norm/bias",
    "head/unembed/kernel",
    "head/unembed/bias",
    "head/steps",
    "body/embedding",
  ]);
  const result = await lm.trainStep(tokens, opt);
  assertEquals(result.trainedBody, true);
  assertClose([result.loss], [ref.loss], 2e-4, "loss");
  const after = await lm.head.getParams();
  for (const name of Object.keys(before)) {
    // Step sizes are learned in log space by default, at LOG_SPACE_LR_SCALE × lr.
    const want = before[name].map((v, i) =>
      name.endsWith("_step")
        ? v * Math.exp(-lr * LOG_SPACE_LR_SCALE * v * ref.grads[name][i])
        : v - lr * ref.grads[name][i]
    );
    assertClose(after[name], want, 2e-4, name);
  }
  assertClose(await body.embedding(), e0.map((v, i) => v - lr * eGrad[i]), 2e-4, "body");
  assert(Math.max(...eGrad.map(Math.abs)) > 1e-3, "the body gradient is not trivial");

  // A few Adam steps on one batch lower its loss.
  using adam = new Adam(lm.context, lm.parameters(), { lr: 0.01 });
  const first = (await lm.trainStep(tokens, adam)).loss;
  let last = first;
  for (let i = 0; i < 5; i++) last = (await lm.trainStep(tokens, adam)).loss;
  assert(last < first - 0.05, `loss ${first} → ${last}`);

  // Repeated steps and scores do not grow GPU memory.
  await lm.trainStep(tokens, adam);
  await lm.score(tokens);
  const bytes = ctx.pool.allocatedBytes;
  for (let i = 0; i < 3; i++) {
    await lm.trainStep(tokens, adam);
    await lm.score(tokens);
  }
  assertEquals(ctx.pool.allocatedBytes, bytes);
});

Deno.test("plain-head mode: step sizes 0 and out of the optimizer; head-only training of an external body", async () => {
  const body = new TinyRNN({ trainable: false, steps: false });
  using lm = await makeModel(body, false);
  assertEquals(lm.fastWeights, false);
  const names = lm.parameters().map((p) => p.name);
  assert(!names.includes("head/steps"));
  assert(!names.some((n) => n.startsWith("body/")), "an external body has no trainable parameters");
  const p0 = await lm.head.getParams();
  for (const n of STEP_NAMES) assertEquals(p0[n][0], 0);
  const e0 = await body.embedding();
  using opt = new Adam(lm.context, lm.parameters(), { lr: 0.01 });
  const tokens = randomTokens(2, 6, 31);
  const r = await lm.trainStep(tokens, opt);
  assertEquals(r.trainedBody, false);
  const p1 = await lm.head.getParams();
  for (const n of STEP_NAMES) assertEquals(p1[n][0], 0);
  assert(p1["dense_0/kernel"].some((v, i) => v !== p0["dense_0/kernel"][i]));
  assertEquals(await body.embedding(), e0);
  // An optimizer over the step sizes is refused in plain mode.
  using fwl = await makeModel(new TinyRNN());
  using withSteps = new Adam(
    fwl.context,
    fwl.parameters().filter((p) => p.name.startsWith("head/")),
    {
      lr: 0.01,
    },
  );
  const err = await assertRejects(() => lm.trainStep(tokens, withSteps), FWLInputError);
  assert(err.message.includes("fast weights are off"), err.message);
});

Deno.test("generate: greedy tokens match the parallel forward; seeded sampling repeats; cleanup", async () => {
  using lm = await makeModel(new TinyRNN());
  const prompt = [3, 7, 7, 1, 3];
  const greedy: number[] = [];
  for await (const t of lm.generate(prompt, { maxTokens: 6, temperature: 0 })) greedy.push(t);
  assertEquals(greedy.length, 6);
  // Each generated token is the argmax of the parallel forward's logits at its position.
  const all = Int32Array.from([...prompt, ...greedy]);
  const T = all.length;
  const tokens = tensor(all, [1, T]);
  const hidden = await lm.body.forward(tokens);
  const { labels, weights } = makeLabels(tokens, V);
  using logits = await lm.head.forward(hidden, labels, weights);
  const z = await logits.read();
  for (let k = 0; k < greedy.length; k++) {
    const p = prompt.length - 1 + k;
    const row = z.subarray(p * V, (p + 1) * V);
    assertEquals(greedy[k], row.indexOf(Math.max(...row)), `token ${k}`);
  }

  const sample = async (seed: number, max = 8) => {
    const out: number[] = [];
    for await (
      const t of lm.generate(prompt, {
        maxTokens: max,
        temperature: 1.5,
        topK: 10,
        topP: 0.95,
        seed,
      })
    ) {
      out.push(t);
    }
    return out;
  };
  const a = await sample(1), b = await sample(1);
  assertEquals(a, b);
  assert(a.every((t) => t >= 0 && t < V));
  assertEquals(await sample(2, 0), []);

  // Breaking out early releases the stream; the model is usable again at once.
  const bytes = ctx.pool.allocatedBytes;
  for await (const _ of lm.generate(prompt, { maxTokens: 50, temperature: 0 })) break;
  assertEquals(ctx.pool.allocatedBytes, bytes);
  await lm.score(tokens);
  // One call at a time: a generate loop in progress holds the model only while computing.
  const it = lm.generate(prompt, { maxTokens: 3, temperature: 0 });
  await it.next();
  await lm.score(tokens);
  await it.return(undefined);
});

Deno.test("checkpoint: body and head (and optimizer) round-trip; bad files are refused whole", async () => {
  const body = new TinyRNN();
  using lm = await makeModel(body);
  using opt = new Adam(lm.context, lm.parameters(), { lr: 0.01 });
  const tokens = randomTokens(2, 8, 41);
  await lm.trainStep(tokens, opt);
  const bytes = await lm.checkpointBytes({ optimizer: opt, metadata: { run: "t" } });
  const want = await lm.score(tokens);

  const body2 = new TinyRNN({ seed: 99 });
  using lm2 = await makeModel(body2, true, 77);
  using opt2 = new Adam(lm2.context, lm2.parameters(), { lr: 0.01 });
  const metadata = await lm2.loadCheckpointBytes(bytes, { optimizer: opt2 });
  assertEquals(metadata.run, "t");
  assertEquals(metadata["fwl.lm.fast_weights"], "true");
  assertEquals(await body2.embedding(), await body.embedding());
  assertEquals((await lm2.score(tokens)).nll, want.nll);
  assertEquals(await opt2.state(), await opt.state());

  // Files: save and load.
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/lm.safetensors`;
    await lm.save(path);
    using lm3 = await makeModel(new TinyRNN({ seed: 5 }), true, 8);
    await lm3.load(path);
    assertEquals((await lm3.score(tokens)).nll, want.nll);
    // Into a plain model: the step sizes stay 0.
    using plain = await makeModel(new TinyRNN({ seed: 5 }), false, 8);
    await plain.load(path);
    for (const n of STEP_NAMES) assertEquals((await plain.head.getParams())[n][0], 0);
    await assertRejects(() => lm3.load(`${dir}/missing.safetensors`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }

  // A model whose body has another shape refuses the file and keeps its parameters.
  const other = new TinyRNN({ seed: 4 });
  other.parameters =
    () => [{ name: "embedding", shape: [V, D - 1], buffer: other.table, grad: other.grad }];
  using wrong = await makeModel(other, true, 9);
  const before = await wrong.head.getParams();
  const e = await assertRejects(() => wrong.loadCheckpointBytes(bytes), FWLInputError);
  assert(e.message.includes("body/embedding"), e.message);
  assertEquals(await wrong.head.getParams(), before);
  // No optimizer state in the file.
  const plainBytes = await lm.checkpointBytes();
  await assertRejects(
    () => lm2.loadCheckpointBytes(plainBytes, { optimizer: opt2 }),
    FWLInputError,
  );
  await assertRejects(() => lm2.loadCheckpointBytes(new Uint8Array([1, 2, 3])), FWLInputError);
});

Deno.test("errors: tokens, optimizers, bodies, generation options, disposal", async () => {
  const external = new TinyRNN({ trainable: false, steps: false });
  using lm = await makeModel(external);
  await assertRejects(() => lm.score(tensor(new Float32Array(4), [2, 2]) as never), FWLInputError);
  await assertRejects(() => lm.score(tensor(new Int32Array(4), [4])), FWLInputError);
  await assertRejects(() => lm.score(tensor(new Int32Array(3), [3, 1])), FWLInputError, "T ≥ 2");
  await assertRejects(
    () => lm.score(tensor(new Int32Array([1, V]), [1, 2])),
    FWLInputError,
    `[0, ${V})`,
  );
  await assertRejects(() => lm.trainStep(randomTokens(1, 3, 1), {} as never), FWLInputError);
  // An optimizer over another model's body is refused before anything runs.
  using trainable = await makeModel(new TinyRNN());
  using opt = new Adam(trainable.context, trainable.parameters(), { lr: 0.01 });
  const e = await assertRejects(() => lm.trainStep(randomTokens(1, 3, 1), opt), FWLInputError);
  assert(e.message.includes("no backward"), e.message);
  assertThrows(() => lm.generate([1, 2]), FWLStateError, "initState");
  assertThrows(() => trainable.generate([]), FWLInputError, "prompt");
  assertThrows(() => trainable.generate([V]), FWLInputError, "prompt");
  assertThrows(() => trainable.generate([1], { temperature: -1 }), FWLInputError, "temperature");
  assertThrows(() => trainable.generate([1], { maxTokens: 1.5 }), FWLInputError, "maxTokens");

  // A body that returns the wrong shape is named.
  const bad: ModelBody = {
    hiddenSize: D,
    forward: (t) =>
      Promise.resolve(tensor(new Float32Array(t.size * (D + 1)), [...t.shape, D + 1])),
  };
  using badLm = await makeModel(bad);
  await assertRejects(() => badLm.score(randomTokens(1, 3, 2)), FWLError, "body.forward returned");
  // Non-finite hidden states update nothing.
  const nan: ModelBody = {
    hiddenSize: D,
    forward: (t) =>
      Promise.resolve(tensor(new Float32Array(t.size * D).fill(NaN), [...t.shape, D])),
  };
  using nanLm = await makeModel(nan);
  using nanOpt = new SGD(nanLm.context, nanLm.parameters(), { lr: 1 });
  const p0 = await nanLm.head.getParams();
  await assertRejects(
    () => nanLm.trainStep(randomTokens(1, 3, 2), nanOpt),
    FWLInputError,
    "finite",
  );
  assertEquals(await nanLm.head.getParams(), p0);

  // A "batch" normalizer can't stream: generate says so at once.
  const head = new FWLBlock(SIZE, V, 2);
  await head.build(D);
  using batchLm = new LanguageModel(new TinyRNN(), head);
  assertThrows(() => batchLm.generate([1]), FWLInputError, "normalizer");
  assertThrows(
    () => new LanguageModel(new TinyRNN(), head, { fastWeights: 1 as never }),
    FWLInputError,
  );
  const wide = new FWLBlock(SIZE, V, 2);
  await wide.build(D + 2);
  assertThrows(() => new LanguageModel(new TinyRNN(), wide), FWLInputError, "hiddenSize");
  wide.dispose();
  await assertRejects(
    () => LanguageModel.create({ hiddenSize: 0, forward: bad.forward }, { vocabSize: V }),
    FWLInputError,
  );

  // Disposal releases the head and the body.
  const body = new TinyRNN();
  const done = await makeModel(body);
  done.dispose();
  assert(body.disposed);
  assert(done.disposed);
  await assertRejects(() => done.score(randomTokens(1, 3, 1)), FWLStateError);
  done.dispose();
});
