// Tests of LanguageModel.generate's token loops (src/lm/generate.ts): the GPU loop chooses
// the host loop's tokens (greedy and seeded sampling, at any tokens per submission), stop
// ids, a document state left at the last token yielded (checked against the float64
// reference), and cancellation with an AbortSignal.

import { assert, assertEquals, assertRejects } from "@std/assert";
import { LSTMBody } from "../src/bodies/lstm.ts";
import type { ModelBody } from "../src/bodies/model_body.ts";
import { TransformerBody } from "../src/bodies/transformer.ts";
import { FWLStateError } from "../src/errors.ts";
import { LanguageModel } from "../src/lm/language_model.ts";
import { referenceAdvanceState } from "../src/reference/fast_forward.ts";
import type { ReferenceFastState } from "../src/reference/types.ts";
import { tensor } from "../src/tensor.ts";
import { readFloats, relativeError } from "./helpers.ts";
import { hostLoop } from "../bench/generation_models.ts";
import type { GenerateOptions } from "../src/lm/generate.ts";
import type { DocumentState } from "../src/lm/document_state.ts";

const V = 29;

async function lstmModel(): Promise<LanguageModel> {
  const body = await LSTMBody.create({ vocabSize: V, embedSize: 12, hiddenSize: 12, seed: 3 });
  return await LanguageModel.create(body, { vocabSize: V, headSize: 5, stepSize: 0.5, seed: 4 });
}

async function transformerModel(): Promise<LanguageModel> {
  const body = await TransformerBody.create({
    vocabSize: V,
    hiddenSize: 12,
    layers: 1,
    heads: 2,
    maxLength: 300,
    seed: 3,
  });
  return await LanguageModel.create(body, { vocabSize: V, headSize: 5, stepSize: 0.5, seed: 4 });
}

async function run(lm: LanguageModel, prompt: number[], options: GenerateOptions) {
  const out: number[] = [];
  for await (const t of lm.generate(prompt, options)) out.push(t);
  return out;
}

const PROMPT = [3, 1, 4, 1, 5, 9, 2, 6];

for (const [name, make] of [["LSTM", lstmModel], ["transformer", transformerModel]] as const) {
  Deno.test(`generate (${name}): the GPU loop chooses the host loop's tokens`, async () => {
    using lm = await make();
    const host = hostLoop(lm);
    // The GPU loop never calls the body's step: a run through the host would throw.
    const body = lm.body as ModelBody & { step: ModelBody["step"] };
    const step = body.step!.bind(body);
    const gpuOnly = async (options: GenerateOptions) => {
      body.step = () => Promise.reject(new Error("the host loop ran"));
      try {
        return await run(lm, PROMPT, options);
      } finally {
        body.step = step;
      }
    };
    // greedy over 256 tokens
    const greedy = { maxTokens: 256, temperature: 0 };
    const gpu = await gpuOnly(greedy);
    assertEquals(gpu.length, 256);
    assertEquals(gpu, await run(host, PROMPT, greedy));
    // seeded sampling: the same tokens at any number of tokens per submission
    const sampled = { maxTokens: 40, temperature: 0.9, topK: 20, topP: 0.9, seed: 11 };
    const reference = await run(host, PROMPT, sampled);
    for (const tokensPerSubmission of [1, 7, 16]) {
      assertEquals(await gpuOnly({ ...sampled, tokensPerSubmission }), reference);
    }
    assert(new Set(reference).size > 3, "sampling varies");
    const other = await run(lm, PROMPT, { ...sampled, seed: 12 });
    assert(other.join() !== reference.join(), "another seed, other tokens");
  });
}

