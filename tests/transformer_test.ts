// TransformerBody on the WebGPU adapter against the float64 reference: forward, gradients,
// the key/value-cached step, errors and memory.

import { assert, assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import { FWLInputError, FWLStateError, tensor } from "../mod.ts";
import { gpuTensor } from "../gpu.ts";
import { TransformerBody, type TransformerBodyOptions } from "../src/bodies/transformer.ts";
import {
  initTransformerParams,
  type TransformerDims,
  transformerParamShapes,
} from "../src/bodies/transformer_params.ts";
import { SeededRandom } from "../src/util/random.ts";
import {
  referenceTransformerBackward,
  referenceTransformerForward,
} from "../src/reference/transformer.ts";
import { assertClose, randomNormal } from "./helpers.ts";

const TOL = 2e-4;

type Dims = Omit<TransformerDims, "mlpSize"> & { mlpSize?: number };

function fullDims(d: Dims): TransformerDims {
  return { ...d, mlpSize: d.mlpSize ?? 4 * d.hiddenSize };
}

/** Default initialization plus noise, so attention is far from uniform and LN scales vary. */
function randomParams(dims: TransformerDims, seed: number): Record<string, Float32Array> {
  const rng = new SeededRandom(seed);
  const params = initTransformerParams(dims, seed);
  for (const [name, v] of Object.entries(params)) {
    params[name] = v.map((x) => x + 0.3 * rng.normal());
  }
  return params;
}

function randomIds(rng: SeededRandom, n: number, vocab: number): Int32Array {
  return new Int32Array(n).map(() => Math.floor(rng.uniform() * vocab));
}

async function makeBody(d: Dims, seed: number): Promise<{
  body: TransformerBody;
  dims: TransformerDims;
  params: Record<string, Float32Array>;
}> {
  const dims = fullDims(d);
  const body = await TransformerBody.create({ ...d, seed } as TransformerBodyOptions);
  const params = randomParams(dims, seed);
  await body.setParams(params);
  return { body, dims, params };
}

function relativeNorm(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

// Odd shapes: T = 1, T = maxLength, T past a 32-wide tile, head widths 1, 2, 4, 6, one head.
const CASES: { dims: Dims; runs: [number, number][] }[] = [
  {
    dims: { vocabSize: 7, hiddenSize: 6, layers: 1, heads: 3, mlpSize: 5, maxLength: 4 },
    runs: [[1, 1], [3, 4]],
  },
  {
    dims: { vocabSize: 13, hiddenSize: 16, layers: 2, heads: 4, mlpSize: 20, maxLength: 11 },
    runs: [[2, 11], [1, 5]],
  },
  {
    dims: { vocabSize: 29, hiddenSize: 10, layers: 2, heads: 5, mlpSize: 9, maxLength: 17 },
    runs: [[2, 13]],
  },
  { dims: { vocabSize: 5, hiddenSize: 12, layers: 1, heads: 2, maxLength: 40 }, runs: [[1, 37]] },
  {
    dims: { vocabSize: 9, hiddenSize: 3, layers: 1, heads: 3, mlpSize: 7, maxLength: 3 },
    runs: [[5, 3]],
  },
];

Deno.test("options are checked: hiddenSize % heads, positive sizes, seed", () => {
  const ok: TransformerBodyOptions = {
    vocabSize: 10,
    hiddenSize: 12,
    layers: 1,
    heads: 4,
    maxLength: 8,
  };
  const e = assertThrows(
    () => new TransformerBody({ ...ok, heads: 5 }),
    FWLInputError,
    "a divisor of hiddenSize = 12",
  ) as FWLInputError;
  assertEquals(e.argument, "options.heads");
  for (
    const bad of [
      { vocabSize: 0 },
      { hiddenSize: 2.5 },
      { layers: 0 },
      { heads: -1 },
      { mlpSize: 0 },
      { maxLength: 0 },
      { seed: 0.5 },
    ]
  ) {
    assertThrows(() => new TransformerBody({ ...ok, ...bad }), FWLInputError);
  }
  assertThrows(
    () => new TransformerBody(null as unknown as TransformerBodyOptions),
    FWLInputError,
  );
  const body = new TransformerBody(ok);
  assertEquals(body.mlpSize, 48);
  assertThrows(() => body.parameters(), FWLStateError, "build");
});

Deno.test("reference backward equals central finite differences", () => {
  const dims = fullDims({
    vocabSize: 6,
    hiddenSize: 6,
    layers: 2,
    heads: 2,
    mlpSize: 7,
    maxLength: 5,
  });
  const rng = new SeededRandom(11);
  const f32 = randomParams(dims, 4);
  const params: Record<string, Float64Array> = {};
  for (const [k, v] of Object.entries(f32)) params[k] = Float64Array.from(v);
  const B = 2, T = 4;
  const c = { dims, params, ids: randomIds(rng, B * T, dims.vocabSize), B, T };
  const G = Float64Array.from(randomNormal(rng, B * T * dims.hiddenSize));
  const loss = () => referenceTransformerForward(c).reduce((s, h, i) => s + h * G[i], 0);
  const grads = referenceTransformerBackward(c, G);
  const eps = 1e-5;
  for (const [name, g] of Object.entries(grads)) {
    const p = params[name];
    // a few entries of every parameter (all of the small ones)
    const stride = Math.max(1, Math.floor(p.length / 7));
    for (let i = 0; i < p.length; i += stride) {
      const old = p[i];
      p[i] = old + eps;
      const up = loss();
      p[i] = old - eps;
      const down = loss();
      p[i] = old;
      const fd = (up - down) / (2 * eps);
      if (Math.abs(fd - g[i]) > 1e-6 * (1 + Math.abs(fd))) {
        throw new Error(`${name}[${i}]: finite difference ${fd}, backward ${g[i]}`);
      }
    }
  }
  // positions past T and unused tokens get exactly 0
  const pos = grads["embedding/positions"];
  assert(pos.subarray(T * dims.hiddenSize).every((v) => v === 0));
});

Deno.test("forward equals the reference at odd shapes (T = 1, T = maxLength, several heads)", async () => {
  for (const [i, { dims: d, runs }] of CASES.entries()) {
    const { body, dims, params } = await makeBody(d, 20 + i);
    try {
      const rng = new SeededRandom(40 + i);
      for (const [B, T] of runs) {
        const ids = randomIds(rng, B * T, dims.vocabSize);
        using h = await body.forward(tensor(ids, [B, T]));
        assertEquals(h.shape, [B, T, dims.hiddenSize]);
        const want = referenceTransformerForward({ dims, params, ids, B, T });
        assertClose(await h.read(), want, TOL, `forward ${JSON.stringify(d)} B=${B} T=${T}`);
      }
    } finally {
      body.dispose();
    }
  }
});

Deno.test("GPU gradients equal the reference backward (relative norm ≤ 1e-3)", async () => {
  for (
    const [i, [d, B, T]] of ([
      [CASES[1].dims, 2, 9],
      [CASES[2].dims, 2, 13],
      [CASES[4].dims, 3, 3],
    ] as [Dims, number, number][]).entries()
  ) {
    const { body, dims, params } = await makeBody(d, 60 + i);
    try {
      const rng = new SeededRandom(70 + i);
      const ids = randomIds(rng, B * T, dims.vocabSize);
      ids[0] = ids[1]; // a repeated token: its embedding gradient sums several rows
      const G = randomNormal(rng, B * T * dims.hiddenSize);
      using h = await body.forward(tensor(ids, [B, T]));
      await body.backward(tensor(G, [B, T, dims.hiddenSize]));
      const got = await body.getGrads();
      const want = referenceTransformerBackward({ dims, params, ids, B, T }, G);
      assertEquals(Object.keys(got), Object.keys(want));
      for (const name of Object.keys(want)) {
        const r = relativeNorm(got[name], want[name]);
        assert(r <= 1e-3, `${name} (${JSON.stringify(d)}): relative error ${r}`);
      }
      // tokens that never occur and positions past T: exactly 0
      const D = dims.hiddenSize;
      assert(got["embedding/positions"].subarray(T * D).every((v) => v === 0));
      for (let v = 0; v < dims.vocabSize; v++) {
        if (!ids.includes(v)) {
          assert(got["embedding/tokens"].subarray(v * D, (v + 1) * D).every((x) => x === 0));
        }
      }
      // a GPU-resident upstream gradient gives the same result; backward overwrites
      const ctx = body.context;
      const buf = ctx.pool.acquire(G.byteLength);
      try {
        ctx.device.queue.writeBuffer(buf, 0, G as Float32Array<ArrayBuffer>);
        await body.backward(gpuTensor(ctx, buf, [B, T, D]));
      } finally {
        ctx.pool.release(buf);
      }
      const again = await body.getGrads();
      for (const name of Object.keys(want)) {
        assertEquals(again[name], got[name], `${name}: backward is deterministic and overwrites`);
      }
      h.dispose();
    } finally {
      body.dispose();
    }
  }
});

Deno.test("step with the key/value cache equals forward at every position; past maxLength is refused", async () => {
  for (const [i, idx] of [1, 2, 4].entries()) {
    const { body, dims, params } = await makeBody(CASES[idx].dims, 80 + i);
    try {
      const B = 2, T = dims.maxLength, D = dims.hiddenSize;
      const rng = new SeededRandom(90 + i);
      const ids = randomIds(rng, B * T, dims.vocabSize);
      using full = await body.forward(tensor(ids, [B, T]));
      const fwd = await full.read();
      const want = referenceTransformerForward({ dims, params, ids, B, T });
      using state = body.initState(B);
      for (let t = 0; t < T; t++) {
        const tokens = new Int32Array(B).map((_, b) => ids[b * T + t]);
        using h = await body.step(tensor(tokens, [B]), state);
        assertEquals(h.shape, [B, D]);
        const got = await h.read();
        const at = (src: ArrayLike<number>) =>
          Array.from({ length: B * D }, (_, k) => src[(Math.floor(k / D) * T + t) * D + (k % D)]);
        assertClose(got, at(fwd), TOL, `step ${t} vs forward`);
        assertClose(got, at(want), TOL, `step ${t} vs reference`);
        assertEquals(state.length, t + 1);
      }
      const next = tensor(new Int32Array(B), [B]);
      await assertRejects(() => body.step(next, state), FWLStateError, `maxLength = ${T}`);
      assertEquals(state.length, T);
      await assertRejects(
        () => body.forward(tensor(new Int32Array(T + 1), [1, T + 1])),
        FWLInputError,
        `maxLength = ${T}`,
      );
    } finally {
      body.dispose();
    }
  }
});

Deno.test("inputs and states are checked", async () => {
  const { body, dims } = await makeBody(CASES[0].dims, 5);
  const other = await TransformerBody.create({ ...CASES[0].dims });
  try {
    const V = dims.vocabSize;
    await assertRejects(() => body.backward(tensor(new Float32Array(6), [1, 1, 6])), FWLStateError);
    await assertRejects(
      () => body.forward(tensor(new Int32Array([0, V]), [1, 2])),
      FWLInputError,
      `[0, ${V})`,
    );
    await assertRejects(() => body.forward(tensor(new Int32Array([-1]), [1, 1])), FWLInputError);
    await assertRejects(
      () => body.forward(tensor(new Float32Array(2), [1, 2]) as never),
      FWLInputError,
      "int32",
    );
    await assertRejects(() => body.forward(tensor(new Int32Array(2), [2])), FWLInputError);
    using h = await body.forward(tensor(new Int32Array([1, 2, 3]), [1, 3]));
    await assertRejects(
      () => body.backward(tensor(new Float32Array(12), [1, 2, 6])),
      FWLInputError,
      "[1, 3, 6]",
    );
    await assertRejects(
      () => body.backward(tensor(new Float32Array(18).fill(NaN), [1, 3, 6])),
      FWLInputError,
      "finite",
    );
    // GPU-resident ids and upstream gradient (the output itself) are taken in place
    const ctx = body.context;
    const ids = ctx.pool.acquire(12);
    try {
      ctx.device.queue.writeBuffer(ids, 0, new Int32Array([1, 2, 3]));
      using h2 = await body.forward(gpuTensor(ctx, ids, [1, 3], "int32"));
      assertEquals(await h2.read(), await h.read());
      await body.backward(h2);
    } finally {
      ctx.pool.release(ids);
    }
    const state = body.initState(2);
    await assertRejects(
      () => body.step(tensor(new Int32Array(3), [3]), state),
      FWLInputError,
      "[2]",
    );
    await assertRejects(
      () => body.step(tensor(new Int32Array([0, V]), [2]), state),
      FWLInputError,
    );
    await assertRejects(
      () => other.step(tensor(new Int32Array(2), [2]), state),
      FWLInputError,
      "initState",
    );
    assertEquals(state.length, 0);
    state.dispose();
    await assertRejects(() => body.step(tensor(new Int32Array(2), [2]), state), FWLStateError);
    assertThrows(() => body.initState(0), FWLInputError);
    await assertRejects(
      () => body.setParams({ "embedding/tokens": new Float32Array(1) }),
      FWLInputError,
    );
    // Any subset of the parameters; building again starts afresh (new buffers, the
    // saved activations dropped, live states disposed).
    const init = await body.getParams();
    const bias = new Float32Array(dims.hiddenSize).fill(0.25);
    await body.setParams({ "final_layer_norm/bias": bias });
    assertEquals(await body.getParams(), { ...init, "final_layer_norm/bias": bias });
    const live = body.initState(1);
    const kernel = body.parameters()[0].buffer;
    await body.build();
    assertEquals(await body.getParams(), initTransformerParams(dims, 5));
    assert(live.disposed && body.parameters()[0].buffer !== kernel);
    await assertRejects(() => body.backward(h), FWLStateError, "forward");
    const names = body.parameters().map((p) => p.name);
    assertEquals(names, [...transformerParamShapes(dims).keys()]);
    assertEquals(new Set(names).size, names.length);
  } finally {
    body.dispose();
    other.dispose();
  }
  await assertRejects(() => body.forward(tensor(new Int32Array(1), [1, 1])), FWLStateError);
  assertInstanceOf(body, TransformerBody);
});

Deno.test("memory does not grow over repeated forward, backward and generation", async () => {
  const { body, dims } = await makeBody(CASES[1].dims, 9);
  try {
    const ctx = body.context;
    const B = 3, T = 7, D = dims.hiddenSize;
    const rng = new SeededRandom(3);
    const ids = tensor(randomIds(rng, B * T, dims.vocabSize), [B, T]);
    const g = tensor(randomNormal(rng, B * T * D), [B, T, D]);
    const sizes: number[] = [];
    for (let it = 0; it < 4; it++) {
      using h = await body.forward(ids);
      await body.backward(g);
      using state = body.initState(B);
      for (let t = 0; t < 3; t++) {
        using s = await body.step(tensor(new Int32Array(B).fill(t), [B]), state);
        await s.read();
      }
      await h.read();
      sizes.push(ctx.pool.allocatedBytes);
    }
    assertEquals(sizes, [sizes[0], sizes[0], sizes[0], sizes[0]], `pool bytes ${sizes}`);
  } finally {
    body.dispose();
  }
});

// Past one tile of the attention kernels (64 invocations of 1, 2 or 4 rows: head width
// 17, 16, ≤ 8): primes, a tile plus one; head widths 17 and 1 (rows read one float at a
// time), 4, 8 and 16 (four at a time).
const LONG_CASES: { dims: Dims; runs: [number, number][] }[] = [
  {
    dims: { vocabSize: 11, hiddenSize: 34, layers: 1, heads: 2, mlpSize: 9, maxLength: 131 },
    runs: [[1, 131], [2, 67]],
  },
  {
    dims: { vocabSize: 7, hiddenSize: 5, layers: 2, heads: 5, mlpSize: 6, maxLength: 97 },
    runs: [[3, 65], [1, 97]],
  },
  {
    dims: { vocabSize: 13, hiddenSize: 24, layers: 2, heads: 3, mlpSize: 10, maxLength: 70 },
    runs: [[2, 70]],
  },
  {
    dims: { vocabSize: 17, hiddenSize: 32, layers: 1, heads: 2, mlpSize: 12, maxLength: 131 },
    runs: [[1, 131]],
  },
  {
    dims: { vocabSize: 5, hiddenSize: 8, layers: 1, heads: 2, mlpSize: 4, maxLength: 263 },
    runs: [[2, 263]],
  },
];

Deno.test("forward and gradients equal the reference past one attention tile (T = 65 … 263)", async () => {
  for (const [c, { dims: d, runs }] of LONG_CASES.entries()) {
    const { body, dims, params } = await makeBody(d, 100 + c);
    try {
      const rng = new SeededRandom(110 + c);
      for (const [B, T] of runs) {
        const what = `${JSON.stringify(d)} B=${B} T=${T}`;
        const ids = randomIds(rng, B * T, dims.vocabSize);
        const G = randomNormal(rng, B * T * dims.hiddenSize);
        using h = await body.forward(tensor(ids, [B, T]));
        const ref = { dims, params, ids, B, T };
        assertClose(await h.read(), referenceTransformerForward(ref), TOL, `forward ${what}`);
        await body.backward(tensor(G, [B, T, dims.hiddenSize]));
        const got = await body.getGrads();
        const want = referenceTransformerBackward(ref, G);
        for (const name of Object.keys(want)) {
          const r = relativeNorm(got[name], want[name]);
          assert(r <= 1e-3, `${name} (${what}): relative error ${r}`);
        }
      }
    } finally {
      body.dispose();
    }
  }
});

Deno.test("step with the key/value cache equals the reference at every position up to 97", async () => {
  const { body, dims, params } = await makeBody(LONG_CASES[1].dims, 120);
  try {
    const B = 2, T = dims.maxLength, D = dims.hiddenSize;
    const ids = randomIds(new SeededRandom(121), B * T, dims.vocabSize);
    const want = referenceTransformerForward({ dims, params, ids, B, T });
    using state = body.initState(B);
    for (let t = 0; t < T; t++) {
      const tokens = new Int32Array(B).map((_, b) => ids[b * T + t]);
      using h = await body.step(tensor(tokens, [B]), state);
      const at = Array.from(
        { length: B * D },
        (_, k) => want[(Math.floor(k / D) * T + t) * D + (k % D)],
      );
      assertClose(await h.read(), at, TOL, `step ${t}`);
    }
  } finally {
    body.dispose();
  }
});

Deno.test("T = 4096 trains where [B, heads, T, T] scores exceed the binding limit; no T×T buffer is allocated", async () => {
  // A device with WebGPU's default limits (a 128 MiB binding), on a context of its own:
  // its pool holds only this body's buffers.
  const adapter = await navigator.gpu.requestAdapter();
  assert(adapter);
  const device = await adapter.requestDevice();
  const d: Dims = {
    vocabSize: 9,
    hiddenSize: 16,
    layers: 1,
    heads: 4,
    mlpSize: 8,
    maxLength: 4096,
  };
  const dims = fullDims(d);
  const B = 1, T = 4096, H = dims.heads, D = dims.hiddenSize;
  using body = await TransformerBody.create({ ...d, seed: 7, device });
  const ctx = body.context;
  assert(B * H * T * T * 4 > ctx.maxBindingBytes, "the scores would not fit one binding");
  const params = randomParams(dims, 7);
  await body.setParams(params);
  const rng = new SeededRandom(8);
  const ids = randomIds(rng, B * T, dims.vocabSize);
  // The upstream gradient is 0 past position P: causality makes the first P outputs and
  // every gradient those of the first P tokens alone, which the reference computes.
  const P = 131;
  const G = new Float32Array(B * T * D);
  G.set(randomNormal(rng, P * D));
  using h = await body.forward(tensor(ids, [B, T]));
  await body.backward(tensor(G, [B, T, D]));
  const hidden = await h.read();
  assert(hidden.every(Number.isFinite));
  const ref = { dims, params, ids: ids.subarray(0, P), B, T: P };
  assertClose(hidden.subarray(0, P * D), referenceTransformerForward(ref), TOL, "first positions");
  const got = await body.getGrads();
  const want = referenceTransformerBackward(ref, G.subarray(0, P * D));
  for (const name of Object.keys(want)) {
    const r = relativeNorm(got[name], want[name]);
    assert(r <= 1e-3, `${name}: relative error ${r}`);
  }
  const peak = ctx.pool.peakBytes;
  assert(peak < T * T * 4 / 8, `peak pooled bytes ${peak}: an eighth of one head's T×T scores`);
  device.destroy();
});
