/**
 * Helpers shared by the operations middleware: the matched route pattern and
 * safe header edits on a finished response.
 *
 * @module
 */
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";
import { utf8Length } from "../../storage/_common.ts";

/**
 * The context variables the operations layer reads or sets. Surfaces that
 * want their subject in the request log add `subject` to their own Variables
 * and call `c.set("subject", …)` once they know who is asking.
 */
export interface OpsVariables {
  /** The request id (incoming `X-Request-Id` when sane, else generated). */
  requestId: string;
  /** Who the request acts for, when the surface authenticated it. */
  subject?: string;
  /**
   * Set by a surface that answered a request with credentials it could not
   * accept without a 401 (ggui reads treat them as anonymous): the attempt
   * still spends the failed-authentication budget.
   */
  authFailed?: boolean;
  /**
   * Set by a surface when a request with credentials did only public things
   * (a publish of a public version): the anonymous `/metrics` view counts it.
   */
  publicActivity?: boolean;
}

/**
 * Whether a request carries credentials (`Authorization` or
 * `X-Registry-Token`). One without them can only do what anyone can: the
 * anonymous `/metrics` view counts it (docs/operations.md, Metrics).
 */
export function hasCredentials(headers: Headers): boolean {
  return headers.has("authorization") || headers.has("x-registry-token");
}

/** Mark a request with credentials as public activity (see {@linkcode OpsVariables}). */
export function markPublicActivity(c: Context): void {
  c.set("publicActivity" as never, true as never);
}

/** Whether the anonymous `/metrics` view counts this request. */
export function isPublicActivity(c: Context): boolean {
  return !hasCredentials(c.req.raw.headers) || c.get("publicActivity" as never) === true;
}

/** A Hono env that carries {@linkcode OpsVariables}. */
export interface OpsEnv {
  /** The variables. */
  Variables: OpsVariables;
}

/** What the label `route` says for a request no route matched. */
export const UNMATCHED_ROUTE = "unmatched";

/** Hono's key of the original handler inside a sub-app's error-handling wrapper. */
const COMPOSED_HANDLER = "__COMPOSED_HANDLER";

/**
 * The pattern of the route that matched (`/pkg/:scope/:name`), never the raw
 * path: the route handler that answered, else (a middleware answered) the
 * first route handler after it, else the last matched one; route handlers
 * take `(c)`, middleware `(c, next)`; catch-alls (`*`, `/*`) are skipped.
 * `unmatched` when there is none, so a scan of random URLs cannot blow up the
 * label set.
 */
export function routePattern(c: Context): string {
  let pattern = patterns.get(c);
  if (pattern === undefined) {
    pattern = findRoutePattern(c);
    patterns.set(c, pattern);
  }
  return pattern;
}

/** Patterns already worked out, per request (log and metrics both ask). */
const patterns = new WeakMap<Context, string>();

function findRoutePattern(c: Context): string {
  let routes;
  try {
    routes = matchedRoutes(c);
  } catch {
    return UNMATCHED_ROUTE;
  }
  // The handler that answered is the last one Hono dispatched (a route, or a
  // catch-all 404 registered after it: both match, only one answers).
  const index = c.req.routeIndex;
  const answered = routes[index];
  if (answered && isRoute(answered)) return answered.path;
  // A middleware answered (a 429): the route it stood before, the one Hono
  // would have dispatched next; else any matched route.
  for (let i = index + 1; i < routes.length; i++) {
    if (isRoute(routes[i]!)) return routes[i]!.path;
  }
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    if (isRoute(r)) return r.path;
  }
  return UNMATCHED_ROUTE;
}

/** Whether a matched entry is a route handler (takes no `next`) other than a catch-all. */
function isRoute(r: { path: string; handler: unknown }): boolean {
  const handler = (r.handler as Record<string, unknown>)[COMPOSED_HANDLER] ?? r.handler;
  if (typeof handler === "function" && handler.length >= 2) return false;
  return r.path !== "*" && r.path !== "/*";
}

