/**
 * Acquiring a WebGPU device with the adapter's real limits.
 *
 * @module
 */

import { GPUUnavailableError, howToGetAnAdapter } from "../errors.ts";

/** The limits we raise from the WebGPU defaults to what the adapter offers. */
const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

/**
 * Requests an adapter and a device whose limits are raised to the adapter's own.
 *
 * @throws {GPUUnavailableError} (rejects) If `navigator.gpu` is missing, no adapter is
 * found, or the adapter refuses a device.
 */
export async function requestDevice(
  powerPreference: GPUPowerPreference = "high-performance",
): Promise<GPUDevice> {
  const gpu = (globalThis.navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) {
    throw new GPUUnavailableError(
      `navigator.gpu is missing. ${howToGetAnAdapter()}`,
    );
  }
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) throw new GPUUnavailableError(howToGetAnAdapter());
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === "number") requiredLimits[name] = value;
  }
  try {
    return await adapter.requestDevice({ requiredLimits });
  } catch (cause) {
    throw new GPUUnavailableError(
      `the adapter refused a device (${String(cause)}). ${howToGetAnAdapter()}`,
    );
  }
}

/**
 * A short description of the adapter behind a device, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { describeDevice, GPUContext } from "@x/fwl/gpu";
 * const ctx = await GPUContext.default();
 * assertEquals(describeDevice(ctx.device), ctx.adapter);
 * ```
 */
export function describeDevice(device: GPUDevice): string {
  const info = (device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
  if (!info) return "unknown adapter";
  return info.description || [info.vendor, info.architecture, info.device]
    .filter((s) => s).join(" ") ||
    "unknown adapter";
}
