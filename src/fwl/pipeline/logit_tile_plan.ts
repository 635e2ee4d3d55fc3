/**
 * The plan of the logits tile engine (`logits_tiles.ts`): how many rows and vocabulary
 * columns a tile of the `[rows, V]` logits has, given the tile budget and the device's
 * binding limit, and which byte range of a `[·, V]` buffer a tile binds when the whole
 * buffer exceeds one binding.
 *
 * @module
 */

import { FWLError } from "../../errors.ts";
import type { GPUContext } from "../../gpu/context.ts";
import type { Binding } from "../../gpu/recorder.ts";
import { MAX_TILE_COLS } from "../../kernels/vocab_tiles.ts";

/** Bytes of slack an aligned-down binding offset may add (minStorageBufferOffsetAlignment). */
const ALIGN = 256;

/**
 * The shape of one logits tile: `cols === vocab` is the row-tile fast path (all rows or
 * a multiple of 64, so row offsets stay 256-byte aligned); otherwise the vocabulary is
 * streamed in `cols`-wide tiles of `rows` (≤ 64) rows.
 */
export interface LogitTiling {
  /** Rows per tile. */
  rows: number;
  /** Vocabulary columns per tile (`vocab` for full-row tiles). */
  cols: number;
}

/**
 * Full-row tiles of `[rows, vocab]` within `bytes`, when 64 rows (or all of them) fit:
 * all rows, else a multiple of 64 (row offsets stay aligned); `undefined` when they don't.
 */
function fullRowTiling(rows: number, vocab: number, bytes: number): LogitTiling | undefined {
  const fit = Math.floor(bytes / (vocab * 4));
  if (fit >= rows) return { rows, cols: vocab };
  if (fit >= 64) return { rows: Math.floor(fit / 64) * 64, cols: vocab };
  return undefined;
}

/**
 * The tiling of a `[rows, vocab]` logits matrix for a tile budget of `bytes` (scratch
 * of `rows·cols` floats). Full-row tiles when 64 rows (or all of them) fit; else tiles
 * of up to 64 rows and `cols` a multiple of 64 (of 4 when the budget is tiny). With
 * `rangeLimit` (the binding limit, when a `[rows, vocab]` input such as one-hot labels
 * must be bound in ranges), the rows are also capped so that a tile's range fits it.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { logitTiling } from "./logit_tile_plan.ts";
 * assertEquals(logitTiling(1000, 50, 2 ** 20), { rows: 1000, cols: 50 });
 * assertEquals(logitTiling(1000, 97, 64 * 32 * 4), { rows: 64, cols: 32 });
 * ```
 */
export function logitTiling(
  rows: number,
  vocab: number,
  bytes: number,
  rangeLimit?: number,
): LogitTiling {
  const full = fullRowTiling(rows, vocab, bytes);
  if (full) return full;
  const spanRows = rangeLimit === undefined ? 64 : Math.floor((rangeLimit - ALIGN) / (vocab * 4));
  const r = Math.max(1, Math.min(rows, 64, spanRows));
  const raw = Math.min(Math.floor(bytes / (r * 4)), MAX_TILE_COLS);
  const cols = raw >= 64 ? Math.floor(raw / 64) * 64 : Math.max(1, Math.floor(raw / 4) * 4);
  return { rows: r, cols: Math.min(cols, vocab) };
}

/**
 * The tiling of `[rows, vocab]` logits with tiles of at most `bytes` (capped by the
 * binding limit). With `rangeBound` (one-hot labels or an upstream gradient that may
 * exceed one binding), tiles are also kept small enough for their range of such an
 * input to fit one binding.
 */
export function planLogitTiles(
  ctx: GPUContext,
  rows: number,
  vocab: number,
  bytes: number,
  rangeBound: boolean,
): LogitTiling {
  const max = ctx.maxBindingBytes;
  const bound = rangeBound && rows * vocab * 4 > max;
  return logitTiling(rows, vocab, Math.min(bytes, max), bound ? max : undefined);
}

/**
 * The tiling of a returned `[rows, vocab]` logits buffer for `budget` bytes per binding:
 * full rows (all, or a multiple of 64) when 64 rows fit; else as many whole rows as fit
 * one binding (less the alignment slack), or column tiles of one row.
 *
 * @throws {FWLError} If the budget cannot hold one column past the alignment slack.
 */
export function outputTiling(rows: number, vocab: number, budget: number): LogitTiling {
  const full = fullRowTiling(rows, vocab, budget);
  if (full) return full;
  const usable = budget - ALIGN;
  const tileRows = Math.min(rows, Math.floor(usable / (vocab * 4)));
  const cols = tileRows >= 1 ? vocab : Math.floor(usable / 4);
  if (cols < 1) {
    throw new FWLError(`a logits tile budget of ${budget} bytes is too small`);
  }
  return { rows: Math.max(1, tileRows), cols };
}

/**
 * A binding of the `[·, width]` row-major matrix in `buffer` that covers `rows` rows of
 * columns `v0 .. v0+cols` starting at row `r0`: the whole buffer when `wholeFits`, else
 * the smallest 256-byte-aligned byte range. `base` is the element offset of `(r0, v0)`
 * in the binding (the row stride stays `width`).
 *
 * @throws {FWLError} If that range exceeds `maxBinding` bytes.
 */
export function matrixSpan(
  buffer: GPUBuffer,
  wholeFits: boolean,
  r0: number,
  rows: number,
  v0: number,
  cols: number,
  width: number,
  maxBinding: number,
): { binding: Binding; base: number } {
  const start = r0 * width + v0;
  if (wholeFits) return { binding: buffer, base: start };
  const offset = Math.floor((start * 4) / ALIGN) * ALIGN;
  const end = ((r0 + rows - 1) * width + v0 + cols) * 4;
  const size = end - offset;
  if (size > maxBinding) {
    throw new FWLError(
      `a ${rows}×${cols} tile of a [*, ${width}] matrix spans ${size} bytes, over the ` +
        `device's ${maxBinding}-byte binding limit`,
    );
  }
  return { binding: { buffer, offset, size }, base: start - offset / 4 };
}
