/**
 * Response compression by `Accept-Encoding`, streamed through the runtime's
 * `CompressionStream` (`br` when it supports `brotli`, as Deno 2.9 does;
 * `gzip`; `deflate`).
 *
 * ETags: a compressed body is a different representation, so its strong ETag
 * must not be reused. We make it weak (`"<sha>"` → `W/"<sha>"`): the tag still
 * names the content, a later `If-None-Match: W/"<sha>"` still answers 304
 * (GET uses the weak comparison), and `If-Range` never matches it (ranges are
 * served from the identity representation only). When such a 304 goes out we
 * echo the weak form the client holds, so caches can update their entry.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import {
  appendVary,
  replaceResponse,
  representationOf,
  setResponseHeaders,
  settleDocumentLength,
} from "./_common.ts";

/** A content coding we can produce. */
export type Encoding = "br" | "gzip" | "deflate";

/** Options of {@linkcode compress}. */
export interface CompressOptions {
  /** Smallest body (by `Content-Length`) worth compressing (default 1024 bytes). */
  threshold?: number;
  /** Our order of preference on equal client weights (default br, gzip, deflate). */
  encodings?: readonly Encoding[];
}

const FORMAT: Record<Encoding, CompressionFormat> = {
  br: "brotli" as CompressionFormat,
  gzip: "gzip",
  deflate: "deflate",
};

/** Whether this runtime's CompressionStream can produce `encoding`. */
export function canEncode(encoding: Encoding): boolean {
  try {
    new CompressionStream(FORMAT[encoding]);
    return true;
  } catch {
    return false;
  }
}

const COMPRESSIBLE_RE =
  /^(?:text\/(?!event-stream)|application\/(?:json|javascript|ecmascript|xml|x-ndjson|[a-z0-9.+-]*\+(?:json|xml))|image\/svg\+xml)/i;

/** Whether a content type is worth compressing (JSON, text, JavaScript, XML, SVG). */
export function isCompressible(contentType: string | null): boolean {
  return contentType !== null && COMPRESSIBLE_RE.test(contentType.trim());
}

/**
 * The coding to use for an `Accept-Encoding` value: the highest client weight
 * among `supported`, ties broken by the order of `supported`; `null` when the
 * client accepts none of them.
 */
export function negotiateEncoding(
  acceptEncoding: string | null,
  supported: readonly Encoding[],
): Encoding | null {
  if (!acceptEncoding) return null;
  const weights = new Map<string, number>();
  for (const part of acceptEncoding.split(",")) {
    const [name, ...params] = part.trim().toLowerCase().split(";");
    if (!name) continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    weights.set(name.trim(), q);
  }
  let best: Encoding | null = null;
  let bestQ = 0;
  for (const enc of supported) {
    const q = weights.get(enc) ?? weights.get("*") ?? 0;
    if (q > bestQ) {
      best = enc;
      bestQ = q;
    }
  }
  return best;
}

/**
 * Middleware compressing JSON, text and JavaScript bodies of at least
 * `threshold` bytes (and compressible streams of unknown length). Never for
 * 206, 304, other non-200-range answers without a body, responses that
 * already carry `Content-Encoding` or `Content-Range`, `Cache-Control:
 * no-transform`, or other types (images, archives, octet streams). Sets
 * `Content-Encoding` and, when compressed in one pass, the compressed
 * `Content-Length`; drops `Accept-Ranges`, merges `Vary: Accept-Encoding`
 * and weakens a strong ETag (see the module doc).
 * A HEAD describes the identity representation (its length) with the
 * `Vary` a GET carries, and compresses nothing; a 304 gets the GET's `Vary`.
 *
 * @example
 * ```ts ignore
 * app.use(compress());
 * ```
 */
export function compress(options: CompressOptions = {}): MiddlewareHandler {
  const threshold = options.threshold ?? 1024;
  const supported = (options.encodings ?? ["br", "gzip", "deflate"]).filter(canEncode);
  return async function compressMiddleware(c, next) {
    await next();
    await compressResponse(c, threshold, supported);
  };
}

/**
 * Compress `c.res` in place when the request and the response allow it (the
 * body of {@linkcode compress}, callable from a fused middleware).
 */
export async function compressResponse(
  c: Context,
  threshold: number,
  supported: readonly Encoding[],
): Promise<void> {
  const res = c.res;
  if (res.status === 304) return notModified(c, threshold);
  if (res.status < 200 || res.status === 204 || res.status === 206) return;
  const h = res.headers;
  if (h.has("content-encoding") || h.has("content-range")) return;
  if (!isCompressible(h.get("content-type"))) return;
  const cacheControl = h.get("cache-control");
  if (cacheControl !== null && NO_TRANSFORM_RE.test(cacheControl)) return;
  // Documents of unknown length (c.json, c.text) are measured; streams by
  // nature (NDJSON) of a compressible type are compressed as they come.
  const length = await settleDocumentLength(c);
  if (length !== null && length < threshold) return;
  // A HEAD describes the identity representation, with the Vary a GET
  // carries: a compressed length is known only by compressing, and a HEAD
  // without one goes out as `Content-Length: 0` from Deno.serve.
  if (c.req.method === "HEAD") return setVary(c);
  const encoding = negotiateEncoding(c.req.raw.headers.get("accept-encoding"), supported);
  if (encoding === null) {
    setVary(c);
    return;
  }
  const current = c.res;
  if (!current.body) return;
  if (length !== null && length <= MAX_BUFFERED_COMPRESSION) {
    replaceResponse(c, await encodedInFull(current, encoding));
    return;
  }
  replaceResponse(
    c,
    encodedResponse(
      current,
      encoding,
      current.body.pipeThrough(new CompressionStream(FORMAT[encoding])),
    ),
  );
}

