// GPU outer-loss gradients (src/fwl/loss_and_grads.ts) against the float64 reference
// with second-order gradients (src/reference/outer_grad.ts): the loss and all 15
// gradients at small odd shapes, first order vs full, row-tiled logits, an upstream
// gradient in place of the built-in loss, accumulation, errors, and pool stability.

import { assert, assertEquals, assertRejects } from "@std/assert";
import { FWLBlock } from "../src/fwl/block.ts";
import { PARAM_NAMES, paramShapes } from "../src/fwl/params.ts";
import { SeededRandom } from "../src/util/random.ts";
import { shapeSize } from "../src/util/shape.ts";
import { FWLInputError, FWLStateError } from "../src/errors.ts";
import { referenceLossAndGrads } from "../src/reference/outer_grad.ts";
import type { ReferenceCase } from "../src/reference/types.ts";
import { gpuTensor, tensor } from "../src/tensor.ts";
import { createGradBuffers, readGradBuffers, releaseGradBuffers } from "../src/fwl/grad_buffers.ts";
import { lossAndGrads, lossAndGradsGPU } from "../src/fwl/loss_and_grads.ts";
import { relativeNormError } from "./helpers.ts";

const GRAD_NAMES = [...PARAM_NAMES, "x"];
const TOLERANCE = 1e-3;

function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

interface Shape {
  B: number;
  T: number;
  D: number;
  size: number;
  V: number;
  chunks: number;
  oneHot?: boolean;
  normalizer?: number;
  epsilon?: number;
}

interface Case {
  ref: ReferenceCase;
  params: Record<string, Float32Array>;
  x: Float32Array;
  weights: Float32Array;
  ids: Int32Array;
  oneHot: Float32Array | undefined;
}

/**
 * Parameters with step sizes ~0.5 (a large fast-weight effect), weights with zeros, junk
 * ids (-1 or ≥ V) at weight 0, and one-hot labels when asked.
 */
function makeCase(s: Shape, seed: number): Case {
  const rng = new SeededRandom(seed);
  const { B, T, D, size, V } = s;
  const shapes = paramShapes({ inputSize: D, size, vocabSize: V });
  const params: Record<string, Float32Array> = {};
  for (const name of PARAM_NAMES) {
    const p = new Float32Array(shapeSize(shapes[name]));
    for (let i = 0; i < p.length; i++) {
      if (name.endsWith("_step")) p[i] = 0.3 + 0.4 * rng.uniform();
      else if (name === "layer_norm/scale") p[i] = 1 + 0.3 * rng.normal();
      else if (name.endsWith("kernel")) {
        p[i] = (name.startsWith("unembed") ? 0.7 : 0.35) * rng.normal();
      } else p[i] = 0.2 * rng.normal();
    }
    params[name] = p;
  }
  const x = new Float32Array(B * T * D).map(() => rng.normal());
  const weights = new Float32Array(B * T).map(
    () => (rng.uniform() < 0.25 ? 0 : 0.5 + rng.uniform()),
  );
  weights[0] = 1;
  const ids = new Int32Array(B * T).map((_, r) =>
    weights[r] === 0 ? (r % 2 ? -1 : V + 3) : Math.floor(rng.uniform() * V)
  );
  let oneHot: Float32Array | undefined;
  if (s.oneHot) {
    oneHot = new Float32Array(B * T * V);
    for (let r = 0; r < B * T; r++) {
      if (weights[r] !== 0) oneHot[r * V + ids[r]] = 1;
    }
  }
  return {
    ref: {
      B,
      T,
      D,
      size,
      vocabSize: V,
      attnChunks: s.chunks,
      x,
      labels: oneHot ? { oneHot } : { ids },
      weights,
      params,
      normalizer: s.normalizer,
      epsilon: s.epsilon,
    },
    params,
    x,
    weights,
    ids,
    oneHot,
  };
}

