/**
 * Kernels declared once, in TypeScript. A {@linkcode Program} holds a kernel's storage
 * bindings, uniform fields, constants (flag bits, tile sizes), workgroup size and the WGSL
 * snippets it uses; from that declaration it writes the WGSL header (the `Params` struct,
 * the `@group/@binding` lines and the constants) in front of the shader body, and it packs
 * uniforms by field name from the same list. Field order, flag values and tile sizes
 * therefore cannot drift between TypeScript and WGSL.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { KernelSpec } from "./context.ts";

/** The WGSL type of a uniform field (every field is one 4-byte scalar). */
export type UniformType = "u32" | "i32" | "f32";

/** The element type of a storage binding (`array<type>`). */
export type StorageType = "f32" | "u32" | "i32" | "vec2<f32>" | "vec4<f32>" | "atomic<u32>";

const STORAGE_TYPES: readonly string[] = [
  "f32",
  "u32",
  "i32",
  "vec2<f32>",
  "vec4<f32>",
  "atomic<u32>",
];
const UNIFORM_TYPES: readonly string[] = ["u32", "i32", "f32"];

/** One storage binding: `@binding(i) var<storage, access> name: array<type>`. */
export interface StorageBinding {
  /** The variable name in WGSL. */
  readonly name: string;
  /** The element type. */
  readonly type: StorageType;
  /** Whether the kernel writes it. */
  readonly access: "read" | "read_write";
}

/** The name of a uniform field written `"name"` (u32) or `"name: type"`. */
export type FieldName<F extends string> = F extends `${infer N}: ${string}` ? N : F;

/**
 * A piece of shared WGSL (functions, workgroup memory) included once in every kernel that
 * lists it or a snippet requiring it. It may use the kernel's `WG` constant.
 */
export interface Snippet {
  /** Name used to include it once. */
  readonly name: string;
  /** The WGSL. */
  readonly code: string;
  /** Snippets it uses, included before it. */
  readonly requires?: readonly Snippet[];
}

/** What a kernel declares. */
export interface ProgramDecl<
  U extends readonly string[],
  C extends Record<string, number>,
> {
  /** Name used in errors and pass labels. */
  readonly name: string;
  /** The shader body (from `shaders/*.wgsl`), which uses the generated names. */
  readonly body: string;
  /** Entry point (default `main`). */
  readonly entryPoint?: string;
  /**
   * Workgroup size (default 64); the body writes `@workgroup_size(WG)` (or `WG, WG_Y`), and may use
   * `WG`, `WG_Y` anywhere.
   */
  readonly workgroupSize?: readonly [number] | readonly [number, number];
  /**
   * Storage bindings, in binding order: `"name"` (read, f32) or `"name: [rw] [type]"`,
   * e.g. `"out: rw"`, `"ids: u32"`, `"stats: rw vec4<f32>"`.
   */
  readonly storage: readonly string[];
  /**
   * Uniform fields in struct order, bound after the storage as `p: Params`: `"name"`
   * (u32) or `"name: f32"` / `"name: i32"`.
   */
  readonly uniforms?: U;
  /** `u32` constants (flag bits, modes, tile sizes) shared by the body and TypeScript. */
  readonly constants?: C;
  /** Shared WGSL the body uses. */
  readonly snippets?: readonly Snippet[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A compiled-once kernel: a {@linkcode KernelSpec} whose source is generated from its
 * declaration, plus the declared constants and a by-name uniform packer.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLInputError } from "@x/fwl";
 * import { GPUContext, program, readBytes, Recorder } from "@x/fwl/gpu";
 * const SCALE = program({
 *   name: "scale",
 *   body: `@compute @workgroup_size(WG) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
 *     if (g.x < p.count) { x[g.x] *= p.alpha; }
 *   }`,
 *   storage: ["x: rw"],
 *   uniforms: ["count", "alpha: f32"],
 * });
 * const ctx = await GPUContext.default();
 * const x = ctx.pool.acquire(12);
 * ctx.device.queue.writeBuffer(x, 0, new Float32Array([1, 2, 3]));
 * const rec = new Recorder(ctx);
 * rec.dispatch(SCALE, [x], SCALE.uniforms({ count: 3, alpha: 2 }), [1, 1, 1]);
 * await rec.submit("scale");
 * assertEquals([...new Float32Array(await readBytes(ctx, x, 12))], [2, 4, 6]);
 * ctx.pool.release(x);
 * assertEquals(SCALE.bindingCount, 1); // the uniforms are bound after the storage
 * // Uniforms are packed by name: a missing field is refused.
 * assertThrows(() => SCALE.uniforms({ count: 3 } as never), FWLInputError);
 * ```
 */
export class Program<
  U extends string = string,
  C extends Record<string, number> = Record<string, number>,
> implements KernelSpec {
  /** Name used in errors and pass labels. */
  readonly name: string;
  /** The full WGSL source: generated header, snippets, body. */
  readonly code: string;
  /** The entry point in `code`. */
  readonly entryPoint: string;
  /** Invocations per workgroup along x (and y). */
  readonly workgroupSize: readonly [number] | readonly [number, number];
  /** The declared constants, as the WGSL sees them. */
  readonly constants: Readonly<C>;
  /** The storage bindings, in binding order. */
  readonly storage: readonly StorageBinding[];
  /** Number of header lines before the first snippet or body line. */
  readonly headerLines: number;
  readonly #fields: readonly (readonly [string, UniformType])[];

  /**
   * Declares a kernel (see {@linkcode program}).
   *
   * @throws {FWLInputError} If a storage binding or uniform field is malformed, a name is
   * not a WGSL identifier, or a constant is not a u32.
   */
  constructor(decl: ProgramDecl<readonly string[], C>) {
    this.name = decl.name;
    this.entryPoint = decl.entryPoint ?? "main";
    this.workgroupSize = decl.workgroupSize ?? [64];
    this.constants = Object.freeze({ ...(decl.constants ?? {}) }) as Readonly<C>;
    this.storage = decl.storage.map((d) => parseStorage(decl.name, d));
    this.#fields = (decl.uniforms ?? []).map((d) => parseField(decl.name, d));
    const header = generateHeader(decl, this.storage, this.#fields);
    this.headerLines = header.split("\n").length - 1;
    const snippets = orderSnippets(decl.snippets ?? []).map((s) => `// ${s.name}\n${s.code}`);
    this.code = [header, ...snippets, decl.body].join("\n");
  }

  /** Number of storage bindings (the uniform buffer, if any, follows them). */
  get bindingCount(): number {
    return this.storage.length;
  }

  /**
   * Packs the uniform fields by name into a buffer padded to 16 bytes; every declared
   * field must be given, and nothing else.
   *
   * @throws {FWLInputError} If a declared field is missing or not a number (NaN only for
   * `f32`), or an undeclared one is given.
   */
  uniforms(values: { readonly [K in U]: number }): ArrayBuffer {
    const given = values as Record<string, number>;
    const words = Math.max(4, Math.ceil(this.#fields.length / 4) * 4);
    const buffer = new ArrayBuffer(words * 4);
    const u32 = new Uint32Array(buffer);
    const i32 = new Int32Array(buffer);
    const f32 = new Float32Array(buffer);
    this.#fields.forEach(([name, type], i) => {
      const value = given[name];
      if (typeof value !== "number" || Number.isNaN(value) && type !== "f32") {
        throw new FWLInputError(this.name, `uniform ${name}`, "a number", String(value));
      }
      if (type === "f32") f32[i] = value;
      else if (type === "i32") i32[i] = value;
      else u32[i] = value >>> 0;
    });
    for (const name of Object.keys(given)) {
      if (!this.#fields.some(([f]) => f === name)) {
        throw new FWLInputError(this.name, name, "a declared uniform field", "an unknown one");
      }
    }
    return buffer;
  }
}

