/**
 * Request headers read one at a time, without making the request's `Headers`.
 *
 * A request `Deno.serve` hands over asks the runtime for a header only when
 * it is read. Touching `req.headers` at all, though, makes the runtime copy
 * every header of the request into JavaScript once the response is given
 * (so they outlive it) and answer that response through a promise; reading
 * one with `has()` lists and lowercases them all at once. On a hot read
 * that answers from memory that was a measurable share of the request's
 * cost (docs/bench.md, #17). {@linkcode requestHeader} asks the runtime for
 * the one header instead, through the request's inner record, which answers
 * exactly what `req.headers.get()` would (repeated headers joined with `, `,
 * names in any case). Any other request (built in process, or by a runtime
 * without that record) is read through `req.headers`.
 *
 * @module
 */

/** The inner record of a server request: it reads one header from the runtime. */
interface InnerRequest {
  header(name: string): string | null;
}

/** The key of a request's inner record (`undefined`: not looked for yet; `null`: none). */
let innerKey: symbol | null | undefined;

function innerOf(req: Request): InnerRequest | undefined {
  if (innerKey === undefined) {
    innerKey = Object.getOwnPropertySymbols(req).find((s) => s.description === "request") ?? null;
  }
  if (innerKey === null) return undefined;
  const inner = (req as unknown as Record<symbol, Partial<InnerRequest> | undefined>)[innerKey];
  return typeof inner?.header === "function" ? inner as InnerRequest : undefined;
}

/**
 * The value of header `name` (lowercase) of a request, as `req.headers.get(name)`
 * answers it, without making `req.headers` when the runtime can read it alone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestHeader } from "./_request_header.ts";
 * const req = new Request("http://x/", { headers: { "X-Request-Id": "abc" } });
 * assert.equal(requestHeader(req, "x-request-id"), "abc");
 * assert.equal(requestHeader(req, "range"), null);
 * ```
 */
export function requestHeader(req: Request, name: string): string | null {
  const inner = innerOf(req);
  if (inner !== undefined) {
    try {
      return inner.header(name);
    } catch {
      // The runtime has let the request go: its copied headers answer.
    }
  }
  return req.headers.get(name);
}

/** What reads headers one by one: `Headers` itself, or {@linkcode headerReader}'s answer. */
export interface HeaderReader {
  /** The value of a header (`null` when absent), as `Headers.get` answers it. */
  get(name: string): string | null;
}

/** A {@linkcode HeaderReader} over a request's headers, read by {@linkcode requestHeader}. */
export function headerReader(req: Request): HeaderReader {
  return { get: (name) => requestHeader(req, name) };
}

/**
 * Whether a request carries credentials (`Authorization` or
 * `X-Registry-Token`), read by {@linkcode requestHeader}.
 */
export function requestHasCredentials(req: Request): boolean {
  return requestHeader(req, "authorization") !== null ||
    requestHeader(req, "x-registry-token") !== null;
}
