// Learning through the update: on a copy task, training the block end to end (the slow
// weights AND the six step sizes, through the second-order path) drives the outer loss
// far below what the same head reaches with its step sizes frozen at 0.
//
// The task. Each sequence is a prefix of P distinct random tokens repeated R times; the
// label of position t is the token at t + 1 (the last position has weight 0). The hidden
// state x_t is a fixed random embedding of the token at t, so the slow head sees only
// the current token: with random prefixes its best loss is ln(V − 1) everywhere. From the
// second copy on, the next token is "the token that followed this one last time", which
// the fast weights can recall: the inner gradient at an earlier occurrence s pushed the
// logits of x_s towards y_s, and x_t = x_s. Untrained (step sizes 0.01) that recall is
// negligible; training has to grow the step sizes and shape the slow weights for it.
//
// Both runs use the GPU-resident path: lossAndGradsGPU into reused gradient buffers, then
// Adam over blockParams (the frozen run leaves the packed "steps" entry out), fresh
// batches every step, nothing read back until the held-out loss at the end.
//
// Seeds: FWL_LEARNING_SEEDS=1,2,3 (with --allow-env) runs other seeds; default 1.

import { assert, assertEquals } from "@std/assert";
import { FWLBlock } from "../src/fwl/block.ts";
import { initParams, STEP_NAMES } from "../src/fwl/params.ts";
import { SeededRandom } from "../src/util/random.ts";
import { type Tensor, tensor } from "../src/tensor.ts";
import { createGradBuffers, namedGrads, releaseGradBuffers } from "../src/fwl/grad_buffers.ts";
import { lossAndGradsGPU } from "../src/fwl/loss_and_grads.ts";
import { Adam, blockParams } from "../src/optim/mod.ts";

/** Sequences per batch, prefix length, copies of the prefix. */
const B = 4, P = 8, R = 4, T = P * R;
/** Hidden width, block size, vocabulary, attention chunks. */
const D = 64, SIZE = 16, V = 32, C = 2;
/** Adam updates per run, learning rate, initial step sizes of the trained run. */
const UPDATES = 150, LR = 0.01, STEP_INIT = 0.01;
/** Held-out batches the final loss is measured on. */
const EVAL_BATCHES = 2;
/** The trained head must end below this fraction of the frozen head's loss. */
const MAX_RATIO = 0.7;

interface Batch {
  x: Tensor<"float32">;
  ids: Tensor<"int32">;
  weights: Tensor<"float32">;
}

/** A fixed random embedding per token, entries N(0, 1/D) (so ‖x‖ ≈ 1). */
function embedding(seed: number): Float32Array {
  const rng = new SeededRandom(seed);
  const scale = 1 / Math.sqrt(D);
  return new Float32Array(V * D).map(() => scale * rng.normal());
}

/** B sequences, each P distinct random tokens repeated R times, as (x, labels, weights). */
function copyBatch(rng: SeededRandom, emb: Float32Array): Batch {
  const x = new Float32Array(B * T * D);
  const ids = new Int32Array(B * T);
  const weights = new Float32Array(B * T);
  for (let b = 0; b < B; b++) {
    // The first P entries of a partial Fisher–Yates shuffle: P distinct tokens.
    const perm = Array.from({ length: V }, (_, i) => i);
    for (let i = 0; i < P; i++) {
      const j = i + Math.floor(rng.uniform() * (V - i));
      [perm[i], perm[j]] = [perm[j], perm[i]];
    }
    const token = (t: number) => perm[t % P];
    for (let t = 0; t < T; t++) {
      const row = b * T + t;
      x.set(emb.subarray(token(t) * D, token(t) * D + D), row * D);
      const last = t === T - 1;
      ids[row] = last ? -1 : token(t + 1);
      weights[row] = last ? 0 : 1;
    }
  }
  return {
    x: tensor(x, [B, T, D]),
    ids: tensor(ids, [B, T]),
    weights: tensor(weights, [B, T]),
  };
}

/** Mean outer loss over the held-out batches (the only readback of a run). */
async function heldOutLoss(block: FWLBlock, batches: Batch[]): Promise<number> {
  const grads = createGradBuffers(block);
  let sum = 0;
  try {
    for (const e of batches) {
      const r = await lossAndGradsGPU(block, e.x, e.ids, e.weights, {
        gradBuffers: grads,
      });
      r.dx.dispose();
      sum += (await r.loss!.read())[0];
      r.loss!.dispose();
    }
  } finally {
    releaseGradBuffers(block, grads);
  }
  return sum / batches.length;
}

