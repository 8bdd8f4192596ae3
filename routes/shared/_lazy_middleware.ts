/**
 * A middleware whose code loads with the first request that reaches it, for
 * parts of the app that only some configurations mount (the upstream reads):
 * a start does not evaluate them before its first answer (docs/bench.md, start-up).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { lazily } from "../../base/lazy.ts";

/**
 * A middleware that runs what `build` answers, built once on the first
 * request (a failed build is tried again on the next).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { lazyMiddleware } from "./_lazy_middleware.ts";
 * let built = 0;
 * const app = new Hono();
 * app.use(lazyMiddleware(() => {
 *   built++;
 *   return Promise.resolve(async (c, next) => {
 *     await next();
 *     c.res.headers.set("x-seen", "1");
 *   });
 * }));
 * app.get("/", (c) => c.text("hi"));
 * assert.equal(built, 0);
 * assert.equal((await app.request("/")).headers.get("x-seen"), "1");
 * await app.request("/");
 * assert.equal(built, 1);
 * ```
 */
export function lazyMiddleware(build: () => Promise<MiddlewareHandler>): MiddlewareHandler {
  const ready = lazily(build);
  return async (c, next) => await (await ready())(c, next);
}
