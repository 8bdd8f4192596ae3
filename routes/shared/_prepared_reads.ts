/**
 * The prepared-read path: GET and HEAD requests that a route-table row
 * answers with a prepared read (`_route_table.ts` `prepared`, matched by
 * `preparedMatcher` over the mounted tables) are answered without Hono's
 * dispatch, with the same operations stack as every other request (the
 * shared {@linkcode OpsCore}: rate limits and their headers, request id and
 * log line, latency histogram with the route pattern, bytes served) and the
 * same compression.
 *
 * Every answer is the one the Hono routes give, header for header and byte for
 * byte (tests/fast_reads_test.ts and tests/prepared_reads_test.ts compare them). Whenever anything is
 * unusual (a refused client, a 401, an error, a body of unknown length) the
 * fast path declines and hands the request, with what the stack already
 * decided, to the Hono app, which finishes it exactly once.
 *
 * Immutable representations are built once: a surface marks an answer with a
 * `key` when the response is fully determined by it (a frozen read result, a
 * content-addressed blob), and the compressed and `Vary`-extended forms of
 * that response are kept, finished, and cloned for later requests.
 *
 * @module
 */
import {
  echoedEtag,
  encodedInFull,
  encodedResponse,
  encodeStream,
  type Encoding,
  isCompressible,
  MAX_BUFFERED_COMPRESSION,
  negotiateEncoding,
  NO_TRANSFORM_RE,
  notModifiedVaries,
} from "../ops/_compress.ts";
import { appendVary, countedBody } from "../ops/_common.ts";
import { requestHeader } from "../ops/_request_header.ts";
import type { OpsCore, OpsStart } from "../ops/_stack.ts";
import type { FastAnswer, FastMatcher, FastRoute } from "./_route_table.ts";
import { type BlobResponseOptions, respondWithBlob } from "./_blob_response.ts";

export type { FastAnswer, FastMatcher, FastRoute } from "./_route_table.ts";

/** Options of {@linkcode fastReads}. */
export interface FastReadsOptions {
  /** The operations stack the Hono app mounts. */
  ops: OpsCore;
  /** The client key (IP) of a request and its connection info. */
  clientKey: (req: Request, connection: unknown) => string;
  /** Whether the stack limits at all (else the client key is not worked out). */
  limits: boolean;
  /** The surfaces' fast routes. */
  match: FastMatcher;
  /** The Hono app's fetch: answers everything else. */
  fallback: (req: Request, connection?: unknown) => Response | Promise<Response>;
  /** Bytes of compressed representations kept (default 32 MiB). */
  encodedCacheBytes?: number;
}

/** Most kept representations (the byte budget bounds the compressed ones). */
const MAX_ENCODED_ENTRIES = 20_000;

/** The path of a request URL; `null` when it needs decoding (`%`). */
export function pathOf(url: string): string | null {
  const start = url.indexOf("/", url.indexOf(":") + 3);
  if (start < 0) return null;
  // Native scans: a request URL is ASCII, and most have no query.
  let end = url.indexOf("?", start);
  const hash = url.indexOf("#", start);
  if (end < 0 || (hash >= 0 && hash < end)) end = hash;
  if (end < 0) end = url.length;
  const percent = url.indexOf("%", start);
  return percent >= 0 && percent < end ? null : url.slice(start, end);
}

/**
 * Wrap a Hono app's fetch with the fast path.
 *
 * @example
 * ```ts ignore
 * const fetch = fastReads({ ops, clientKey, limits: true, match, fallback: app.fetch });
 * Deno.serve(fetch);
 * ```
 */
export function fastReads(
  options: FastReadsOptions,
): (req: Request, connection?: unknown) => Response | Promise<Response> {
  const path = new FastReadPath(options);
  return (req, connection) => path.fetch(req, connection);
}

/** The fast path's state (what compression made of keyed answers) and its steps. */
class FastReadPath {
  #o: FastReadsOptions;
  #maxBytes: number;
  /**
   * What compression made of keyed answers, by `encoding key`: a finished
   * response to clone (compressed, `Vary`-extended, or as built).
   */
  #encoded = new Map<string, { response: Response; size: number }>();
  #encodedBytes = 0;
  /** Negotiated codings by `Accept-Encoding` value (clients send few distinct ones). */
  #negotiated = new Map<string, Encoding | null>();

  constructor(options: FastReadsOptions) {
    this.#o = options;
    this.#maxBytes = options.encodedCacheBytes ?? 32 * 1024 * 1024;
  }

