/**
 * The Hugging Face `safetensors` format, written and read exactly:
 *
 * ```
 * [8 bytes]  N, the header length, unsigned 64-bit little-endian
 * [N bytes]  a UTF-8 JSON object: for each tensor
 *              "name": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] }
 *            and optionally "__metadata__": { "key": "string value", … };
 *            padded with spaces so that the data starts at a multiple of 8
 * [rest]     the tensors' raw little-endian bytes; offsets are relative to the first
 *            byte after the header, contiguous, non-overlapping and covering it all
 * ```
 *
 * Decoding checks every one of these rules and throws an {@linkcode FWLInputError}
 * saying what is wrong: a truncated or corrupt file is an error, never a partial result.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import { shapeSize } from "../util/shape.ts";
import { checkObject, checkStringRecord } from "../util/validate.ts";
import { describeValue } from "../util/describe.ts";

/** A float32 tensor to write: row-major data and its shape (`[]` for a scalar). */
export interface SafetensorsTensor {
  /** Always `"F32"` (decoded F16/BF16/F64 tensors are converted to it). */
  dtype: "F32";
  /** The shape, outermost first; `[]` for a scalar. */
  shape: number[];
  /** The values, row-major. */
  data: Float32Array;
}

/** A decoded tensor: float32 data, and the dtype it was stored with. */
export interface DecodedTensor extends SafetensorsTensor {
  /** The dtype in the file: `"F32"`, or `"F16"`, `"BF16"`, `"F64"` (converted). */
  storedDtype: "F32" | "F16" | "BF16" | "F64";
}

/** What {@linkcode decodeSafetensors} returns. */
export interface DecodedSafetensors {
  /** The tensors by name. */
  tensors: Record<string, DecodedTensor>;
  /** The `__metadata__` string map (empty when absent). */
  metadata: Record<string, string>;
}

