// GPU outer-loss gradients (src/fwl/loss_and_grads.ts) against the float64 reference
// with second-order gradients (src/reference/outer_grad.ts): the loss and all 15
// gradients at small odd shapes, first order vs full, row-tiled logits, an upstream
// gradient in place of the built-in loss, accumulation, errors, and pool stability.

import { assert, assertEquals, assertRejects } from "@std/assert";
import { FWLBlock } from "../src/fwl/block.ts";
import { PARAM_NAMES } from "../src/fwl/params.ts";
import { FWLInputError, FWLStateError } from "../src/errors.ts";
import { referenceLossAndGrads } from "../src/reference/outer_grad.ts";
import { gpuTensor, tensor } from "../src/tensor.ts";
import { createGradBuffers, readGradBuffers, releaseGradBuffers } from "../src/fwl/grad_buffers.ts";
import { lossAndGrads, lossAndGradsGPU } from "../src/fwl/loss_and_grads.ts";
import {
  caseBlock,
  type CaseShape,
  l2Norm,
  lossGradient,
  type RandomCase,
  randomCase,
  relativeNormError,
} from "./helpers.ts";

const GRAD_NAMES = [...PARAM_NAMES, "x"];
const TOLERANCE = 1e-3;

interface Shape extends CaseShape {
  oneHot?: boolean;
  normalizer?: number;
  epsilon?: number;
}

/**
 * The shape's case: step sizes about 0.5 (a large fast-weight effect), position 0 of each
 * sequence weighted, junk labels (-1, out of range) at weight 0, one-hot labels when asked.
 */
function makeCase(s: Shape, seed: number): RandomCase {
  return randomCase(s, seed, {
    normalizer: s.normalizer,
    epsilon: s.epsilon,
    labels: s.oneHot ? "oneHot" : "ids",
    ignored: "junk",
    firstWeighted: true,
  });
}

/** A block of the shape holding the case's parameters (pipelines are cached per device). */
const blockFor = (s: Shape, c: RandomCase) => caseBlock(c, s, s.normalizer ?? "batch", s.epsilon);

function inputs(s: Shape, c: RandomCase) {
  return {
    x: tensor(c.x, [s.B, s.T, s.D]),
    labels: s.oneHot ? tensor(c.oneHot, [s.B, s.T, s.V]) : tensor(c.ids, [s.B, s.T]),
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
        l2Norm(ref.grads[name]).toExponential(2)
      })`,
    );
  }
}

const SHAPES: Shape[] = [
  { B: 1, T: 1, D: 3, size: 3, V: 5, C: 1 },
  { B: 2, T: 5, D: 4, size: 3, V: 7, C: 3, oneHot: true },
  { B: 3, T: 13, D: 5, size: 3, V: 11, C: 4 },
  { B: 1, T: 13, D: 3, size: 5, V: 9, C: 20, normalizer: 3.5 },
  { B: 3, T: 5, D: 7, size: 1, V: 3, C: 1, oneHot: true },
  { B: 2, T: 13, D: 3, size: 2, V: 5, C: 4, epsilon: 0.1 },
  // Widths that are multiples of 4 take the vectorized matmul variants.
  { B: 2, T: 5, D: 8, size: 4, V: 12, C: 3, oneHot: true },
];

Deno.test("loss and all 15 gradients match the float64 reference (full and first order)", async () => {
  for (const [i, s] of SHAPES.entries()) {
    // Seeds 300 + i: at 100 + i, shape 5 (size 2, ε 0.1) draws a dense_1/bias whose first-
    // and second-order gradients differ by only 4e-3 (the reference agrees), under the
    // 20 × TOLERANCE that the check below asks of every case.
    const c = makeCase(s, 300 + i);
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
  const s: Shape = { B: 2, T: 41, D: 3, size: 3, V: 7, C: 3, oneHot: true };
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
  c: RandomCase,
): Promise<Float32Array> {
  const { x, labels, weights } = inputs(s, c);
  const logits = await block.forward(x, labels, weights);
  const z = await logits.read();
  logits.dispose();
  return lossGradient(z, c, s.V, s.oneHot);
}

Deno.test("an upstream dL/dlogits replaces the built-in loss", async () => {
  const cases: [Shape, number | undefined][] = [
    [{ B: 2, T: 5, D: 4, size: 3, V: 7, C: 3, oneHot: true }, undefined],
    [{ B: 2, T: 41, D: 3, size: 3, V: 7, C: 3 }, 64 * 7 * 4],
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
  const s: Shape = { B: 2, T: 5, D: 4, size: 3, V: 7, C: 3 };
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
  const s: Shape = { B: 3, T: 13, D: 5, size: 3, V: 11, C: 4 };
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
  const s: Shape = { B: 2, T: 5, D: 4, size: 3, V: 7, C: 3 };
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
  badIds[0] = s.V; // position 0 is weighted (firstWeighted)
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
