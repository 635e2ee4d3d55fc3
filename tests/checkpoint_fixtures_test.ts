// Checkpoint files written by the formats of earlier versions (tests/fixtures/*_v1.*,
// made at commit 6c400ee: a block and a language model, both with Adam state) still load,
// bit for bit: parameters, optimizer state and metadata; and the one format of today.

import { assertEquals } from "@std/assert";
import { LSTMBody } from "../src/bodies/lstm.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { LanguageModel } from "../src/lm/language_model.ts";
import { checkpointBytes, loadCheckpoint } from "../src/io/checkpoint.ts";
import { decodeSafetensors } from "../src/io/safetensors.ts";
import { tensor } from "../src/tensor.ts";
import { Adam, blockParams } from "../src/optim/mod.ts";

const dir = new URL("./fixtures/", import.meta.url);

type Values = Record<string, number[]>;
const f32 = (r: Values) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, new Float32Array(v)]));
const read = async (name: string) =>
  JSON.parse(await Deno.readTextFile(new URL(name, dir))) as {
    params: Values;
    head: Values;
    body: Values;
    optimizer: { kind: string; step: number; slots: Values };
  };

Deno.test("a version-1 block checkpoint with Adam state loads with the same values", async () => {
  const want = await read("block_v1.json");
  using block = new FWLBlock(2, 5, 1, { seed: 11 });
  await block.build(3);
  using opt = new Adam(block.context, blockParams(block), { lr: 0.01 });
  const { metadata } = await loadCheckpoint(block, new URL("block_v1.safetensors", dir), {
    optimizer: opt,
  });
  assertEquals(metadata.run, "fixture");
  assertEquals(await block.getParams(), f32(want.params));
  const state: unknown = await opt.state();
  assertEquals(state, { ...want.optimizer, slots: f32(want.optimizer.slots) });
});

Deno.test("a version-1 language-model checkpoint with Adam state loads with the same values", async () => {
  const want = await read("lm_v1.json");
  const body = await LSTMBody.create({ vocabSize: 7, embedSize: 3, hiddenSize: 4, seed: 9 });
  using lm = await LanguageModel.create(body, {
    vocabSize: 7,
    headSize: 2,
    attnChunks: 1,
    seed: 8,
    normalizer: 512, // the default of the version that wrote it
  });
  using opt = new Adam(lm.context, lm.parameters(), { lr: 0.01 });
  const metadata = await lm.load(new URL("lm_v1.safetensors", dir), { optimizer: opt });
  assertEquals(metadata.run, "fixture");
  assertEquals(await lm.head.getParams(), f32(want.head));
  assertEquals(await body.getParams(), f32(want.body));
  const state: unknown = await opt.state();
  assertEquals(state, { ...want.optimizer, slots: f32(want.optimizer.slots) });
});

Deno.test("one format: a language model's head is stored like a block, under head/", async () => {
  const body = await LSTMBody.create({ vocabSize: 7, embedSize: 3, hiddenSize: 4, seed: 1 });
  using lm = await LanguageModel.create(body, { vocabSize: 7, headSize: 2, attnChunks: 1 });
  using opt = new Adam(lm.context, lm.parameters(), { lr: 0.01 });
  await lm.trainStep(tensor(new Int32Array([1, 2, 3, 4, 5, 6]), [2, 3]), opt);
  const { tensors, metadata } = decodeSafetensors(await lm.checkpointBytes({ optimizer: opt }));
  const block = decodeSafetensors(await checkpointBytes(lm.head));
  for (const [name, t] of Object.entries(block.tensors)) {
    assertEquals(tensors[`head/${name}`], t, name);
  }
  assertEquals(tensors["body/lstm_0/kernel"].shape, [3, 16]);
  assertEquals(tensors["optimizer/head/dense_0/kernel/m"].shape, [4, 8]);
  assertEquals(tensors["optimizer/body/embedding/v"].shape, [7, 3]);
  assertEquals(tensors["optimizer/head/dense_0/kernel_step/m"].shape, []);
  for (const key of ["fwl.format", "fwl.size", "fwl.vocab_size", "fwl.input_size"]) {
    assertEquals(metadata[key], block.metadata[key], key);
  }
  assertEquals(metadata["fwl.optimizer"], "adam");
  assertEquals(metadata["fwl.optimizer.step"], "1");
  assertEquals(metadata["fwl.lm.fast_weights"], "true");
  assertEquals(metadata["fwl.lm.body"], "true");
});
