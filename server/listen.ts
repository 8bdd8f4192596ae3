/**
 * `listen`: `Deno.serve` with a request-head timeout and an optional cap on
 * connections per peer address.
 *
 * `Deno.serve` (Deno 2.9) has no option to time out a connection that sends
 * its request head slowly or not at all: 400 connections sending one header
 * line a second all stayed open indefinitely. So this accepts connections
 * itself and hands each to the runtime's HTTP server for one connection
 * (`serveHttpOnConnection`, what `Deno.serve` runs on its listener's
 * connections; reached through `Deno[Deno.internal]`, as no public API serves
 * one connection). One sweep, a few times per timeout, counts its rounds
 * (ticks); each connection notes the tick of its last activity (accepted, a
 * request head arrived, an awaited answer ended) and the sweep shuts down
 * every connection with no request in flight and no activity for longer
 * than the timeout: its next request's head has not arrived in time. The
 * same sweep therefore closes idle keep-alive connections. A request is in
 * flight while its handler's promise is pending (reading a body, waiting for
 * the store); a handler that answers at once costs a property write, no
 * promise and no clock read. A response still streaming when its connection
 * is shut down is finished first (the shutdown is graceful); the client then
 * opens a new connection. (A timer per connection, cleared and set again on
 * every request, cost about 8 µs of CPU per request; a completion promise per
 * request cost a few more.)
 *
 * When the runtime does not offer that function (a future Deno), or the
 * timeout is 0 and no cap is set, this is plain `Deno.serve`, and the
 * start-up reports the head timeout as unavailable.
 *
 * @module
 */

/** Options of {@linkcode listen}. */
export interface ListenOptions {
  /** TCP port; 0 picks a free one. */
  port: number;
  /** Listen address. */
  hostname: string;
  /** Aborting it closes the listener and every connection at once. */
  signal?: AbortSignal;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Close a connection whose next request head has not arrived within this many ms (0: never). */
  headerTimeoutMs: number;
  /** Open connections allowed from one peer address; more are closed on accept (0: no limit). */
  maxConnectionsPerAddress?: number;
}

/** A listening server, as `Deno.serve` answers. */
export interface Listening {
  /** The bound address. */
  addr: Deno.NetAddr;
  /** Resolves once the server has stopped. */
  finished: Promise<void>;
  /** Stop accepting, let requests in flight finish, then close every connection. */
  shutdown(): Promise<void>;
  /** Whether request heads are timed out (false: the runtime cannot, see the module doc). */
  headerTimeout: boolean;
}

type ServeOnConnection = (
  conn: Deno.Conn,
  signal: AbortSignal | undefined,
  handler: Deno.ServeHandler<Deno.NetAddr>,
  onError: (error: unknown) => Response,
  onListen: () => void,
) => { finished: Promise<void>; shutdown(): Promise<void> };

/** The runtime's one-connection HTTP server, when it has one. */
function serveOnConnection(): ServeOnConnection | undefined {
  const deno = Deno as unknown as Record<symbol, Record<string, unknown> | undefined>;
  const internal = (Deno as unknown as { internal?: symbol }).internal;
  const fn = internal === undefined ? undefined : deno[internal]?.serveHttpOnConnection;
  return typeof fn === "function" && fn.length === 5 ? fn as ServeOnConnection : undefined;
}

/** What `Deno.serve` answers when a handler throws. */
function internalError(error: unknown): Response {
  console.error(error);
  return new Response("Internal Server Error", { status: 500 });
}

/**
 * Serve `handler` on a TCP port with a request-head timeout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listen } from "./listen.ts";
 * const server = listen({ port: 0, hostname: "127.0.0.1", headerTimeoutMs: 1000 }, () =>
 *   new Response("ok"));
 * const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * assert.equal(await res.text(), "ok");
 * await server.shutdown();
 * ```
 */
export function listen(
  options: ListenOptions,
  handler: Deno.ServeHandler<Deno.NetAddr>,
): Listening {
  const serveOn = serveOnConnection();
  const guarded = options.headerTimeoutMs > 0 || (options.maxConnectionsPerAddress ?? 0) > 0;
  if (serveOn === undefined || !guarded) {
    const server = Deno.serve({
      port: options.port,
      hostname: options.hostname,
      ...(options.signal ? { signal: options.signal } : {}),
      onListen: (addr) => options.onListen?.(addr),
    }, handler);
    return {
      addr: server.addr,
      finished: server.finished,
      shutdown: () => server.shutdown(),
      headerTimeout: false,
    };
  }
  return new GuardedListener(options, handler, serveOn).listening();
}

