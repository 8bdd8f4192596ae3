/**
 * Route tables: each surface lists its routes as rows of a method, a Hono path
 * and a small named handler that receives the request's context and the
 * surface's dependencies (built once by the surface's `create…Routes`). The
 * table is what a reader scans to find a route; {@linkcode mountRoutes} is the
 * one place that hands rows to Hono, in table order.
 *
 * A row is the place to grow per-route facts that more than one router needs
 * (for example a prepared answer to a hot read, see `docs/design.md`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { mountRoutes, type Route } from "./_route_table.ts";
 *
 * const hello = (_c: unknown, deps: { name: string }) => new Response(`hello ${deps.name}`);
 * const table: Route<{ name: string }>[] = [{ method: "GET", path: "/hello", handler: hello }];
 * const app = mountRoutes(new Hono(), table, { name: "rack" });
 * assert.equal(await (await app.request("/hello")).text(), "hello rack");
 * ```
 *
 * @module
 */
import type { Context, Env, Hono } from "hono";

/** The methods a row can answer; `ALL` is any method. */
export type RouteMethod =
  | "GET"
  | "HEAD"
  | "POST"
  | "PUT"
  | "PATCH"
  | "DELETE"
  | "OPTIONS"
  | "ALL";

/** A route's handler: the request's context and the surface's dependencies in, a response out. */
// deno-lint-ignore no-explicit-any
export type RouteHandler<D, E extends Env = any> = (
  c: Context<E>,
  deps: D,
) => Response | Promise<Response>;

/** One row of a surface's route table. */
// deno-lint-ignore no-explicit-any
export interface Route<D, E extends Env = any> {
  /** The method answered (`ALL`: any). */
  readonly method: RouteMethod;
  /** The Hono path pattern (`/registries/*`, `/api/scopes/:scope`). */
  readonly path: string;
  /** The handler, a named function of the surface's file. */
  readonly handler: RouteHandler<D, E>;
  /** Mount the row only when this answers true (routes behind an option). */
  readonly when?: (deps: D) => boolean;
}

/** Mount a table's rows on `app`, in order, each handler bound to `deps`; returns `app`. */
export function mountRoutes<D, E extends Env>(
  app: Hono<E>,
  table: readonly Route<D, E>[],
  deps: D,
): Hono<E> {
  for (const row of table) {
    if (row.when && !row.when(deps)) continue;
    const handler = (c: Context<E>) => row.handler(c, deps);
    if (row.method === "ALL") app.all(row.path, handler);
    else app.on(row.method, row.path, handler);
  }
  return app;
}