/** A block of the shape holding the case's parameters (pipelines are cached per device). */
async function blockFor(s: Shape, c: Case): Promise<FWLBlock> {
  const block = new FWLBlock(s.size, s.V, s.chunks, {
    normalizer: s.normalizer ?? "batch",
    epsilon: s.epsilon ?? 1e-6,
  });
  await block.build(s.D);
  await block.setParams(c.params);
  return block;
}

function inputs(s: Shape, c: Case) {
  return {
    x: tensor(c.x, [s.B, s.T, s.D]),
    labels: c.oneHot ? tensor(c.oneHot, [s.B, s.T, s.V]) : tensor(c.ids, [s.B, s.T]),
    weights: tensor(c.weights, [s.B, s.T]),
  };
}

function compare(
  what: string,
  got: { loss?: number; grads: Record<string, Float32Array> },
  ref: { loss: number; grads: Record<string, Float64Array> },
): void {
  if (got.loss !== undefined) {
    const e = Math.abs(got.loss - ref.loss) / Math.max(1, Math.abs(ref.loss));
    assert(e <= 1e-5, `${what}: loss ${got.loss} vs ${ref.loss}`);
  }
  for (const name of GRAD_NAMES) {
    const g = got.grads[name];
    assert(g !== undefined, `${what}: no gradient for ${name}`);
    const e = relativeNormError(g, ref.grads[name]);
    assert(
      e <= TOLERANCE,
      `${what}: ${name} relative error ${e.toExponential(2)} (‖ref‖ ${
        norm(ref.grads[name]).toExponential(2)
      })`,
    );
  }
}

const SHAPES: Shape[] = [
  { B: 1, T: 1, D: 3, size: 3, V: 5, chunks: 1 },
  { B: 2, T: 5, D: 4, size: 3, V: 7, chunks: 3, oneHot: true },
  { B: 3, T: 13, D: 5, size: 3, V: 11, chunks: 4 },
  { B: 1, T: 13, D: 3, size: 5, V: 9, chunks: 20, normalizer: 3.5 },
  { B: 3, T: 5, D: 7, size: 1, V: 3, chunks: 1, oneHot: true },
  { B: 2, T: 13, D: 3, size: 2, V: 5, chunks: 4, epsilon: 0.1 },
  // Widths that are multiples of 4 take the vectorized matmul variants.
  { B: 2, T: 5, D: 8, size: 4, V: 12, chunks: 3, oneHot: true },
];

Deno.test("loss and all 15 gradients match the float64 reference (full and first order)", async () => {
  for (const [i, s] of SHAPES.entries()) {
    const c = makeCase(s, 100 + i);
    using block = await blockFor(s, c);
    const { x, labels, weights } = inputs(s, c);
    const full = await lossAndGrads(block, x, labels, weights);
    const first = await lossAndGrads(block, x, labels, weights, {
      firstOrderOnly: true,
    });
    const refFull = referenceLossAndGrads(c.ref);
    const refFirst = referenceLossAndGrads(c.ref, { firstOrderOnly: true });
    const what = JSON.stringify(s);
    assertEquals(Object.keys(full.grads).sort(), [...GRAD_NAMES].sort());
    for (const name of PARAM_NAMES) {
      assertEquals(full.grads[name].length, refFull.grads[name].length, name);
    }
    compare(`${what} full`, full, refFull);
    compare(`${what} first order`, first, refFirst);
    // The second-order path matters: without it, every gradient but the step sizes'
    // moves far beyond the tolerance (the reference's own first-order check, on the GPU).
    if (s.T >= 5 && s.size >= 2) {
      for (const name of GRAD_NAMES.filter((n) => !n.endsWith("_step"))) {
        const d = relativeNormError(first.grads[name], full.grads[name]);
        assert(
          d > 20 * TOLERANCE,
          `${what}: ${name} first order differs from full by only ${d.toExponential(2)}`,
        );
      }
    }
  }
});