/** Bytes per element of every dtype the format defines. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

const READABLE = ["F32", "F16", "BF16", "F64"] as const;
type Readable = typeof READABLE[number];

/** The largest header we accept (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encodes float32 tensors (and optional string metadata) as a `.safetensors` file.
 * Tensors are laid out in name order; the header is padded with spaces to a multiple
 * of 8 bytes.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError } from "@x/fwl";
 * import { decodeSafetensors, encodeSafetensors } from "@x/fwl/io";
 * const bytes = encodeSafetensors(
 *   { w: { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) } },
 *   { note: "hi" },
 * );
 * assertEquals(bytes.length % 8, 0); // 8-byte length, padded header, 2 × 4 data bytes
 * const { tensors, metadata } = decodeSafetensors(bytes);
 * assertEquals(tensors.w.data, new Float32Array([1, 2]));
 * assertEquals(metadata, { note: "hi" });
 * // Shape and data must agree.
 * assertThrows(
 *   () => encodeSafetensors({ w: { dtype: "F32", shape: [3], data: new Float32Array(2) } }),
 *   FWLInputError,
 * );
 * ```
 *
 * @throws {FWLInputError} If `tensors` is not a record, a name is empty or
 * `"__metadata__"`, a tensor's dtype is not `"F32"`, its shape is not an array of
 * integers ≥ 0, its data is not a `Float32Array` of the shape's size, or `metadata` is
 * not a record of strings.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const where = "encodeSafetensors";
  checkObject(where, "tensors", tensors, "a record of { dtype, shape, data }");
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) header.__metadata__ = checkStringRecord(where, "metadata", metadata);
  const names = Object.keys(tensors).sort();
  let offset = 0;
  for (const name of names) {
    const arg = `tensors[${JSON.stringify(name)}]`;
    if (name === "" || name === "__metadata__") {
      throw new FWLInputError(
        where,
        arg,
        'a non-empty name other than "__metadata__"',
        JSON.stringify(name),
      );
    }
    const t = checkObject(where, arg, tensors[name], "{ dtype, shape, data }");
    if (t.dtype !== "F32") {
      throw new FWLInputError(
        where,
        `${arg}.dtype`,
        '"F32"',
        describeValue(t.dtype),
      );
    }
    if (!isShape(t.shape)) {
      throw new FWLInputError(
        where,
        `${arg}.shape`,
        "an array of integers ≥ 0",
        JSON.stringify(t.shape) ?? describeValue(t.shape),
      );
    }
    if (!(t.data instanceof Float32Array)) {
      throw new FWLInputError(
        where,
        `${arg}.data`,
        "a Float32Array",
        describeValue(t.data),
      );
    }
    const n = shapeSize(t.shape);
    if (t.data.length !== n) {
      throw new FWLInputError(
        where,
        `${arg}.data`,
        `${n} values for shape [${t.shape.join(", ")}]`,
        `${t.data.length}`,
      );
    }
    header[name] = {
      dtype: "F32",
      shape: [...t.shape],
      data_offsets: [offset, offset + 4 * n],
    };
    offset += 4 * n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerBytes = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerBytes + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  let at = 8 + headerBytes;
  const view = new DataView(out.buffer);
  for (const name of names) {
    const data = tensors[name].data;
    if (LITTLE_ENDIAN) {
      out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    } else {
      for (let i = 0; i < data.length; i++) {
        view.setFloat32(at + 4 * i, data[i], true);
      }
    }
    at += data.byteLength;
  }
  return out;
}

interface HeaderEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Decodes a `.safetensors` file. Every rule of the format is checked (header length
 * within the file, valid UTF-8 JSON object, known dtype, shape × dtype size = offset
 * span, offsets in range, contiguous, non-overlapping and covering the whole data,
 * metadata a string map); any violation throws an {@linkcode FWLInputError}. F32
 * tensors are read bit-exactly; F16, BF16 and F64 are converted to float32; other
 * dtypes are rejected.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError } from "@x/fwl";
 * import { decodeSafetensors, encodeSafetensors } from "@x/fwl/io";
 * const bytes = encodeSafetensors({
 *   s: { dtype: "F32", shape: [], data: new Float32Array([0.5]) },
 * });
 * const { s } = decodeSafetensors(bytes).tensors;
 * assertEquals([s.shape, s.data, s.storedDtype], [[], new Float32Array([0.5]), "F32"]);
 * // A truncated file is an error, never a partial result.
 * assertThrows(() => decodeSafetensors(bytes.subarray(0, bytes.length - 1)), FWLInputError);
 * ```
 *
 * @throws {FWLInputError} If `bytes` is not a `Uint8Array`, or breaks a rule of the
 * format (truncated, a bad header, an unknown or unreadable dtype, offsets that do not
 * match the shapes or do not tile the data, metadata that is not a string map).
 */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  const where = "decodeSafetensors";
  const fail = (argument: string, expected: string, received: string) =>
    new FWLInputError(where, argument, expected, received);
  if (!(bytes instanceof Uint8Array)) {
    throw fail("bytes", "a Uint8Array", describeValue(bytes));
  }
  if (bytes.length < 8) {
    throw fail(
      "header length",
      "an 8-byte little-endian header length (the file is truncated)",
      `a file of ${bytes.length} bytes`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  const available = bytes.length - 8;
  if (n64 > BigInt(Math.min(available, MAX_HEADER_BYTES))) {
    throw fail(
      "header length",
      n64 > BigInt(MAX_HEADER_BYTES)
        ? `at most ${MAX_HEADER_BYTES} bytes`
        : `at most the ${available} bytes after it (the file is truncated or corrupt)`,
      `${n64}`,
    );
  }
  const n = Number(n64);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      bytes.subarray(8, 8 + n),
    );
  } catch {
    throw fail("header", "valid UTF-8", "invalid UTF-8 bytes");
  }
  if (!text.startsWith("{")) {
    throw fail(
      "header",
      'a JSON object starting with "{"',
      JSON.stringify(text.slice(0, 20)),
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw fail(
      "header",
      "valid JSON",
      `a parse error (${(e as Error).message})`,
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw fail("header", "a JSON object", describeValue(parsed));
  }

  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(parsed)) {
    if (name === "__metadata__") {
      if (value === null || typeof value !== "object" || Array.isArray(value)) {
        throw fail("__metadata__", "an object of strings", JSON.stringify(value));
      }
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== "string") {
          throw fail(
            `__metadata__[${JSON.stringify(k)}]`,
            "a string",
            JSON.stringify(v),
          );
        }
        metadata[k] = v;
      }
      continue;
    }
    entries.push(checkEntry(name, value, fail));
  }

  // Offsets: sorted, they must tile [0, data length) exactly.
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  for (const e of entries) {
    const arg = `tensor ${JSON.stringify(e.name)}: data_offsets`;
    if (e.begin < expectedBegin) {
      throw fail(
        arg,
        `a range that does not overlap the previous tensor (which ends at ${expectedBegin})`,
        `[${e.begin}, ${e.end}]`,
      );
    }
    if (e.begin > expectedBegin) {
      throw fail(
        arg,
        `to begin at ${expectedBegin} (tensors must be contiguous)`,
        `[${e.begin}, ${e.end}] (a gap of ${e.begin - expectedBegin} bytes)`,
      );
    }
    if (e.end > dataLength) {
      throw fail(
        arg,
        `a range within the ${dataLength} data bytes (the file is truncated)`,
        `[${e.begin}, ${e.end}]`,
      );
    }
    expectedBegin = e.end;
  }
  if (expectedBegin !== dataLength) {
    throw fail(
      "data",
      `${expectedBegin} bytes after the header (as the offsets say)`,
      `${dataLength} (${
        dataLength > expectedBegin ? "trailing bytes no tensor covers" : "truncated"
      })`,
    );
  }

  const tensors: Record<string, DecodedTensor> = {};
  for (const e of entries) {
    const count = shapeSize(e.shape);
    tensors[e.name] = {
      dtype: "F32",
      shape: e.shape,
      data: toFloat32(
        bytes,
        view,
        dataStart + e.begin,
        count,
        e.dtype as Readable,
      ),
      storedDtype: e.dtype as Readable,
    };
  }
  return { tensors, metadata };
}

