/**
 * The token-id checks the bodies share.
 *
 * @module
 */

import { FWLInputError } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { checkDType, checkTensor } from "../tensor.ts";

/** Checks an int32 tensor of `rank` positive dimensions (`[B, T]` or `[B]`); returns its shape. */
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

/** A host copy of the ids (read back when GPU-resident), each checked to lie in [0, vocab). */
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
