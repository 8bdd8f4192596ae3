/**
 * What a request costs, decided from its method and path before it is
 * routed: the class picks the per-address budget it spends (see
 * docs/operations.md, "Rate limits").
 *
 * - `rack`: every Rack route, limited as the Rack original limits them
 *   (1,200 per minute, its headers), which is that surface's contract.
 * - `immutable`: files, bundles and version documents. One install fetches
 *   hundreds of them and they are served from prepared responses, so they are
 *   not limited per address by default.
 * - `metadata`: listings, package documents, `meta.json`, the admin API and
 *   anything else: a budget far above what an install needs.
 * - `query`: search (the home page's too, `/?q=…`), and work whose cost grows
 *   with the data or the input (a conformance check parses and compiles what
 *   it is sent).
 *
 * Uploads and publishes and failed authentications keep budgets of their own
 * on top of these.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { costClass } from "./_cost_class.ts";
 * assert.equal(costClass("GET", "/@std/path/1.0.0/mod.ts"), "immutable");
 * assert.equal(costClass("GET", "/@std/path/meta.json"), "metadata");
 * assert.equal(costClass("GET", "/search"), "query");
 * assert.equal(costClass("GET", "/", "http://h/?q=greet"), "query");
 * assert.equal(costClass("GET", "/registries/acme/ui"), "rack");
 * ```
 *
 * @module
 */

/** The cost classes a request falls in. */
export type CostClass = "rack" | "immutable" | "metadata" | "query";

/** Path prefixes of the Rack surface: unknown routes there answer in Rack's error format. */
const RACK_PREFIXES = ["/registries", "/namespaces", "/presets", "/schemas", "/health", "/metrics"];

/** Whether a path belongs to the Rack surface (`/healthz` is ggui's). */
export function isRackPath(path: string): boolean {
  if (path === "/healthz") return false;
  for (const p of RACK_PREFIXES) {
    if (path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 47)) return true;
  }
  return false;
}

/** The number of `/`-separated segments after the first `skip` characters. */
function segmentsAfter(path: string, skip: number): number {
  let n = 1;
  for (let i = skip; i < path.length; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/**
 * The cost class of a request (`path`: the URL's path, not decoded; `url`:
 * the whole URL, which tells the home page's search from the home page).
 */
export function costClass(method: string, path: string, url?: string): CostClass {
  if (isRackPath(path)) return "rack";
  // A preflight spends what the request it asks for would.
  const read = method === "GET" || method === "HEAD" || method === "OPTIONS";
  if (!read) return method === "POST" && path === "/conformance/check" ? "query" : "metadata";
  if (path.startsWith("/bundles/")) return "immutable";
  if (path.startsWith("/pkg/")) {
    // /pkg/:scope/:name is a listing; /pkg/:scope/:name/:version a version document.
    return segmentsAfter(path, 5) >= 3 ? "immutable" : "metadata";
  }
  if (path.startsWith("/@")) {
    // JSR: /@s/n/meta.json lists versions; /@s/n/<v>_meta.json and /@s/n/<v>/<file> are immutable.
    const segments = segmentsAfter(path, 2);
    if (segments >= 4) return "immutable";
    return segments === 3 && path.endsWith("_meta.json") ? "immutable" : "metadata";
  }
  if (path === "/search" || path === "/api/packages") return "query";
  // The web UI's home page with a query string is a search on the index.
  if (path === "/" && url !== undefined && url.includes("?")) return "query";
  return "metadata";
}

/**
 * The path of a request URL without parsing it (`http://h/p?q` → `/p`): the
 * stack classifies every request, and `new URL()` costs more than this.
 */
export function pathOfUrl(url: string): string {
  const schemeEnd = url.indexOf("://");
  const start = url.indexOf("/", schemeEnd < 0 ? 0 : schemeEnd + 3);
  if (start < 0) return "/";
  let end = url.length;
  const q = url.indexOf("?", start);
  if (q >= 0) end = q;
  const h = url.indexOf("#", start);
  if (h >= 0 && h < end) end = h;
  return url.slice(start, end);
}