/**
 * A response with these headers, set one by one on a fresh response. Deno
 * checks a `HeadersInit` passed to `new Response()` several times more slowly
 * than it sets the same headers afterwards (about 1 µs against 0.3 µs a
 * header here; docs/bench.md), and hot routes send ten or more.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeResponse } from "./_common.ts";
 * const res = makeResponse('{"ok":true}', 200, { "content-type": "application/json" });
 * assert.equal(res.headers.get("content-type"), "application/json");
 * ```
 */
export function makeResponse(
  body: BodyInit | null,
  status: number,
  headers: Readonly<Record<string, string>> | Headers,
): Response {
  const res = new Response(body, { status });
  const target = res.headers;
  if (headers instanceof Headers) {
    for (const [k, v] of headers) target.set(k, v);
  } else {
    for (const k in headers) target.set(k, headers[k]!);
  }
  return res;
}

/** The headers of an answer no cache may store, in JSON (`charset=utf-8`: the Rack and admin surfaces'). */
export const NO_STORE_JSON = {
  "content-type": "application/json; charset=utf-8",
  "cache-control": "no-store",
} as const;

/**
 * A JSON answer with its `Content-Length` known from the start: `body` is a
 * value (serialized here), or JSON text or bytes made already; `headers` are
 * the surface's (`NO_STORE_JSON` for most). The stack never has to read a
 * copy of the body to learn its length (what `settleDocumentLength` does for
 * `c.json()`), so a JSON answer costs no more than its serialization.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonResponse, NO_STORE_JSON } from "./_common.ts";
 * const res = jsonResponse({ word: "größe" }, 201, NO_STORE_JSON);
 * assert.equal(res.headers.get("content-length"), "18");
 * assert.equal(res.status, 201);
 * ```
 */
export function jsonResponse(
  body: unknown,
  status: number,
  headers: Readonly<Record<string, string>>,
): Response {
  const payload = body instanceof Uint8Array
    ? body
    : typeof body === "string"
    ? body
    : JSON.stringify(body);
  const length = typeof payload === "string" ? utf8Length(payload) : payload.byteLength;
  const res = makeResponse(payload as BodyInit, status, headers);
  res.headers.set("content-length", String(length));
  return res;
}

/** The type and length of the 200 a 304 stands for. */
export interface Representation {
  /** Its `Content-Type`. */
  type: string;
  /** Its length in bytes. */
  size: number;
}

const represented = new WeakMap<Response, Representation>();

/**
 * A 304 that remembers the 200 it stands for, so compression can give it the
 * `Vary` that 200 would carry (RFC 9110 §15.4.5) without sending the 200's
 * type or length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { notModifiedResponse, representationOf } from "./_common.ts";
 * const res = notModifiedResponse({ etag: '"x"' }, { type: "application/json", size: 2048 });
 * assert.equal(res.status, 304);
 * assert.equal(representationOf(res)?.size, 2048);
 * ```
 */
export function notModifiedResponse(
  headers: Readonly<Record<string, string>>,
  representation: Representation,
): Response {
  const res = makeResponse(null, 304, headers);
  represented.set(res, representation);
  return res;
}

/** The 200 a 304 made by {@linkcode notModifiedResponse} stands for. */
export function representationOf(res: Response): Representation | undefined {
  return represented.get(res);
}

/**
 * Set headers on `c.res` in place; a response with immutable headers (one
 * from `fetch()`) is copied once first. Values `null` delete the header.
 */
export function setResponseHeaders(c: Context, headers: Record<string, string | null>): void {
  try {
    apply(c.res.headers, headers);
  } catch {
    const copy = new Response(c.res.body, c.res);
    apply(copy.headers, headers);
    replaceResponse(c, copy);
  }
}

function apply(target: Headers, headers: Record<string, string | null>): void {
  for (const [k, v] of Object.entries(headers)) {
    if (v === null) target.delete(k);
    else target.set(k, v);
  }
}

/**
 * Replace `c.res` without Hono merging the old response's headers into the new
 * one (its setter does that, which would bring back a stale Content-Length).
 */
