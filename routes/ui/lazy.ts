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
import type { UiDeps, UiRoutesOptions } from "./_request.tsx";
import type { BoundTable, PreparedRead, Route, RouteParams } from "../shared/_route_table.ts";

const pages = lazily(() => import("./mod.ts"));
const packageSearch = lazily(() => import("./_api_packages.ts"));

/**
 * The paths of the pages' rows that have a prepared read (`UI_ROUTES` in
 * `mod.ts`; tests/ui_prepared_pages_test.ts keeps the two lists equal).
 */
export const PREPARED_PAGE_PATHS: readonly string[] = ["/", "/:scope{@[^/]+}/:pkg"];

/** The pages loaded: their middleware, and their prepared reads by path, bound to their deps. */
interface LoadedPages {
  routes: MiddlewareHandler;
  prepared: Map<string, (req: Request, params: RouteParams) => ReturnType<PreparedRead<UiDeps>>>;
}

/**
 * The web surface loaded on first use, as `uiRouteTable()` and
 * `createUiRoutes()` in `mod.ts` make it: `middleware` answers the requests
 * the pages claim, loading them with the first one; `bound` holds the rows
 * whose prepared reads answer signed-out pages before Hono. Until the pages
 * have loaded those reads decline, so the first page request goes through
 * `middleware` (which loads them) and later ones are prepared.
 */
export function lazyUi(
  given: UiRoutesOptions,
): { middleware: MiddlewareHandler; bound: BoundTable<UiDeps> } {
  const options = { ...given, metricsRing: given.metricsRing ?? new MetricsRing() };
  const ring = options.metricsRing;
  let loaded: LoadedPages | undefined;
  // Built once, however many first requests arrive together.
  const build = lazily(async () => {
    const mod = await pages();
    const bound = mod.uiRouteTable(options);
    const prepared: LoadedPages["prepared"] = new Map();
    for (const { path, prepared: read } of bound.table) {
      if (read !== undefined) prepared.set(path, (req, params) => read(req, params, bound.deps));
    }
    loaded = { routes: mod.createUiRoutes(bound.deps, bound), prepared };
    return loaded;
  });
  const middleware: MiddlewareHandler = async (c, next) => {
    if (loaded !== undefined) return await loaded.routes(c, next);
    ring.tick(Date.now());
    if (!claims(c.req.raw, c.req.path)) return await next();
    return await (await build()).routes(c, next);
  };
  const preparedOf = (path: string): PreparedRead<UiDeps> => (req, params) =>
    loaded?.prepared.get(path)?.(req, params) ?? null;
  const table: Route<UiDeps>[] = PREPARED_PAGE_PATHS.map((path) => ({
    method: "GET",
    path,
    // Never mounted: `middleware` mounts the pages' own table.
    handler: () => new Response(null, { status: 404 }),
    prepared: preparedOf(path),
  }));
  return { middleware, bound: { table, deps: options } };
}

/** `GET /api/packages`, as `packageSearchApi()` in `_api_packages.ts`, loaded on first use. */
export function lazyPackageSearchApi(
  options: { ctx: RegistryContext; authenticator: Authenticator },
): (c: Context) => Promise<Response> {
  const handler = lazily(async () => (await packageSearch()).packageSearchApi(options));
  return async (c) => await (await handler())(c);
}
