// Checkpoint files written by the formats of earlier versions (tests/fixtures/*_v1.*,
// made at commit 6c400ee: a block and a language model, both with Adam state) still load,
// bit for bit: parameters, optimizer state and metadata.

import { assertEquals } from "@std/assert";
import { LSTMBody } from "../src/bodies/lstm.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { LanguageModel } from "../src/lm/language_model.ts";
import { loadCheckpoint } from "../src/train/checkpoint.ts";
import { Adam, blockParams } from "../src/train/optimizer.ts";

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
  });
  using opt = new Adam(lm.context, lm.parameters(), { lr: 0.01 });
  const metadata = await lm.load(new URL("lm_v1.safetensors", dir), { optimizer: opt });
  assertEquals(metadata.run, "fixture");
  assertEquals(await lm.head.getParams(), f32(want.head));
  assertEquals(await body.getParams(), f32(want.body));
  const state: unknown = await opt.state();
  assertEquals(state, { ...want.optimizer, slots: f32(want.optimizer.slots) });
});
