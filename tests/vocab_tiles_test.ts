// Logits streamed over vocabulary tiles (src/kernels/vocab_tiles.ts): tile budgets shrunk
// so that 64 rows of the vocabulary do not fit, at V = 97 (not a multiple of the tile
// width): the forward's inner backward, score's nll, logits written tile by tile into a
// buffer bound in ranges, and the outer loss with all 15 gradients, with ids and one-hot
// labels, against the float64 reference.

import { assert, assertEquals } from "@std/assert";
import { FWLBlock } from "../src/fwl/block.ts";
import { PARAM_NAMES } from "../src/fwl/params.ts";
import { logitTiling } from "../src/fwl/pipeline/logit_tile_plan.ts";
import { referenceFastForward } from "../src/reference/mod.ts";
import { referenceLossAndGrads } from "../src/reference/outer_grad.ts";
import { tensor } from "../src/tensor.ts";
import { readGradBuffers, releaseGradBuffers } from "../src/fwl/grad_buffers.ts";
import { lossAndGradsGPU } from "../src/fwl/loss_and_grads.ts";
import {
  assertClose,
  type CaseShape,
  lossGradient,
  positionNll,
  randomCase,
  readFloats,
  relativeNormError,
  tiledForward,
  uploadTo,
} from "./helpers.ts";

const TOL = 2e-4;
/** 64 rows × 32 columns: V = 97 streams in column tiles of 32, 32, 32 and 1. */
const TILE = 64 * 32 * 4;

Deno.test("logitTiling keeps full-row tiles when 64 rows fit, else tiles the vocabulary", () => {
  assertEquals(logitTiling(74, 97, 2 ** 20), { rows: 74, cols: 97 });
  assertEquals(logitTiling(1000, 97, 200 * 97 * 4), { rows: 192, cols: 97 });
  assertEquals(logitTiling(74, 97, TILE), { rows: 64, cols: 32 });
  assertEquals(logitTiling(30, 97, TILE), { rows: 30, cols: 64 });
  assertEquals(logitTiling(1000, 97, 100), { rows: 64, cols: 1 });
  // A vocabulary of 2^20 within 32 MiB: 64 rows × 131072 columns; with one-hot labels
  // bound in ranges of at most 128 MiB, 31 rows (wider columns).
  assertEquals(logitTiling(4096, 2 ** 20, 2 ** 25), { rows: 64, cols: 131072 });
  assertEquals(logitTiling(4096, 2 ** 20, 2 ** 25, 2 ** 27), { rows: 31, cols: 270592 });
});

Deno.test("forward and score streamed over vocabulary tiles match the reference", async () => {
  const shapes: CaseShape[] = [
    { B: 2, T: 37, D: 5, size: 3, V: 97, C: 4 }, // 74 rows: row tiles of 64 and 10
    { B: 1, T: 30, D: 4, size: 5, V: 97, C: 3 }, // 30 rows: one row tile, columns 64 + 33
    { B: 2, T: 35, D: 4, size: 4, V: 100, C: 5 }, // multiples of 4: vectorized matmuls
  ];
  for (const [i, shape] of shapes.entries()) {
    const { B, T, D, size, V, C } = shape;
    const M = B * T;
    const c = randomCase(shape, 300 + i);
    c.ref.epsilon = 1e-6;
    const fast = referenceFastForward(c.ref);
    const nllWant = positionNll(fast, c.ids, c.weights, V);
    using block = new FWLBlock(size, V, C);
    await block.build(D);
    await block.setParams(c.params);
    const ctx = block.context;
    let before = 0;
    // The second pass repeats the first: the pool must not grow.
    for (const [k, oneHot] of [false, true, false, true].entries()) {
      if (k === 2) before = ctx.pool.allocatedBytes;
      const [x, l, w] = [
        uploadTo(ctx, c.x),
        uploadTo(ctx, oneHot ? c.oneHot : c.ids),
        uploadTo(ctx, c.weights),
      ];
      const run = async (
        output: "logits" | "nll",
        outputBytes: number,
      ): Promise<Float32Array> => {
        const n = output === "logits" ? M * V : M;
        const out = ctx.pool.acquire(n * 4);
        try {
          await tiledForward(
            block,
            shape,
            { x, labels: l, labelsAreIds: !oneHot, weights: w },
            { kind: output, buffer: out },
            { slow: TILE, output: outputBytes },
          );
          return await readFloats(ctx, out, n);
        } finally {
          ctx.pool.release(out);
        }
      };
      const what = `${JSON.stringify(shape)} one-hot ${oneHot}`;
      // Inner backward by vocabulary tiles; the fast logits in full rows.
      assertClose(await run("logits", 2 ** 20), fast, TOL, `${what}: logits`);
      // Output tiles of 20 rows bound as ranges (64 rows exceed the output budget).
      assertClose(await run("logits", 20 * V * 4 + 256), fast, TOL, `${what}: row-range logits`);
      // Output tiles of 32 columns of one row.
      assertClose(await run("logits", 32 * 4 + 256), fast, TOL, `${what}: column-tile logits`);
      assertClose(await run("nll", 2 ** 20), nllWant, TOL, `${what}: nll`);
      for (const b of [x, l, w]) ctx.pool.release(b);
    }
    assertEquals(ctx.pool.allocatedBytes, before, "no pool growth");
  }
});

