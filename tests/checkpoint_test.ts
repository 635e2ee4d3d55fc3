// Tests of the safetensors codec (src/io/safetensors.ts) and of block checkpoints
// (src/io/checkpoint.ts): the exact byte layout, validation of corrupt files, and
// bit-exact round trips of a GPU block and its optimizer.

import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { FWLInputError, FWLStateError } from "../src/errors.ts";
import { FWLBlock } from "../src/fwl/block.ts";
import { PARAM_NAMES, STEP_NAMES } from "../src/fwl/params.ts";
import { SeededRandom } from "../src/util/random.ts";
import { tensor } from "../src/tensor.ts";
import {
  checkpointBytes,
  loadCheckpoint,
  loadCheckpointBytes,
  saveCheckpoint,
} from "../src/io/checkpoint.ts";
import { Adam, blockParams, SGD } from "../src/optim/mod.ts";
import {
  decodeSafetensors,
  encodeSafetensors,
  type SafetensorsTensor,
} from "../src/io/safetensors.ts";

const enc = new TextEncoder();

/** A raw safetensors file from a header object (or string) and data bytes. */
function rawFile(
  header: unknown,
  data: number[] | Uint8Array = [],
  pad = true,
): Uint8Array {
  let json = header instanceof Uint8Array
    ? header
    : enc.encode(typeof header === "string" ? header : JSON.stringify(header));
  if (pad) {
    const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function f32(shape: number[], values: number[]): SafetensorsTensor {
  return { dtype: "F32", shape, data: new Float32Array(values) };
}

/** Bits of a Float32Array, for bit-exact comparison (NaN payloads, −0). */
function bits(a: Float32Array): number[] {
  return [...new Uint32Array(a.buffer, a.byteOffset, a.length)];
}

// ---------------------------------------------------------------------------------------
// The codec.

Deno.test("encodeSafetensors writes the exact Hugging Face layout", () => {
  const bytes = encodeSafetensors(
    { b: f32([2], [1, -2]), a: f32([], [0.5]) },
    { k: "v" },
  );
  const json = '{"__metadata__":{"k":"v"},' +
    '"a":{"dtype":"F32","shape":[],"data_offsets":[0,4]},' +
    '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
  assertEquals(json.length, 132);
  const expected = [
    // u64 little-endian header length: 132 rounded up to 136
    0x88,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...enc.encode(json),
    0x20,
    0x20,
    0x20,
    0x20, // padding to 8-byte alignment
    0x00,
    0x00,
    0x00,
    0x3f, // a = 0.5
    0x00,
    0x00,
    0x80,
    0x3f, // b[0] = 1
    0x00,
    0x00,
    0x00,
    0xc0, // b[1] = −2
  ];
  assertEquals([...bytes], expected);
  assertEquals(bytes.length, 156);
  assertEquals((8 + 136) % 8, 0, "data starts 8-byte aligned");
});

Deno.test("round trip: values bit-exact, shapes, metadata, empty and odd sizes", () => {
  const rng = new SeededRandom(1);
  const big = new Float32Array(1001).map(() => rng.normal());
  big[3] = -0;
  big[4] = NaN;
  big[5] = Infinity;
  big[6] = 1e-45; // subnormal
  const tensors: Record<string, SafetensorsTensor> = {
    "dense_0/kernel": { dtype: "F32", shape: [7, 11, 13], data: big },
    "scalar": f32([], [0.25]),
    "empty": f32([0, 5], []),
    "ü/ñ": f32([1], [3]),
  };
  const metadata = { format: "pt", "note ✓": 'x"y\n', empty: "" };
  const { tensors: out, metadata: meta } = decodeSafetensors(
    encodeSafetensors(tensors, metadata),
  );
  assertEquals(meta, metadata);
  assertEquals(Object.keys(out).sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    assertEquals(out[name].shape, t.shape, name);
    assertEquals(out[name].dtype, "F32");
    assertEquals(out[name].storedDtype, "F32");
    assertEquals(bits(out[name].data), bits(t.data), name);
  }
  // No metadata: no __metadata__ key, empty map back.
  const plain = encodeSafetensors({ s: f32([], [1]) });
  assert(!new TextDecoder().decode(plain).includes("__metadata__"));
  assertEquals(decodeSafetensors(plain).metadata, {});
  // No tensors at all.
  assertEquals(decodeSafetensors(encodeSafetensors({})).tensors, {});
  // A subarray view at an odd offset decodes the same.
  const shifted = new Uint8Array(plain.length + 3);
  shifted.set(plain, 3);
  assertEquals(
    decodeSafetensors(shifted.subarray(3)).tensors.s.data,
    new Float32Array([1]),
  );
});

Deno.test("decode reads unpadded headers, F16, BF16 and F64 (converted to f32)", () => {
  const data = [
    // F16: 1, −2, 0.5, 2^-24 (subnormal), +inf, 65504
    0x00,
    0x3c,
    0x00,
    0xc0,
    0x00,
    0x38,
    0x01,
    0x00,
    0x00,
    0x7c,
    0xff,
    0x7b,
    // BF16: 1, −3
    0x80,
    0x3f,
    0x40,
    0xc0,
    // F64: 0.1
    ...new Uint8Array(new Float64Array([0.1]).buffer),
  ];
  const file = rawFile(
    {
      h: { dtype: "F16", shape: [2, 3], data_offsets: [0, 12] },
      b: { dtype: "BF16", shape: [2], data_offsets: [12, 16] },
      d: { dtype: "F64", shape: [], data_offsets: [16, 24] },
    },
    data,
    false,
  );
  const { tensors } = decodeSafetensors(file);
  assertEquals(
    [...tensors.h.data],
    [1, -2, 0.5, 2 ** -24, Infinity, 65504],
  );
  assertEquals(tensors.h.storedDtype, "F16");
  assertEquals(tensors.h.shape, [2, 3]);
  assertEquals([...tensors.b.data], [1, -3]);
  assertEquals(tensors.d.data[0], Math.fround(0.1));
});

Deno.test("decode rejects truncated and corrupt files with what is wrong", () => {
  const good = encodeSafetensors({ a: f32([2], [1, 2]), b: f32([], [3]) }, {
    k: "v",
  });
  // Every truncation is an error, never a partial result.
  for (let n = 0; n < good.length; n++) {
    assertThrows(
      () => decodeSafetensors(good.subarray(0, n)),
      FWLInputError,
      undefined,
      `truncated to ${n} bytes`,
    );
  }
  const bad = (bytes: Uint8Array, msg: string) =>
    assertThrows(() => decodeSafetensors(bytes), FWLInputError, msg);
  bad(good.subarray(0, 5), "header length: expected an 8-byte");
  bad(good.subarray(0, 100), "header length: expected at most the 92 bytes");
  bad(good.subarray(0, good.length - 1), "truncated");
  // Trailing bytes that no tensor covers.
  const longer = new Uint8Array(good.length + 4);
  longer.set(good);
  bad(longer, "trailing bytes");
  // A huge header length.
  const huge = good.slice();
  new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
  bad(huge, "header length");
  bad(rawFile("[1, 2]"), 'a JSON object starting with "{"');
  bad(rawFile('{"a": '), "header: expected valid JSON");
  bad(rawFile(new Uint8Array([0x7b, 0xff, 0x7d])), "UTF-8");
  const t = (entry: unknown, data: number[] = [0, 0, 0, 0]) => rawFile({ x: entry }, data);
  bad(t({ dtype: "F33", shape: [1], data_offsets: [0, 4] }), 'tensor "x": dtype');
  bad(
    t({ dtype: "I32", shape: [1], data_offsets: [0, 4] }),
    "a float dtype we can read",
  );
  bad(t({ dtype: "F32", shape: [-1], data_offsets: [0, 4] }), "shape");
  bad(t({ dtype: "F32", shape: [1.5], data_offsets: [0, 4] }), "shape");
  bad(t({ dtype: "F32", shape: [1] }), "data_offsets");
  bad(t({ dtype: "F32", shape: [1], data_offsets: [4, 0] }), "data_offsets");
  bad(
    t({ dtype: "F32", shape: [2], data_offsets: [0, 4] }),
    "a span of 8 bytes (shape [2] × 4 bytes of F32)",
  );
  bad(t([1, 2]), 'tensor "x": expected { dtype, shape, data_offsets }');
  // Gaps, overlaps, out of range.
  const two = (a: number[], b: number[], data: number) =>
    rawFile({
      a: { dtype: "F32", shape: [1], data_offsets: a },
      b: { dtype: "F32", shape: [1], data_offsets: b },
    }, new Array(data).fill(0));
  bad(two([0, 4], [8, 12], 12), "contiguous");
  bad(two([0, 4], [0, 4], 8), "does not overlap");
  bad(two([0, 4], [2, 6], 8), "does not overlap");
  bad(two([0, 4], [4, 8], 6), "within the 6 data bytes");
  bad(two([4, 8], [8, 12], 12), "to begin at 0");
  // Metadata must be a string map.
  bad(rawFile({ __metadata__: { n: 1 } }), '__metadata__["n"]: expected a string');
  bad(rawFile({ __metadata__: [] }), "__metadata__: expected an object");
  assertThrows(
    () => decodeSafetensors([1, 2, 3] as unknown as Uint8Array),
    FWLInputError,
    "Uint8Array",
  );
});

Deno.test("encode validates its input", () => {
  const bad = (
    tensors: Record<string, unknown>,
    msg: string,
    meta?: unknown,
  ) =>
    assertThrows(
      () =>
        encodeSafetensors(
          tensors as Record<string, SafetensorsTensor>,
          meta as Record<string, string>,
        ),
      FWLInputError,
      msg,
    );
  bad({ a: { dtype: "F16", shape: [], data: new Float32Array(1) } }, "dtype");
  bad({ a: f32([3], [1, 2]) }, "3 values for shape [3]");
  bad({ a: { dtype: "F32", shape: [2], data: [1, 2] } }, "Float32Array");
  bad({ a: { dtype: "F32", shape: [-2], data: new Float32Array() } }, "shape");
  bad({ __metadata__: f32([], [1]) }, "__metadata__");
  bad({}, "metadata", { n: 3 });
});

// ---------------------------------------------------------------------------------------
// Block checkpoints (GPU).

/** A built block with random parameters (step sizes ~0.5, not the init). */
async function randomBlock(seed: number): Promise<FWLBlock> {
  const block = new FWLBlock(3, 7, 2, { seed });
  await block.build(5);
  const rng = new SeededRandom(seed + 100);
  const params: Record<string, Float32Array> = {};
  for (const [name, shape] of Object.entries(block.paramShapes)) {
    const n = shape.reduce((a, b) => a * b, 1);
    params[name] = new Float32Array(n).map(() =>
      name.endsWith("_step") ? 0.5 + 0.1 * rng.normal() : rng.normal()
    );
  }
  await block.setParams(params);
  return block;
}

/** Random gradients for every parameter of `block`, as host tensors. */
function randomGrads(
  block: FWLBlock,
  rng: SeededRandom,
): Record<string, ReturnType<typeof tensor>> {
  const grads: Record<string, ReturnType<typeof tensor>> = {};
  for (const p of blockParams(block)) {
    grads[p.name] = tensor(
      new Float32Array(p.length).map(() => rng.normal()),
      [p.length],
    );
  }
  return grads;
}

Deno.test("block checkpoint: every §1 name, shapes, bit-exact round trip", async () => {
  using blockA = await randomBlock(1);
  using blockB = await randomBlock(2);
  const bytes = await checkpointBytes(blockA, { metadata: { run: "t1" } });
  const { tensors, metadata } = decodeSafetensors(bytes);
  assertEquals(Object.keys(tensors).sort(), [...PARAM_NAMES].sort());
  for (const [name, shape] of Object.entries(blockA.paramShapes)) {
    assertEquals(tensors[name].shape, shape, name);
  }
  for (const s of STEP_NAMES) assertEquals(tensors[s].shape, []);
  assertEquals(tensors["dense_0/kernel"].shape, [5, 12]);
  assertEquals(metadata.run, "t1");
  assertEquals(metadata["fwl.format"], "1");
  assertEquals(metadata["fwl.size"], "3");
  assertEquals(metadata["fwl.vocab_size"], "7");
  assertEquals(metadata["fwl.input_size"], "5");

  const before = await blockB.getParams();
  const want = await blockA.getParams();
  assert(bits(before["dense_0/kernel"]).join() !== bits(want["dense_0/kernel"]).join());
  const loaded = await loadCheckpointBytes(blockB, bytes);
  assertEquals(loaded.metadata.run, "t1");
  const got = await blockB.getParams();
  for (const name of PARAM_NAMES) {
    assertEquals(bits(got[name]), bits(want[name]), name);
  }
  // Saving again gives the very same bytes.
  assertEquals(
    await checkpointBytes(blockB, { metadata: { run: "t1" } }),
    bytes,
  );
  await assertRejects(
    () => checkpointBytes(blockA, { metadata: { "fwl.size": "9" } }),
    FWLInputError,
    "reserved",
  );
});

Deno.test("block checkpoint with optimizer state: round trip and resume", async () => {
  using blockA = await randomBlock(1);
  using blockB = await randomBlock(2);
  const rng = new SeededRandom(3);
  const optA = new Adam(blockA.context, blockParams(blockA), {
    lr: 0.01,
    clipNorm: 5,
  });
  await optA.step(randomGrads(blockA, rng));
  await optA.step(randomGrads(blockA, rng));
  const bytes = await checkpointBytes(blockA, { optimizer: optA });
  const { tensors, metadata } = decodeSafetensors(bytes);
  assertEquals(metadata["fwl.optimizer"], "adam");
  assertEquals(metadata["fwl.optimizer.step"], "2");
  assertEquals(tensors["optimizer/dense_0/kernel/m"].shape, [5, 12]);
  assertEquals(tensors["optimizer/unembed/bias/v"].shape, [7]);
  assertEquals(tensors["optimizer/layer_norm/scale_step/v"].shape, []);
  assertEquals(Object.keys(tensors).length, 14 * 3);

  const optB = new Adam(blockB.context, blockParams(blockB), {
    lr: 0.01,
    clipNorm: 5,
  });
  await loadCheckpointBytes(blockB, bytes, { optimizer: optB });
  assertEquals(optB.stepCount, 2);
  const sa = await optA.state(), sb = await optB.state();
  for (const key of Object.keys(sa.slots)) {
    assertEquals(bits(sb.slots[key]), bits(sa.slots[key]), key);
  }
  // Both continue identically.
  const g = randomGrads(blockA, rng);
  await optA.step(g);
  await optB.step(g);
  const pa = await blockA.getParams(), pb = await blockB.getParams();
  for (const name of PARAM_NAMES) assertEquals(bits(pb[name]), bits(pa[name]));

  // Weights only: the optimizer entries are ignored without an optimizer.
  await loadCheckpointBytes(blockB, bytes);
  // A different optimizer kind, or no optimizer state, is refused before any write.
  const sgd = new SGD(blockB.context, blockParams(blockB), {
    lr: 0.1,
    momentum: 0.9,
  });
  await assertRejects(
    () => loadCheckpointBytes(blockB, bytes, { optimizer: sgd }),
    FWLInputError,
    '/m": expected a slot of this sgd optimizer (optimizer/dense_0/kernel/momentum, ',
  );
  await assertRejects(
    () =>
      loadCheckpointBytes(blockB, encodeSafetensors(decodedParams(bytes)), {
        optimizer: optB,
      }),
    FWLInputError,
    "no optimizer state in the file",
  );
  optA.dispose();
  optB.dispose();
  sgd.dispose();
});

/** The parameter tensors of a checkpoint, without optimizer entries or metadata. */
function decodedParams(bytes: Uint8Array): Record<string, SafetensorsTensor> {
  const out: Record<string, SafetensorsTensor> = {};
  for (const [name, t] of Object.entries(decodeSafetensors(bytes).tensors)) {
    if (!name.startsWith("optimizer/")) {
      out[name] = { dtype: "F32", shape: t.shape, data: t.data };
    }
  }
  return out;
}

Deno.test("bad checkpoints are rejected with clear messages, nothing written", async () => {
  using blockA = await randomBlock(1);
  using blockB = await randomBlock(2);
  const good = decodedParams(await checkpointBytes(blockA));
  const before = await blockB.getParams();
  const rejects = async (
    tensors: Record<string, SafetensorsTensor> | Uint8Array,
    msg: string,
  ) => {
    const bytes = tensors instanceof Uint8Array ? tensors : encodeSafetensors(tensors);
    await assertRejects(
      () => loadCheckpointBytes(blockB, bytes),
      FWLInputError,
      msg,
    );
    const after = await blockB.getParams();
    for (const name of PARAM_NAMES) {
      assertEquals(bits(after[name]), bits(before[name]), `${msg}: ${name}`);
    }
  };
  const { "unembed/bias": _drop, ...missing } = good;
  await rejects(
    missing,
    "loadCheckpointBytes: bytes: unembed/bias: expected a tensor of shape [7], got nothing (missing)",
  );
  await rejects(
    { ...good, "dense_2/kernel": f32([1], [0]) },
    'bytes: "dense_2/kernel": expected only the parameter names',
  );
  await rejects(
    { ...good, "dense_0/kernel": f32([12, 5], [...good["dense_0/kernel"].data]) },
    "dense_0/kernel: expected shape [5, 12], got [12, 5]",
  );
  await rejects(
    { ...good, "dense_0/kernel_step": f32([1], [0.1]) },
    "dense_0/kernel_step: expected shape [], got [1]",
  );
  const nan = good["layer_norm/scale"].data.slice();
  nan[1] = NaN;
  await rejects(
    { ...good, "layer_norm/scale": f32([3], [...nan]) },
    "layer_norm/scale: expected finite values, got NaN at flat index 1",
  );
  const bytes = encodeSafetensors(good);
  await rejects(
    bytes.subarray(0, bytes.length - 2),
    'bytes: tensor "unembed/kernel": data_offsets: expected a range within',
  );
  await rejects(bytes.subarray(0, 40), "bytes: header length");
  const corrupt = bytes.slice();
  corrupt[12] = 0x5b; // '[' inside the first name
  await rejects(corrupt, 'bytes: "de[se_0/bias": expected only the parameter names');
  corrupt[8] = 0x5b; // '[' instead of the opening '{'
  await rejects(corrupt, 'bytes: header: expected a JSON object starting with "{"');
  // An unbuilt block.
  await assertRejects(
    () => loadCheckpointBytes(new FWLBlock(3, 7, 2), bytes),
    FWLStateError,
    "build",
  );
});

const canWrite =
  (await Deno.permissions.query({ name: "write", path: Deno.env.get("TMPDIR") ?? "/tmp" }))
    .state === "granted";

Deno.test({
  name: "saveCheckpoint / loadCheckpoint through a file",
  ignore: !canWrite,
  fn: async () => {
    using blockA = await randomBlock(1);
    using blockB = await randomBlock(2);
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/fwl.safetensors`;
      await saveCheckpoint(blockA, path, { metadata: { epoch: "3" } });
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), [
        "fwl.safetensors",
      ]);
      const { metadata } = await loadCheckpoint(blockB, path);
      assertEquals(metadata.epoch, "3");
      const a = await blockA.getParams(), b = await blockB.getParams();
      for (const name of PARAM_NAMES) assertEquals(bits(b[name]), bits(a[name]));
      assertEquals(
        await Deno.readFile(path),
        await checkpointBytes(blockA, {
          metadata: { epoch: "3" },
        }),
      );
      await assertRejects(
        () => loadCheckpoint(blockB, `${dir}/missing.safetensors`),
        Deno.errors.NotFound,
      );
      await Deno.writeFile(`${dir}/bad.safetensors`, new Uint8Array(3));
      await assertRejects(
        () => loadCheckpoint(blockB, `${dir}/bad.safetensors`),
        FWLInputError,
        "bad.safetensors: header length",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
