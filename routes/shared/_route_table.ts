/**
 * Route tables: each surface lists its routes as rows of a method, a Hono path
 * and a small named handler that receives the request's context and the
 * surface's dependencies (built once by the surface's `create…Routes`). The
 * table is what a reader scans to find a route; {@linkcode mountRoutes} is the
 * one place that hands rows to Hono, in table order.
 *
 * A row may also carry a `prepared` read: the same route answered from a
 * prepared response, without Hono's dispatch. {@linkcode preparedMatcher} is
 * the table's second consumer: it compiles the `GET` rows of the mounted
 * tables, in mounting order, into the matcher the prepared-read path
 * (`_prepared_reads.ts`) takes, so a hot read is declared once, in the row of
 * the route it answers (see `docs/design.md`).
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

/** One answer of a prepared read. */
export interface FastAnswer {
  /**
   * Build the response, as the Hono route would return it (fresh: its headers
   * may be edited); a rejected promise declines. Not called when the answer's
   * `key` is kept.
   */
  build(): Response | Promise<Response>;
  /**
   * Set when the response is fully determined by this key (immutable content,
   * fixed headers): what compression makes of it is kept under the key, and
   * later requests may be answered without building it.
   */
  key?: string;
  /** Who the request acts for, when the surface authenticated it (the log line's `subject`). */
  subject?: string;
}

/** A request the prepared-read path can answer. */
export interface FastRoute {
  /** The route pattern, exactly as the Hono route is registered (the metrics label). */
  route: string;
  /** Answer it, at once when it can; `null` to decline (the Hono app answers instead). */
  answer(): FastAnswer | null | Promise<FastAnswer | null>;
}

/** Find the prepared read of a GET or HEAD request by its path (no `%`, no query). */
export type FastMatcher = (req: Request, path: string) => FastRoute | null;

/** A route's path parameters, by name (`*` has none). */
export type RouteParams = Readonly<Record<string, string>>;

/**
 * A row's prepared read of a GET (or HEAD): the answer its `handler` would
 * give, built from the request and its path parameters, or `null` to decline
 * (anything unusual: the Hono route answers, and counts, instead). A thrown
 * error or a rejected promise declines too.
 */
export type PreparedRead<D> = (
  req: Request,
  params: RouteParams,
  deps: D,
) => FastAnswer | null | Promise<FastAnswer | null>;

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
  /** A `GET` row's prepared read (see {@linkcode PreparedRead}). */
  readonly prepared?: PreparedRead<D>;
}

