/** @jsxImportSource hono/jsx */
/**
 * What every page handler of the site stands on: the surface's options, a
 * request with its reader, and the not-found page (also what a hidden package
 * renders). Kept apart from `mod.ts`, which imports every page module, so no
 * page module imports it back.
 *
 * @module
 */
import type { Context } from "hono";
import type { Authenticator } from "../../core/auth.ts";
import type { RegistryContext } from "../../core/context.ts";
import type { RackAuth } from "../../core/rack/auth.ts";
import type { JsrReader } from "../../core/jsr/read.ts";
import type { GguiContext } from "../../core/ggui/_common.ts";
import type { LiveSubscriptions } from "../../core/webhook_subscriptions.ts";
import type { TargetGuard } from "../../core/net_guard.ts";
import type { DocRunner } from "./_api_docs.ts";
import { htmlPage } from "./_http.ts";
import { renderPage, type Viewer } from "./_layout.tsx";
import type { MetricsRing } from "./_ops_metrics.tsx";
import { NotFoundBody } from "./_pages.tsx";

/** Options of the web surface (`createUiRoutes` in `mod.ts`). */
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
  /** The dashboard's samples (made by `createUiRoutes` when absent). */
  metricsRing?: MetricsRing;
  /** Rack's auth.json policy, for Rack package and namespace pages (absent: none declared). */
  rackAuth?: () => Promise<RackAuth>;
  /**
   * Runs `deno doc` for the API docs pages; default: the server's own deno
   * where it can spawn one, `null` (docs not generated) on Deno Deploy.
   */
  docRunner?: DocRunner | null;
  /** This registry's configured public URL: the only origin `deno doc` may import from. */
  selfOrigin?: string;
}

/** The options as the surface holds them: its route table's dependencies. */
export type UiDeps = UiRoutesOptions & { metricsRing: MetricsRing };

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