/**
 * Declares a kernel: see {@linkcode Program}.
 *
 * @throws {FWLInputError} If a storage binding or uniform field is malformed, a name is
 * not a WGSL identifier, or a constant is not a u32.
 */
export function program<
  const U extends readonly string[] = readonly [],
  const C extends Record<string, number> = Record<never, number>,
>(decl: ProgramDecl<U, C>): Program<FieldName<U[number]>, C> {
  return new Program(decl);
}

function parseStorage(kernel: string, d: string): StorageBinding {
  const [name, rest = ""] = d.split(":").map((x) => x.trim());
  const words = rest.split(/\s+/).filter((w) => w);
  const access = words[0] === "rw" ? "read_write" : "read";
  const type = words[access === "read" ? 0 : 1] ?? "f32";
  if (!STORAGE_TYPES.includes(type) || words.length > (access === "read" ? 1 : 2)) {
    throw new FWLInputError(kernel, `storage ${name}`, "`name: [rw] [type]`", d);
  }
  return { name, type: type as StorageType, access };
}

function parseField(kernel: string, d: string): readonly [string, UniformType] {
  const [name, type = "u32"] = d.split(":").map((x) => x.trim());
  if (!UNIFORM_TYPES.includes(type)) {
    throw new FWLInputError(kernel, `uniform ${name}`, "u32, i32 or f32", type);
  }
  return [name, type as UniformType];
}

function generateHeader(
  decl: ProgramDecl<readonly string[], Record<string, number>>,
  storage: readonly StorageBinding[],
  fields: readonly (readonly [string, UniformType])[],
): string {
  const names = [
    ...storage.map((s) => s.name),
    ...fields.map(([f]) => f),
    ...Object.keys(decl.constants ?? {}),
  ];
  for (const n of names) {
    if (!IDENT.test(n)) throw new FWLInputError(decl.name, "name", "a WGSL identifier", n);
  }
  const lines = [`// ${decl.name}: header generated from its declaration (src/kernels).`];
  const [x, y] = decl.workgroupSize ?? [64];
  lines.push(`const WG: u32 = ${x}u;`);
  if (y !== undefined) lines.push(`const WG_Y: u32 = ${y}u;`);
  for (const [name, value] of Object.entries(decl.constants ?? {})) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new FWLInputError(decl.name, `constant ${name}`, "a u32", String(value));
    }
    lines.push(`const ${name}: u32 = ${value}u;`);
  }
  if (fields.length > 0) {
    lines.push("struct Params {");
    for (const [name, type] of fields) lines.push(`  ${name}: ${type},`);
    // Padded to 16 bytes, as the packer writes it.
    for (let i = fields.length; i % 4 !== 0; i++) lines.push(`  pad${i}: u32,`);
    lines.push("}");
  }
  storage.forEach((s, i) => {
    lines.push(`@group(0) @binding(${i}) var<storage, ${s.access}> ${s.name}: array<${s.type}>;`);
  });
  if (fields.length > 0) {
    lines.push(`@group(0) @binding(${storage.length}) var<uniform> p: Params;`);
  }
  return lines.join("\n") + "\n";
}

function orderSnippets(snippets: readonly Snippet[]): Snippet[] {
  const out: Snippet[] = [];
  const visit = (s: Snippet) => {
    if (out.includes(s)) return;
    for (const r of s.requires ?? []) visit(r);
    out.push(s);
  };
  snippets.forEach(visit);
  return out;
}