/** A table with the dependencies it is mounted with. */
// deno-lint-ignore no-explicit-any
export interface BoundTable<D, E extends Env = any> {
  /** The rows, in mounting order. */
  readonly table: readonly Route<D, E>[];
  /** What every handler (and prepared read) receives. */
  readonly deps: D;
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

/** A compiled row: its pattern, parameter names, and its prepared read if it has one. */
interface CompiledRow {
  route: string;
  /** The pattern's literal start: a cheap first test. */
  prefix: string;
  re: RegExp;
  names: string[];
  answer?: (req: Request, params: RouteParams) => ReturnType<PreparedRead<unknown>>;
}

/**
 * A Hono path pattern as a regular expression over a decoded path: `:name`
 * is one segment, `:name{re}` matches `re` (which may span segments), a
 * final `/*` matches the bare prefix too, any other `*` anything.
 */
export function patternRegExp(path: string): { re: RegExp; names: string[] } {
  const names: string[] = [];
  const rest = path.endsWith("/*") ? path.slice(0, -2) : path;
  let source = "";
  const token = /:(\w+)(\{((?:[^{}]|\{[^{}]*\})*)\})?|\*|[^:*]+/g;
  for (const [all, name, , re] of rest.matchAll(token)) {
    if (name !== undefined) {
      names.push(name);
      source += `(${re ?? "[^/]+"})`;
    } else if (all === "*") source += ".*";
    else source += all.replace(/[.+?^${}()|[\]\\]/g, "\\$&");
  }
  if (rest !== path) source += "(?:/.*)?";
  return { re: new RegExp(`^${source}$`), names };
}

/**
 * What every path a pattern matches starts with (the matcher's cheap first
 * test): its literal start, and the literal start of a first parameter's
 * expression (`/:scope{@[^/]+}/:name` → `/@`), so a surface whose paths begin
 * with a parameter is passed over without a regular expression. A final `/*`
 * also matches the bare prefix, so a trailing slash is left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { literalStart } from "./_route_table.ts";
 * assert.equal(literalStart("/:scope{@[^/]+}/:name/meta.json"), "/@");
 * assert.equal(literalStart("/registries/*"), "/registries");
 * ```
 */
export function literalStart(path: string): string {
  const head = /^[^:*]*/.exec(path)![0];
  // A first parameter's literal start, unless an alternative or a
  // quantifier makes it uncertain (`{a|b}`, `{ab?}`): then none.
  const param = /^:\w+\{([\w@-]+)([^{}|]*)\}/.exec(path.slice(head.length));
  if (param !== null && !/^[?*+{]/.test(param[2]!)) return head + param[1];
  return head.replace(/\/$/, "");
}

/**
 * The matcher of the rows carrying a `prepared` read, over tables in mounting
 * order. A request takes the first `GET` (or `ALL`) row whose pattern matches
 * its path, as Hono's dispatch would: when that row has no prepared read, the
 * matcher answers `null` and the Hono app answers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preparedMatcher, type Route } from "./_route_table.ts";
 *
 * const table: Route<string>[] = [
 *   { method: "GET", path: "/a/:id", handler: () => new Response("hono"),
 *     prepared: (_req, p, deps) => ({ build: () => new Response(`${deps} ${p.id}`) }) },
 * ];
 * const match = preparedMatcher([{ table, deps: "fast" }]);
 * const route = match(new Request("http://x/a/1"), "/a/1");
 * assert.equal(route?.route, "/a/:id");
 * assert.equal(match(new Request("http://x/b"), "/b"), null);
 * ```
 */
export function preparedMatcher(
  // deno-lint-ignore no-explicit-any
  tables: readonly BoundTable<any>[],
): FastMatcher {
  const rows: CompiledRow[] = [];
  for (const { table, deps } of tables) {
    for (const row of table) {
      if (row.method !== "GET" && row.method !== "ALL") continue;
      if (row.when && !row.when(deps)) continue;
      const prepared = row.method === "GET" ? row.prepared : undefined;
      rows.push({
        route: row.path,
        prefix: literalStart(row.path),
        ...patternRegExp(row.path),
        ...(prepared ? { answer: (req, params) => prepared(req, params, deps) } : {}),
      });
    }
  }
  const { bySegment, others } = indexBySegment(rows);
  return (req, path) => {
    const end = path.indexOf("/", 1);
    const candidates = bySegment.get(end < 0 ? path.slice(1) : path.slice(1, end)) ?? others;
    for (const row of candidates) {
      if (!path.startsWith(row.prefix)) continue;
      const found = row.re.exec(path);
      if (found === null) continue;
      const answer = row.answer;
      if (answer === undefined) return null;
      const params: Record<string, string> = {};
      const names = row.names;
      for (let i = 0; i < names.length; i++) params[names[i]!] = found[i + 1]!;
      return { route: row.route, answer: () => answer(req, params) };
    }
    return null;
  };
}

/**
 * The rows a path can match, by its first segment: the rows whose pattern
 * starts with that literal segment and those whose first segment is not
 * literal (`/:x`, `/@:scope`, `/*`), in table order; `others` (the latter
 * alone) for any other first segment. First match wins as before.
 */
function indexBySegment(
  rows: readonly CompiledRow[],
): { bySegment: Map<string, CompiledRow[]>; others: CompiledRow[] } {
  const literal = (row: CompiledRow) => {
    if (!row.route.startsWith("/")) return null;
    const first = row.route.split("/")[1]!;
    return /[:*{]/.test(first) ? null : first;
  };
  const keys = new Set(rows.map(literal).filter((k) => k !== null));
  const bySegment = new Map<string, CompiledRow[]>();
  for (const key of keys) {
    bySegment.set(key, rows.filter((row) => literal(row) === key || literal(row) === null));
  }
  return { bySegment, others: rows.filter((row) => literal(row) === null) };
}
