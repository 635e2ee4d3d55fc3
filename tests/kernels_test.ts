// Every GPU kernel against a plain CPU computation, at odd shapes (1, primes,
// non-multiples of the 32×32 matmul tile and of the 64-wide row workgroups).

import { assertEquals } from "@std/assert";
import { GPUContext } from "../src/gpu/context.ts";
import { Recorder } from "../src/gpu/recorder.ts";
import { chunkAttention, chunkLayout } from "../src/kernels/chunk_attention.ts";
import { matmul, matmulNN, matmulNT } from "../src/kernels/matmul.ts";
import { cumsumUpdate } from "../src/kernels/cumsum.ts";
import { layerNorm } from "../src/kernels/layer_norm.ts";
import { layerNormBackward } from "../src/kernels/layer_norm.ts";
import { normalizer } from "../src/kernels/softmax_xent.ts";
import { softmaxXentGrad } from "../src/kernels/softmax_xent.ts";
import { SeededRandom } from "../src/util/random.ts";
import { referenceChunkAttention, referenceExclusiveCumsum } from "../src/reference/mod.ts";
import {
  assertClose,
  randomNormal,
  readFloats,
  scratchLimit,
  transpose,
  uploadTo,
} from "./helpers.ts";

const ctx = await GPUContext.default();
const rng = new SeededRandom(2024);

function cpuMatmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

Deno.test("matmul: A·B, A·Bᵀ, Aᵀ·B with bias, alpha, accumulate and step at odd shapes", async () => {
  for (
    const [m, k, n] of [[1, 1, 1], [7, 3, 5], [33, 17, 65], [64, 31, 1], [
      97,
      130,
      41,
    ]]
  ) {
    const a = randomNormal(rng, m * k), b = randomNormal(rng, k * n);
    const bias = randomNormal(rng, n), c0 = randomNormal(rng, m * n);
    const steps = new Float32Array([0, 0, 0.75]);
    const want = cpuMatmul(a, b, m, k, n);
    const [A, Bf, Bt, At, bb, sb] = [
      a,
      b,
      transpose(b, k, n),
      transpose(a, m, k),
      bias,
      steps,
    ].map((d) => uploadTo(ctx, d));
    const out1 = ctx.pool.acquire(m * n * 4),
      out2 = uploadTo(ctx, c0),
      out3 = ctx.pool.acquire(m * n * 4);
    const rec = new Recorder(ctx);
    matmulNN(rec, A, Bf, out1, m, k, n, { bias: { buffer: bb } });
    matmulNT(rec, A, Bt, out2, m, k, n, {
      beta: 0.5,
      alpha: -2,
      step: { buffer: sb, index: 2 },
    });
    matmul(rec, {
      m,
      n,
      k,
      a: { buffer: At, row: 1, col: m },
      b: { buffer: Bf, row: n, col: 1 },
      c: { buffer: out3, row: n, col: 1 },
    });
    await rec.submit("test");
    assertClose(
      await readFloats(ctx, out1, m * n),
      want.map((v, i) => v + bias[i % n]),
      1e-5,
      `NN ${m}×${k}×${n}`,
    );
    assertClose(
      await readFloats(ctx, out2, m * n),
      want.map((v, i) => 0.5 * c0[i] - 1.5 * v),
      1e-5,
      `NT ${m}×${k}×${n}`,
    );
    assertClose(await readFloats(ctx, out3, m * n), want, 1e-5, `TN ${m}×${k}×${n}`);
    for (const buf of [A, Bf, Bt, At, bb, sb, out1, out2, out3]) {
      ctx.pool.release(buf);
    }
  }
});

Deno.test("matmul: squared-ReLU and gate epilogues", async () => {
  for (const [m, k, n] of [[13, 6, 37], [13, 6, 36]]) {
    const a = randomNormal(rng, m * k),
      b = randomNormal(rng, k * n),
      g = randomNormal(rng, m * n);
    const want = cpuMatmul(a, b, m, k, n);
    const [A, Bf, G] = [a, b, g].map((d) => uploadTo(ctx, d));
    const out = ctx.pool.acquire(m * n * 4), aux = ctx.pool.acquire(m * n * 4);
    const rec = new Recorder(ctx);
    matmulNN(rec, A, Bf, out, m, k, n, { sqreluAux: aux });
    matmulNN(rec, A, Bf, G, m, k, n, { gateAux: out });
    await rec.submit("test");
    assertClose(
      await readFloats(ctx, aux, m * n),
      want.map((v) => Math.max(v, 0) ** 2),
      1e-5,
      "relu²",
    );
    assertClose(
      await readFloats(ctx, G, m * n),
      want.map((v) => v * 2 * Math.max(v, 0)),
      1e-4,
      "gate",
    );
    for (const buf of [A, Bf, G, out, aux]) ctx.pool.release(buf);
  }
});

