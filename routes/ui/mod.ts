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
import { notFound, type UiHandler, type UiRequest, type UiRoutesOptions } from "./_request.tsx";
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
export type { UiHandler, UiRequest, UiRoutesOptions } from "./_request.tsx";

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
  const options = {
    ...given,
    metricsRing: given.metricsRing ?? new MetricsRing(),
    docRunner: given.docRunner !== undefined
      ? given.docRunner
      : (canSpawn() ? denoDocRunner() : null),
  };
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
  app.get("/ui/style.css", asset(STYLESHEET, "text/css"));
  // The one script of the pages: same origin, no inline script (the CSP allows 'self' only).
  app.get("/ui/copy.js", asset(COPY_SCRIPT, "text/javascript"));
  app.get("/ui/rack/*", page(rackPage));
  app.get("/ui/doc/*", page(async (req) => (await docRoutes()).docsPage(req)));
  app.get("/ui/files/*", page(fileBrowser));
  app.get("/ui/raw/*", page(rawFile));
  app.get("/ui/ggui/*", page(gguiPage));
  app.get("/:scope{@[^/]+}/:pkg", page(packagePage));
  app.get("/:scope{@[^/]+}", page(namespacePage));
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
