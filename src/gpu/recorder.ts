/**
 * Records a sequence of kernel dispatches and copies, then encodes them into one
 * command encoder and submits it: no host synchronization between kernels.
 *
 * @module
 */

import { FWLStateError, GPUKernelError } from "../errors.ts";
import { bucketSize } from "./buffer_pool.ts";
import type { GPUContext, KernelSpec } from "./context.ts";
import type { Program } from "./program.ts";

const UNIFORM_USAGE = 0x40 | 0x08; // UNIFORM | COPY_DST

/** A storage binding: a whole buffer, or a byte range of one. */
export type Binding = GPUBuffer | {
  buffer: GPUBuffer;
  offset: number;
  size: number;
};

interface DispatchOp {
  kind: "dispatch";
  spec: KernelSpec;
  bindings: Binding[];
  uniforms: ArrayBuffer | undefined;
  workgroups: [number, number, number];
}

/** Where a scratch buffer stands: in use, given back after an op, or handed out again. */
interface ScratchLife {
  state: "live" | "dead" | "rehanded";
  /** The op recorded last when it was given back. */
  after: string;
}

interface CopyOp {
  kind: "copy";
  src: GPUBuffer;
  srcOffset: number;
  dst: GPUBuffer;
  dstOffset: number;
  bytes: number;
}

/**
 * Collects dispatches; {@linkcode Recorder.submit} compiles (or reuses) the pipelines,
 * writes each dispatch's uniforms to a pooled buffer, encodes consecutive dispatches into
 * one compute pass (each bind group labelled with its kernel's name, so WebGPU errors
 * name it) and submits once.
 *
 * @example
 * ```ts
 * import { assertEquals, assertThrows } from "@std/assert";
 * import { FWLStateError } from "@x/fwl";
 * import { GPUContext, matmulNT, readBytes, Recorder } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * const rec = new Recorder(ctx);
 * const x = rec.upload(new Float32Array([3, 4])); // a scratch buffer, released after the submission
 * const out = ctx.pool.acquire(4);
 * matmulNT(rec, x, x, out, 1, 2, 1); // out[1, 1] = x · xᵀ
 * await rec.submit("squared norm"); // one submission for everything recorded
 * assertEquals([...new Float32Array(await readBytes(ctx, out, 4))], [25]);
 * ctx.pool.release(out);
 * // A scratch buffer given back with reuse() is dead: giving it back again is refused.
 * const scratch = rec.scratch(16);
 * rec.reuse(scratch);
 * assertThrows(() => rec.reuse(scratch), FWLStateError);
 * await rec.submit("nothing"); // releases the scratch buffer
 * ```
 */
export class Recorder {
  /** The context whose device runs the recorded work. */
  readonly ctx: GPUContext;
  readonly #ops: (DispatchOp | CopyOp)[] = [];
  readonly #scratch: GPUBuffer[] = [];
  readonly #reusable: GPUBuffer[] = [];
  /** Lifetime of each scratch buffer: given back (by which op), or handed out again. */
  readonly #life = new Map<GPUBuffer, ScratchLife>();

  /** Creates an empty recorder on `ctx`. */
  constructor(ctx: GPUContext) {
    this.ctx = ctx;
  }

  /**
   * A pooled scratch buffer of `bytes` bytes, released after submission. A buffer an
   * earlier op of this recorder gave back with {@linkcode Recorder.reuse} is handed out
   * again first: ops run in order, so its old contents are dead by then.
   */
  scratch(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const i = this.#reusable.findIndex((b) => b.size === size);
    if (i >= 0) {
      const b = this.#reusable.splice(i, 1)[0];
      // Its first use must write it: a read would see the previous owner's data.
      this.#life.set(b, { state: "rehanded", after: this.#lastKernel() });
      return b;
    }
    const b = this.ctx.pool.acquire(bytes);
    this.#scratch.push(b);
    this.#life.set(b, { state: "live", after: "" });
    return b;
  }