function checkEntry(
  name: string,
  value: unknown,
  fail: (argument: string, expected: string, received: string) => FWLInputError,
): HeaderEntry {
  const arg = `tensor ${JSON.stringify(name)}`;
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw fail(arg, "{ dtype, shape, data_offsets }", JSON.stringify(value));
  }
  const v = value as Record<string, unknown>;
  const dtype = v.dtype;
  if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
    throw fail(
      `${arg}: dtype`,
      `one of ${Object.keys(DTYPE_BYTES).join(", ")}`,
      JSON.stringify(dtype) ?? "nothing",
    );
  }
  const shape = v.shape;
  if (!isShape(shape)) {
    throw fail(
      `${arg}: shape`,
      "an array of integers ≥ 0",
      JSON.stringify(shape) ?? "nothing",
    );
  }
  const offsets = v.data_offsets;
  if (
    !Array.isArray(offsets) || offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
    offsets[1] < offsets[0]
  ) {
    throw fail(
      `${arg}: data_offsets`,
      "[begin, end] with integers 0 ≤ begin ≤ end",
      JSON.stringify(offsets) ?? "nothing",
    );
  }
  const [begin, end] = offsets as number[];
  const size = DTYPE_BYTES[dtype];
  const want = shapeSize(shape) * size;
  if (end - begin !== want) {
    throw fail(
      `${arg}: data_offsets`,
      `a span of ${want} bytes (shape [${shape.join(", ")}] × ${size} bytes of ${dtype})`,
      `[${begin}, ${end}] (${end - begin} bytes)`,
    );
  }
  if (!(READABLE as readonly string[]).includes(dtype)) {
    throw fail(
      `${arg}: dtype`,
      `a float dtype we can read (${READABLE.join(", ")})`,
      dtype,
    );
  }
  return { name, dtype, shape: [...shape], begin, end };
}

/** Whether `value` is a shape: an array of integers ≥ 0. */
function isShape(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((d) => Number.isSafeInteger(d) && d >= 0);
}

function toFloat32(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  count: number,
  dtype: Readable,
): Float32Array {
  const out = new Float32Array(count);
  if (dtype === "F32") {
    if (LITTLE_ENDIAN) {
      new Uint8Array(out.buffer).set(bytes.subarray(at, at + 4 * count));
    } else {
      for (let i = 0; i < count; i++) {
        out[i] = view.getFloat32(at + 4 * i, true);
      }
    }
  } else if (dtype === "F64") {
    for (let i = 0; i < count; i++) {
      out[i] = view.getFloat64(at + 8 * i, true);
    }
  } else if (dtype === "BF16") {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) {
      bits[i] = view.getUint16(at + 2 * i, true) << 16;
    }
  } else {
    for (let i = 0; i < count; i++) {
      out[i] = halfToFloat(view.getUint16(at + 2 * i, true));
    }
  }
  return out;
}

/** IEEE 754 binary16 bits → number (exact). */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}
