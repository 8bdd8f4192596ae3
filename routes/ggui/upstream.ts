/**
 * The ggui upstream on the wire: `/pkg/…` reads and `/bundles/public/…`
 * files of scopes this registry does not own are answered from the upstream
 * cache (core/ggui/upstream.ts) in ggui's own shapes; everything else goes on
 * to our ggui routes. Tokens are never forwarded.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { RegistryContext } from "../../core/context.ts";
import { errorResult, scopeParam } from "../../core/ggui/_common.ts";
import { isRegistryError } from "../../base/errors.ts";
import {
  type GguiUpstream,
  gguiUpstreamFile,
  gguiUpstreamList,
  gguiUpstreamRead,
  gguiUpstreamSearch,
  mayProxyScope,
} from "../../core/ggui/upstream.ts";
import { respondWithBlob } from "../shared/_blob_response.ts";
import { BUNDLE_CACHE_CONTROL, BUNDLE_HEADERS, pkgResponse } from "./_http.ts";
import { UPSTREAM_HEADER } from "../shared/_upstream.ts";

const FILES = ["bundle.js", "bundle.js.sig", "manifest.json"] as const;

/** Middleware for `/pkg/*` and `/bundles/public/*`; mount before the ggui routes. */
export function gguiUpstreamReads(
  options: { ctx: RegistryContext; upstream: GguiUpstream },
): MiddlewareHandler {
  const { ctx, upstream } = options;
  return async function gguiUpstreamMiddleware(c, next) {
    if (c.req.method !== "GET" && c.req.method !== "HEAD") return await next();
    let parts: string[];
    try {
      parts = c.req.path.split("/").slice(1).map(decodeURIComponent);
    } catch {
      return await next();
    }
    const isPkg = parts[0] === "pkg" && (parts.length === 3 || parts.length === 4);
    const isFile = parts[0] === "bundles" && parts[1] === "public" && parts.length === 6 &&
      (FILES as readonly string[]).includes(parts[5]!);
    if (!isPkg && !isFile) return await next();
    const scope = scopeParam(isPkg ? parts[1]! : parts[2]!);
    if (!/^@[a-z0-9][a-z0-9-]*$/.test(scope) || !(await mayProxyScope(upstream, scope))) {
      return await next();
    }
    try {
      const res = isPkg
        ? await pkg(
          c,
          parts.length === 4
            ? await gguiUpstreamRead(ctx, upstream, { scope, name: parts[2]!, version: parts[3]! })
            : await gguiUpstreamList(ctx, upstream, { scope, name: parts[2]! }),
        )
        : await file(c, ctx, upstream, {
          scope,
          name: parts[3]!,
          version: parts[4]!,
        }, parts[5] as typeof FILES[number]);
      return res ?? await next();
    } catch (err) {
      if (!isRegistryError(err)) throw err;
      const status = err.code === "upstream_timeout" ? 504 : 502;
      return pkgResponse(errorResult(status, err.code, err.message), undefined);
    }
  };
}

function pkg(
  c: Context,
  doc: { status: number; body: Record<string, unknown>; stale?: boolean } | null,
): Response | null {
  if (!doc) return null;
  const res = pkgResponse(
    { status: doc.status, body: doc.body },
    c.req.header("if-none-match"),
    c.req.header("if-modified-since"),
  );
  res.headers.set(UPSTREAM_HEADER, doc.stale ? "stale" : "cached");
  if (doc.stale) res.headers.set("warning", '110 - "Response is Stale"');
  return res;
}

async function file(
  c: Context,
  ctx: RegistryContext,
  upstream: GguiUpstream,
  ref: { scope: string; name: string; version: string },
  name: typeof FILES[number],
): Promise<Response | null> {
  const found = await gguiUpstreamFile(ctx, upstream, ref, name);
  if (!found) return null;
  return await respondWithBlob(c, {
    open: (range) => ctx.bundles.get(found.sha256, range),
    size: found.size,
    sha256: found.sha256,
    contentType: name === "bundle.js"
      ? "application/javascript; charset=utf-8"
      : "application/json",
    cacheControl: BUNDLE_CACHE_CONTROL.public,
    extraHeaders: { ...BUNDLE_HEADERS.public, [UPSTREAM_HEADER]: "cached" },
  });
}

/**
 * `GET /search` with a ggui upstream: the first page of our results, then the
 * upstream's for the same query (scopes that may be proxied only, each marked
 * `"source": "upstream"`, none repeating one of ours) up to the page's limit.
 * Later pages (`cursor`) are ours alone. An upstream that fails leaves our
 * results as they are, with `x-registry-upstream: unavailable`.
 */
export function gguiUpstreamSearchMerge(upstream: GguiUpstream): MiddlewareHandler {
  return async function gguiUpstreamSearchMiddleware(c, next) {
    await next();
    if (c.req.method !== "GET" || c.req.query("cursor") || c.res.status !== 200) return;
    const ours = await c.res.clone().json() as { results: Record<string, unknown>[] };
    const query = new URL(c.req.url).search;
    const theirs = await gguiUpstreamSearch(upstream, query);
    const headers = new Headers(c.res.headers);
    headers.delete("content-length");
    headers.delete("etag");
    if (theirs === null) {
      headers.set(UPSTREAM_HEADER, "unavailable");
    } else {
      const limit = Math.min(Math.max(parseInt(c.req.query("limit") ?? "50", 10) || 50, 1), 200);
      const seen = new Set(ours.results.map((r) => r.artifactId));
      for (const entry of theirs) {
        if (ours.results.length >= limit) break;
        if (seen.has(entry.artifactId)) continue;
        seen.add(entry.artifactId);
        ours.results.push(entry);
      }
      headers.set(UPSTREAM_HEADER, "merged");
    }
    // Replace, not merge: Hono would copy the old response's headers onto the new one.
    c.res = undefined;
    c.res = new Response(JSON.stringify(ours), { status: 200, headers });
  };
}
