/**
 * Responses for content-addressed bytes and for JSON, with conditional and
 * partial requests (RFC 9110 §13 and §14): strong ETags from the SHA-256 of
 * the exact bytes, `If-None-Match` / `If-Modified-Since` → 304, `Range` →
 * 206 / 416, `If-Range`, HEAD without opening the blob.
 *
 * @module
 */
import type { Context } from "hono";
import { sha256Hex } from "../../base/digest.ts";
import type { BlobBody, ByteRange } from "../../storage/types.ts";
import { makeResponse, notModifiedResponse } from "../ops/_common.ts";
import { requestHeader } from "../ops/_request_header.ts";

/**
 * Package files are other people's bytes: a browser opening one (an `.html`
 * or `.svg` in a JSR package or a Rack template) must never run it as a page
 * of our origin. A sandboxed, script-less document and no type sniffing;
 * package managers ignore both headers, so their bytes are unchanged.
 */
export const INERT_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "sandbox; default-src 'none'",
  "x-content-type-options": "nosniff",
};

/** What {@linkcode respondWithBlob} needs to know of the bytes. */
export interface BlobResponseOptions {
  /** Open the bytes (or a range of them); `null` when they are gone. Not called for HEAD or 304. */
  open: (range?: ByteRange) => Promise<BlobBody | null>;
  /** Size of the whole blob in bytes. */
  size: number;
  /** Lowercase hex SHA-256 of the whole blob: the strong ETag. */
  sha256: string;
  /** The `Content-Type`. */
  contentType: string;
  /** The `Cache-Control` (also on 304). */
  cacheControl: string;
  /** When the resource last changed, for `Last-Modified` and `If-Modified-Since`. */
  lastModified?: Date;
  /** More headers for 200, 206 and 304 (CORS, `Vary`, `Content-Disposition`…). */
  extraHeaders?: Record<string, string>;
}

/** An entity tag of an `If-None-Match` or `If-Range` value. */
interface EntityTag {
  weak: boolean;
  opaque: string;
}

/** Parse a list of entity tags (`"a", W/"b"`); `"*"` when the value is a star; `null` when malformed. */
export function parseEntityTags(value: string): EntityTag[] | "*" | null {
  const text = value.trim();
  if (text === "*") return "*";
  const tags: EntityTag[] = [];
  const re = /\s*(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)/y;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) return null;
    tags.push({ weak: m[1] !== undefined, opaque: m[2]! });
    pos = re.lastIndex;
  }
  return tags;
}

/** Whether `If-None-Match` matches the strong tag `"<opaque>"` (weak comparison, as for GET). */
export function noneMatchHits(ifNoneMatch: string, opaque: string): boolean {
  const tags = parseEntityTags(ifNoneMatch);
  if (tags === "*") return true;
  return tags !== null && tags.some((t) => t.opaque === opaque);
}

/** A date as HTTP writes it (`Sun, 06 Dec 2026 05:00:00 GMT`). */
export function httpDate(d: Date): string {
  return d.toUTCString();
}

/**
 * Whether `If-Modified-Since` holds a time at or after `lastModified` (whole
 * seconds): the client's copy is current. Only for requests without
 * `If-None-Match`, which takes precedence (RFC 9110 §13.1.3).
 */
export function unmodifiedSince(ifModifiedSince: string | null, lastModified: Date): boolean {
  if (ifModifiedSince === null) return false;
  const t = Date.parse(ifModifiedSince);
  return !Number.isNaN(t) && seconds(lastModified) <= seconds(t);
}

/** Whole seconds of a date (HTTP dates have no finer precision). */
function seconds(d: Date | number): number {
  return Math.floor((typeof d === "number" ? d : d.getTime()) / 1000);
}

/**
 * Whether a GET/HEAD is answered 304: `If-None-Match` when present (weak
 * comparison), else `If-Modified-Since` when the resource has a date.
 */