Deno.test("logits streamed in several row tiles give the same loss and gradients", async () => {
  const s: Shape = { B: 2, T: 41, D: 3, size: 3, V: 7, chunks: 3, oneHot: true };
  const c = makeCase(s, 7);
  using block = await blockFor(s, c);
  const { x, labels, weights } = inputs(s, c);
  const tileBytes = 64 * s.V * 4; // 64 rows per tile: tiles of 64 and 18 rows
  const r = await lossAndGradsGPU(block, x, labels, weights, { tileBytes });
  try {
    const grads = await readGradBuffers(block, r.grads);
    grads["x"] = await r.dx.read();
    const loss = (await r.loss!.read())[0];
    compare("tiled", { loss, grads }, referenceLossAndGrads(c.ref));
  } finally {
    r.loss?.dispose();
    r.dx.dispose();
    releaseGradBuffers(block, r.grads);
  }
});

/** `dL/dlogits` of the built-in loss, from the block's fast logits (float64 on the host). */
async function upstreamOf(
  block: FWLBlock,
  s: Shape,
  c: Case,
): Promise<Float32Array> {
  const { x, labels, weights } = inputs(s, c);
  const logits = await block.forward(x, labels, weights);
  const z = await logits.read();
  logits.dispose();
  const V = s.V;
  let sumW = 0;
  for (const w of c.weights) sumW += w;
  const N = Math.max(sumW, 1e-8);
  const u = new Float32Array(z.length);
  for (let r = 0; r < s.B * s.T; r++) {
    const w = c.weights[r];
    if (w === 0) continue;
    const row = z.subarray(r * V, (r + 1) * V);
    const mx = Math.max(...row);
    let e = 0;
    for (const v of row) e += Math.exp(v - mx);
    for (let j = 0; j < V; j++) {
      const y = c.oneHot ? c.oneHot[r * V + j] : (j === c.ids[r] ? 1 : 0);
      u[r * V + j] = w / N * (Math.exp(row[j] - mx) / e - y);
    }
  }
  return u;
}

Deno.test("an upstream dL/dlogits replaces the built-in loss", async () => {
  const cases: [Shape, number | undefined][] = [
    [{ B: 2, T: 5, D: 4, size: 3, V: 7, chunks: 3, oneHot: true }, undefined],
    [{ B: 2, T: 41, D: 3, size: 3, V: 7, chunks: 3 }, 64 * 7 * 4],
  ];
  for (const [s, tileBytes] of cases) {
    const c = makeCase(s, 11);
    using block = await blockFor(s, c);
    const upstream = tensor(await upstreamOf(block, s, c), [s.B, s.T, s.V]);
    const { labels, weights } = inputs(s, c);
    // x already on the GPU (as a model body would hand it over), values not re-checked.
    const ctx = block.context;
    const xBuffer = ctx.pool.acquire(c.x.byteLength);
    ctx.device.queue.writeBuffer(xBuffer, 0, c.x as Float32Array<ArrayBuffer>);
    const x = gpuTensor(ctx, xBuffer, [s.B, s.T, s.D]);
    const r = await lossAndGradsGPU(block, x, labels, weights, {
      upstream,
      tileBytes,
      checkValues: false,
    }).finally(() => ctx.pool.release(xBuffer));
    try {
      assertEquals(r.loss, undefined);
      assertEquals(r.dx.shape, [s.B, s.T, s.D]);
      assert(r.dx.isGPUResident, "dx stays on the GPU");
      const grads = await readGradBuffers(block, r.grads);
      grads["x"] = await r.dx.read();
      compare(`upstream ${JSON.stringify(s)}`, { grads }, referenceLossAndGrads(c.ref));
    } finally {
      r.dx.dispose();
      releaseGradBuffers(block, r.grads);
    }
  }
});

