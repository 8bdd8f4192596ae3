/**
 * HTTP helpers of the web pages: the security headers every page carries,
 * ETags with 304, and which requests the pages claim at shared paths.
 *
 * @module
 */
import { sha256Hex } from "../../base/digest.ts";

/**
 * The policy of every page: no script at all (the pages work without it),
 * styles and images from this origin only, no framing, forms back here only.
 */
export const PAGE_CSP =
  "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; " +
  "frame-ancestors 'none'; base-uri 'none'";

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

/**
 * A page answer: HTML with the security headers, a strong ETag over its
 * bytes, and 304 when the request already holds them. Pages depend on the
 * session cookie, so they are private and revalidated on every use.
 */
export function htmlPage(
  req: Request,
  html: string,
  options: { status?: number; headers?: Record<string, string> } = {},
): Response {
  const bytes = new TextEncoder().encode(html);
  const status = options.status ?? 200;
  const headers = new Headers({
    ...SECURITY_HEADERS,
    "content-type": "text/html; charset=utf-8",
    "cache-control": "private, no-cache",
    vary: "Cookie, Accept",
    ...options.headers,
  });
  if (status !== 200) {
    headers.set("cache-control", "no-store");
    return new Response(req.method === "HEAD" ? null : bytes, { status, headers });
  }
  const etag = `"${sha256Hex(bytes).slice(0, 32)}"`;
  headers.set("etag", etag);
  if (matchesEtag(req.headers.get("if-none-match"), etag)) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(req.method === "HEAD" ? null : bytes, { status, headers });
}

/** Whether an `If-None-Match` header names this ETag (or `*`). */
function matchesEtag(header: string | null, etag: string): boolean {
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
  const accept = req.headers.get("accept") ?? "";
  return /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept);
}

/** `/@scope/name` or `/@scope/name@version`: a JSR package's own page (jsr.io's URLs). */
export const PACKAGE_PAGE_RE = /^\/@([a-z0-9-]{1,64})\/([a-z0-9-]{1,64})(?:@([^/@]{1,128}))?$/;

/**
 * Whether the web surface answers this request. Under `/ui/` it answers
 * everything. At `/` and `/@scope/name[@version]`, paths no client of the
 * three wire surfaces asks for with HTML, it answers only a `GET`/`HEAD`
 * that accepts `text/html`; everything else goes on to the surfaces exactly
 * as before (tests/ui_clients_test.ts replays their requests).
 */
export function claims(req: Request, path: string): boolean {
  if (path === "/ui" || path.startsWith("/ui/")) return true;
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  if (path !== "/" && !PACKAGE_PAGE_RE.test(path)) return false;
  return wantsHtml(req);
}
