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
import type { Authenticator } from "../../core/auth.ts";
import type { RegistryContext } from "../../core/context.ts";
import type { JsrReader } from "../../core/jsr/read.ts";
import type { GguiContext } from "../../core/ggui/_common.ts";
import { gguiPage } from "./_ggui_routes.tsx";
import { claims, htmlPage, SECURITY_HEADERS } from "./_http.ts";
import { renderPage, type Viewer } from "./_layout.tsx";
import { fileBrowser, home, packagePage, rawFile } from "./_reader_routes.tsx";
import { STYLESHEET } from "./_style.ts";
import { openSession } from "../../core/sessions.ts";
import { cookieOf, SESSION_COOKIE, setCookie } from "./_cookies.ts";
import { signIn, signInForm, signOut } from "./_session_routes.tsx";
import { auditPage, createTokenForm, revokeTokenForm, tokensPage } from "./_operator_routes.tsx";
import { NotFoundBody } from "./_pages.tsx";
import type { LiveSubscriptions } from "../../core/webhook_subscriptions.ts";
import type { TargetGuard } from "../../core/net_guard.ts";
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

/** Options of {@linkcode createUiRoutes}. */
export interface UiRoutesOptions {
  /** Storage, blobs and clock. */
  ctx: RegistryContext;
  /** The one identity chain (sign-in checks a pasted token with it). */
  authenticator: Authenticator;
  /** The client IP of a request (audit records). */
  clientIp?: (c: Context) => string;
  /** The ggui surface's context, for gadget and blueprint pages (absent: none). */
  ggui?: GguiContext;
  /** The live webhook subscriptions (webhooks.json's and stored), refreshed after a change. */
  liveSubscriptions?: LiveSubscriptions;
  /** Checks a new subscription's URL (as the admin API does). */
  webhookGuard?: TargetGuard;
  /** The dashboard's samples (made by {@linkcode createUiRoutes} when absent). */
  metricsRing?: MetricsRing;
}

/** What every page handler gets: the options, the reader and the header's viewer. */
export interface UiRequest {
  /** The Hono context. */
  c: Context;
  /** The options the surface was made with. */
  options: UiRoutesOptions;
  /** Who reads (the signed-in principal, or `null`). */
  reader: JsrReader;
  /** The header's view of them. */
  viewer: Viewer;
}

/** A page handler of the route table. */
export type UiHandler = (req: UiRequest) => Promise<Response>;

/** The not-found page's status and body for this viewer (also what a hidden package shows). */
export async function notFound(req: UiRequest): Promise<Response> {
  const html = await renderPage("Not found", req.viewer, NotFoundBody());
  return htmlPage(req.c.req.raw, html, { status: 404 });
}

/** The stylesheet, immutable per process text; revalidated by ETag. */
function stylesheet(c: Context): Response {
  const res = htmlPage(c.req.raw, STYLESHEET);
  res.headers.set("content-type", "text/css; charset=utf-8");
  res.headers.set("cache-control", "public, max-age=300");
  res.headers.delete("vary");
  return res;
}

/** The request with its reader: the session cookie's principal, if the session is live. */
async function uiRequest(c: Context, options: UiRoutesOptions): Promise<UiRequest> {
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

/**
 * The web surface as one middleware: requests it claims get a page, all
 * others go on to the wire surfaces untouched.
 */
export function createUiRoutes(given: UiRoutesOptions): MiddlewareHandler {
  const options = { ...given, metricsRing: given.metricsRing ?? new MetricsRing() };
  const ring = options.metricsRing;
  const app = new Hono();
  const page = (handler: UiHandler) => async (c: Context) => {
    const req = await uiRequest(c, options);
    const res = await handler(req);
    // A cookie naming no live session (signed out elsewhere, revoked, expired) is cleared.
    if (req.reader === null && cookieOf(c.req.raw, SESSION_COOKIE) !== undefined) {
      res.headers.append("set-cookie", setCookie(c.req.raw, SESSION_COOKIE, "", 0));
    }
    return res;
  };
  // The route table: one small named handler per page.
  app.get("/", page(home));
  app.get("/ui/style.css", stylesheet);
  app.get("/ui/files/*", page(fileBrowser));
  app.get("/ui/raw/*", page(rawFile));
  app.get("/ui/ggui/*", page(gguiPage));
  app.get("/:scope{@[^/]+}/:pkg", page(packagePage));
  app.get("/ui/sign-in", page(signInForm));
  app.post("/ui/sign-in", page(signIn));
  app.post("/ui/sign-out", page(signOut));
  app.get("/ui/tokens", page(tokensPage));
  app.post("/ui/tokens", page(createTokenForm));
  app.post("/ui/tokens/:id/revoke", page(revokeTokenForm));
  app.get("/ui/audit", page(auditPage));
  app.get("/ui/webhooks", page(webhooksPage));
  app.post("/ui/webhooks", page(createWebhookForm));
  app.post("/ui/webhooks/:id/delete", page(deleteWebhookForm));
  app.post("/ui/webhooks/deliveries/:id/retry", page(retryDeliveryForm));
  app.get("/ui/gc", page(gcPage));
  app.post("/ui/gc", page(runGcForm));
  app.get("/ui/dashboard", page(dashboardPage));
  app.notFound((c) => page(notFound)(c));
  app.onError(() =>
    new Response("500 Internal Server Error", {
      status: 500,
      headers: { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8" },
    })
  );
  return async (c, next) => {
    ring.tick(Date.now());
    if (!claims(c.req.raw, c.req.path)) return await next();
    return await app.fetch(c.req.raw, c.env);
  };
}