Deno.test("gradients accumulate into caller buffers; without accumulate they are overwritten", async () => {
  const s: Shape = { B: 2, T: 5, D: 4, size: 3, V: 7, chunks: 3 };
  const c = makeCase(s, 21);
  const other = makeCase(s, 22);
  using block = await blockFor(s, c);
  const grads = createGradBuffers(block);
  try {
    // Leave other numbers in the buffers first: the next call must overwrite them.
    const a = inputs(s, other);
    const r0 = await lossAndGradsGPU(block, a.x, a.labels, a.weights, {
      gradBuffers: grads,
    });
    r0.loss?.dispose();
    r0.dx.dispose();
    const { x, labels, weights } = inputs(s, c);
    for (const accumulate of [false, true]) {
      const r = await lossAndGradsGPU(block, x, labels, weights, {
        gradBuffers: grads,
        accumulate,
      });
      assert(r.grads === grads, "the caller's buffers are used");
      assert(r.loss !== undefined && r.loss.isGPUResident, "loss on the GPU");
      assertEquals(r.loss.shape, [1]);
      r.loss.dispose();
      r.dx.dispose();
    }
    const ref = referenceLossAndGrads(c.ref);
    const twice: Record<string, Float64Array> = {};
    for (const name of PARAM_NAMES) twice[name] = ref.grads[name].map((v) => 2 * v);
    const got = await readGradBuffers(block, grads);
    for (const name of PARAM_NAMES) {
      const e = relativeNormError(got[name], twice[name]);
      assert(e <= TOLERANCE, `accumulated ${name}: ${e.toExponential(2)}`);
    }
  } finally {
    releaseGradBuffers(block, grads);
  }
});

Deno.test("repeated calls do not grow the buffer pool", async () => {
  const s: Shape = { B: 3, T: 13, D: 5, size: 3, V: 11, chunks: 4 };
  const c = makeCase(s, 31);
  using block = await blockFor(s, c);
  const { x, labels, weights } = inputs(s, c);
  const pool = block.context.pool;
  await lossAndGrads(block, x, labels, weights);
  await lossAndGrads(block, x, labels, weights, { firstOrderOnly: true });
  const before = pool.allocatedBytes;
  for (let i = 0; i < 3; i++) {
    await lossAndGrads(block, x, labels, weights, { firstOrderOnly: i === 1 });
  }
  assertEquals(pool.allocatedBytes, before);
});

Deno.test("bad inputs throw typed errors", async () => {
  const s: Shape = { B: 2, T: 5, D: 4, size: 3, V: 7, chunks: 3 };
  const c = makeCase(s, 41);
  using block = await blockFor(s, c);
  const { x, labels, weights } = inputs(s, c);
  await assertRejects(
    () => lossAndGradsGPU(block, x, labels, weights, { accumulate: true }),
    FWLInputError,
    "gradBuffers",
  );
  await assertRejects(
    () => lossAndGrads(block, tensor(new Float32Array(2 * 5 * 3), [2, 5, 3]), labels, weights),
    FWLInputError,
    "inputSize",
  );
  await assertRejects(
    () =>
      lossAndGradsGPU(block, x, labels, weights, {
        upstream: tensor(new Float32Array(2 * 5 * 6), [2, 5, 6]),
      }),
    FWLInputError,
    "upstream",
  );
  const badIds = c.ids.slice();
  badIds[0] = s.V; // weight 1 at position 0
  await assertRejects(
    () => lossAndGrads(block, x, tensor(badIds, [s.B, s.T]), weights),
    FWLInputError,
    "labels",
  );
  await assertRejects(
    () =>
      lossAndGradsGPU(block, x, labels, weights, {
        gradBuffers: {} as never,
      }),
    FWLInputError,
    "gradBuffers",
  );
  // GPU-resident inputs are checked on the GPU.
  const ctx = block.context;
  const bad = c.x.slice();
  bad[5] = NaN;
  const xBuffer = ctx.pool.acquire(bad.byteLength);
  ctx.device.queue.writeBuffer(xBuffer, 0, bad);
  try {
    await assertRejects(
      () =>
        lossAndGradsGPU(
          block,
          gpuTensor(ctx, xBuffer, [s.B, s.T, s.D]),
          labels,
          weights,
        ),
      FWLInputError,
      "flat index 5",
    );
  } finally {
    ctx.pool.release(xBuffer);
  }
  const unbuilt = new FWLBlock(3, 7, 1);
  await assertRejects(
    () => lossAndGrads(unbuilt, x, labels, weights),
    FWLStateError,
  );
});
