// The kernels of docs/definition.md §6 against the float64 reference at odd shapes: the decayed
// cumsum update (carry, row scale, overwrite) and its reverse (carry cotangent), decayed
// mixed chunk attention in every chunking (all states, one group per sequence, a running
// state) and the anti-causal form, the decayed row copies and the running count.

import { GPUContext } from "../src/gpu/context.ts";
import { Recorder } from "../src/gpu/recorder.ts";
import { chunkAttention } from "../src/kernels/chunk_attention.ts";
import { seqAttention } from "../src/kernels/chunk_attention_backward.ts";
import { cumsumUpdate, reverseCumsum } from "../src/kernels/cumsum.ts";
import { decayRows } from "../src/kernels/decay_rows.ts";
import { advanceCount, queryScale } from "../src/kernels/running_count.ts";
import { referenceChunkAttention, referenceExclusiveCumsum } from "../src/reference/mod.ts";
import { SeededRandom } from "../src/util/random.ts";
import { assertClose, randomNormal, readFloats, scratchLimit, uploadTo } from "./helpers.ts";

const ctx = await GPUContext.default();
const rng = new SeededRandom(606);
const upload = (data: Float32Array | Int32Array) => uploadTo(ctx, data);
const read = (b: GPUBuffer, n: number) => readFloats(ctx, b, n);
/** The step 0.6 at index 0 and λ at index 1, as the head's step-size buffer holds them. */
const scalars = (lambda: number) => upload(new Float32Array([0.6, lambda]));

Deno.test("decayed cumsum update: carry, row scale, base modes; reverse with carry cotangent", async () => {
  for (const [batch, time, width] of [[1, 1, 1], [2, 7, 5], [3, 13, 67]]) {
    for (const lambda of [1, 0.8]) {
      const n = batch * time * width;
      const u = randomNormal(rng, n), base = randomNormal(rng, n);
      const carry = randomNormal(rng, batch * width);
      const r = new Float32Array(batch * time).map(() => 0.5 + rng.uniform());
      const St = scalars(lambda);
      const [U, O1, O2, C, R] = [u, base, new Float32Array(n), carry, r].map(upload);
      const rev = ctx.pool.acquire(n * 4), cot = ctx.pool.acquire(batch * width * 4);
      const rec = new Recorder(ctx);
      const decay = { buffer: St, index: 1 };
      const common = { u: U, batch, time, width, decay };
      cumsumUpdate(rec, {
        ...common,
        out: O1,
        step: { buffer: St, index: 0 },
        carried: C,
        rowScale: R,
      });
      cumsumUpdate(rec, { ...common, out: O2, overwrite: true, alpha: 1 });
      reverseCumsum(rec, { ...common, out: rev, carryOut: cot });
      await rec.submit("test");
      const z = referenceExclusiveCumsum(u, batch, time, width, lambda, carry);
      const row = (i: number) => Math.floor(i / width);
      const what = `${batch}×${time}×${width}, λ ${lambda}`;
      assertClose(await read(O1, n), z.map((v, i) => base[i] - 0.6 * r[row(i)] * v), 1e-5, what);
      const plain = referenceExclusiveCumsum(u, batch, time, width, lambda);
      assertClose(await read(O2, n), plain, 1e-5, `${what}: overwrite`);
      // reverse: out[s] = Σ_{t>s} λ^(t−1−s) u[t]; cotangent Σ_t λ^t u[t]
      const wantRev = new Float64Array(n), wantCot = new Float64Array(batch * width);
      for (let b = 0; b < batch; b++) {
        for (let j = 0; j < width; j++) {
          for (let s = 0; s < time; s++) {
            for (let t = s + 1; t < time; t++) {
              wantRev[(b * time + s) * width + j] += lambda ** (t - 1 - s) *
                u[(b * time + t) * width + j];
            }
            wantCot[b * width + j] += lambda ** s * u[(b * time + s) * width + j];
          }
        }
      }
      assertClose(await read(rev, n), wantRev, 1e-5, `${what}: reverse`);
      assertClose(await read(cot, batch * width), wantCot, 1e-5, `${what}: carry cotangent`);
      for (const b of [U, O1, O2, C, R, St, rev, cot]) ctx.pool.release(b);
    }
  }
});