interface RunResult {
  /** Held-out loss at initialization and after training. */
  before: number;
  after: number;
  /** The six step sizes after training, in STEP_NAMES order. */
  steps: number[];
  /** The pool's allocated bytes after the run. */
  poolBytes: number;
}

/**
 * Initializes the block from `seed` (step sizes STEP_INIT, or 0 when `frozen`) and runs
 * UPDATES Adam updates on fresh copy batches; with `frozen`, the step sizes stay out of
 * the optimizer.
 */
async function train(
  block: FWLBlock,
  seed: number,
  frozen: boolean,
  emb: Float32Array,
  heldOut: Batch[],
): Promise<RunResult> {
  const init = initParams({ inputSize: D, size: SIZE, vocabSize: V }, seed);
  for (const name of STEP_NAMES) {
    init[name] = new Float32Array([frozen ? 0 : STEP_INIT]);
  }
  await block.setParams(init);
  const before = await heldOutLoss(block, heldOut);

  const params = blockParams(block).filter((p) => !(frozen && p.name === "steps"));
  const opt = new Adam(block.context, params, { lr: LR });
  const grads = createGradBuffers(block);
  const named = namedGrads(grads);
  // The same training batches for both runs.
  const rng = new SeededRandom(seed * 31 + 5);
  try {
    for (let i = 0; i < UPDATES; i++) {
      const batch = copyBatch(rng, emb);
      const r = await lossAndGradsGPU(block, batch.x, batch.ids, batch.weights, {
        gradBuffers: grads,
      });
      r.loss!.dispose();
      r.dx.dispose();
      await opt.step(named);
    }
  } finally {
    opt.dispose();
    releaseGradBuffers(block, grads);
  }
  const after = await heldOutLoss(block, heldOut);
  const p = await block.getParams();
  return {
    before,
    after,
    steps: STEP_NAMES.map((n) => p[n][0]),
    poolBytes: block.context.pool.allocatedBytes,
  };
}

function seeds(): number[] {
  const granted = Deno.permissions.querySync({
    name: "env",
    variable: "FWL_LEARNING_SEEDS",
  }).state === "granted";
  const value = granted ? Deno.env.get("FWL_LEARNING_SEEDS") : undefined;
  return value ? value.split(",").map((s) => Number.parseInt(s, 10)) : [1];
}

Deno.test("training through the update learns a copy task the frozen head cannot", async () => {
  const block = new FWLBlock(SIZE, V, C, { seed: 0 });
  await block.build(D);
  try {
    for (const seed of seeds()) {
      const emb = embedding(seed * 7 + 3);
      const heldOut = Array.from(
        { length: EVAL_BATCHES },
        (_, i) => copyBatch(new SeededRandom(1000 + 10 * seed + i), emb),
      );
      const fwl = await train(block, seed, false, emb, heldOut);
      const frozen = await train(block, seed, true, emb, heldOut);
      const ratio = fwl.after / frozen.after;
      console.log(
        `seed ${seed}: ln V = ${Math.log(V).toFixed(3)}; frozen ${frozen.before.toFixed(3)} → ` +
          `${frozen.after.toFixed(3)}; FWL ${fwl.before.toFixed(3)} → ${fwl.after.toFixed(3)}; ` +
          `ratio ${ratio.toFixed(3)}; learned steps ${
            fwl.steps.map((s) => s.toFixed(3)).join(" ")
          }`,
      );
      // The frozen head stays near chance (ln(V − 1) is its best on random prefixes) …
      assert(frozen.after > 0.9 * Math.log(V - 1), `frozen loss ${frozen.after}`);
      assertEquals(frozen.steps, [0, 0, 0, 0, 0, 0], "frozen step sizes moved");
      // … while training the block lowers the loss well below it …
      assert(
        ratio < MAX_RATIO,
        `FWL ${fwl.after} vs frozen ${frozen.after}: ratio ${ratio} ≥ ${MAX_RATIO}`,
      );
      // … and it is the training, not the initial step sizes, that does it.
      assert(fwl.after < MAX_RATIO * fwl.before, `FWL ${fwl.before} → ${fwl.after}`);
      assert(fwl.steps.some((s) => s > 10 * STEP_INIT), `steps ${fwl.steps}`);
      // The frozen run (fewer optimizer slots) allocated nothing beyond the first run.
      assert(frozen.poolBytes <= fwl.poolBytes, "the buffer pool grew");
    }
  } finally {
    block.dispose();
  }
});
