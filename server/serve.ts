/**
 * `createRegistryServer`: the registry app listening with `Deno.serve`.
 *
 * @module
 */
import { createRegistryApp, type RegistryAppOptions } from "../routes/app.ts";
import { drainable } from "./drain.ts";
import { listen } from "./listen.ts";

/** Default of {@linkcode RegistryServerOptions.headerTimeoutMs}. */
export const DEFAULT_HEADER_TIMEOUT_MS = 10_000;

/** Options of {@linkcode createRegistryServer}: the app's, plus where to listen. */
export interface RegistryServerOptions
  extends Omit<RegistryAppOptions, "bundleHost" | "registryHostname"> {
  /** TCP port; 0 (the default) picks a free one. */
  port?: number;
  /** Listen address (default 127.0.0.1). */
  hostname?: string;
  /** Prefix of blob URLs (default `http://<hostname>:<port>`). */
  bundleHost?: string;
  /** `host[:port]` in install commands (default `<hostname>:<port>`). */
  registryHostname?: string;
  /** Aborting it shuts the server down. */
  signal?: AbortSignal;
  /**
   * Close a connection that has not sent a whole request head this long after
   * it opened or after its last response (default 10 000 ms; 0: never). See
   * server/listen.ts.
   */
  headerTimeoutMs?: number;
  /** Open connections allowed from one peer address; more are closed at once (default 0: no limit). */
  maxConnectionsPerAddress?: number;
}

/** A listening registry. */
export interface RegistryServer {
  /** The base URL, e.g. `http://127.0.0.1:43123`. */
  url: string;
  /** The bound port. */
  port: number;
  /** Resolves when the server has shut down. */
  finished: Promise<void>;
  /**
   * Refuse new requests (503), let those in flight finish (up to 10 s), then
   * stop listening and resolve.
   */
  shutdown(): Promise<void>;
  /** Same as {@linkcode RegistryServer.shutdown}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Start a registry on a real port.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRegistryServer, MemoryBundleStorage, MemoryRegistryStorage } from "../mod.ts";
 * await using server = createRegistryServer({
 *   storage: new MemoryRegistryStorage(),
 *   bundles: new MemoryBundleStorage(),
 * });
 * const res = await fetch(`${server.url}/healthz`);
 * assert.ok((await res.json()).ok === true);
 * ```
 */
export function createRegistryServer(options: RegistryServerOptions): RegistryServer {
  const hostname = options.hostname ?? "127.0.0.1";
  // Requests cannot arrive before this function returns, so `app` is set in time.
  const server = listen({
    port: options.port ?? 0,
    hostname,
    ...(options.signal ? { signal: options.signal } : {}),
    headerTimeoutMs: options.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS,
    maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? 0,
  }, (req, info) => drain.fetch(req, info));
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const hostPort = `${host === "0.0.0.0" ? "localhost" : host}:${server.addr.port}`;
  const app = createRegistryApp({
    ...options,
    bundleHost: options.bundleHost ?? `http://${hostPort}`,
    registryHostname: options.registryHostname ?? hostPort,
  });
  // Requests in flight run to their response before the listener shuts (see drain.ts).
  const drain = drainable((req, info) => app.fetch(req, info));
  let closing: Promise<void> | undefined;
  const shutdown = () => closing ??= drain.drain().then(() => server.shutdown());
  return {
    url: `http://${hostPort}`,
    port: server.addr.port,
    finished: server.finished,
    shutdown,
    [Symbol.asyncDispose]: shutdown,
  };
}