Deno.test("generate: past a transformer's maxLength both loops yield the tokens before it, then throw", async () => {
  const body = await TransformerBody.create({
    vocabSize: V,
    hiddenSize: 8,
    layers: 1,
    heads: 2,
    maxLength: 20,
    seed: 3,
  });
  using lm = await LanguageModel.create(body, { vocabSize: V, headSize: 4, seed: 4 });
  const until = async (model: LanguageModel, tokensPerSubmission?: number) => {
    const out: number[] = [];
    const err = await assertRejects(async () => {
      for await (const t of model.generate([1, 2, 3, 4], { maxTokens: 30, tokensPerSubmission })) {
        out.push(t);
      }
    }, FWLStateError);
    assert(err.message.includes("maxLength"), err.message);
    return out;
  };
  const host = await until(hostLoop(lm));
  assertEquals(host.length, 17, "positions 3 … 19 choose a token each");
  assertEquals(await until(lm), host);
  assertEquals(await until(lm, 5), host);
});

Deno.test("generate: a stop id ends the stream at its first occurrence", async () => {
  using lm = await lstmModel();
  const options = { maxTokens: 60, temperature: 1, seed: 2 };
  const all = await run(lm, PROMPT, options);
  const j = 9, stop = all[j], first = all.indexOf(stop);
  const cut = await run(lm, PROMPT, { ...options, stop: [stop], tokensPerSubmission: 16 });
  assertEquals(cut, all.slice(0, first + 1));
  assertEquals(await run(lm, PROMPT, { ...options, stop: stop, tokensPerSubmission: 1 }), cut);
});

/** The head state's buffers, as the reference names them. */
async function headState(lm: LanguageModel, state: DocumentState) {
  const buffers = state.head!.use("test", lm.head, 1, 0);
  const out: Record<string, Float32Array> = {};
  for (const [k, b] of Object.entries(buffers)) {
    out[k] = await readFloats(lm.context, b as GPUBuffer, b.size / 4);
  }
  return out;
}

/** The reference's state after reading `tokens` (each predicting the next) from zero. */
async function referenceState(lm: LanguageModel, tokens: number[]): Promise<ReferenceFastState> {
  const T = tokens.length - 1, D = lm.body.hiddenSize;
  using hidden = await lm.body.forward(tensor(Int32Array.from(tokens.slice(0, T)), [1, T]));
  const x = await hidden.read();
  const params = await lm.head.getParams();
  const normalizer = lm.head.normalizer as { decay?: number; prior: number };
  const decay = params["normalizer/decay"]?.[0] ?? normalizer.decay ?? 1;
  return referenceAdvanceState({
    B: 1,
    T,
    D,
    size: lm.head.size,
    vocabSize: V,
    attnChunks: 1,
    x,
    labels: { ids: Int32Array.from(tokens.slice(1)) },
    weights: new Float32Array(T).fill(1),
    params,
    normalizer: { decay, prior: normalizer.prior },
  });
}