/** One accepted connection and when it was last active. */
interface Served {
  server: { finished: Promise<void>; shutdown(): Promise<void> };
  abort: AbortController;
  /** Requests whose handler's answer is still pending. */
  inFlight: number;
  /** The sweep's tick of its last activity (accepted, a request, an answer ended). */
  activeTick: number;
  /** The sweep has shut it down. */
  closed: boolean;
}

/** How often the sweep runs: a quarter of the timeout, between 10 ms and 1 s. */
export function sweepPeriodMs(headerTimeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(headerTimeoutMs / 4)));
}

class GuardedListener {
  #options: ListenOptions;
  #handler: Deno.ServeHandler<Deno.NetAddr>;
  #serveOn: ServeOnConnection;
  #listener: Deno.TcpListener;
  #open = new Set<Served>();
  #perAddress = new Map<string, number>();
  #closing = false;
  #accepting: Promise<void>;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /** Sweeps so far: the clock connections note their activity by. */
  #tick = 0;
  #finished: Promise<void>;
  #resolveFinished!: () => void;

  constructor(
    options: ListenOptions,
    handler: Deno.ServeHandler<Deno.NetAddr>,
    serveOn: ServeOnConnection,
  ) {
    this.#options = options;
    this.#handler = handler;
    this.#serveOn = serveOn;
    this.#finished = new Promise<void>((r) => this.#resolveFinished = r);
    this.#listener = Deno.listen({ port: options.port, hostname: options.hostname });
    options.signal?.addEventListener("abort", () => this.#abort(), { once: true });
    this.#accepting = this.#acceptLoop();
    const ms = options.headerTimeoutMs;
    if (ms > 0) {
      const period = sweepPeriodMs(ms);
      // Idle for more than this many whole periods: more than the timeout.
      const ticks = Math.ceil(ms / period);
      this.#sweeper = setInterval(() => this.#sweep(ticks), period);
    }
    options.onListen?.(this.#listener.addr);
  }

  /** Shut down every connection idle for more than `ticks` sweep periods. */
  #sweep(ticks: number): void {
    const tick = ++this.#tick;
    for (const s of this.#open) {
      if (s.inFlight === 0 && !s.closed && tick - s.activeTick > ticks) {
        s.closed = true;
        s.server.shutdown().catch(() => {});
      }
    }
  }

  listening(): Listening {
    return {
      addr: this.#listener.addr,
      finished: this.#finished,
      shutdown: () => this.#shutdown(),
      headerTimeout: this.#options.headerTimeoutMs > 0,
    };
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closing || err instanceof Deno.errors.BadResource) return;
        // Out of file descriptors and the like: wait a little, keep serving.
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      this.#serve(conn);
    }
  }

  #serve(conn: Deno.TcpConn): void {
    const peer = conn.remoteAddr.hostname;
    const cap = this.#options.maxConnectionsPerAddress ?? 0;
    const count = (this.#perAddress.get(peer) ?? 0) + 1;
    if (cap > 0 && count > cap) {
      conn.close();
      return;
    }
    this.#perAddress.set(peer, count);
    const served: Served = {
      abort: new AbortController(),
      inFlight: 0,
      activeTick: this.#tick,
      closed: false,
    } as Served;
    const settled = () => {
      served.inFlight--;
      served.activeTick = this.#tick;
    };
    served.server = this.#serveOn(
      conn,
      served.abort.signal,
      (req, info) => {
        served.activeTick = this.#tick;
        const answer = this.#handler(req, info);
        // Only a pending answer is in flight (its body may still be read).
        if (answer instanceof Promise) {
          served.inFlight++;
          info.completed.then(settled, settled);
        }
        return answer;
      },
      internalError,
      () => {},
    );
    this.#open.add(served);
    served.server.finished.catch(() => {}).finally(() => {
      this.#open.delete(served);
      const left = (this.#perAddress.get(peer) ?? 1) - 1;
      if (left > 0) this.#perAddress.set(peer, left);
      else this.#perAddress.delete(peer);
    });
  }

  #shutdown(): Promise<void> {
    if (this.#closing) return this.#finished;
    this.#closing = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    clearInterval(this.#sweeper);
    const open = [...this.#open];
    void Promise.all([
      this.#accepting,
      ...open.map((s) => s.server.shutdown().catch(() => {})),
    ]).then(() => this.#resolveFinished());
    return this.#finished;
  }

  #abort(): void {
    for (const s of this.#open) s.abort.abort();
    void this.#shutdown();
  }
}
