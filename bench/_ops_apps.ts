/**
 * The two apps the operations-stack benchmarks compare: the same two routes
 * (a plain small JSON read and a cacheable JSON answered 304 when revalidated)
 * bare, and under the fused stack as the server mounts it (request id + JSON
 * log to a no-op sink, HTTP metrics, local-mode general and failed-auth
 * limits, compression). Used in process by `ops_bench.ts` and over wrk by
 * `_ops_server.ts` (driven from `load.ts`).
 *
 * @module
 */
import { Hono } from "hono";
import { clientIp } from "../routes/ops/mod.ts";
import { opsStack } from "../routes/ops/_stack.ts";
import { respondWithJson } from "../routes/shared/_blob_response.ts";
import { RateLimiter } from "../core/rate_limit.ts";
import { MemoryRegistryStorage } from "../storage/memory.ts";

const VALUE = { name: "@acme/widget", latest: "1.2.3", versions: ["1.2.3", "1.2.2", "1.2.1"] };

/** Path of the plain small JSON read (`c.json`). */
export const JSON_PATH = "/pkg/acme/widget";
/** Path of the cacheable JSON (strong ETag) the 304 case revalidates. */
export const CACHED_PATH = "/cached/acme/widget";

function routes(app: Hono): Hono {
  app.get("/pkg/:scope/:name", (c) => c.json(VALUE));
  app.get(
    "/cached/:scope/:name",
    (c) => respondWithJson(c, VALUE, { cacheControl: "public, max-age=60" }),
  );
  return app;
}

/** The routes alone. */
export function bareApp(): Hono {
  return routes(new Hono());
}

/** The routes under the whole fused stack, as `routes/app.ts` mounts it. */
export function stackedApp(): Hono {
  const storage = new MemoryRegistryStorage();
  const clock = () => new Date();
  const limiter = new RateLimiter({ storage, clock }, {
    name: "bench",
    limit: 1_000_000_000,
    mode: "local",
  });
  const failures = new RateLimiter({ storage, clock }, {
    name: "authfail",
    limit: 1_000_000,
    mode: "local",
  });
  const app = new Hono();
  app.use(opsStack({
    key: (c) => clientIp(c, false),
    general: limiter,
    authFailures: failures,
    onLimited: () => new Response(JSON.stringify({ code: "RATE_LIMIT_EXCEEDED" }), { status: 429 }),
    compress: {},
    log: () => {},
  }));
  return routes(app);
}
