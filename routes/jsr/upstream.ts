/**
 * The JSR upstream on the wire: reads in a namespace this registry does not
 * own (and that the operator lets through) are answered from the upstream
 * cache (core/jsr/upstream.ts) in JSR's read layout; every other request
 * goes on to our own JSR routes. Writes are never proxied.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { RegistryContext } from "../../core/context.ts";
import { jsrError } from "../../core/jsr/errors.ts";
import { jsrRef } from "../../core/jsr/publish.ts";
import {
  type JsrUpstream,
  mayProxyNamespace,
  type UpstreamBlob,
  upstreamFile,
  upstreamPackageMeta,
  upstreamVersion,
} from "../../core/jsr/upstream.ts";
import type { UpstreamFetchEvent } from "../../core/upstream_fetch.ts";
import { respondWithBlob } from "../shared/_blob_response.ts";
import { UPSTREAM_HEADER } from "../shared/_upstream.ts";
import { jsrErrorResponse } from "./mod.ts";

/** Options of {@linkcode jsrUpstreamReads}. */
export interface JsrUpstreamRoutesOptions {
  /** Stores and clock. */
  ctx: RegistryContext;
  /** The upstream and the namespace rule. */
  upstream: JsrUpstream;
  /** Where one JSON line per upstream fetch goes (the request log). */
  log?: (line: string) => void;
}

/** `/@scope/name/<rest>` of a JSR read. */
const READ_RE = /^\/@([^/]+)\/([^/]+)\/(.+)$/;

/**
 * Middleware for `/@*`: answer reads of proxied namespaces from the upstream.
 * Mount it before the JSR routes.
 */
export function jsrUpstreamReads(options: JsrUpstreamRoutesOptions): MiddlewareHandler {
  const { ctx } = options;
  return async function jsrUpstreamMiddleware(c, next) {
    const method = c.req.method;
    if (method !== "GET" && method !== "HEAD") return await next();
    const m = READ_RE.exec(c.req.path);
    if (!m) return await next();
    const [, scope, name, rest] = m as unknown as [string, string, string, string];
    let pkg;
    try {
      pkg = jsrRef(scope, name);
    } catch {
      return await next(); // our routes answer the malformed name
    }
    if (!(await mayProxyNamespace(options.upstream, pkg.namespace))) return await next();
    const up = withLog(options, c);
    try {
      return await answer(c, ctx, up, { scope, name, rest }) ??
        jsrErrorResponse(missOf(scope, name, rest));
    } catch (err) {
      return jsrErrorResponse(err);
    }
  };
}

/** The upstream with its fetches written to the request log under this request's id. */
function withLog(options: JsrUpstreamRoutesOptions, c: Context): JsrUpstream {
  const log = options.log;
  if (!log) return options.upstream;
  const requestId = c.get("requestId" as never) as string | undefined;
  return {
    ...options.upstream,
    onFetch: (e: UpstreamFetchEvent) => {
      const level = e.outcome === "fetched" || e.outcome === "not_modified" ||
          e.outcome === "not_found"
        ? "info"
        : "error";
      log(JSON.stringify({
        time: new Date().toISOString(),
        level,
        message: "upstream fetch",
        ...(requestId ? { requestId } : {}),
        ...e,
      }));
    },
  };
}

async function answer(
  c: Context,
  ctx: RegistryContext,
  up: JsrUpstream,
  at: { scope: string; name: string; rest: string },
): Promise<Response | null> {
  const { scope, name, rest } = at;
  if (rest === "meta.json") {
    const meta = await upstreamPackageMeta(ctx, up, jsrRef(scope, name));
    return meta && await serve(c, ctx, meta, "public, no-cache");
  }
  const immutable = "public, max-age=31536000, immutable";
  if (!rest.includes("/") && rest.endsWith("_meta.json")) {
    const ref = jsrRef(scope, name, rest.slice(0, -"_meta.json".length));
    const row = await upstreamVersion(ctx, up, ref);
    return row &&
      await serve(
        c,
        ctx,
        { sha256: row.sha256, size: row.size, contentType: "application/json" },
        immutable,
      );
  }
  const slash = rest.indexOf("/");
  if (slash <= 0) return null;
  let path: string;
  try {
    path = decodeURIComponent(rest.slice(slash));
  } catch {
    return null;
  }
  const file = await upstreamFile(ctx, up, jsrRef(scope, name, rest.slice(0, slash)), path);
  return file && await serve(c, ctx, file, immutable);
}

async function serve(
  c: Context,
  ctx: RegistryContext,
  blob: UpstreamBlob,
  cacheControl: string,
): Promise<Response> {
  const extraHeaders: Record<string, string> = {
    [UPSTREAM_HEADER]: blob.stale ? "stale" : "cached",
  };
  // RFC 7234's stale warning: the upstream could not confirm this copy.
  if (blob.stale) extraHeaders["warning"] = '110 - "Response is Stale"';
  const res = await respondWithBlob(c, {
    open: (range) => ctx.bundles.get(blob.sha256, range),
    size: blob.size,
    sha256: blob.sha256,
    contentType: blob.contentType,
    cacheControl,
    extraHeaders,
  });
  if (!res) throw jsrError("internalServerError", "cached upstream blob is missing");
  return res;
}

/** The 404 our own routes give for the same path. */
function missOf(scope: string, name: string, rest: string) {
  if (rest === "meta.json") {
    return jsrError("packageNotFound", `Package @${scope}/${name} not found`);
  }
  if (!rest.includes("/") && rest.endsWith("_meta.json")) {
    return jsrError(
      "packageVersionNotFound",
      `Package version @${scope}/${name}@${rest.slice(0, -"_meta.json".length)} not found`,
    );
  }
  const slash = rest.indexOf("/");
  return jsrError(
    "notFound",
    `File ${slash > 0 ? rest.slice(slash) : "/"} of @${scope}/${name}@${
      rest.slice(0, slash)
    } not found`,
  );
}
