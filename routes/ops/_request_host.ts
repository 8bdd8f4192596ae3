// The address a client used to reach the server, for links it gets back (blob
// URLs, install commands) when the operator configured none: `Host`, or the
// first `X-Forwarded-Host`/`-Proto` when --trust-proxy says a proxy sets them.

import { requestHeader } from "./_request_header.ts";

/** A host name, IPv4 or bracketed IPv6 address, and an optional port: nothing else goes into a URL. */
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * `{ origin: "https://registry.example", host: "registry.example" }` for a
 * request, or `undefined` when its host is missing or malformed (the caller
 * keeps its static fallback).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestOrigin } from "./_request_host.ts";
 * const req = new Request("http://0.0.0.0:9001/pkg", { headers: { host: "reg.lan:9001" } });
 * assert.deepEqual(requestOrigin(req, false), { origin: "http://reg.lan:9001", host: "reg.lan:9001" });
 * ```
 */
export function requestOrigin(
  req: Request,
  trustProxy: boolean | number,
): { origin: string; host: string } | undefined {
  const url = req.url;
  // The URL is parsed only without a Host header (an HTTP/1.0 client): a
  // serialized request URL starts with its scheme, lowercase.
  let host = requestHeader(req, "host") ?? new URL(url).host;
  let proto = url.startsWith("https:") ? "https" : "http";
  if (trustProxy !== false && trustProxy !== 0) {
    const forwardedHost = req.headers.get("x-forwarded-host")?.split(",")[0]?.trim();
    if (forwardedHost) host = forwardedHost;
    const forwardedProto = req.headers.get("x-forwarded-proto")?.split(",")[0]?.trim()
      .toLowerCase();
    if (forwardedProto === "http" || forwardedProto === "https") proto = forwardedProto;
  }
  if (!HOST_RE.test(host)) return undefined;
  return { origin: `${proto}://${host}`, host };
}