export function replaceResponse(c: Context, response: Response): void {
  c.res = undefined;
  c.res = response;
}

/**
 * The response with its body counted as it streams out: `onDone` gets the
 * bytes sent when the body ends (or is cancelled). For bodies of unknown
 * length (compressed as they flow), so bytes served still add up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { countedBody } from "./_common.ts";
 * let sent = 0;
 * const res = countedBody(new Response(new Blob(["hello"]).stream()), (n) => sent = n);
 * assert.equal(await res.text(), "hello");
 * assert.equal(sent, 5);
 * ```
 */
export function countedBody(res: Response, onDone: (bytes: number) => void): Response {
  if (res.body === null) return res;
  let n = 0;
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    onDone(n);
  };
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      n += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush: finish,
    cancel: finish,
  });
  const out = new Response(res.body.pipeThrough(counter), {
    status: res.status,
    statusText: res.statusText,
  });
  for (const [k, v] of res.headers) out.headers.append(k, v);
  return out;
}

/** Add a token to the `Vary` header unless it is already there (or `*`). */
export function appendVary(headers: Headers, token: string): void {
  const current = headers.get("vary");
  if (!current) {
    headers.set("vary", token);
    return;
  }
  const parts = current.split(",").map((p) => p.trim().toLowerCase());
  if (parts.includes("*") || parts.includes(token.toLowerCase())) return;
  headers.set("vary", `${current}, ${token}`);
}

/**
 * Types whose bodies are whole documents (JSON, text, JavaScript, XML), as
 * opposed to streams by nature (NDJSON, server-sent events) or binary data.
 */
const DOCUMENT_RE =
  /^(?:text\/(?!event-stream)|application\/(?:json|javascript|ecmascript|xml|[a-z0-9.+-]*\+(?:json|xml))(?:\s*;|\s*$)|image\/svg\+xml)/i;

/** Whether a content type names a whole document rather than an open-ended stream. */
export function isDocumentType(contentType: string | null): boolean {
  return contentType !== null && DOCUMENT_RE.test(contentType.trim());
}

/**
 * Give a document response of unknown length (what `c.json()` and `c.text()`
 * build) its `Content-Length` by reading it once: for these bodies that is
 * far cheaper than any stream pass-through, and it lets compression skip small
 * bodies and metrics and logs count bytes. Streams by nature (NDJSON, SSE,
 * octets) and encoded bodies are left alone. Answers the length, or `null` when still unknown.
 */
export async function settleDocumentLength(c: Context): Promise<number | null> {
  const res = c.res;
  const length = res.headers.get("content-length");
  if (length !== null) return Number(length);
  if (res.status === 204 || res.status === 304) return 0;
  // A HEAD is answered by the GET route (Hono drops the body afterwards): its
  // body is measured like a GET's, so both carry the same Content-Length.
  // (The method first: reading `res.body` makes Deno build a stream for a
  // string or byte body, which costs more than the whole measurement.)
  if (c.req.method === "HEAD" && res.body === null) return null;
  // Encoded output (compression under way) keeps streaming.
  if (res.headers.has("content-encoding")) return null;
  if (!isDocumentType(res.headers.get("content-type"))) return null;
  const type = res.headers.get("content-type")!;
  // The body is read from a clone (cheap for the string and byte bodies these
  // responses have: a clone shares them) and the length set in place; a new
  // response would cost a copy of every header, which Deno makes slowly.
  const copy = res.clone();
  // JSON is UTF-8 by definition (RFC 8259): reading it as text is the cheapest
  // path for the string bodies c.json() builds. Other documents keep their bytes.
  const size = JSON_RE.test(type) ? utf8Length(await copy.text()) : (await copy.bytes()).byteLength;
  try {
    res.headers.set("content-length", String(size));
  } catch {
    // Immutable headers (a fetched response): one copy with the length.
    const next = new Response(res.body, res);
    next.headers.set("content-length", String(size));
    replaceResponse(c, next);
  }
  return size;
}

const JSON_RE = /^application\/(?:json|[a-z0-9.+-]*\+json)\s*(?:;|$)/i;
