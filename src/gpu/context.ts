/**
 * The GPU runtime: one device, its pipeline cache, its buffer pool, and error capture
 * that turns WebGPU errors into thrown {@linkcode GPUKernelError}s.
 *
 * @module
 */

import { GPUKernelError } from "../errors.ts";
import { BufferPool } from "./buffer_pool.ts";
import { describeDevice, requestDevice } from "./device.ts";
import type { KernelProfiler } from "./profiler.ts";

/** A compute kernel: one entry point of one WGSL source. */
export interface KernelSpec {
  /** Name used in errors and pass labels. */
  readonly name: string;
  /** The WGSL source. */
  readonly code: string;
  /** The entry point in `code`. */
  readonly entryPoint: string;
}

/**
 * A device with everything our kernels need. Pipelines are compiled once per device;
 * buffers come from a pool; uncaptured WebGPU errors are kept and thrown at the next
 * {@linkcode GPUContext.check}, never only logged.
 *
 * @example
 * ```ts
 * import { assert, assertStrictEquals } from "@std/assert";
 * import { GPUContext } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default(); // one shared context per process
 * assertStrictEquals(await GPUContext.default(), ctx);
 * assertStrictEquals(GPUContext.forDevice(ctx.device), ctx); // one wrapper per device
 * assert(ctx.maxBindingBytes >= 128 << 20); // the WebGPU default at least
 * ctx.check("example"); // nothing failed: no throw
 * ```
 */
export class GPUContext {
  /** The WebGPU device. */
  readonly device: GPUDevice;
  /** Pooled storage buffers. */
  readonly pool: BufferPool;
  /** Description of the adapter. */
  readonly adapter: string;
  /**
   * While set, every recording is submitted op by op and timed into it (slow: for
   * profiling only; see {@linkcode KernelProfiler}).
   */
  profiler: KernelProfiler | undefined;
  readonly #pipelines = new Map<string, Promise<GPUComputePipeline>>();
  readonly #uncaptured: GPUError[] = [];
  /** Errors caught by the scopes of {@linkcode GPUContext.encodeNow}, thrown at the next check. */
  readonly #scoped: { where: string; error: GPUError }[] = [];
  #pendingScopes: Promise<void>[] = [];
  #lost: string | undefined;
  #dummies: GPUBuffer[] = [];

  static #default: Promise<GPUContext> | undefined;
  static readonly #byDevice = new WeakMap<GPUDevice, GPUContext>();

  /** Wraps a device (use {@linkcode GPUContext.forDevice} to share one wrapper per device). */
  constructor(device: GPUDevice) {
    this.device = device;
    this.pool = new BufferPool(device);
    this.adapter = describeDevice(device);
    device.addEventListener("uncapturederror", (event) => {
      this.#uncaptured.push((event as GPUUncapturedErrorEvent).error);
    });
    device.lost.then((info) => {
      this.#lost = info.message || info.reason || "device lost";
    });
  }

  /**
   * The shared default context (high-performance adapter, limits raised to the adapter's).
   *
   * @throws {GPUUnavailableError} (rejects) If WebGPU has no adapter, or the adapter
   * refuses a device; the next call tries again.
   */
  static default(): Promise<GPUContext> {
    if (!GPUContext.#default) {
      GPUContext.#default = requestDevice().then((d) => GPUContext.forDevice(d));
      // A failed request is not cached: the next call tries again.
      GPUContext.#default.catch(() => GPUContext.#default = undefined);
    }
    return GPUContext.#default;
  }

  /** The one context of a caller's device. */
  static forDevice(device: GPUDevice): GPUContext {
    let ctx = GPUContext.#byDevice.get(device);
    if (!ctx) {
      ctx = new GPUContext(device);
      GPUContext.#byDevice.set(device, ctx);
    }
    return ctx;
  }

  /** The largest storage binding, in bytes. */
  get maxBindingBytes(): number {
    return this.device.limits.maxStorageBufferBindingSize;
  }