  #remember(id: string, response: Response, size: number): void {
    if (size > this.#maxBytes) return;
    const old = this.#encoded.get(id);
    if (old) {
      this.#encodedBytes -= old.size;
      this.#encoded.delete(id);
    }
    this.#encoded.set(id, { response, size });
    this.#encodedBytes += size;
    while (this.#encodedBytes > this.#maxBytes || this.#encoded.size > MAX_ENCODED_ENTRIES) {
      const oldest = this.#encoded.keys().next().value!;
      this.#encodedBytes -= this.#encoded.get(oldest)!.size;
      this.#encoded.delete(oldest);
    }
  }

  /**
   * What compression makes of a GET or HEAD answer (see `compressResponse`); `null`
   * when it cannot tell without reading the body (the Hono path then answers).
   * Waits only to compress a kept answer the first time.
   */
  #compressed(
    req: Request,
    answer: FastAnswer,
    threshold: number,
    encodings: readonly Encoding[],
  ): Response | null | Promise<Response | null> {
    // A HEAD describes the identity representation (see compressResponse).
    const head = req.method === "HEAD";
    const acceptEncoding = head ? "identity" : requestHeader(req, "accept-encoding") ?? "";
    let encoding = this.#negotiated.get(acceptEncoding);
    if (encoding === undefined) {
      if (this.#negotiated.size >= 256) this.#negotiated.clear();
      encoding = negotiateEncoding(acceptEncoding, encodings);
      this.#negotiated.set(acceptEncoding, encoding);
    }
    const key = answer.key;
    const id = key === undefined ? "" : `${encoding ?? "identity"} ${key}`;
    if (key !== undefined) {
      const hit = this.#encoded.get(id);
      if (hit) return hit.response.clone();
    }
    const built = answer.build();
    return built instanceof Promise
      ? built.then((res) => this.#shaped(req, answer, res, { id, threshold, encoding }))
      : this.#shaped(req, answer, built, { id, threshold, encoding });
  }

  /** What compression makes of a built answer (see {@linkcode FastReadPath.#compressed}). */
  #shaped(
    req: Request,
    answer: FastAnswer,
    res: Response,
    how: { id: string; threshold: number; encoding: Encoding | null },
  ): Response | null | Promise<Response> {
    const { id, threshold, encoding } = how;
    const head = req.method === "HEAD";
    const key = answer.key;
    const status = res.status;
    const h = res.headers;
    // A HEAD uses what GETs kept, but keeps nothing: what it built may have no body.
    const keep = key !== undefined && !head;
    // A keyed answer is fully determined by its key: keep it finished, as built.
    // Kept forms count their body's length against the budget (a clone shares
    // the bytes, but may outlive the response it was cloned from).
    const asBuilt = () => {
      if (keep) this.#remember(id, res.clone(), Number(h.get("content-length")) || 0);
      return res;
    };
    if (status === 304) {
      const etag = echoedEtag(h.get("etag"), requestHeader(req, "if-none-match"));
      if (etag !== null) h.set("etag", etag);
      if (notModifiedVaries(res, threshold)) appendVary(h, "Accept-Encoding");
      return res;
    }
    if (status < 200 || status === 204 || status === 206) return asBuilt();
    if (h.has("content-encoding") || h.has("content-range")) return asBuilt();
    if (!isCompressible(h.get("content-type"))) return asBuilt();
    const cacheControl = h.get("cache-control");
    if (cacheControl !== null && NO_TRANSFORM_RE.test(cacheControl)) return asBuilt();
    const length = h.get("content-length");
    if (length === null) return null;
    const size = Number(length);
    if (size < threshold) return asBuilt();
    if (encoding === null) {
      appendVary(h, "Accept-Encoding");
      if (keep) this.#remember(id, res.clone(), size);
      return res;
    }
    if (!res.body) return res;
    if (size > MAX_BUFFERED_COMPRESSION) {
      return encodedResponse(res, encoding, encodeStream(res.body, encoding));
    }
    return (async () => {
      const template = await encodedInFull(res, encoding);
      if (!keep) return template;
      this.#remember(id, template, Number(template.headers.get("content-length")));
      return template.clone();
    })();
  }

  /**
   * Answer a matched request. Synchronous when the surface answers at once
   * and the response (or its compressed form) is kept: no promise, no
   * microtask, which `Deno.serve` turns around fastest.
   */
  #serve(
    req: Request,
    connection: unknown,
    route: FastRoute,
    path: string,
  ): Response | Promise<Response> {
    const o = this.#o;
    // The client key (the peer's address) is looked up only when a budget needs it.
    const client = o.limits ? () => o.clientKey(req, connection) : "";
    const start = o.ops.begin(req, client, path);
    if (start.refused) return this.#decline(req, connection, start);
    let answer: FastAnswer | null | Promise<FastAnswer | null>;
    try {
      answer = route.answer();
    } catch {
      return this.#decline(req, connection, start);
    }
    if (answer instanceof Promise) {
      return answer.then(
        (a) => this.#respond(req, connection, route, start, a),
        () => this.#decline(req, connection, start),
      );
    }
    return this.#respond(req, connection, route, start, answer);
  }

  #respond(
    req: Request,
    connection: unknown,
    route: FastRoute,
    start: OpsStart,
    answer: FastAnswer | null,
  ): Response | Promise<Response> {
    if (answer === null) return this.#decline(req, connection, start);
    const compression = this.#o.ops.compression;
    let res: Response | null | Promise<Response | null>;
    try {
      // An answer without compression is built as is (a rejected build declines).
      // HEAD goes through compression too: it answers the headers its GET would.
      res = compression
        ? this.#compressed(req, answer, compression.threshold, compression.encodings)
        : answer.build();
    } catch {
      return this.#decline(req, connection, start);
    }
    if (res instanceof Promise) {
      return res.then(
        (r) => this.#finish(req, connection, route, start, r, answer.subject),
        () => this.#decline(req, connection, start),
      );
    }
    return this.#finish(req, connection, route, start, res, answer.subject);
  }

  #finish(
    req: Request,
    connection: unknown,
    route: FastRoute,
    start: OpsStart,
    built: Response | null,
    subject: string | undefined,
  ): Response | Promise<Response> {
    // A 401 counts against the failed-authentication budget: the Hono path does that.
    if (built === null || built.status === 401) return this.#decline(req, connection, start);
    let res = built;
    // Surfaces' answers never carry the stack's own headers: append them.
    this.#o.ops.decorate(res.headers, start, true);
    const head = req.method === "HEAD";
    // Hono answers HEAD with the GET route's headers and no body.
    if (head && res.body !== null) res = new Response(null, res);
    const length = head ? null : res.headers.get("content-length");
    // A body compressed as it flows has no length yet: count it as it goes out.
    if (length === null && !head && res.headers.has("content-encoding")) {
      res = countedBody(res, (n) => this.#o.ops.served(start, route.route, n));
    }
    this.#o.ops.record(start, req.method, route.route, res.status, length, subject);
    return res;
  }

  #decline(req: Request, connection: unknown, start: OpsStart) {
    this.#o.ops.handOff(req, start);
    return this.#o.fallback(req, connection);
  }

  /** Answer a GET or HEAD the matcher knows; anything else goes to the fallback. */
  fetch(req: Request, connection?: unknown): Response | Promise<Response> {
    const method = req.method;
    if (method === "GET" || method === "HEAD") {
      const path = pathOf(req.url);
      const route = path === null ? null : this.#o.match(req, path);
      if (route !== null) return this.#serve(req, connection, route, path!);
    }
    return this.#o.fallback(req, connection);
  }
}