Deno.test("layer norm forward (shared and per-row affine) and inner backward", async () => {
  for (const [rows, width] of [[1, 1], [5, 3], [3, 65], [70, 129]]) {
    const x = randomNormal(rng, rows * width, 2);
    const scale = randomNormal(rng, rows * width),
      bias = randomNormal(rng, rows * width);
    const gn = randomNormal(rng, rows * width);
    const eps = 1e-6;
    const wantN = new Float64Array(rows * width),
      wantNhat = new Float64Array(rows * width);
    const wantRow = new Float64Array(rows * width),
      wantR = new Float64Array(rows);
    const wantGx = new Float64Array(rows * width),
      wantGs = new Float64Array(rows * width);
    for (let r = 0; r < rows; r++) {
      const row = Array.from(x.subarray(r * width, (r + 1) * width));
      const mean = row.reduce((s, v) => s + v, 0) / width;
      const v = row.reduce((s, e) => s + (e - mean) ** 2, 0) / width;
      const rs = 1 / Math.sqrt(v + eps);
      wantR[r] = rs;
      let m1 = 0, m2 = 0;
      for (let j = 0; j < width; j++) {
        const nh = (row[j] - mean) * rs, i = r * width + j;
        wantNhat[i] = nh;
        wantN[i] = nh * scale[j] + bias[j];
        wantRow[i] = nh * scale[i] + bias[i];
        m1 += gn[i] * scale[j] / width;
        m2 += gn[i] * scale[j] * nh / width;
      }
      for (let j = 0; j < width; j++) {
        const i = r * width + j;
        wantGx[i] = (gn[i] * scale[j] - m1 - wantNhat[i] * m2) * rs;
        wantGs[i] = gn[i] * wantNhat[i];
      }
    }
    const [X, S, Bb, GN] = [x, scale, bias, gn].map((d) => uploadTo(ctx, d));
    const size = rows * width * 4;
    const [out, nhat, rstd, outRow, gx, gs] = [
      size,
      size,
      rows * 4,
      size,
      size,
      size,
    ].map((b) => ctx.pool.acquire(b));
    const rec = new Recorder(ctx);
    layerNorm(rec, {
      x: X,
      scale: S,
      bias: Bb,
      out,
      nhat,
      rstd,
      rows,
      width,
      perRowAffine: false,
      eps,
    });
    layerNormBackward(rec, {
      gN: GN,
      nhat,
      rstd,
      scale: S,
      gX: gx,
      gScale: gs,
      rows,
      width,
    });
    const nhat2 = ctx.pool.acquire(size), rstd2 = ctx.pool.acquire(rows * 4);
    layerNorm(rec, {
      x: X,
      scale: S,
      bias: Bb,
      out: outRow,
      nhat: nhat2,
      rstd: rstd2,
      rows,
      width,
      perRowAffine: true,
      eps,
    });
    await rec.submit("test");
    const what = `${rows}×${width}`;
    assertClose(await readFloats(ctx, out, rows * width), wantN, 1e-4, `ln ${what}`);
    assertClose(await readFloats(ctx, rstd, rows), wantR, 1e-4, `rstd ${what}`);
    assertClose(
      await readFloats(ctx, outRow, rows * width),
      wantRow,
      1e-4,
      `ln per-row ${what}`,
    );
    assertClose(
      await readFloats(ctx, gx, rows * width),
      wantGx,
      1e-4,
      `ln backward ${what}`,
    );
    assertClose(await readFloats(ctx, gs, rows * width), wantGs, 1e-4, `g_n⊙nhat ${what}`);
    for (
      const buf of [X, S, Bb, GN, out, nhat, rstd, outRow, gx, gs, nhat2, rstd2]
    ) ctx.pool.release(buf);
  }
});