for (const [name, make] of [["LSTM", lstmModel], ["transformer", transformerModel]] as const) {
  Deno.test(`generate (${name}): a document state is left at the last token yielded (float64 reference)`, async () => {
    using lm = await make();
    const options = { maxTokens: 50, temperature: 1, seed: 6, tokensPerSubmission: 16 };
    const all = await run(lm, PROMPT, options);
    const stop = all[20], first = all.indexOf(stop);
    using state = lm.documentState(1);
    const got = await run(lm, PROMPT, { ...options, stop, state });
    assertEquals(got, all.slice(0, first + 1));
    const read = [...PROMPT, ...got];
    assertEquals(state.position, read.length - 1);
    const ref = await referenceState(lm, read);
    const gpu = await headState(lm, state);
    for (const [k, v] of Object.entries(ref)) {
      const err = relativeError(gpu[k].subarray(0, v.length), v as Float64Array);
      assert(err < 1e-4, `${k}: relative error ${err}`);
    }
    // several submissions in flight, no rewind: every input the GPU chose for itself is read
    using whole = lm.documentState(1);
    const long = await run(lm, PROMPT, { ...options, tokensPerSubmission: 7, state: whole });
    assertEquals(long, all);
    const longRef = await referenceState(lm, [...PROMPT, ...long]);
    const longGPU = await headState(lm, whole);
    for (const [k, v] of Object.entries(longRef)) {
      const err = relativeError(longGPU[k].subarray(0, v.length), v as Float64Array);
      assert(err < 1e-4, `${k} after ${long.length} tokens: relative error ${err}`);
    }
    // a step size large enough that skipping the update would show
    const zero = await referenceState(lm, read.slice(0, 2));
    assert(relativeError(zero.s0, ref.s0) > 0.1);
    // breaking out of the loop mid-submission leaves the state at the last token yielded too
    using broken = lm.documentState(1);
    let n = 0;
    for await (const _ of lm.generate(PROMPT, { ...options, state: broken })) if (++n === 5) break;
    const after = await headState(lm, broken);
    const five = await referenceState(lm, [...PROMPT, ...all.slice(0, 5)]);
    assert(relativeError(after.s0.subarray(0, five.s0.length), five.s0) < 1e-4);
    assertEquals(broken.position, PROMPT.length + 4);
    // the next call continues the document: its prompt starts with the last token yielded.
    // Only a body whose state the document carries (forwardFrom: the LSTM) continues exactly;
    // a transformer's body re-reads just the new prompt, so its tokens may differ.
    if (broken.carriesBody) {
      const more = await run(lm, [all[4]], { ...options, maxTokens: 6, state: broken });
      assertEquals(more, all.slice(5, 11), "the same tokens as one uninterrupted call");
    }
    // the host loop advances a document state the same way
    const host = hostLoop(lm);
    using hostState = host.documentState(1);
    assertEquals(await run(host, PROMPT, { ...options, stop, state: hostState }), got);
    assertEquals(hostState.position, read.length - 1);
    const hostGPU = await headState(lm, hostState);
    for (const [k, v] of Object.entries(ref)) {
      const err = relativeError(hostGPU[k].subarray(0, v.length), v as Float64Array);
      assert(err < 1e-4, `host loop ${k}: relative error ${err}`);
    }
  });
}

Deno.test("generate: an AbortSignal rejects with its reason and leaves the model as it was", async () => {
  using lm = await lstmModel();
  const batch = tensor(Int32Array.from({ length: 2 * 20 }, (_, i) => (i * 7) % V), [2, 20]);
  const before = await lm.score(batch);
  const options = { maxTokens: 100, temperature: 1, seed: 1, tokensPerSubmission: 16 };
  // already aborted: the first next() rejects, nothing runs
  await assertRejects(
    () => run(lm, PROMPT, { ...options, signal: AbortSignal.abort() }),
    DOMException,
    "abort",
  );
  const pool = lm.context.pool;
  const stopAt = async (k: number, state?: DocumentState) => {
    const stop = new AbortController();
    const reason = new Error(`stopped at ${k}`);
    const kept: number[] = [];
    const err = await assertRejects(async () => {
      for await (const t of lm.generate(PROMPT, { ...options, signal: stop.signal, state })) {
        kept.push(t);
        if (kept.length === k) stop.abort(reason);
      }
    });
    assertEquals(err, reason);
    assertEquals(kept.length, k);
    return kept;
  };
  await stopAt(3);
  const bytes = pool.allocatedBytes;
  for (let i = 0; i < 100; i++) await stopAt(1 + (i % 20));
  assertEquals(pool.allocatedBytes, bytes, "memory is flat over 100 aborted calls");
  // mid-submission with a state: the state is left at the last token yielded
  using state = lm.documentState(1);
  const kept = await stopAt(7, state);
  assertEquals(state.position, PROMPT.length - 1 + 7);
  const ref = await referenceState(lm, [...PROMPT, ...kept]);
  const s0 = (await headState(lm, state)).s0.subarray(0, ref.s0.length);
  assert(relativeError(s0, ref.s0) < 1e-4);
  const after = await lm.score(batch);
  assertEquals(after.loss, before.loss, "the model scores exactly as before");
});