  /**
   * A scratch buffer (released after submission) holding a copy of `data`, written to the
   * queue now, before any op of this recorder runs: so never a buffer given back with
   * {@linkcode Recorder.reuse}, whose old contents earlier ops still read.
   */
  upload(data: ArrayBufferView): GPUBuffer {
    const b = this.ctx.pool.acquire(Math.max(4, data.byteLength));
    this.#scratch.push(b);
    this.#life.set(b, { state: "live", after: "" });
    this.ctx.device.queue.writeBuffer(b, 0, data as ArrayBufferView<ArrayBuffer>);
    return b;
  }

  /**
   * Marks a scratch buffer of this recorder as dead after the ops recorded so far, so
   * later ops of the same recorder may reuse it (the peak of a long recording shrinks).
   * Checked: an op recorded later that binds it before {@linkcode Recorder.scratch}
   * hands it out again, or that reads it (without writing) right after it was handed
   * out again, throws an {@linkcode FWLStateError} naming the kernel. A buffer not from
   * this recorder's `scratch` is left alone.
   *
   * @throws {FWLStateError} If `buffer` was already given back since it was handed out.
   */
  reuse(buffer: GPUBuffer): void {
    const life = this.#life.get(buffer);
    if (!life) return;
    if (life.state === "dead") {
      throw new FWLStateError(
        `Recorder.reuse: scratch buffer given back twice (first after ${life.after || "no op"})`,
      );
    }
    this.#life.set(buffer, { state: "dead", after: this.#lastKernel() });
    this.#reusable.push(buffer);
  }