Deno.test("softmax cross-entropy gradient (ids and one-hot) and the normalizer", async () => {
  for (const [rows, vocab] of [[1, 1], [3, 7], [66, 97], [5, 1031]]) {
    const z = randomNormal(rng, rows * vocab, 3);
    const w = new Float32Array(rows).map((_, i) => i % 3 === 1 ? 0 : rng.uniform() + 0.1);
    const ids = new Int32Array(rows).map((_, i) =>
      w[i] === 0 ? -1 : Math.floor(rng.uniform() * vocab)
    );
    const oneHot = new Float32Array(rows * vocab);
    ids.forEach((id, i) => id >= 0 && (oneHot[i * vocab + id] = 1));
    const N = Math.max(w.reduce((a, b) => a + b, 0), 1e-8);
    const want = new Float64Array(rows * vocab);
    for (let r = 0; r < rows; r++) {
      const row = z.subarray(r * vocab, (r + 1) * vocab);
      const mx = Math.max(...row);
      const s = row.reduce((a, v) => a + Math.exp(v - mx), 0);
      for (let j = 0; j < vocab; j++) {
        want[r * vocab + j] = (Math.exp(row[j] - mx) / s - (ids[r] === j ? 1 : 0)) * w[r] / N;
      }
    }
    const [Z1, Z2, I, O, W] = [z, z.slice(), ids, oneHot, w].map((d) => uploadTo(ctx, d));
    const norm = ctx.pool.acquire(4), fixed = ctx.pool.acquire(4);
    const rec = new Recorder(ctx);
    normalizer(rec, { weights: W, norm, count: rows, fixed: undefined });
    normalizer(rec, { weights: W, norm: fixed, count: rows, fixed: 2.5 });
    const common = {
      weights: W,
      norm,
      rows,
      vocab,
      rowOffset: 0,
      labelBase: 0,
    };
    softmaxXentGrad(rec, { ...common, z: Z1, labels: I, labelsAreIds: true });
    softmaxXentGrad(rec, { ...common, z: Z2, labels: O, labelsAreIds: false });
    await rec.submit("test");
    assertClose(await readFloats(ctx, norm, 1), [N], 1e-6, "N");
    assertClose(await readFloats(ctx, fixed, 1), [2.5], 0, "fixed N");
    assertClose(
      await readFloats(ctx, Z1, rows * vocab),
      want,
      1e-5,
      `ids ${rows}×${vocab}`,
    );
    assertClose(
      await readFloats(ctx, Z2, rows * vocab),
      want,
      1e-5,
      `one-hot ${rows}×${vocab}`,
    );
    for (const buf of [Z1, Z2, I, O, W, norm, fixed]) ctx.pool.release(buf);
  }
});

Deno.test("exclusive cumsum update (in place, broadcast base, relu² aux)", async () => {
  for (const [batch, time, width] of [[1, 1, 1], [2, 7, 5], [3, 13, 67]]) {
    const n = batch * time * width;
    const u = randomNormal(rng, n),
      base = randomNormal(rng, n),
      vec = randomNormal(rng, width);
    const steps = new Float32Array([0.3, 0.7]);
    const cs = referenceExclusiveCumsum(u, batch, time, width);
    const [U, O1, V, O2, St] = [u, base, vec, new Float32Array(n), steps].map(
      (d) => uploadTo(ctx, d),
    );
    const aux = ctx.pool.acquire(n * 4);
    const rec = new Recorder(ctx);
    const common = { u: U, batch, time, width };
    cumsumUpdate(rec, { ...common, out: O1, step: { buffer: St, index: 0 }, sqreluAux: aux });
    cumsumUpdate(rec, { ...common, out: O2, step: { buffer: St, index: 1 }, broadcastBase: V });
    await rec.submit("test");
    const want1 = cs.map((c, i) => base[i] - 0.3 * c);
    assertClose(await readFloats(ctx, O1, n), want1, 1e-5, "in place");
    assertClose(
      await readFloats(ctx, aux, n),
      want1.map((v) => Math.max(v, 0) ** 2),
      1e-5,
      "aux",
    );
    assertClose(
      await readFloats(ctx, O2, n),
      cs.map((c, i) => vec[i % width] - 0.7 * c),
      1e-5,
      "broadcast",
    );
    for (const buf of [U, O1, V, O2, St, aux]) ctx.pool.release(buf);
  }
});

