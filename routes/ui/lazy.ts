/**
 * The web pages, loaded with the first request they claim instead of at
 * start-up: the page modules, their JSX and what they read are a good part of
 * what a start evaluates (docs/bench.md, start-up), and an API or CLI client
 * never asks for a page. What every request needs stays here: which requests
 * the pages claim (`_http.ts`) and the dashboard's history, which counts
 * every request from the first.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Authenticator } from "../../core/auth.ts";
import type { RegistryContext } from "../../core/context.ts";
import { lazily } from "../../base/lazy.ts";
import { claims } from "./_http.ts";
import { MetricsRing } from "./_ops_metrics.tsx";
import type { UiRoutesOptions } from "./_request.tsx";

const pages = lazily(() => import("./mod.ts"));
const packageSearch = lazily(() => import("./_api_packages.ts"));

/**
 * The web surface as one middleware, as `createUiRoutes()` in `mod.ts` makes
 * it, with the pages loaded on the first request they claim.
 */
export function lazyUiRoutes(given: UiRoutesOptions): MiddlewareHandler {
  const options = { ...given, metricsRing: given.metricsRing ?? new MetricsRing() };
  const ring = options.metricsRing;
  // Built once, however many first requests arrive together.
  const build = lazily(async () => (await pages()).createUiRoutes(options));
  let routes: MiddlewareHandler | undefined;
  return async (c, next) => {
    if (routes !== undefined) return await routes(c, next);
    ring.tick(Date.now());
    if (!claims(c.req.raw, c.req.path)) return await next();
    routes = await build();
    return await routes(c, next);
  };
}

/** `GET /api/packages`, as `packageSearchApi()` in `_api_packages.ts`, loaded on first use. */
export function lazyPackageSearchApi(
  options: { ctx: RegistryContext; authenticator: Authenticator },
): (c: Context) => Promise<Response> {
  const handler = lazily(async () => (await packageSearch()).packageSearchApi(options));
  return async (c) => await (await handler())(c);
}
