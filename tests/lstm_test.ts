// The LSTM body against its float64 reference: forward at odd shapes (H not a multiple of
// the 128-wide workgroup, H > 128 so invocations own several units, 1 and 2 layers),
// BPTT gradients, step() against forward, the reference backward against finite
// differences, input validation and memory.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { LSTMBody, LSTMState } from "../src/bodies/lstm.ts";
import { initLSTMParams, type LSTMDims, lstmParamNames } from "../src/bodies/lstm_params.ts";
import { FWLInputError, FWLStateError } from "../src/errors.ts";
import { SeededRandom } from "../src/util/random.ts";
import { GPUContext } from "../src/gpu/context.ts";
import {
  referenceLSTMBackward,
  type ReferenceLSTMCase,
  referenceLSTMForward,
} from "../src/reference/lstm.ts";
import { gpuTensor, tensor } from "../src/tensor.ts";
import { assertClose, randomNormal } from "./helpers.ts";

const ctx = await GPUContext.default();

interface Shape extends LSTMDims {
  B: number;
  T: number;
}

/** Random parameters (larger than the init, so that the recurrence matters) and tokens. */
function randomCase(shape: Shape, seed: number): ReferenceLSTMCase & {
  params: Record<string, Float32Array>;
  tokens: Int32Array;
} {
  const rng = new SeededRandom(seed);
  const params: Record<string, Float32Array> = {};
  const init = initLSTMParams(shape, seed);
  // Kernels ~1.5/√H: the recurrence matters, yet stays well conditioned (much larger
  // weights make the dynamics chaotic, and float32 rounding then grows over time).
  const kernelScale = 1.5 / Math.sqrt(shape.hiddenSize);
  for (const name of lstmParamNames(shape.layers)) {
    const scale = name === "embedding" ? 0.8 : name.endsWith("/bias") ? 0.3 : kernelScale;
    params[name] = randomNormal(rng, init[name].length, scale);
  }
  // Repeated ids, so that the embedding gradient sums several positions.
  const tokens = new Int32Array(shape.B * shape.T).map(() =>
    Math.floor(rng.uniform() * Math.min(shape.vocabSize, 5))
  );
  return { ...shape, tokens, params };
}

function relativeNorm(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < expected.length; i++) {
    d += (actual[i] - expected[i]) ** 2;
    n += expected[i] ** 2;
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-30);
}

const SHAPES: Shape[] = [
  { B: 1, T: 1, vocabSize: 3, embedSize: 5, hiddenSize: 3, layers: 1 },
  { B: 3, T: 7, vocabSize: 11, embedSize: 9, hiddenSize: 37, layers: 2 },
  { B: 5, T: 13, vocabSize: 7, embedSize: 17, hiddenSize: 130, layers: 1 },
  { B: 1, T: 13, vocabSize: 5, embedSize: 4, hiddenSize: 1, layers: 2 },
];

Deno.test("reference LSTM backward matches central finite differences", () => {
  const c = randomCase(
    { B: 2, T: 4, vocabSize: 6, embedSize: 3, hiddenSize: 5, layers: 2 },
    11,
  );
  const rng = new SeededRandom(12);
  const r = randomNormal(rng, c.B * c.T * c.hiddenSize);
  const params64: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(c.params)) params64[k] = Float64Array.from(v);
  const c64 = { ...c, params: params64 };
  const loss = () => {
    const h = referenceLSTMForward(c64).hidden;
    let s = 0;
    for (let i = 0; i < h.length; i++) s += r[i] * h[i];
    return s;
  };
  const grads = referenceLSTMBackward(c64, r);
  const eps = 1e-5;
  for (const name of lstmParamNames(c.layers)) {
    const p = params64[name];
    const fd = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const keep = p[i];
      p[i] = keep + eps;
      const up = loss();
      p[i] = keep - eps;
      const down = loss();
      p[i] = keep;
      fd[i] = (up - down) / (2 * eps);
    }
    const err = relativeNorm(grads[name], fd);
    assert(err < 1e-6, `${name}: relative error ${err}`);
    assert(fd.some((v) => Math.abs(v) > 1e-3), `${name}: gradient is not trivially zero`);
  }
});