  #lastKernel(): string {
    const op = this.#ops.at(-1);
    return op === undefined ? "" : op.kind === "copy" ? "a copy" : `kernel ${op.spec.name}`;
  }

  /** Throws if `op` uses a scratch buffer that is dead, or reads a re-handed one unwritten. */
  #checkLifetimes(what: string, uses: readonly { buffer: GPUBuffer; writes: boolean }[]): void {
    for (const { buffer, writes } of uses) {
      const life = this.#life.get(buffer);
      if (!life || life.state === "live") continue;
      if (life.state === "dead") {
        throw new FWLStateError(
          `${what} binds a scratch buffer that was given back with reuse() after ` +
            `${life.after || "no op"}: its data is dead and the buffer may be handed out again`,
        );
      }
      if (!writes && !uses.some((u) => u.buffer === buffer && u.writes)) {
        throw new FWLStateError(
          `${what} reads a reused scratch buffer before anything wrote it since it was ` +
            `handed out again (given back after ${life.after || "no op"})`,
        );
      }
      this.#life.set(buffer, { state: "live", after: "" });
    }
  }

  /**
   * Records one dispatch. Storage bindings take `@binding(0..n-1)` in order; the
   * uniforms, if any, take `@binding(n)`.
   *
   * @throws {FWLStateError} If a binding is a scratch buffer given back with
   * {@linkcode Recorder.reuse} and not handed out again, or one handed out again that the
   * kernel only reads before anything wrote it.
   */
  dispatch(
    spec: KernelSpec,
    bindings: Binding[],
    uniforms: ArrayBuffer | undefined,
    workgroups: [number, number, number],
  ): void {
    if (workgroups[0] === 0 || workgroups[1] === 0 || workgroups[2] === 0) {
      return;
    }
    const max = this.ctx.maxWorkgroups;
    if (workgroups.some((w) => w > max)) {
      throw new RangeError(
        `${spec.name}: ${workgroups.join("×")} workgroups exceed the device's ${max} per dimension`,
      );
    }
    const storage = (spec as Partial<Program>).storage;
    this.#checkLifetimes(
      `kernel ${spec.name}`,
      bindings.map((b, i) => ({
        buffer: b instanceof GPUBuffer ? b : b.buffer,
        // Without a declaration, assume a write (no false alarms).
        writes: storage?.[i]?.access !== "read",
      })),
    );
    this.#ops.push({ kind: "dispatch", spec, bindings, uniforms, workgroups });
  }

  /**
   * Records a buffer-to-buffer copy.
   *
   * @throws {FWLStateError} If `src` or `dst` is a scratch buffer given back with
   * {@linkcode Recorder.reuse}, or `src` one handed out again and not written since.
   */
  copy(
    src: GPUBuffer,
    srcOffset: number,
    dst: GPUBuffer,
    dstOffset: number,
    bytes: number,
  ): void {
    if (bytes > 0) {
      this.#checkLifetimes("a copy", [
        { buffer: src, writes: false },
        { buffer: dst, writes: true },
      ]);
      this.#ops.push({ kind: "copy", src, srcOffset, dst, dstOffset, bytes });
    }
  }

  /**
   * Compiles what is missing, encodes every op into one encoder, submits, and releases scratch.
   *
   * @throws {GPUKernelError} (rejects) If a kernel does not compile, a bind group or the
   * submission is invalid (naming the kernel where WebGPU does), memory runs out, or the
   * device is lost.
   */
  async submit(where: string): Promise<void> {
    const ctx = this.ctx;
    const ops = this.#ops.splice(0);
    const pipelines = await Promise.all(
      ops.map((op) => op.kind === "dispatch" ? ctx.pipeline(op.spec) : undefined),
    );
    const uniformBuffers: GPUBuffer[] = [];
    // Bind-group errors are raised at creation, outside any pass: a scope around each
    // one lets the error name its kernel.
    const bindErrors: Promise<{ kernel: string; error: GPUError } | undefined>[] = [];
    const device = ctx.device;
    // Consecutive dispatches share one compute pass (each dispatch is still its own usage
    // scope, so every write is visible to the next): a pass per dispatch cost llvmpipe
    // about a tenth of a generated token's time.
    let pass: GPUComputePassEncoder | undefined;
    const endPass = () => {
      pass?.end();
      pass = undefined;
    };
    const encodeOp = (encoder: GPUCommandEncoder, i: number) => {
      const op = ops[i];
      if (op.kind === "copy") {
        endPass();
        encoder.copyBufferToBuffer(op.src, op.srcOffset, op.dst, op.dstOffset, op.bytes);
        return;
      }
      const pipeline = pipelines[i]!;
      const entries: GPUBindGroupEntry[] = op.bindings.map((b, binding) => ({
        binding,
        resource: b instanceof GPUBuffer ? { buffer: b } : b,
      }));
      if (op.uniforms) {
        const u = ctx.pool.acquire(op.uniforms.byteLength, UNIFORM_USAGE);
        uniformBuffers.push(u);
        device.queue.writeBuffer(u, 0, op.uniforms);
        entries.push({ binding: entries.length, resource: { buffer: u } });
      }
      device.pushErrorScope("validation");
      const group = device.createBindGroup({
        label: op.spec.name,
        layout: pipeline.getBindGroupLayout(0),
        entries,
      });
      const kernel = op.spec.name;
      bindErrors.push(
        device.popErrorScope().then((error) => error ? { kernel, error } : undefined),
      );
      pass ??= encoder.beginComputePass({ label: `${where}: ${op.spec.name} …` });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(...op.workgroups);
    };
    const profiler = ctx.profiler;
    try {
      if (profiler) {
        // One submission per op, each waited for (see src/gpu/profiler.ts).
        for (let i = 0; i < ops.length; i++) {
          const started = performance.now();
          await ctx.submit(where, (encoder) => {
            encodeOp(encoder, i);
            endPass();
          });
          await device.queue.onSubmittedWorkDone();
          const op = ops[i];
          const ms = performance.now() - started;
          if (op.kind === "copy") profiler.add("copy", ms);
          else profiler.add(op.spec.name, ms, op.workgroups);
        }
      } else {
        await ctx.submit(where, (encoder) => {
          ops.forEach((_, i) => encodeOp(encoder, i));
          endPass();
        });
      }
    } catch (e) {
      const first = (await Promise.all(bindErrors)).find((x) => x);
      if (first) throw new GPUKernelError(first.kernel, "validation", first.error.message);
      throw e;
    } finally {
      for (const u of uniformBuffers) ctx.pool.release(u);
      for (const s of this.#scratch.splice(0)) ctx.pool.release(s);
      this.#reusable.length = 0;
      this.#life.clear();
    }
    const first = (await Promise.all(bindErrors)).find((x) => x);
    if (first) throw new GPUKernelError(first.kernel, "validation", first.error.message);
  }
}
