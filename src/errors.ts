/**
 * The typed errors of @x/fwl. Every public function throws one of these, with a
 * message that names the argument, what was expected and what came.
 *
 * @module
 */

/**
 * Base class of every error thrown by @x/fwl: one `instanceof` check catches them all.
 *
 * @example
 * ```ts
 * import { assertThrows } from "@std/assert";
 * import { FWLError, tensor } from "@x/fwl";
 * assertThrows(() => tensor(new Float32Array(3), [2, 2]), FWLError); // 3 values for 4
 * ```
 */
export class FWLError extends Error {
  /** Creates an error with a message. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FWLError";
  }
}

/**
 * A caller passed a bad value: wrong shape, wrong type, non-finite data, an id out of
 * range, an unknown parameter name, and so on.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FWLError, FWLInputError } from "@x/fwl";
 * const e = new FWLInputError("FWLBlock", "size", "a positive integer", "-1");
 * assertEquals(e.message, "FWLBlock: size: expected a positive integer, got -1");
 * assertEquals([e.argument, e.expected, e.received], ["size", "a positive integer", "-1"]);
 * assertEquals(e instanceof FWLError, true);
 * ```
 */
export class FWLInputError extends FWLError {
  /** The argument (or parameter name) that was wrong. */
  readonly argument: string;
  /** What was expected. */
  readonly expected: string;
  /** What came. */
  readonly received: string;

  /** Creates an error for `argument` of `where`. */
  constructor(
    where: string,
    argument: string,
    expected: string,
    received: string,
  ) {
    super(`${where}: ${argument}: expected ${expected}, got ${received}`);
    this.name = "FWLInputError";
    this.argument = argument;
    this.expected = expected;
    this.received = received;
  }
}

/**
 * An object was used in the wrong state: a block before `build()`, a disposed tensor.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FWLStateError } from "@x/fwl";
 * const e = new FWLStateError("FWLBlock.forward: call build(inputSize) first");
 * assertEquals(e.name, "FWLStateError");
 * assertEquals(e.message, "FWLBlock.forward: call build(inputSize) first");
 * ```
 */
export class FWLStateError extends FWLError {
  /** Creates an error with a message. */
  constructor(message: string) {
    super(message);
    this.name = "FWLStateError";
  }
}

/**
 * What to do when no WebGPU adapter is found, for the environment the code runs in: in
 * a browser, a secure context and a browser with WebGPU enabled; in Deno (or another
 * runtime), a Vulkan, Metal or D3D12 driver such as Mesa's software one.
 *
 * @example
 * ```ts
 * import { assert } from "@std/assert";
 * import { howToGetAnAdapter } from "./errors.ts";
 * assert(howToGetAnAdapter().startsWith("No WebGPU adapter was found."));
 * ```
 */
export function howToGetAnAdapter(): string {
  const g = globalThis as { document?: unknown; isSecureContext?: boolean; Deno?: unknown };
  const inBrowser = g.Deno === undefined && typeof g.document === "object";
  if (inBrowser) {
    return "No WebGPU adapter was found. In a browser, WebGPU needs a secure context " +
      "(https:// or http://localhost / 127.0.0.1" +
      (g.isSecureContext === false ? "; this page is not one" : "") +
      ") and a browser with WebGPU enabled (current Chrome, Edge or Safari; Firefox " +
      "with dom.webgpu.enabled; headless Chromium with --enable-unsafe-webgpu), or pass " +
      "your own GPUDevice with the `device` option.";
  }
  return "No WebGPU adapter was found. In Deno, WebGPU needs a Vulkan, Metal or D3D12 " +
    "driver; on a headless Linux machine install Mesa's software Vulkan driver " +
    "(`apt-get install -y mesa-vulkan-drivers libvulkan1`), or pass your own GPUDevice " +
    "with the `device` option.";
}

/**
 * No WebGPU adapter or device could be obtained.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GPUUnavailableError } from "@x/fwl";
 * const e = new GPUUnavailableError("no adapter");
 * assertEquals([e.name, e.message], ["GPUUnavailableError", "no adapter"]);
 * ```
 */
export class GPUUnavailableError extends FWLError {
  /** Creates an error with a message. */
  constructor(message: string) {
    super(message);
    this.name = "GPUUnavailableError";
  }
}

/**
 * WebGPU reported a validation, internal or out-of-memory error while running one of
 * our kernels; `kernel` names it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { GPUKernelError } from "@x/fwl";
 * const e = new GPUKernelError("matmul", "validation", "binding too large");
 * assertEquals([e.kernel, e.kind, e.name], ["matmul", "validation", "GPUKernelError"]);
 * assertEquals(e.message, "WebGPU validation error in kernel matmul: binding too large");
 * // Out-of-memory errors keep the class but say so in their name.
 * assertEquals(new GPUKernelError("matmul", "out-of-memory", "").name, "GPUOutOfMemoryError");
 * ```
 */
export class GPUKernelError extends FWLError {
  /** The kernel (or operation) that failed. */
  readonly kernel: string;
  /** The kind of WebGPU error: "validation", "out-of-memory", "internal" or "device-lost". */
  readonly kind: string;

  /** Creates an error for `kernel`. */
  constructor(kernel: string, kind: string, detail: string) {
    super(`WebGPU ${kind} error in kernel ${kernel}: ${detail}`);
    this.name = kind === "out-of-memory" ? "GPUOutOfMemoryError" : "GPUKernelError";
    this.kernel = kernel;
    this.kind = kind;
  }
}

/**
 * A parameter (or its gradient) is larger than one GPU buffer or storage binding of the
 * device: thrown by `build` (and the parameter store) before anything is initialized or allocated.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { FWLSizeError } from "@x/fwl";
 * const e = new FWLSizeError("FWLBlock.build", "unembed/kernel", [1024, 1 << 20], 134217728);
 * assertEquals([e.parameter, e.bytes, e.limit], ["unembed/kernel", 4294967296, 134217728]);
 * ```
 */
export class FWLSizeError extends FWLError {
  /** The parameter's name. */
  readonly parameter: string;
  /** Its size in bytes. */
  readonly bytes: number;
  /** The device's limit it exceeds, in bytes. */
  readonly limit: number;

  /** Creates the error for `parameter` of `shape` over `limit` bytes. */
  constructor(where: string, parameter: string, shape: readonly number[], limit: number) {
    const bytes = shape.reduce((a, b) => a * b, 4);
    super(
      `${where}: parameter ${parameter} [${shape.join(", ")}] needs ${bytes} bytes, over the ` +
        `device's ${limit}-byte limit on one buffer binding (a smaller vocabulary or size fits)`,
    );
    this.name = "FWLSizeError";
    this.parameter = parameter;
    this.bytes = bytes;
    this.limit = limit;
  }
}
