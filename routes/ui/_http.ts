/**
 * HTTP helpers of the web pages: the security headers every page carries,
 * ETags with 304, and which requests the pages claim at shared paths.
 *
 * @module
 */
import { sha256Hex } from "../../base/digest.ts";
import { CachingRegistryStorage } from "../../core/read_cache.ts";
import type { RegistryStorage } from "../../storage/types.ts";
import { requestHeader } from "../ops/_request_header.ts";

/**
 * The policy of every page: scripts only from this origin's files (the one
 * is /ui/copy.js; never inline, so injected markup could run nothing),
 * styles and images from this origin only, no framing, forms back here only.
 */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/**
 * What a package's own file is served under when shown raw: a sandbox with no
 * script, so an HTML or SVG file never runs as a page of this origin.
 */
export const RAW_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'";

/** Headers on every answer of the web surface. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": PAGE_CSP,
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
};

/** A page's bytes and their strong ETag. */
export interface PreparedPage {
  /** The UTF-8 bytes. */
  bytes: Uint8Array<ArrayBuffer>;
  /** `"<32 hex>"` */
  etag: string;
}

/** Encode a page and compute its ETag. */
export function preparePage(html: string): PreparedPage {
  const bytes = new TextEncoder().encode(html);
  return { bytes, etag: `"${sha256Hex(bytes).slice(0, 32)}"` };
}

/** A kept page: its render (shared by requests arriving meanwhile) and, once done, the page. */
interface KeptEntry {
  page: Promise<PreparedPage>;
  /** Set when the render is done: what a request is answered with at once. */
  ready?: PreparedPage;
  /** Until when (`performance.now()`) it is kept; `Infinity` while it renders. */
  until: number;
}

/**
 * Render a page into `pages` under `key`: kept for `ttlMs` once rendered
 * (for ever without one), dropped if the render fails.
 */
function keep(
  pages: Map<string, KeptEntry>,
  key: string,
  render: () => Promise<string>,
  ttlMs = Infinity,
): KeptEntry {
  const entry: KeptEntry = { page: render().then(preparePage), until: Infinity };
  pages.set(key, entry);
  entry.page.then(
    (page) => {
      entry.ready = page;
      entry.until = performance.now() + ttlMs;
    },
    () => pages.get(key) === entry && pages.delete(key),
  );
  return entry;
}

/** Pages kept per owner object, most recent last; a few per owner. */
const preparedPages = new WeakMap<object, Map<string, KeptEntry>>();
const PAGES_PER_OWNER = 32;

/**
 * A page rendered once per `owner` and `key`: `owner` is an object that is
 * replaced whenever what the page shows changes (a package's version list,
 * which the core replaces at every change of the package row), so a kept
 * page is never stale. For pages that are the same for every signed-out
 * reader; `key` holds whatever else they depend on (origin, version, page).
 * Requests arriving during the render wait for it.
 */
export function keptPage(
  owner: object,
  key: string,
  render: () => Promise<string>,
): Promise<PreparedPage> {
  let pages = preparedPages.get(owner);
  if (!pages) preparedPages.set(owner, pages = new Map());
  const hit = pages.get(key);
  if (hit) return hit.page;
  if (pages.size >= PAGES_PER_OWNER) pages.delete(pages.keys().next().value!);
  return keep(pages, key, render).page;
}

/** {@linkcode keptPage} without waiting: the page when it is rendered and kept. */
export function keptPageNow(owner: object, key: string): PreparedPage | undefined {
  return preparedPages.get(owner)?.get(key)?.ready;
}

/** Pages kept for a short time per store, when the store keeps reads that long. */
const briefPages = new WeakMap<object, Map<string, KeptEntry>>();
const BRIEF_PAGES = 64;

/**
 * A page kept as long as the store's read cache keeps a row (`--read-cache-ms`,
 * 500 ms by default; never when it is off): for signed-out pages derived from
 * many rows with no single row that changes with them (home, search), the
 * same staleness every cached read already has. One render at a time per
 * page: requests arriving meanwhile wait for it rather than render again.
 */
