/**
 * Graceful shutdown that lets requests in flight finish. Deno 2.9's
 * `server.shutdown()` stops accepting and waits for responses, but a request
 * whose body is still arriving when it is called loses that body (its reader
 * fails with `BadResource`, so an upload in progress is answered 500). So a
 * stopping server first drains: requests already in flight run to their
 * response, new ones get a 503 with `Retry-After`, and only once none is left
 * (or a grace period has passed) is the listener shut.
 *
 * @module
 */

/** A fetch handler as `Deno.serve` calls it. */
export type ServeHandler = (
  req: Request,
  info: Deno.ServeHandlerInfo<Deno.NetAddr>,
) => Response | Promise<Response>;

/** A handler that can be drained (see {@linkcode drainable}). */
export interface Drainable {
  /** The handler to serve: counts requests in flight, answers 503 once draining. */
  fetch: ServeHandler;
  /**
   * Refuse new requests and resolve once every request in flight has its
   * response, or after `graceMs` (default 10 s), whichever comes first.
   */
  drain(graceMs?: number): Promise<void>;
  /** Requests whose handler has not answered yet. */
  inFlight(): number;
}

/** How long a stopping server waits for requests in flight by default. */
export const DEFAULT_DRAIN_MS = 10_000;

const UNAVAILABLE_BODY = JSON.stringify({
  error: "unavailable",
  code: "unavailable",
  message: "The server is shutting down; retry in a moment",
});

function unavailable(): Response {
  return new Response(UNAVAILABLE_BODY, {
    status: 503,
    headers: {
      "content-type": "application/json",
      "cache-control": "no-store",
      "retry-after": "1",
    },
  });
}

/**
 * Wrap a handler so a shutdown can wait for the requests it is answering.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { drainable } from "./drain.ts";
 * let release = () => {};
 * const d = drainable(() => new Promise<Response>((r) => release = () => r(new Response("ok"))));
 * const info = { remoteAddr: { transport: "tcp", hostname: "127.0.0.1", port: 1 } } as Deno.ServeHandlerInfo<Deno.NetAddr>;
 * const pending = d.fetch(new Request("http://x/"), info);
 * const drained = d.drain();
 * assert.equal((await d.fetch(new Request("http://x/"), info)).status, 503);
 * release();
 * assert.equal(await (await pending).text(), "ok");
 * await drained;
 * assert.equal(d.inFlight(), 0);
 * ```
 */
export function drainable(handler: ServeHandler): Drainable {
  let inFlight = 0;
  let draining = false;
  let idle: (() => void) | undefined;
  const done = () => {
    inFlight--;
    if (draining && inFlight === 0) idle?.();
  };
  return {
    fetch(req, info) {
      if (draining) return unavailable();
      inFlight++;
      let out: Response | Promise<Response>;
      try {
        out = handler(req, info);
      } catch (err) {
        done();
        throw err;
      }
      if (out instanceof Promise) return out.finally(done);
      done();
      return out;
    },
    async drain(graceMs = DEFAULT_DRAIN_MS) {
      draining = true;
      if (inFlight === 0) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise<void>((resolve) => idle = resolve),
        new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
      clearTimeout(timer);
    },
    inFlight: () => inFlight,
  };
}
