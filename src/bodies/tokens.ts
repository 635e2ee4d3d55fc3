/**
 * The input checks the bodies share: token ids, and batches that must fit the device's
 * binding limit.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { GPUContext } from "../gpu/context.ts";
import type { Tensor } from "../tensor.ts";
import { checkDType, checkTensor } from "../tensor.ts";

/**
 * Checks an int32 tensor of `rank` positive dimensions (`[B, T]` or `[B]`); returns its shape.
 *
 * @throws {FWLInputError} Naming `tokens`, if it is not such a tensor.
 */
export function checkTokens(where: string, tokens: Tensor, rank: 1 | 2): number[] {
  checkTensor(where, "tokens", tokens);
  checkDType(where, "tokens", tokens, "int32");
  const s = tokens.shape;
  if (s.length !== rank || s.some((d) => d < 1)) {
    throw new FWLInputError(
      where,
      "tokens",
      rank === 2 ? "shape [B, T] with B ≥ 1 and T ≥ 1" : "shape [B] with B ≥ 1",
      `[${s.join(", ")}]`,
    );
  }
  return [...s];
}

/**
 * A host copy of the ids (read back when GPU-resident), each checked to lie in [0, vocab).
 *
 * @throws {FWLInputError} Naming `tokens`, for the first id out of range.
 */
export async function readTokenIds(
  where: string,
  tokens: Tensor<"int32">,
  vocab: number,
): Promise<Int32Array<ArrayBuffer>> {
  const ids = (tokens.hostData?.slice() ?? await tokens.read()) as Int32Array<ArrayBuffer>;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      const received = `${ids[i]} at flat index ${i}`;
      throw new FWLInputError(where, "tokens", `token ids in [0, ${vocab})`, received);
    }
  }
  return ids;
}

/**
 * Throws unless every buffer of a batch (`[what, floats]`) fits the device's binding limit.
 *
 * @throws {FWLInputError} Naming `tokens`, for the first buffer over the limit.
 */
export function checkBindingSizes(
  ctx: GPUContext,
  where: string,
  sizes: [string, number][],
): void {
  const max = ctx.maxBindingBytes;
  for (const [what, floats] of sizes) {
    if (floats * 4 > max) {
      throw new FWLInputError(
        where,
        "tokens",
        `a batch whose ${what} fits the device's ${max}-byte binding limit`,
        `${floats * 4} bytes (use a smaller batch or shorter sequences)`,
      );
    }
  }
}