Deno.test("decayed chunk attention with a row scale equals the reference in every chunking", async () => {
  for (
    const [batch, time, dq, dv] of [[1, 1, 3, 2], [2, 7, 5, 3], [3, 13, 4, 33], [1, 40, 33, 6]]
  ) {
    const q = randomNormal(rng, batch * time * dq), k = randomNormal(rng, batch * time * dq);
    const v = randomNormal(rng, batch * time * dv), out0 = randomNormal(rng, batch * time * dv);
    const r = new Float32Array(batch * time).map(() => 0.5 + rng.uniform());
    for (const lambda of [0.9, 0.55]) {
      const ref = referenceChunkAttention(q, k, v, batch, time, dq, dv, 1, lambda);
      const want = ref.map((a, i) => out0[i] - 0.6 * r[Math.floor(i / dv)] * a);
      for (const chunks of [1, 2, 3, 4, 7, 20]) {
        const [Q, K, Vb, O, R] = [q, k, v, out0, r].map(upload);
        const St = scalars(lambda);
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
          decay: { buffer: St, index: 1 },
          rowScale: R,
          scale: -1,
          // one group per sequence, a running state, or all at once
          maxScratchBytes: scratchLimit(time, chunks, dq, dv),
        });
        await rec.submit("test");
        const got = await read(O, batch * time * dv);
        assertClose(got, want, 2e-5, `${batch}×${time} C=${chunks} λ ${lambda}`);
        for (const b of [Q, K, Vb, O, R, St]) ctx.pool.release(b);
      }
    }
  }
});

Deno.test("decayed anti-causal attention equals the direct sum", async () => {
  for (
    const [batch, time, dq, dv, chunks] of [[1, 2, 3, 2, 1], [2, 9, 4, 5, 3], [1, 23, 6, 3, 4]]
  ) {
    const q = randomNormal(rng, batch * time * dq), k = randomNormal(rng, batch * time * dq);
    const v = randomNormal(rng, batch * time * dv);
    const lambda = 0.8;
    const want = new Float64Array(batch * time * dv);
    for (let b = 0; b < batch; b++) {
      for (let s = 0; s < time; s++) {
        for (let t = s + 1; t < time; t++) {
          let dot = 0;
          for (let i = 0; i < dq; i++) {
            dot += q[(b * time + s) * dq + i] *
              k[(b * time + t) * dq + i];
          }
          for (let j = 0; j < dv; j++) {
            want[(b * time + s) * dv + j] += 2 * lambda ** (t - 1 - s) * dot *
              v[(b * time + t) * dv + j];
          }
        }
      }
    }
    const [Q, K, Vb] = [q, k, v].map(upload);
    const O = upload(new Float32Array(batch * time * dv));
    const St = scalars(lambda);
    const rec = new Recorder(ctx);
    seqAttention(rec, {
      q: Q,
      k: K,
      v: Vb,
      out: O,
      batch,
      time,
      dq,
      dv,
      chunks,
      reverse: true,
      alpha: 2,
      decay: { buffer: St, index: 1 },
    });
    await rec.submit("test");
    assertClose(await read(O, batch * time * dv), want, 2e-5, `${batch}×${time} C=${chunks}`);
    for (const b of [Q, K, Vb, O, St]) ctx.pool.release(b);
  }
});

Deno.test("decayed row copies and the running count", async () => {
  const [batch, time, width, chunk, lambda] = [2, 11, 3, 4, 0.7];
  const v = randomNormal(rng, batch * time * width);
  const w = new Float32Array(batch * time).map(() => rng.uniform() < 0.3 ? 0 : rng.uniform());
  const count0 = new Float32Array([2.5, 0]);
  const [Vb, W, Cn] = [v, w, count0].map(upload);
  const St = scalars(lambda);
  const toEnd = ctx.pool.acquire(v.length * 4), fromStart = ctx.pool.acquire(v.length * 4);
  const r = ctx.pool.acquire(batch * time * 4);
  const rec = new Recorder(ctx);
  const decay = { buffer: St, index: 1 };
  const rows = { v: Vb, batch, time, width, chunk, decay };
  decayRows(rec, { ...rows, out: toEnd, direction: "toEnd" });
  decayRows(rec, { ...rows, out: fromStart, direction: "fromStart" });
  queryScale(rec, { weights: W, batch, time, decay, prior: 0.5, count: Cn, out: r });
  advanceCount(rec, { weights: W, batch, time, decay, count: Cn });
  await rec.submit("test");
  const wantEnd = new Float64Array(v.length), wantStart = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const t = Math.floor(i / width) % time, start = Math.floor(t / chunk) * chunk;
    const end = Math.min(time, start + chunk);
    wantEnd[i] = lambda ** (end - 1 - t) * v[i];
    wantStart[i] = lambda ** (t - start) * v[i];
  }
  assertClose(await read(toEnd, v.length), wantEnd, 1e-6, "to the chunk's end");
  assertClose(await read(fromStart, v.length), wantStart, 1e-6, "from the chunk's start");
  const wantR = new Float64Array(batch * time), wantCount = new Float64Array(batch);
  for (let b = 0; b < batch; b++) {
    let n = count0[b];
    for (let t = 0; t < time; t++) {
      wantR[b * time + t] = 1 / Math.max(0.5 + n, 1e-8);
      n = lambda * n + w[b * time + t];
    }
    wantCount[b] = n;
  }
  assertClose(await read(r, batch * time), wantR, 1e-6, "query scale");
  assertClose(await read(Cn, batch), wantCount, 1e-6, "advanced count");
  for (const b of [Vb, W, Cn, St, toEnd, fromStart, r]) ctx.pool.release(b);
});
