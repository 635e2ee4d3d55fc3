// A minimal Chrome DevTools Protocol client over Deno's built-in WebSocket: commands
// with replies, events by name, and evaluation of a page expression that returns a
// promise (awaited in the page, the value returned as JSON).

/** What a failed command or a page exception reports. */
export class CDPError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CDPError";
  }
}

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void };

/** One WebSocket connection to a DevTools target (a page). */
export class CDPSession {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Map<string, ((params: Record<string, unknown>) => void)[]>();
  #next = 1;
  #closed: Error | undefined;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      const msg = JSON.parse(String(e.data));
      if (typeof msg.id === "number") {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new CDPError(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result ?? {});
      } else if (typeof msg.method === "string") {
        for (const f of this.#listeners.get(msg.method) ?? []) f(msg.params ?? {});
      }
    };
    ws.onclose = () => this.#fail(new CDPError("the DevTools connection closed"));
  }

  /** Connects to a target's `webSocketDebuggerUrl`. */
  static connect(url: string): Promise<CDPSession> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new CDPSession(ws));
      ws.onerror = () => reject(new CDPError(`cannot connect to ${url}`));
    });
  }

  /** Sends a command and waits for its result. */
  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Calls `f` on every event named `method`. */
  on(method: string, f: (params: Record<string, unknown>) => void): void {
    this.#listeners.set(method, [...(this.#listeners.get(method) ?? []), f]);
  }

  /**
   * Evaluates `expression` in the page, awaits the promise it returns and gives back its
   * value (JSON-serializable). A rejection or exception becomes a {@linkcode CDPError}.
   */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    });
    const ex = r.exceptionDetails as
      | { text?: string; exception?: { description?: string } }
      | undefined;
    if (ex) throw new CDPError(ex.exception?.description ?? ex.text ?? "page exception");
    return (r.result as { value: T }).value;
  }

  /** Closes the connection; pending commands are rejected. */
  close(): void {
    this.#fail(new CDPError("closed"));
    try {
      this.#ws.close();
    } catch { /* already closed */ }
  }

  #fail(e: Error): void {
    this.#closed ??= e;
    for (const p of this.#pending.values()) p.reject(e);
    this.#pending.clear();
  }
}
