// Start the real server (main.ts) in a child process on a real port, as a user
// would, and stop it with a signal.
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/** A running `main.ts`. */
export interface RunningServer {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** The child's process id (its /proc entry, for memory figures). */
  pid: number;
  /** Everything it printed so far on stdout and stderr. */
  output(): string;
  /** SIGTERM and wait; resolves to the exit code. */
  stop(): Promise<number>;
  /** SIGKILL and wait (a crash). */
  kill(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Run `main.ts` with flags (port 0 and host 127.0.0.1 are added) and wait for its startup line. */
export async function startServer(
  args: string[],
  options: {
    env?: Record<string, string>;
    denoFlags?: string[];
    cwd?: string;
    /** Pass no flags of our own (configure through `env`, as on Deno Deploy). */
    noFlags?: boolean;
    /**
     * Pass `--init` (default true): tests start fresh stores at paths that do
     * not exist yet, which main.ts creates only when asked.
     */
    init?: boolean;
  } = {},
): Promise<RunningServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(options.denoFlags ?? ["-A", "--unstable-kv"]),
      MAIN,
      ...(options.noFlags ? [] : ["--port=0", "--host=127.0.0.1"]),
      ...(options.noFlags || options.init === false ? [] : ["--init"]),
      ...args,
    ],
    env: { NO_COLOR: "1", ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  let resolveUrl: (url: string) => void;
  let rejectUrl: (err: Error) => void;
  const urlPromise = new Promise<string>((res, rej) => {
    resolveUrl = res;
    rejectUrl = rej;
  });
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) {
      text += decoder.decode(chunk, { stream: true });
      const m = /registry-server listening on (http:\/\/\S+)/.exec(text);
      if (m) resolveUrl(m[1]!);
    }
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const status = child.status;
  status.then((s) =>
    rejectUrl(new Error(`server exited with ${s.code} before listening:\n${text}`))
  );
  const timer = setTimeout(
    () => rejectUrl(new Error(`server did not start in 30 s:\n${text}`)),
    30_000,
  );
  let url: string;
  try {
    url = await urlPromise;
  } catch (err) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await status;
    await pumps;
    throw err;
  } finally {
    clearTimeout(timer);
  }
  let done = false;
  const wait = async () => {
    const s = await status;
    await pumps;
    done = true;
    return s.code;
  };
  const kill = async () => {
    if (!done) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
    }
    await wait();
  };
  return {
    url,
    pid: child.pid,
    output: () => text,
    async stop() {
      if (!done) {
        try {
          child.kill("SIGTERM");
        } catch { /* gone */ }
      }
      return await wait();
    },
    kill,
    [Symbol.asyncDispose]: kill,
  };
}

/**
 * A request body sent in `pieces` slow pieces, `ms` apart: a request still
 * arriving while something else happens (a shutdown, say).
 */
export function slowBody(text: string, pieces = 10, ms = 50): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const step = Math.ceil(bytes.byteLength / pieces);
  let at = 0;
  return new ReadableStream({
    async pull(controller) {
      if (at >= bytes.byteLength) return controller.close();
      await new Promise((r) => setTimeout(r, ms));
      controller.enqueue(bytes.slice(at, at += step));
    },
  });
}

/**
 * A `POST /conformance/check` whose body arrives slowly (~0.5 s), started
 * now: resolves with the answer, once the server has read the whole body.
 */
export function slowConformanceCheck(baseUrl: string): Promise<Response> {
  const manifest = { kind: "gadget", scope: "@acme", name: "map", version: "1.0.0" };
  return fetch(`${baseUrl}/conformance/check`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: slowBody(JSON.stringify({ manifest, bundle: "export const x = 1;".repeat(50) })),
    duplex: "half",
  } as RequestInit);
}