Deno.test("loss and all 15 gradients streamed over vocabulary tiles match the reference", async () => {
  const cases: [CaseShape, "ids" | "one-hot" | "upstream"][] = [
    [{ B: 2, T: 37, D: 5, size: 3, V: 97, C: 4 }, "ids"],
    [{ B: 2, T: 37, D: 5, size: 3, V: 97, C: 4 }, "one-hot"],
    [{ B: 2, T: 37, D: 5, size: 3, V: 97, C: 4 }, "upstream"],
    // 30 rows, V and size multiples of 4: the vectorized matmuls on column tiles.
    [{ B: 1, T: 30, D: 4, size: 4, V: 100, C: 3 }, "ids"],
  ];
  const blocks = new Map<string, FWLBlock>();
  try {
    for (const [i, [shape, form]] of cases.entries()) {
      const { B, T, D, size, V, C } = shape;
      const c = randomCase(shape, 400 + i);
      c.ref.epsilon = 1e-6;
      if (form === "one-hot") c.ref.labels = { oneHot: c.oneHot };
      const key = JSON.stringify([D, size, V, C]);
      let block = blocks.get(key);
      if (!block) {
        block = new FWLBlock(size, V, C);
        await block.build(D);
        blocks.set(key, block);
      }
      await block.setParams(c.params);
      const x = tensor(c.x, [B, T, D]);
      const labels = form === "one-hot" ? tensor(c.oneHot, [B, T, V]) : tensor(c.ids, [B, T]);
      const weights = tensor(c.weights, [B, T]);
      const upstream = form === "upstream"
        ? tensor(lossGradient(referenceFastForward(c.ref), c, V), [B, T, V])
        : undefined;
      for (const firstOrderOnly of [false, true]) {
        const want = referenceLossAndGrads(c.ref, { firstOrderOnly });
        const r = await lossAndGradsGPU(block, x, labels, weights, {
          firstOrderOnly,
          upstream,
          tileBytes: TILE,
        });
        try {
          const grads = await readGradBuffers(block, r.grads);
          grads["x"] = await r.dx.read();
          const what = `${JSON.stringify(shape)} ${form} firstOrderOnly ${firstOrderOnly}`;
          if (upstream) {
            assertEquals(r.loss, undefined);
          } else {
            const loss = (await r.loss!.read())[0];
            const e = Math.abs(loss - want.loss) / Math.max(1, Math.abs(want.loss));
            assert(e <= 1e-5, `${what}: loss ${loss} vs ${want.loss}`);
          }
          for (const name of [...PARAM_NAMES, "x"]) {
            const e = relativeNormError(grads[name], want.grads[name]);
            assert(e <= 1e-3, `${what}: ${name} relative error ${e.toExponential(2)}`);
          }
        } finally {
          r.loss?.dispose();
          r.dx.dispose();
          releaseGradBuffers(block, r.grads);
        }
      }
    }
  } finally {
    for (const b of blocks.values()) b.dispose();
  }
});