  /** The largest workgroup count in one dimension. */
  get maxWorkgroups(): number {
    return this.device.limits.maxComputeWorkgroupsPerDimension;
  }

  /**
   * A small placeholder buffer for a binding a dispatch does not use. `slot` 0 and 1
   * are distinct buffers, so a read-only and a writable placeholder never alias.
   */
  dummy(slot: 0 | 1): GPUBuffer {
    while (this.#dummies.length <= slot) {
      this.#dummies.push(
        this.device.createBuffer({ size: 16, usage: 0x80 | 0x08 }),
      );
    }
    return this.#dummies[slot];
  }

  /**
   * Throws if the device is lost or an uncaptured error happened since the last check.
   *
   * @throws {GPUKernelError} If the device was lost, or WebGPU reported an error (caught
   * by {@linkcode GPUContext.encodeNow}'s scopes, or uncaptured) since the last check.
   */
  check(where: string): void {
    if (this.#lost !== undefined) {
      throw new GPUKernelError(where, "device-lost", this.#lost);
    }
    const scoped = this.#scoped.shift();
    if (scoped) {
      this.#scoped.length = 0;
      throw new GPUKernelError(scoped.where, kindOf(scoped.error), scoped.error.message);
    }
    const error = this.#uncaptured.shift();
    if (error) {
      this.#uncaptured.length = 0;
      throw new GPUKernelError(where, kindOf(error), error.message);
    }
  }

  /**
   * The compute pipeline of a kernel, compiled once per device.
   *
   * @throws {GPUKernelError} (rejects) If the WGSL does not compile or the pipeline is
   * invalid (the message quotes the first error and its source line), or a check before
   * compiling fails.
   */
  pipeline(spec: KernelSpec): Promise<GPUComputePipeline> {
    const key = `${spec.name}\u0000${spec.entryPoint}\u0000${spec.code}`;
    let p = this.#pipelines.get(key);
    if (!p) {
      p = this.#compile(spec);
      this.#pipelines.set(key, p);
      p.catch(() => this.#pipelines.delete(key));
    }
    return p;
  }

  async #compile(spec: KernelSpec): Promise<GPUComputePipeline> {
    this.check(spec.name);
    const device = this.device;
    device.pushErrorScope("validation");
    const module = device.createShaderModule({
      label: spec.name,
      code: spec.code,
    });
    const compileError = await firstCompileError(module, spec.code);
    let pipeline: GPUComputePipeline | undefined;
    let failure: unknown;
    if (!compileError) {
      try {
        pipeline = await device.createComputePipelineAsync({
          label: spec.name,
          layout: "auto",
          compute: { module, entryPoint: spec.entryPoint },
        });
      } catch (cause) {
        failure = cause;
      }
    }
    const error = await device.popErrorScope();
    if (compileError) throw new GPUKernelError(spec.name, "validation", compileError);
    if (error || failure || !pipeline) {
      const detail = error?.message ?? String(failure);
      throw new GPUKernelError(spec.name, "validation", detail);
    }
    return pipeline;
  }

  /**
   * Runs `encode` on a new command encoder inside validation and out-of-memory error
   * scopes and submits it at once, without waiting: for the synchronous copies and clears
   * of states (snapshot, reset, clone). An error the scopes catch is thrown, naming
   * `where`, by the next {@linkcode GPUContext.submit} (which waits for those scopes) or
   * {@linkcode GPUContext.check}.
   *
   * @example
   * ```ts
   * import { assertEquals } from "@std/assert";
   * import { GPUContext, readBuffers } from "@x/fwl/gpu";
   * const ctx = await GPUContext.default();
   * const a = ctx.pool.acquire(16), b = ctx.pool.acquire(16);
   * ctx.device.queue.writeBuffer(a, 0, new Float32Array([1, 2, 3, 4]));
   * ctx.encodeNow("copy a to b", (encoder) => encoder.copyBufferToBuffer(a, 0, b, 0, 16));
   * const [bytes] = await readBuffers(ctx, [{ buffer: b, bytes: 16 }]);
   * assertEquals([...new Float32Array(bytes)], [1, 2, 3, 4]);
   * ctx.pool.release(a);
   * ctx.pool.release(b);
   * ```
   *
   * @throws {GPUKernelError} If the device is lost or an earlier error is pending
   * ({@linkcode GPUContext.check}); errors of this encoding come at the next check.
   */
  encodeNow(where: string, encode: (encoder: GPUCommandEncoder) => void): void {
    this.check(where);
    const { errors, thrown } = this.#encodeInScopes(where, encode);
    this.#pendingScopes.push(
      errors.then(([validation, oom]) => {
        const error = validation ?? oom;
        if (error) this.#scoped.push({ where, error });
      }),
    );
    if (thrown) throw thrown;
  }

  /**
   * Runs `encode` on a new command encoder inside validation and out-of-memory error
   * scopes, submits it, and throws a {@linkcode GPUKernelError} naming `where` (and the
   * pass labels WebGPU quotes) if anything failed.
   *
   * @throws {GPUKernelError} (rejects) If WebGPU reports a validation or out-of-memory
   * error for this submission, the device is lost, or an earlier error is pending.
   */
  async submit(
    where: string,
    encode: (encoder: GPUCommandEncoder) => void,
  ): Promise<void> {
    if (this.#pendingScopes.length > 0) {
      const pending = this.#pendingScopes;
      this.#pendingScopes = [];
      await Promise.all(pending);
    }
    this.check(where);
    const { errors, thrown } = this.#encodeInScopes(where, encode);
    const [validation, oom] = await errors;
    if (thrown) throw thrown;
    const error = validation ?? oom;
    if (error) {
      const label = /"([a-z0-9_:]+)"/i.exec(error.message)?.[1];
      throw new GPUKernelError(label ?? where, kindOf(error), error.message);
    }
    this.check(where);
  }

  /**
   * What {@linkcode GPUContext.encodeNow} and {@linkcode GPUContext.submit} share: runs
   * `encode` on a new command encoder inside validation and out-of-memory error scopes,
   * submits it, and pops both scopes at once, so that no other work's scopes come
   * between. `thrown` is what `encode` or the submission threw.
   */
  #encodeInScopes(
    where: string,
    encode: (encoder: GPUCommandEncoder) => void,
  ): { errors: Promise<[GPUError | null, GPUError | null]>; thrown: unknown } {
    const device = this.device;
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    const encoder = device.createCommandEncoder({ label: where });
    let thrown: unknown;
    try {
      encode(encoder);
      device.queue.submit([encoder.finish()]);
    } catch (cause) {
      thrown = cause;
    }
    const validation = device.popErrorScope();
    const oom = device.popErrorScope();
    return { errors: Promise.all([validation, oom]), thrown };
  }
}

/**
 * The first error of a shader module as `line L:C: message` followed by the offending
 * source line (of the full, generated source), or `undefined` when it compiled.
 */
async function firstCompileError(
  module: GPUShaderModule,
  code: string,
): Promise<string | undefined> {
  if (typeof module.getCompilationInfo !== "function") return undefined;
  const info = await module.getCompilationInfo();
  const error = info.messages.find((m) => m.type === "error");
  if (!error) return undefined;
  const text = error.message.trim().split("\n")[0].replace(/^Shader '[^']*' /, "");
  const source = code.split("\n")[error.lineNum - 1] ?? "";
  return `line ${error.lineNum}:${error.linePos}: ${text}\n  ${error.lineNum} | ${source}`;
}

function kindOf(error: GPUError): string {
  const name = error.constructor?.name ?? "";
  if (name.includes("OutOfMemory")) return "out-of-memory";
  if (name.includes("Internal")) return "internal";
  return "validation";
}
