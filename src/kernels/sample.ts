/**
 * Sampling the next token on the GPU, one workgroup per row of logits, with the
 * semantics of the host's `sampleToken` (src/fwl/sampling.ts): temperature, top-k, top-p
 * and a draw from the counter generator of src/util/random.ts, so that generation need
 * not read the logits back.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { spreadGroups } from "../gpu/grid.ts";
import { program } from "../gpu/program.ts";
import type { Binding, Recorder } from "../gpu/recorder.ts";
import { checkCount, checkNumber, checkPositiveInteger, checkU32 } from "../util/validate.ts";
import * as shaders from "../../shaders/shaders.generated.ts";
import { COUNTER_RANDOM, ROW_KERNEL, WORKGROUP_MAX_U32 } from "./snippets.ts";

const SAMPLE = program({
  name: "sample",
  body: shaders.sample,
  workgroupSize: [256],
  storage: ["logits: u32", "out: rw i32", "next: rw i32"],
  uniforms: [
    "rows",
    "vocab",
    "groups_x",
    "flags",
    "top_k",
    "out_index",
    "position",
    "sequence_base",
    "key0",
    "key1",
    "temperature: f32",
    "top_p: f32",
  ],
  constants: { GREEDY: 1, TOP_K: 2, TOP_P: 4, NEXT: 8 },
  snippets: [ROW_KERNEL, COUNTER_RANDOM, WORKGROUP_MAX_U32],
});

/** What {@linkcode recordSample} samples from and where it writes. */
export interface SampleArgs {
  /** Logits `[rows, vocab]` (f32): finite, or -Infinity to mask a token. */
  logits: Binding;
  /** Rows: one token each. */
  rows: number;
  /** Row length. */
  vocab: number;
  /** Divides the logits; 0 is greedy (the largest logit, the lowest index on ties). */
  temperature: number;
  /** Keep only the `topK` most likely tokens (default: all). */
  topK?: number;
  /** Keep the smallest nucleus of probability `topP`, in `(0, 1]` (default 1: all). */
  topP?: number;
  /** The generator's key: `counterKey(seed)`. */
  seedKey: [number, number];
  /** The generator's position, the same for every row of the call. */
  position: number;
  /** Row `r` draws from sequence `sequenceBase + r` (default 0). */
  sequenceBase?: number;
  /** Ids (i32): row `r`'s at element `outIndex + r`. */
  out: Binding;
  /** Where row 0's id goes in `out` (default 0). */
  outIndex?: number;
  /** A second i32 output `[rows]` receiving the same ids (the next input tokens). */
  next?: Binding;
}

/** The sampling parameters, as the host sampler and this kernel take them. */
export interface SamplingParams {
  /** 0 is greedy (default 1). */
  temperature?: number;
  /** Keep only the `topK` most likely tokens (default: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose mass reaches `topP` (default 1). */
  topP?: number;
}

/**
 * Checks temperature (≥ 0), `topK` (a positive integer, or nothing) and `topP` (in
 * (0, 1]) and fills in the defaults: the one check of the host sampler, the sampling
 * kernel and `generate`. `prefix` goes before each name in an error (e.g. `"options."`).
 *
 * @throws {FWLInputError} If one of them is out of range.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError } from "@x/fwl";
 * import { checkSampling } from "./sample.ts";
 * assertEquals(checkSampling("f", "", { topP: 0.9 }), { temperature: 1, topK: undefined, topP: 0.9 });
 * assertThrows(() => checkSampling("f", "options.", { topK: 0 }), FWLInputError, "options.topK");
 * ```
 */
export function checkSampling(
  where: string,
  prefix: string,
  params: SamplingParams,
): { temperature: number; topK: number | undefined; topP: number } {
  const { temperature = 1, topK, topP = 1 } = params;
  checkNumber(
    where,
    `${prefix}temperature`,
    temperature,
    (v) => v >= 0,
    "a finite number ≥ 0 (0 = greedy)",
  );
  if (topK !== undefined) checkPositiveInteger(where, `${prefix}topK`, topK);
  checkNumber(where, `${prefix}topP`, topP, (v) => v > 0 && v <= 1, "a number in (0, 1]");
  return { temperature, topK, topP };
}

