// Bundles a browser entry point with `deno bundle --platform browser` and serves static
// pages on 127.0.0.1. Run directly (`deno task web`) it serves the demo page of this
// folder; tests/browser/run.ts uses the same two functions for the browser test suite.
//
//   deno task web                 http://127.0.0.1:8000/ (or the next free port)
//   deno task web --port 9000

const HERE = new URL("./", import.meta.url);

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".png": "image/png",
};

/**
 * Bundles `entry` (a TypeScript module) into one browser ES module and returns its text.
 * Throws with `deno bundle`'s own output when bundling fails.
 */
export async function bundle(entry: URL, signal?: AbortSignal): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fwl-bundle-" });
  try {
    const out = `${dir}/bundle.js`;
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "-o", out, entry.pathname],
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
      signal,
    }).output();
    if (code !== 0) {
      throw new Error(`deno bundle ${entry.pathname} failed:\n${new TextDecoder().decode(stderr)}`);
    }
    return await Deno.readTextFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A served file: a path on disk, or text made in memory (a bundle). */
export type Route = URL | { text: string; type: string };

/** A running static server; `close()` stops it. */
export interface StaticServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  close(): Promise<void>;
}

/**
 * Serves `routes` (request path → file or text) on 127.0.0.1 — a secure context, so
 * pages get `navigator.gpu`. `port` 0 picks a free port.
 */
export function serveStatic(routes: Record<string, Route>, port = 0): StaticServer {
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    const route = routes[new URL(req.url).pathname];
    if (!route) return new Response("not found", { status: 404 });
    const headers = { "cache-control": "no-store" };
    if (route instanceof URL) {
      const ext = route.pathname.slice(route.pathname.lastIndexOf("."));
      const body = await Deno.readFile(route);
      return new Response(body, {
        headers: { ...headers, "content-type": TYPES[ext] ?? "application/octet-stream" },
      });
    }
    return new Response(route.text, { headers: { ...headers, "content-type": route.type } });
  });
  return {
    origin: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

/** The demo's routes under `prefix` ("/" when served alone): its page and its bundle. */
export async function demoRoutes(
  prefix = "/",
  signal?: AbortSignal,
): Promise<Record<string, Route>> {
  return {
    [prefix]: new URL("index.html", HERE),
    [`${prefix}app.js`]: {
      text: await bundle(new URL("app.ts", HERE), signal),
      type: TYPES[".js"],
    },
  };
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--port");
  const wanted = i >= 0 ? Number(Deno.args[i + 1]) : 8000;
  const routes = await demoRoutes();
  let server: StaticServer | undefined;
  for (let port = wanted; !server && port < wanted + 20; port++) {
    try {
      server = serveStatic(routes, port);
    } catch (e) {
      if (!(e instanceof Deno.errors.AddrInUse)) throw e;
    }
  }
  if (!server) throw new Error(`no free port in ${wanted}–${wanted + 19}`);
  console.log(`FWL demo: ${server.origin}/  (Ctrl-C stops it)`);
  console.log("Open it in a browser with WebGPU (Chrome, Edge, Safari; Firefox with WebGPU on).");
}
