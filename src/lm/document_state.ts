/**
 * `DocumentState`: what a language model carries from one window of a batch of documents
 * to the next — the head's fast-weight state (docs/definition.md §3, §6) and, when the body can carry
 * its own (`initState` + `forwardFrom`), the body's — so that training (and scoring) read
 * long documents in consecutive windows, with gradients inside each window.
 *
 * @module
 */

import type { BodyState, ModelBody } from "../bodies/model_body.ts";
import { FWLStateError } from "../errors.ts";
import type { FWLBlock } from "../fwl/block.ts";
import type { FWLState } from "../fwl/state.ts";
import { checkSequences } from "../util/validate.ts";

/**
 * The carried state of `batchSize` documents read side by side, one row each: the
 * head's fast weights (absent for a plain head) and the body's state (absent for a body
 * that can't carry one, such as a transformer, which then reads each window on its own).
 * Made by `lm.documentState(batchSize)`; `lm.trainStep(tokens, opt, { state })` reads and
 * advances it. `reset()` starts every row's document again, `reset([b, …])` some rows';
 * `dispose()` frees the GPU memory.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { Adam, LanguageModel, LSTMBody, tensor } from "@x/fwl";
 * const body = await LSTMBody.create({ vocabSize: 16, embedSize: 8, hiddenSize: 8 });
 * using lm = await LanguageModel.create(body, { vocabSize: 16, headSize: 4 });
 * const opt = new Adam(lm.context, lm.parameters(), { lr: 3e-3 });
 * using state = lm.documentState(2);
 * const doc = Int32Array.from({ length: 2 * 25 }, (_, i) => (i * 7) % 16);
 * for (let t0 = 0; t0 + 1 < 25; t0 += 8) { // windows of 8 predictions, overlapping by one token
 *   const rows = [0, 1].map((b) => doc.slice(b * 25 + t0, b * 25 + Math.min(25, t0 + 9)));
 *   const window = tensor(Int32Array.from(rows.flatMap((r) => [...r])), [2, rows[0].length]);
 *   await lm.trainStep(window, opt, { state });
 * }
 * assertEquals([state.position, state.carriesBody], [24, true]);
 * opt.dispose();
 * ```
 */
export class DocumentState {
  /** Number of documents read side by side. */
  readonly batchSize: number;
  /** The head's fast-weight state, or `undefined` for a plain head. */
  readonly head: FWLState | undefined;
  #body: BodyState | undefined;
  readonly #model: ModelBody;
  #position = 0;
  #disposed = false;

  /**
   * Use `lm.documentState(batchSize)`.
   *
   * @param body the model's body (its state is carried when it has `initState` and `forwardFrom`)
   * @param head the model's head, or `undefined` for a plain head
   * @param batchSize number of documents
   * @param normalizer a fixed normalizer for the head's state instead of the head's own
   */
  constructor(
    body: ModelBody,
    head: FWLBlock | undefined,
    batchSize: number,
    normalizer?: number,
  ) {
    this.batchSize = batchSize;
    this.#model = body;
    this.head = head?.state(batchSize, normalizer === undefined ? {} : { normalizer });
    try {
      this.#body = carriesBody(body) ? body.initState!(batchSize) : undefined;
    } catch (e) {
      this.head?.dispose();
      throw e;
    }
  }

  /** Whether the body's state is carried (the body has `initState` and `forwardFrom`). */
  get carriesBody(): boolean {
    return this.#body !== undefined;
  }

  /**
   * The body's state, for the model's own use.
   *
   * @throws {FWLStateError} If the state was disposed.
   */
  get body(): BodyState | undefined {
    this.#live("body");
    return this.#body;
  }

  /** Positions read since every row last started (0 after `reset()`). */
  get position(): number {
    return this.#position;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Records that every row read `positions` more (the model's own use). */
  advance(positions: number): void {
    this.#position += positions;
  }

  /**
   * Back to the start of a document: every row, or only `sequences` (row indices), e.g.
   * the rows whose document ended. A body state without its own `reset` can only restart
   * every row at once.
   *
   * @throws {FWLStateError} If the state was disposed, or if only some rows are asked for
   *   and the body's state can't restart some rows only.
   * @throws {FWLInputError} If `sequences` are no distinct row indices.
   */
  reset(sequences?: readonly number[]): void {
    const where = "DocumentState.reset";
    this.#live("reset");
    const rows = sequences === undefined
      ? undefined
      : checkSequences(where, "sequences", sequences, this.batchSize);
    const all = rows === undefined || rows.length === this.batchSize;
    const body = this.#body;
    if (body && !all && typeof body.reset !== "function") {
      throw new FWLStateError(
        `${where}: the body's state can't restart some rows only (its state has no ` +
          "reset(sequences)); restart every row with reset()",
      );
    }
    this.head?.reset(all ? undefined : rows);
    if (body) {
      if (typeof body.reset === "function") body.reset(all ? undefined : rows);
      else {
        body.dispose();
        this.#body = this.#model.initState!(this.batchSize);
      }
    }
    if (all) this.#position = 0;
  }

  /** Releases the head's and the body's states. Idempotent. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.head?.dispose();
    this.#body?.dispose();
    this.#body = undefined;
  }

  /** `using state = lm.documentState(B)` disposes at the end of the scope. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  #live(what: string): void {
    if (this.#disposed) throw new FWLStateError(`DocumentState.${what}: the state was disposed`);
  }
}

/** Whether a body can carry its state from one window to the next. */
export function carriesBody(body: ModelBody): boolean {
  return typeof body.forwardFrom === "function" && typeof body.initState === "function";
}