Deno.test("chunk attention equals the direct causal sum for every chunking", async () => {
  for (
    const [batch, time, dq, dv] of [
      [1, 1, 3, 2],
      [2, 7, 5, 3],
      [3, 13, 4, 33],
      [1, 40, 33, 6],
    ]
  ) {
    const q = randomNormal(rng, batch * time * dq),
      k = randomNormal(rng, batch * time * dq);
    const v = randomNormal(rng, batch * time * dv),
      out0 = randomNormal(rng, batch * time * dv);
    const want = referenceChunkAttention(q, k, v, batch, time, dq, dv, 1);
    for (const chunks of [1, 2, 3, 4, 7, 20]) {
      const [Q, K, Vb, O, St] = [q, k, v, out0, new Float32Array([0.6])].map(
        (d) => uploadTo(ctx, d),
      );
      const rec = new Recorder(ctx);
      chunkAttention(rec, {
        q: Q,
        k: K,
        v: Vb,
        out: O,
        batch,
        time,
        dq,
        dv,
        chunks,
        step: { buffer: St, index: 0 },
        scale: -1,
        // Odd chunk counts: one group per sequence; 2 and 4: so little scratch that
        // the chunks are scanned with a running state; others: everything at once.
        maxScratchBytes: scratchLimit(time, chunks, dq, dv),
      });
      await rec.submit("test");
      const got = await readFloats(ctx, O, batch * time * dv);
      assertClose(
        got,
        want.map((a, i) => out0[i] - 0.6 * a),
        1e-5,
        `${batch}×${time} C=${chunks}`,
      );
      for (const buf of [Q, K, Vb, O, St]) ctx.pool.release(buf);
    }
  }
  assertEquals(chunkLayout(10, 4), { length: 3, count: 4 });
  assertEquals(chunkLayout(5, 20), { length: 1, count: 5 });
});

Deno.test("dense layer fused with layer norm equals matmul + bias + layer norm", async () => {
  const { linearLayerNorm, linearLayerNormFits } = await import(
    "../src/kernels/linear_layer_norm.ts"
  );
  for (const [rows, k, n] of [[1, 8, 4], [13, 12, 36], [70, 128, 256], [9, 4, 252], [17, 20, 8]]) {
    const x = randomNormal(rng, rows * k), w = randomNormal(rng, k * n);
    const bias = randomNormal(rng, n), scale = randomNormal(rng, n), lnBias = randomNormal(rng, n);
    // A large common offset checks that the variance is computed from centered values.
    const h = cpuMatmul(x, w, rows, k, n).map((v, i) => v + bias[i % n] + 30);
    const biasShift = bias.map((v) => v + 30);
    const want = new Float64Array(rows * n), wantNhat = new Float64Array(rows * n);
    const wantR = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      const row = h.subarray(r * n, (r + 1) * n);
      const mean = row.reduce((s, v) => s + v, 0) / n;
      const v = row.reduce((s, e) => s + (e - mean) ** 2, 0) / n;
      wantR[r] = 1 / Math.sqrt(v + 1e-6);
      for (let j = 0; j < n; j++) {
        wantNhat[r * n + j] = (row[j] - mean) * wantR[r];
        want[r * n + j] = wantNhat[r * n + j] * scale[j] + lnBias[j];
      }
    }
    assertEquals(linearLayerNormFits(k, n), true);
    const [X, W, Bb, S, L] = [x, w, biasShift, scale, lnBias].map((d) => uploadTo(ctx, d));
    const [out, nhat, rstd] = [rows * n * 4, rows * n * 4, rows * 4].map((b) =>
      ctx.pool.acquire(b)
    );
    const rec = new Recorder(ctx);
    linearLayerNorm(rec, {
      x: X,
      w: W,
      bias: Bb,
      scale: S,
      lnBias: L,
      out,
      nhat,
      rstd,
      rows,
      k,
      n,
      eps: 1e-6,
    });
    await rec.submit("test");
    assertClose(await readFloats(ctx, out, rows * n), want, 2e-4, `fused ${rows}×${k}×${n}`);
    assertClose(
      await readFloats(ctx, nhat, rows * n),
      wantNhat,
      2e-4,
      `fused nhat ${rows}×${k}×${n}`,
    );
    assertClose(await readFloats(ctx, rstd, rows), wantR, 2e-4, `fused rstd ${rows}×${k}×${n}`);
    for (const buf of [X, W, Bb, S, L, out, nhat, rstd]) ctx.pool.release(buf);
  }
  assertEquals(linearLayerNormFits(16, 260), false);
  assertEquals(linearLayerNormFits(16, 6), false);
});