/**
 * Records the sampling of one token per row of `logits` into `out` (and `next`): draws
 * with `u = counterUniform(seed, position, sequenceBase + r)` for row `r`, which the host
 * can repeat (`sampleToken` with that u picks the same token but at float32 rounding
 * boundaries). Within float32 rounding the distribution is `sampleDistribution`'s.
 *
 * @throws {FWLInputError} If a size, the temperature, `topK`, `topP`, the seed key or an
 * output binding is out of range.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { recordSample } from "./sample.ts";
 * import { counterKey } from "../util/random.ts";
 * import { GPUContext, readBytes, Recorder } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const rec = new Recorder(ctx);
 * const logits = rec.upload(new Float32Array([0, 5, 1, 9, 0, -Infinity])); // rows of 3
 * const out = ctx.pool.acquire(8);
 * const seedKey = counterKey(7);
 * recordSample(rec, { logits, rows: 2, vocab: 3, temperature: 0, seedKey, position: 0, out });
 * await rec.submit("sample");
 * assertEquals([...new Int32Array(await readBytes(ctx, out, 8))], [1, 0]); // greedy
 * ctx.pool.release(out);
 * ```
 */
export function recordSample(rec: Recorder, args: SampleArgs): void {
  const where = "recordSample";
  const rows = checkPositiveInteger(where, "rows", args.rows);
  const vocab = checkPositiveInteger(where, "vocab", args.vocab);
  const checked = checkSampling(where, "", args);
  const { temperature, topP } = checked, topK = checked.topK ?? vocab;
  const key = args.seedKey;
  if (!Array.isArray(key) || key.length !== 2) {
    throw new FWLInputError(where, "seedKey", "two u32 words from counterKey(seed)", String(key));
  }
  key.forEach((k, i) => checkU32(where, `seedKey[${i}]`, k));
  const position = checkU32(where, "position", args.position);
  const sequenceBase = checkU32(where, "sequenceBase", args.sequenceBase ?? 0);
  if (sequenceBase + rows > 2 ** 32) {
    throw new FWLInputError(
      where,
      "sequenceBase",
      `at most 2^32 − rows (${rows})`,
      String(sequenceBase),
    );
  }
  const outIndex = checkCount(where, "outIndex", args.outIndex ?? 0);
  if (args.logits.size < rows * vocab * 4) {
    throw new FWLInputError(
      where,
      "logits",
      `${rows * vocab} floats`,
      `${args.logits.size} bytes`,
    );
  }
  if (args.out.size < (outIndex + rows) * 4) {
    throw new FWLInputError(
      where,
      "out",
      `${outIndex + rows} ids`,
      `${args.out.size} bytes`,
    );
  }
  if (args.next !== undefined && args.next.size < rows * 4) {
    throw new FWLInputError(where, "next", `${rows} ids`, `${args.next.size} bytes`);
  }
  const f = SAMPLE.constants;
  const greedy = temperature === 0;
  const flags = (greedy ? f.GREEDY : 0) |
    (!greedy && topK < vocab ? f.TOP_K : 0) |
    (!greedy && topP < 1 ? f.TOP_P : 0) |
    (args.next ? f.NEXT : 0);
  const { workgroups, groupsX } = spreadGroups(rec.ctx, rows);
  rec.dispatch(
    SAMPLE,
    [args.logits, args.out, args.next ?? rec.ctx.dummy(1)],
    SAMPLE.uniforms({
      rows,
      vocab,
      groups_x: groupsX,
      flags,
      top_k: Math.min(topK, vocab),
      out_index: outIndex,
      position,
      sequence_base: sequenceBase,
      key0: key[0],
      key1: key[1],
      // A temperature below float32's normals would become 0 there: the smallest normal
      // picks the same (the largest logits, alone).
      temperature: greedy ? 0 : Math.max(temperature, 2 ** -126),
      top_p: topP,
    }),
    workgroups,
  );
}
