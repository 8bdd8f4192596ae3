/**
 * The web pages for people: a fifth surface over the same core as the wire
 * surfaces, server-rendered with Hono's JSX, one stylesheet, no script.
 * Mounted by routes/app.ts as one middleware that answers what
 * {@linkcode claims} claims and passes everything else on untouched; the
 * URL map is in docs/ui.md.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { gguiPage } from "./_ggui_routes.tsx";
import { claims, htmlPage, SECURITY_HEADERS } from "./_http.ts";
import { fileBrowser, home, packagePage, rawFile } from "./_reader_routes.tsx";
import { STYLESHEET } from "./_style.ts";
import { openSession } from "../../core/sessions.ts";
import { cookieOf, SESSION_COOKIE, setCookie } from "./_cookies.ts";
import { signIn, signInForm, signOut } from "./_session_routes.tsx";
import { auditPage, createTokenForm, revokeTokenForm, tokensPage } from "./_operator_routes.tsx";
import {
  notFound,
  type UiDeps,
  type UiHandler,
  type UiRequest,
  type UiRoutesOptions,
} from "./_request.tsx";
import {
  type BoundTable,
  mountRoutes,
  type Route,
  type RouteHandler,
} from "../shared/_route_table.ts";
import { preparedHome, preparedPackagePage } from "./_prepared_pages.ts";
import { lazily } from "../../base/lazy.ts";
import { MetricsRing } from "./_ops_metrics.tsx";
import {
  createWebhookForm,
  dashboardPage,
  deleteWebhookForm,
  gcPage,
  retryDeliveryForm,
  runGcForm,
  webhooksPage,
} from "./_ops_pages.tsx";
import { rackPage } from "./_rack_routes.tsx";
import { namespacePage } from "./_namespace_routes.tsx";
import { COPY_SCRIPT } from "./_copy_script.ts";
import { canSpawn, denoDocRunner } from "./_api_docs.ts";

export { packageSearchApi } from "./_api_packages.ts";
export type { UiDeps, UiHandler, UiRequest, UiRoutesOptions } from "./_request.tsx";

/** The API docs pages (and the highlighter and Markdown they use) load with the first one. */
const docRoutes = lazily(() => import("./_doc_routes.tsx"));

/** A static asset (stylesheet, script): immutable per process text, revalidated by ETag. */
function asset(text: string, type: string) {
  return (c: Context): Response => {
    const res = htmlPage(c.req.raw, text);
    res.headers.set("content-type", `${type}; charset=utf-8`);
    res.headers.set("cache-control", "public, max-age=300");
    res.headers.delete("vary");
    return res;
  };
}

/** The request with its reader: the session cookie's principal, if the session is live. */
async function uiRequest(c: Context, options: UiDeps): Promise<UiRequest> {
  const secret = cookieOf(c.req.raw, SESSION_COOKIE);
  const session = secret === undefined
    ? null
    : await openSession(options.ctx, secret, options.authenticator);
  if (session === null) return { c, options, reader: null, viewer: {} };
  return {
    c,
    options,
    reader: session.principal,
    viewer: {
      subject: session.principal.subject,
      csrf: session.csrf,
      ...(session.principal.admin ? { admin: true } : {}),
    },
  };
}

/** A page handler as a route handler: the request's reader worked out first. */
function page(handler: UiHandler): RouteHandler<UiDeps> {
  return async (c, deps) => {
    const req = await uiRequest(c, deps);
    const res = await handler(req);
    // A cookie naming no live session (signed out elsewhere, revoked, expired) is cleared.
    if (req.reader === null && cookieOf(c.req.raw, SESSION_COOKIE) !== undefined) {
      res.headers.append("set-cookie", setCookie(c.req.raw, SESSION_COOKIE, "", 0));
    }
    return res;
  };
}

/**
 * The route table: one small named handler per page. The signed-out home
 * and package pages also have prepared reads (`_prepared_pages.ts`).
 */
const UI_ROUTES: readonly Route<UiDeps>[] = [
  { method: "GET", path: "/", handler: page(home), prepared: preparedHome },
  { method: "GET", path: "/ui/style.css", handler: asset(STYLESHEET, "text/css") },
  // The one script of the pages: same origin, no inline script (the CSP allows 'self' only).
  { method: "GET", path: "/ui/copy.js", handler: asset(COPY_SCRIPT, "text/javascript") },
  { method: "GET", path: "/ui/rack/*", handler: page(rackPage) },
  { method: "GET", path: "/ui/doc/*", handler: page(async (r) => (await docRoutes()).docsPage(r)) },
  { method: "GET", path: "/ui/files/*", handler: page(fileBrowser) },
  { method: "GET", path: "/ui/raw/*", handler: page(rawFile) },
  { method: "GET", path: "/ui/ggui/*", handler: page(gguiPage) },
  {
    method: "GET",
    path: "/:scope{@[^/]+}/:pkg",
    handler: page(packagePage),
    prepared: preparedPackagePage,
  },
  { method: "GET", path: "/:scope{@[^/]+}", handler: page(namespacePage) },
  { method: "GET", path: "/ui/sign-in", handler: page(signInForm) },
  { method: "POST", path: "/ui/sign-in", handler: page(signIn) },
  { method: "POST", path: "/ui/sign-out", handler: page(signOut) },
  { method: "GET", path: "/ui/tokens", handler: page(tokensPage) },
  { method: "POST", path: "/ui/tokens", handler: page(createTokenForm) },
  { method: "POST", path: "/ui/tokens/:id/revoke", handler: page(revokeTokenForm) },
  { method: "GET", path: "/ui/audit", handler: page(auditPage) },
  { method: "GET", path: "/ui/webhooks", handler: page(webhooksPage) },
  { method: "POST", path: "/ui/webhooks", handler: page(createWebhookForm) },
  { method: "POST", path: "/ui/webhooks/:id/delete", handler: page(deleteWebhookForm) },
  { method: "POST", path: "/ui/webhooks/deliveries/:id/retry", handler: page(retryDeliveryForm) },
  { method: "GET", path: "/ui/gc", handler: page(gcPage) },
  { method: "POST", path: "/ui/gc", handler: page(runGcForm) },
  { method: "GET", path: "/ui/dashboard", handler: page(dashboardPage) },
];

/**
 * The site's route table with its dependencies (the options, with the
 * dashboard's samples and the API docs' runner filled in). Its prepared
 * reads answer before Hono when the app mounts it with the other surfaces'
 * tables (routes/app.ts).
 */
export function uiRouteTable(given: UiRoutesOptions): BoundTable<UiDeps> {
  const deps: UiDeps = {
    ...given,
    metricsRing: given.metricsRing ?? new MetricsRing(),
    docRunner: given.docRunner !== undefined
      ? given.docRunner
      : (canSpawn() ? denoDocRunner() : null),
  };
  return { table: UI_ROUTES, deps };
}

/**
 * The web surface as one middleware: requests it claims get a page, all
 * others go on to the wire surfaces untouched.
 */
export function createUiRoutes(
  given: UiRoutesOptions,
  bound: BoundTable<UiDeps> = uiRouteTable(given),
): MiddlewareHandler {
  const { deps } = bound;
  const app = mountRoutes(new Hono(), bound.table, deps);
  app.notFound((c) => page(notFound)(c, deps));
  app.onError(() =>
    new Response("500 Internal Server Error", {
      status: 500,
      headers: { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" },
    })
  );
  return async (c, next) => {
    deps.metricsRing.tick(Date.now());
    if (!claims(c.req.raw, c.req.path)) return await next();
    return await app.fetch(c.req.raw, c.env);
  };
}
