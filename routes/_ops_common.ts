/**
 * Helpers shared by the operations middleware: the matched route pattern and
 * safe header edits on a finished response.
 *
 * @module
 */
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";

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
 * path: the last matched entry whose handler takes no `next` (middleware
 * takes `(c, next)`; route handlers take `(c)`), skipping catch-alls
 * (`*`, `/*`). `unmatched` when there is none, so a scan of random URLs cannot
 * blow up the label set.
 */
export function routePattern(c: Context): string {
  let routes;
  try {
    routes = matchedRoutes(c);
  } catch {
    return UNMATCHED_ROUTE;
  }
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i]!;
    const handler = (r.handler as unknown as Record<string, unknown>)[COMPOSED_HANDLER] ??
      r.handler;
    if (typeof handler === "function" && handler.length >= 2) continue;
    if (r.path === "*" || r.path === "/*") continue;
    return r.path;
  }
  return UNMATCHED_ROUTE;
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