Deno.test("LSTMBody forward and backward match the float64 reference at odd shapes", async () => {
  for (const [n, shape] of SHAPES.entries()) {
    const c = randomCase(shape, 100 + n);
    const { B, T, hiddenSize: H } = shape;
    using body = await LSTMBody.create({ ...shape, seed: n });
    await body.setParams(c.params);
    using hidden = await body.forward(tensor(c.tokens, [B, T]));
    assertEquals(hidden.shape, [B, T, H]);
    const ref = referenceLSTMForward(c);
    assertClose(await hidden.read(), ref.hidden, 2e-5, `hidden ${JSON.stringify(shape)}`);

    const dHidden = randomNormal(new SeededRandom(200 + n), B * T * H);
    const refGrads = referenceLSTMBackward(c, dHidden, ref);
    await body.backward(tensor(dHidden, [B, T, H]));
    const grads = await body.getGrads();
    for (const name of lstmParamNames(shape.layers)) {
      const err = relativeNorm(grads[name], refGrads[name]);
      assert(err <= 1e-4, `${name} ${JSON.stringify(shape)}: relative error ${err}`);
    }
    // Overwritten, not accumulated: a second backward gives the same gradients.
    await body.backward(tensor(dHidden, [B, T, H]));
    const again = await body.getGrads();
    for (const name of lstmParamNames(shape.layers)) {
      assertEquals(again[name], grads[name], name);
    }
  }
});

Deno.test("LSTMBody accepts GPU-resident tokens and dHidden", async () => {
  const shape = SHAPES[1];
  const { B, T } = shape;
  const c = randomCase(shape, 7);
  using body = await LSTMBody.create(shape);
  await body.setParams(c.params);
  const ids = ctx.pool.acquire(c.tokens.byteLength);
  ctx.device.queue.writeBuffer(ids, 0, c.tokens as Int32Array<ArrayBuffer>);
  using hidden = await body.forward(gpuTensor(ctx, ids, [B, T], "int32"));
  const ref = referenceLSTMForward(c);
  assertClose(await hidden.read(), ref.hidden, 2e-5, "hidden");
  // The hidden states themselves as the upstream gradient (GPU-resident).
  await body.backward(hidden);
  const refGrads = referenceLSTMBackward(c, await hidden.read(), ref);
  const grads = await body.getGrads();
  for (const name of lstmParamNames(shape.layers)) {
    const err = relativeNorm(grads[name], refGrads[name]);
    assert(err <= 1e-4, `${name}: relative error ${err}`);
  }
  ctx.pool.release(ids);
});

Deno.test("LSTMBody.step equals forward at every position", async () => {
  for (const shape of [SHAPES[1], SHAPES[2]]) {
    const { B, T, hiddenSize: H } = shape;
    const c = randomCase(shape, 31);
    using body = await LSTMBody.create(shape);
    await body.setParams(c.params);
    using hidden = await body.forward(tensor(c.tokens, [B, T]));
    const all = await hidden.read();
    using state = body.initState(B);
    for (let t = 0; t < T; t++) {
      const ids = new Int32Array(B).map((_, b) => c.tokens[b * T + t]);
      using h = await body.step(tensor(ids, [B]), state);
      assertEquals(h.shape, [B, H]);
      const got = await h.read();
      const want = new Float32Array(B * H);
      for (let b = 0; b < B; b++) {
        want.set(all.subarray((b * T + t) * H, (b * T + t + 1) * H), b * H);
      }
      assertClose(got, want, 1e-6, `step ${t} ${JSON.stringify(shape)}`);
    }
  }
});