export function brieflyKeptPage(
  storage: RegistryStorage,
  key: string,
  render: () => Promise<string>,
): Promise<PreparedPage> {
  const ttl = storage instanceof CachingRegistryStorage ? storage.ttlMs : 0;
  if (ttl <= 0) return render().then(preparePage);
  let pages = briefPages.get(storage);
  if (!pages) briefPages.set(storage, pages = new Map());
  const hit = pages.get(key);
  if (hit && hit.until > performance.now()) return hit.page;
  pages.delete(key);
  if (pages.size >= BRIEF_PAGES) pages.delete(pages.keys().next().value!);
  return keep(pages, key, render, ttl).page;
}

/** {@linkcode brieflyKeptPage} without waiting: the page when it is rendered and still kept. */
export function brieflyKeptPageNow(
  storage: RegistryStorage,
  key: string,
): PreparedPage | undefined {
  const hit = briefPages.get(storage)?.get(key);
  return hit && hit.until > performance.now() ? hit.ready : undefined;
}

/** The headers of every page answer but its ETag and length (`htmlPage`). */
const PAGE_HEADERS: readonly (readonly [string, string])[] = Object.entries({
  ...SECURITY_HEADERS,
  "content-type": "text/html; charset=utf-8",
  "cache-control": "private, no-cache",
  vary: "Cookie, Accept",
});

/**
 * A page answer: HTML with the security headers, a strong ETag over its
 * bytes, and 304 when the request already holds them. Pages depend on the
 * session cookie, so they are private and revalidated on every use.
 */
export function htmlPage(
  req: Request,
  html: string | PreparedPage,
  options: { status?: number; headers?: Record<string, string> } = {},
): Response {
  const { bytes, etag } = typeof html === "string" ? preparePage(html) : html;
  const status = options.status ?? 200;
  const head = req.method === "HEAD";
  const notModified = status === 200 && matchesEtag(requestHeader(req, "if-none-match"), etag);
  // Headers set one by one on the response: quicker in Deno than a HeadersInit.
  const res = new Response(head || notModified ? null : bytes, {
    status: notModified ? 304 : status,
  });
  const headers = res.headers;
  for (const [k, v] of PAGE_HEADERS) headers.set(k, v);
  for (const k in options.headers) headers.set(k, options.headers[k]!);
  if (status !== 200) {
    headers.set("cache-control", "no-store");
    return res;
  }
  headers.set("etag", etag);
  // A known length spares the operations stack from measuring the body.
  if (!notModified) headers.set("content-length", String(bytes.byteLength));
  return res;
}

/** Whether an `If-None-Match` header names this ETag (or `*`). */
export function matchesEtag(header: string | null, etag: string): boolean {
  if (header === null) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === "*" || tag === etag;
  });
}

/** A redirect after a form (303) with the security headers. */
export function seeOther(location: string, headers: Record<string, string> = {}): Response {
  return new Response(null, {
    status: 303,
    headers: { ...SECURITY_HEADERS, location, "cache-control": "no-store", ...headers },
  });
}

/** Whether a request asks for HTML first (a browser navigating), not JSON or a file. */
export function wantsHtml(req: Request): boolean {
  const accept = requestHeader(req, "accept") ?? "";
  return /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);
}

/** `/@scope`: a namespace's page (jsr.io's URL of a scope). */
export const NAMESPACE_PAGE_RE = /^\/@[a-z0-9_-]{1,64}$/;

/** `/@scope/name` or `/@scope/name@version`: a JSR package's own page (jsr.io's URLs). */
export const PACKAGE_PAGE_RE = /^\/@([a-z0-9-]{1,64})\/([a-z0-9-]{1,64})(?:@([^/@]{1,128}))?$/;

/**
 * Whether the web surface answers this request. Under `/ui/` it answers
 * everything. At `/`, `/@scope` and `/@scope/name[@version]`, paths no client of the
 * three wire surfaces asks for with HTML, it answers only a `GET`/`HEAD`
 * that accepts `text/html`; everything else goes on to the surfaces exactly
 * as before (tests/ui_clients_test.ts replays their requests).
 */
export function claims(req: Request, path: string): boolean {
  if (path === "/ui" || path.startsWith("/ui/")) return true;
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if (path !== "/" && !PACKAGE_PAGE_RE.test(path) && !NAMESPACE_PAGE_RE.test(path)) return false;
  return wantsHtml(req);
}