function notModified(req: Request, opaque: string, lastModified: Date | undefined): boolean {
  const method = req.method;
  if (method !== "GET" && method !== "HEAD") return false;
  const inm = requestHeader(req, "if-none-match");
  if (inm !== null) return noneMatchHits(inm, opaque);
  return lastModified !== undefined &&
    unmodifiedSince(requestHeader(req, "if-modified-since"), lastModified);
}

/** A parsed `Range` header against a size. */
export type RangeDecision =
  | { kind: "none" }
  | { kind: "unsatisfiable" }
  | { kind: "range"; start: number; end: number };

/**
 * Decide a `Range` header for a representation of `size` bytes: one
 * satisfiable byte range → `range` (inclusive `end`); none satisfiable →
 * `unsatisfiable`; absent, malformed, several ranges, another unit or an empty
 * representation → `none` (serve the whole, as RFC 9110 allows).
 */
export function decideRange(header: string | null, size: number): RangeDecision {
  if (header === null) return { kind: "none" };
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return { kind: "none" };
  const specs = m[1]!.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (specs.length !== 1 || size === 0) return { kind: "none" };
  const spec = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!spec || (spec[1] === "" && spec[2] === "")) return { kind: "none" };
  if (spec[1] === "") {
    const suffix = Number(spec[2]);
    if (!Number.isSafeInteger(suffix)) return { kind: "none" };
    if (suffix === 0) return { kind: "unsatisfiable" };
    return { kind: "range", start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(spec[1]);
  const last = spec[2] === "" ? size - 1 : Number(spec[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last)) return { kind: "none" };
  if (spec[2] !== "" && last < start) return { kind: "none" };
  if (start >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start, end: Math.min(last, size - 1) };
}

/** Whether `If-Range` (absent → true) still validates: strong ETag match, or the exact date. */
function ifRangeHolds(req: Request, opaque: string, lastModified: Date | undefined): boolean {
  const value = requestHeader(req, "if-range");
  if (value === null) return true;
  const text = value.trim();
  if (text.startsWith('"') || text.startsWith("W/")) {
    const tags = parseEntityTags(text);
    return Array.isArray(tags) && tags.length === 1 && !tags[0]!.weak && tags[0]!.opaque === opaque;
  }
  const t = Date.parse(text);
  return lastModified !== undefined && !Number.isNaN(t) && seconds(t) === seconds(lastModified);
}

/**
 * Answer a request for content-addressed bytes. `null` when `open` found the
 * bytes gone, so the surface answers its own 404. Takes the Hono context or
 * the request itself (fast paths that answer without Hono).
 *
 * @example
 * ```ts ignore
 * app.get("/bundles/:sha", async (c) => {
 *   const info = await ctx.bundles.stat(c.req.param("sha"));
 *   const res = info && await respondWithBlob(c, {
 *     open: (range) => ctx.bundles.get(info.sha256, range),
 *     size: info.size,
 *     sha256: info.sha256,
 *     contentType: "application/javascript",
 *     cacheControl: "public, max-age=31536000, immutable",
 *   });
 *   return res ?? c.json({ error: "not_found", message: "bundle not found" }, 404);
 * });
 * ```
 */
export async function respondWithBlob(
  c: Context | Request,
  opts: BlobResponseOptions,
): Promise<Response | null> {
  const req = c instanceof Request ? c : c.req.raw;
  const etag = `"${opts.sha256}"`;
  const headers: Record<string, string> = { ...opts.extraHeaders, ...INERT_HEADERS };
  headers["etag"] = etag;
  headers["cache-control"] = opts.cacheControl;
  if (opts.lastModified) headers["last-modified"] = httpDate(opts.lastModified);
  if (notModified(req, opts.sha256, opts.lastModified)) {
    return notModifiedResponse(headers, { type: opts.contentType, size: opts.size });
  }
  headers["accept-ranges"] = "bytes";
  headers["content-type"] = opts.contentType;
  const head = req.method === "HEAD";
  const decision = req.method === "GET" && ifRangeHolds(req, opts.sha256, opts.lastModified)
    ? decideRange(requestHeader(req, "range"), opts.size)
    : { kind: "none" as const };
  if (decision.kind === "unsatisfiable") {
    headers["content-range"] = `bytes */${opts.size}`;
    headers["content-length"] = "0";
    headers["cache-control"] = "no-store";
    delete headers["etag"];
    delete headers["last-modified"];
    return makeResponse(null, 416, headers);
  }
  if (decision.kind === "range") {
    const length = decision.end - decision.start + 1;
    headers["content-range"] = `bytes ${decision.start}-${decision.end}/${opts.size}`;
    headers["content-length"] = String(length);
    const body = await opts.open({ start: decision.start, end: decision.end + 1 });
    if (!body) return null;
    return makeResponse(
      (body.bytes as Uint8Array<ArrayBuffer> | undefined) ?? body.stream,
      206,
      headers,
    );
  }
  headers["content-length"] = String(opts.size);
  if (head) return makeResponse(null, 200, headers);
  const body = await opts.open();
  if (!body) return null;
  return makeResponse(
    (body.bytes as Uint8Array<ArrayBuffer> | undefined) ?? body.stream,
    200,
    headers,
  );
}

/** Options of {@linkcode respondWithJson}. */
export interface JsonResponseOptions {
  /** The `Cache-Control`. */
  cacheControl: string;
  /** `content` (default): strong ETag = SHA-256 of the exact JSON bytes, 304 on a match. `none`: no ETag. */
  etagFrom?: "content" | "none";
  /** Status (default 200; conditional handling applies to 200 only). */
  status?: number;
  /** More headers (CORS, `Vary: Authorization`…). */
  headers?: Record<string, string>;
}

const encoder = new TextEncoder();

/** Bytes and digests of frozen JSON values (core hands out rendered documents frozen, once per state). */
const serializedFrozen = new WeakMap<object, { bytes: Uint8Array<ArrayBuffer>; digest: string }>();

/** A value's JSON bytes; a frozen object's are made (and hashed) once. */
function serializedJson(value: unknown): { bytes: Uint8Array<ArrayBuffer>; digest?: string } {
  if (value === null || typeof value !== "object" || !Object.isFrozen(value)) {
    return { bytes: encoder.encode(JSON.stringify(value)) };
  }
  let known = serializedFrozen.get(value);
  if (!known) {
    const bytes = encoder.encode(JSON.stringify(value));
    known = { bytes, digest: sha256Hex(bytes) };
    serializedFrozen.set(value, known);
  }
  return known;
}

/**
 * The SHA-256 of a frozen JSON value's bytes, as {@linkcode respondWithJson}
 * sends it in the ETag (made once per value); `undefined` for a value that is
 * not frozen (its bytes may change).
 */
export function jsonDigest(value: unknown): string | undefined {
  return value !== null && typeof value === "object" && Object.isFrozen(value)
    ? serializedJson(value).digest
    : undefined;
}

/**
 * Answer JSON with a strong ETag derived from its exact bytes, so every
 * process and backend agrees on it, and 304 when `If-None-Match` matches.
 * HEAD gets the same headers (Content-Length included) and no body.
 *
 * @example
 * ```ts ignore
 * return respondWithJson(c, versions, { cacheControl: "public, max-age=60" });
 * ```
 */
export function respondWithJson(
  c: Context | Request,
  value: unknown,
  opts: JsonResponseOptions,
): Response {
  const req = c instanceof Request ? c : c.req.raw;
  const { bytes, digest: known } = serializedJson(value);
  const status = opts.status ?? 200;
  const headers: Record<string, string> = { ...opts.headers };
  headers["cache-control"] = opts.cacheControl;
  if ((opts.etagFrom ?? "content") === "content" && status === 200) {
    const digest = known ?? sha256Hex(bytes);
    headers["etag"] = `"${digest}"`;
    if (notModified(req, digest, undefined)) {
      return notModifiedResponse(headers, { type: "application/json", size: bytes.byteLength });
    }
  }
  headers["content-type"] = "application/json";
  headers["content-length"] = String(bytes.byteLength);
  return makeResponse(req.method === "HEAD" ? null : bytes, status, headers);
}