Deno.test("LSTMBody: deterministic init, parameters(), validation and typed errors", async () => {
  const shape = { vocabSize: 10, embedSize: 6, hiddenSize: 5, layers: 2 };
  using a = await LSTMBody.create({ ...shape, seed: 3 });
  using b = await LSTMBody.create({ ...shape, seed: 3 });
  const pa = await a.getParams(), pb = await b.getParams();
  const init = initLSTMParams(shape, 3);
  for (const name of lstmParamNames(2)) {
    assertEquals(pa[name], pb[name]);
    assertEquals(pa[name], init[name]);
  }
  assertEquals(Array.from(init["lstm_1/bias"].subarray(5, 10)), [1, 1, 1, 1, 1]);
  assertEquals(
    a.parameters().map((p) => [p.name, p.shape]),
    [
      ["embedding", [10, 6]],
      ["lstm_0/kernel", [6, 20]],
      ["lstm_0/recurrent_kernel", [5, 20]],
      ["lstm_0/bias", [20]],
      ["lstm_1/kernel", [5, 20]],
      ["lstm_1/recurrent_kernel", [5, 20]],
      ["lstm_1/bias", [20]],
    ],
  );
  assertEquals(a.hiddenSize, 5);

  assertThrows(() => new LSTMBody({ ...shape, hiddenSize: 0 }), FWLInputError);
  assertThrows(() => new LSTMBody({ ...shape, layers: 1.5 }), FWLInputError);
  assertThrows(() => new LSTMBody({ ...shape, seed: 0.5 }), FWLInputError);
  const unbuilt = new LSTMBody(shape);
  await assertRejects(() => unbuilt.forward(tensor(new Int32Array([1]), [1, 1])), FWLStateError);

  const bad = async (f: () => Promise<unknown>, argument: string) => {
    const e = await assertRejects(f, FWLInputError);
    assertEquals(e.argument, argument);
  };
  await assertRejects(
    () => a.backward(tensor(new Float32Array(5), [1, 1, 5])),
    FWLStateError,
  );
  await bad(() => a.forward(tensor(new Int32Array([1, 10]), [1, 2])), "tokens");
  await bad(() => a.forward(tensor(new Int32Array([1, -1]), [1, 2])), "tokens");
  await bad(() => a.forward(tensor(new Int32Array([1, 2]), [2])), "tokens");
  await bad(() => a.forward(tensor(new Int32Array(0), [1, 0])), "tokens");
  await bad(
    // deno-lint-ignore no-explicit-any
    () => a.forward(tensor(new Float32Array([1, 2]), [1, 2]) as any),
    "tokens",
  );
  using h = await a.forward(tensor(new Int32Array([1, 2, 3]), [1, 3]));
  await bad(() => a.backward(tensor(new Float32Array(15), [3, 1, 5])), "dHidden");
  await bad(() => a.backward(tensor(new Float32Array(15).fill(NaN), [1, 3, 5])), "dHidden");
  const nan = ctx.pool.acquire(15 * 4);
  ctx.device.queue.writeBuffer(nan, 0, new Float32Array(15).fill(NaN));
  await bad(() => a.backward(gpuTensor(ctx, nan, [1, 3, 5])), "dHidden");
  ctx.pool.release(nan);
  await a.backward(h);
  await bad(() => a.setParams({ embedding: new Float32Array(3) }), "embedding");
  await bad(() => a.setParams({ nope: new Float32Array(3) }), "nope");

  const state = a.initState(2);
  assert(state instanceof LSTMState);
  await bad(() => a.step(tensor(new Int32Array([1]), [1]), state), "tokens");
  await bad(() => a.step(tensor(new Int32Array([1, 11]), [2]), state), "tokens");
  await bad(() => b.step(tensor(new Int32Array([1, 1]), [2]), state), "state");
  state.dispose();
  await assertRejects(() => a.step(tensor(new Int32Array([1, 1]), [2]), state), FWLStateError);

  // Any subset of the parameters; building again starts afresh (new buffers, the saved
  // activations dropped, live states disposed).
  const bias = new Float32Array(20).fill(0.5);
  await a.setParams({ "lstm_1/bias": bias });
  assertEquals(await a.getParams(), { ...pa, "lstm_1/bias": bias });
  const live = a.initState(1);
  const kernel = a.parameters()[1].buffer;
  await a.build();
  assertEquals(await a.getParams(), pa);
  assert(live.disposed && a.parameters()[1].buffer !== kernel);
  await assertRejects(() => a.backward(h), FWLStateError, "forward");

  const c = await LSTMBody.create(shape);
  c.dispose();
  c.dispose(); // idempotent
  await assertRejects(() => c.forward(tensor(new Int32Array([1]), [1, 1])), FWLStateError);
  assertThrows(() => c.parameters(), FWLStateError);
});

Deno.test("LSTMBody: repeated forward, backward and step do not grow the pool; dispose releases", async () => {
  const shape = SHAPES[1];
  const { B, T, hiddenSize: H } = shape;
  const c = randomCase(shape, 5);
  const dHidden = tensor(randomNormal(new SeededRandom(6), B * T * H), [B, T, H]);
  const round = async (body: LSTMBody) => {
    const h = await body.forward(tensor(c.tokens, [B, T]));
    await body.backward(dHidden);
    h.dispose();
    using state = body.initState(B);
    for (let t = 0; t < 2; t++) {
      (await body.step(tensor(c.tokens.subarray(0, B), [B]), state)).dispose();
    }
  };
  const body = await LSTMBody.create(shape);
  await round(body);
  const after = ctx.pool.allocatedBytes;
  for (let i = 0; i < 3; i++) await round(body);
  assertEquals(ctx.pool.allocatedBytes, after);
  // A live state and the saved activations go back to the pool with the body: a new
  // body reuses all of it.
  body.initState(B);
  body.dispose();
  const again = await LSTMBody.create(shape);
  await round(again);
  again.initState(B);
  again.dispose();
  assertEquals(ctx.pool.allocatedBytes, after);
});