/**
 * The largest body compressed in one pass (its compressed length then set);
 * larger ones, and streams of unknown length, are compressed as they flow.
 */
export const MAX_BUFFERED_COMPRESSION = 8 * 1024 * 1024;

/**
 * `res` compressed in one pass, with the compressed `Content-Length` (so
 * bytes served and the log line count it, and clients know the size).
 */
export async function encodedInFull(res: Response, encoding: Encoding): Promise<Response> {
  const bytes = await encodeBytes(await res.bytes(), encoding);
  const out = encodedResponse(res, encoding, bytes as Uint8Array<ArrayBuffer>);
  out.headers.set("content-length", String(bytes.byteLength));
  return out;
}

/**
 * The compressed representation of `res` with `body` (its bytes in
 * `encoding`): `Vary: Accept-Encoding`, `Content-Encoding`, no
 * `Content-Length` or `Accept-Ranges`, a strong ETag made weak. What
 * {@linkcode compressResponse} answers, for callers that compressed the bytes
 * themselves (once, for an immutable body).
 */
export function encodedResponse(res: Response, encoding: Encoding, body: BodyInit): Response {
  // Headers copied one by one: Deno checks a Headers init far more slowly.
  const out = res.statusText
    ? new Response(body, { status: res.status, statusText: res.statusText })
    : new Response(body, { status: res.status });
  const headers = out.headers;
  for (const [k, v] of res.headers) {
    if (k !== "content-length" && k !== "accept-ranges") headers.append(k, v);
  }
  appendVary(headers, "Accept-Encoding");
  headers.set("content-encoding", encoding);
  const etag = headers.get("etag");
  if (etag?.startsWith('"')) headers.set("etag", `W/${etag}`);
  return out;
}

/** A stream of bytes, compressed in `encoding` as it flows. */
export function encodeStream(
  body: ReadableStream<Uint8Array>,
  encoding: Encoding,
): ReadableStream<Uint8Array> {
  return (body as ReadableStream<BufferSource>).pipeThrough(
    new CompressionStream(FORMAT[encoding]),
  );
}

/** All of `bytes` in `encoding`, compressed in one pass (the same bytes the streamed path sends). */
export async function encodeBytes(bytes: Uint8Array, encoding: Encoding): Promise<Uint8Array> {
  const stream = new Response(bytes as Uint8Array<ArrayBuffer>).body!
    .pipeThrough(new CompressionStream(FORMAT[encoding]));
  return await new Response(stream).bytes();
}

function setVary(c: Context): void {
  try {
    appendVary(c.res.headers, "Accept-Encoding");
  } catch {
    const copy = new Response(c.res.body, c.res);
    appendVary(copy.headers, "Accept-Encoding");
    replaceResponse(c, copy);
  }
}

/** On a 304 for `If-None-Match: W/"x"` whose response says `"x"`, answer with the weak form held. */
/**
 * A 304 carries the `Vary` its 200 would (RFC 9110 §15.4.5), and echoes the
 * ETag form the client holds.
 */
function notModified(c: Context, threshold: number): void {
  const etag = echoedEtag(c.res.headers.get("etag"), c.req.raw.headers.get("if-none-match"));
  if (etag !== null) setResponseHeaders(c, { etag });
  if (notModifiedVaries(c.res, threshold)) setVary(c);
}

/**
 * Whether the 200 a 304 stands for varies on `Accept-Encoding` (it would be
 * compressed for some clients); `true` when the 304 does not say what it
 * stands for.
 */
export function notModifiedVaries(res: Response, threshold: number): boolean {
  const representation = representationOf(res);
  if (representation === undefined) return true;
  if (!isCompressible(representation.type)) return false;
  const cacheControl = res.headers.get("cache-control");
  if (cacheControl !== null && NO_TRANSFORM_RE.test(cacheControl)) return false;
  return representation.size >= threshold;
}

/** `Cache-Control: no-transform`: the response must not be recoded. */
export const NO_TRANSFORM_RE: RegExp = /(?:^|,)\s*no-transform\s*(?:,|$)/i;

/**
 * The ETag a 304 should echo when it differs from `etag`: the weak form
 * `W/"x"` when `If-None-Match` holds that and not the strong `"x"` (the
 * client holds the compressed representation); `null` to keep `etag`.
 */
export function echoedEtag(etag: string | null, ifNoneMatch: string | null): string | null {
  if (!etag?.startsWith('"') || !ifNoneMatch) return null;
  let weak = false;
  let strong = false;
  for (const m of ifNoneMatch.matchAll(/(?:W\/)?"[^"]*"/g)) {
    if (m[0] === `W/${etag}`) weak = true;
    else if (m[0] === etag) strong = true;
  }
  return weak && !strong ? `W/${etag}` : null;
}
