// The whole registry app over given stores, with one token (`tok-alice`, the
// subject `alice`) and every budget off: for tests that drive several surfaces
// in process.
import assert from "node:assert/strict";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";

/** The app over `storage` and `bundles`; `admin` makes alice a global admin. */
export function makeAliceApp(
  stores: { storage: RegistryStorage; bundles: BundleStorage },
  options: { admin?: boolean } = {},
): RegistryApp {
  return createRegistryApp({
    ...stores,
    clock: () => new Date(),
    authenticator: {
      authenticate: (t) =>
        Promise.resolve(
          t === "tok-alice" ? { subject: "alice", admin: options.admin ?? false } : null,
        ),
    },
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
  });
}

/**
 * Everything a client sees of a response: its status, every header (sorted
 * by name) and its body bytes in hex, for byte-equality assertions between
 * two paths that must answer alike.
 */
export async function seenByClient(
  res: Response,
): Promise<{ status: number; headers: [string, string][]; body: string }> {
  const bytes = await res.bytes();
  return {
    status: res.status,
    headers: [...res.headers].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
    body: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""),
  };
}

/** The connection in-process requests claim to come from. */
export const TEST_CONNECTION = {
  remoteAddr: { hostname: "192.0.2.7", port: 4000, transport: "tcp" },
};

/**
 * Send the same request to two apps (the prepared-read path on and off),
 * assert that a client sees the same from both, and answer what it saw.
 */
export async function sameFromBoth(
  pair: { fast: RegistryApp; slow: RegistryApp },
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
): Promise<{ status: number; headers: [string, string][]; body: string }> {
  const request = () =>
    new Request(`http://registry.test${path}`, {
      method,
      headers: { "x-request-id": "req-1", ...headers },
    });
  const a = await seenByClient(await pair.fast.fetch(request(), TEST_CONNECTION));
  const b = await seenByClient(await pair.slow.fetch(request(), TEST_CONNECTION));
  assert.deepEqual(a, b, `${method} ${path} ${JSON.stringify(headers)}`);
  return a;
}

/**
 * Each request shape a client sends (plain twice, compressed twice, HEAD,
 * If-None-Match, Range), as `who`, through {@linkcode sameFromBoth}; answers
 * the plain one.
 */
export async function everyShapeFromBoth(
  pair: { fast: RegistryApp; slow: RegistryApp },
  path: string,
  who: Record<string, string> = {},
): Promise<{ status: number; headers: [string, string][]; body: string }> {
  const plain = await sameFromBoth(pair, path, who);
  await sameFromBoth(pair, path, who); // a second time: from what the first prepared
  await sameFromBoth(pair, path, { ...who, "accept-encoding": "gzip, br" });
  await sameFromBoth(pair, path, { ...who, "accept-encoding": "gzip, br" });
  await sameFromBoth(pair, path, who, "HEAD");
  const etag = plain.headers.find(([k]) => k === "etag")?.[1];
  if (etag) await sameFromBoth(pair, path, { ...who, "if-none-match": etag });
  await sameFromBoth(pair, path, { ...who, range: "bytes=0-3" });
  return plain;
}