/** Largest blob whose finished answer is kept (a larger one is built, streamed, per request). */
export const MAX_PREPARED_BLOB_BYTES = 1024 * 1024;

/** Whether a request's answer is fully determined by what it names (no range, no condition). */
export function isPlainRead(req: Request): boolean {
  const method = req.method;
  return (method === "GET" || method === "HEAD") && requestHeader(req, "range") === null &&
    requestHeader(req, "if-none-match") === null &&
    requestHeader(req, "if-modified-since") === null && requestHeader(req, "if-range") === null;
}

/**
 * The prepared answer of a blob read that `respondWithBlob(req, opts)` would
 * give: a plain read of a blob up to {@linkcode MAX_PREPARED_BLOB_BYTES} is
 * marked with `key` (which must name everything the response depends on:
 * digest, size, type, dates, cache headers), and its body is read into memory
 * once, so the path keeps the finished response and later requests clone it.
 * A vanished blob rejects with `missing()`.
 *
 * @example
 * ```ts ignore
 * return preparedBlob(req, { blob, key: `file ${blob.sha256}`, missing: () => new Error("gone") });
 * ```
 */
export function preparedBlob(
  req: Request,
  read: {
    blob: BlobResponseOptions;
    key: string;
    subject?: string | undefined;
    /** The error of a blob gone from bundle storage (each surface's own). */
    missing: () => Error;
  },
): FastAnswer {
  const keyed = isPlainRead(req) && read.blob.size <= MAX_PREPARED_BLOB_BYTES;
  const build = async () => {
    const res = await respondWithBlob(req, read.blob);
    if (res === null) throw read.missing();
    if (!keyed || res.body === null) return res;
    const bytes = new Uint8Array(await res.arrayBuffer());
    return new Response(bytes, { status: res.status, headers: res.headers });
  };
  const who = read.subject === undefined ? {} : { subject: read.subject };
  return keyed ? { key: read.key, build, ...who } : { build, ...who };
}
