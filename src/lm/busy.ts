/**
 * The guard of a model that runs one call at a time: it knows whether the model was
 * disposed and whether a call (or an open generate loop) is running, and throws the
 * model's {@linkcode FWLStateError} when a call comes at the wrong time.
 *
 * @module
 */

import { FWLStateError } from "../errors.ts";

/**
 * One call at a time on a model, and none after `dispose`.
 *
 * @example
 * ```ts
 * import { assertEquals, assertRejects, assertThrows } from "@std/assert";
 * import { FWLStateError } from "@x/fwl";
 * import { CallGuard } from "./busy.ts";
 * const guard = new CallGuard("Model");
 * const gate = Promise.withResolvers<void>();
 * const first = guard.run("score", () => gate.promise);
 * await assertRejects(() => guard.run("score", async () => {}), FWLStateError, "still running");
 * gate.resolve();
 * await first;
 * assertEquals(await guard.run("score", async () => 7), 7); // free again
 * assertEquals([guard.dispose(), guard.dispose()], [true, false]);
 * assertThrows(() => guard.live("score"), FWLStateError, "Model.score: the model was disposed");
 * ```
 */
export class CallGuard {
  /** The model's name in error messages, such as `"LanguageModel"`. */
  readonly owner: string;
  #busy = false;
  #disposed = false;

  /** @param owner the model's name in error messages */
  constructor(owner: string) {
    this.owner = owner;
  }

  /** Whether the model was disposed. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Marks the model disposed; `false` if it already was. */
  dispose(): boolean {
    if (this.#disposed) return false;
    this.#disposed = true;
    return true;
  }

  /**
   * Throws if the model was disposed.
   *
   * @throws {FWLStateError} If the model was disposed.
   */
  live(what: string): void {
    if (this.#disposed) throw new FWLStateError(`${this.owner}.${what}: the model was disposed`);
  }

  /**
   * Marks the model busy.
   *
   * @throws {FWLStateError} If the model was disposed or is busy.
   */
  enter(what: string): void {
    this.live(what);
    if (this.#busy) {
      throw new FWLStateError(
        `${this.owner}.${what}: another call on this model is still running (or a generate ` +
          `loop is open); await it first`,
      );
    }
    this.#busy = true;
  }

  /** Marks the model free again. */
  leave(): void {
    this.#busy = false;
  }

  /**
   * Runs `fn` with the model marked busy.
   *
   * @throws {FWLStateError} If the model was disposed or is busy.
   */
  async run<R>(what: string, fn: () => Promise<R>): Promise<R> {
    this.enter(what);
    try {
      return await fn();
    } finally {
      this.leave();
    }
  }
}
