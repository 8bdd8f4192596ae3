/**
 * The cost of the operations stack: a plain small JSON read and a cached 304,
 * each on a bare app and on one with the whole stack as the server mounts it
 * (the fused `opsStack`: request id + JSON log to a no-op sink, HTTP metrics,
 * local-mode general and failed-auth limits, compression). Measured in process via `app.fetch` (the stack against the
 * bare Hono dispatch alone), and over a real socket on 127.0.0.1 (what a
 * client sees). Run: `deno bench -A bench/ops_bench.ts`.
 *
 * @module
 */
import { Hono } from "hono";
import { clientIp } from "../routes/_ops.ts";
import { opsStack } from "../routes/_ops_stack.ts";
import { respondWithJson } from "../routes/_blob_response.ts";
import { RateLimiter } from "../core/rate_limit.ts";
import { MemoryRegistryStorage } from "../storage/memory.ts";

const VALUE = { name: "@acme/widget", latest: "1.2.3", versions: ["1.2.3", "1.2.2", "1.2.1"] };

function routes(app: Hono): Hono {
  app.get("/pkg/:scope/:name", (c) => c.json(VALUE));
  app.get(
    "/cached/:scope/:name",
    (c) => respondWithJson(c, VALUE, { cacheControl: "public, max-age=60" }),
  );
  return app;
}

const bare = routes(new Hono());

const storage = new MemoryRegistryStorage();
const limiter = new RateLimiter({ storage, clock: () => new Date() }, {
  name: "bench",
  limit: 1_000_000_000,
  mode: "local",
});
const failures = new RateLimiter({ storage, clock: () => new Date() }, {
  name: "authfail",
  limit: 1_000_000,
  mode: "local",
});
// The stack the server mounts (routes/app.ts): one fused middleware.
const stacked = new Hono();
stacked.use(opsStack({
  key: (c) => clientIp(c, false),
  general: limiter,
  authFailures: failures,
  onLimited: () => new Response(JSON.stringify({ code: "RATE_LIMIT_EXCEEDED" }), { status: 429 }),
  compress: {},
  log: () => {},
}));
routes(stacked);

const env = { remoteAddr: { hostname: "192.0.2.1", port: 5000, transport: "tcp" } };
const headers = { "accept-encoding": "gzip, deflate, br", "user-agent": "bench" };
const etag = (await bare.fetch(new Request("http://x/cached/acme/widget"))).headers.get("etag")!;
const conditional = { ...headers, "if-none-match": etag };

async function inProcess(app: Hono, path: string, h: Record<string, string>, status: number) {
  const res = await app.fetch(new Request(`http://registry.test${path}`, { headers: h }), env);
  await res.arrayBuffer();
  if (res.status !== status) {
    throw new Error(`Expected ${status} from '${path}' (got '${res.status}')`);
  }
}

Deno.bench("small JSON read, bare", { group: "json in process", baseline: true }, async () => {
  await inProcess(bare, "/pkg/acme/widget", headers, 200);
});
Deno.bench("small JSON read, whole stack", { group: "json in process" }, async () => {
  await inProcess(stacked, "/pkg/acme/widget", headers, 200);
});
Deno.bench("cached 304, bare", { group: "304 in process", baseline: true }, async () => {
  await inProcess(bare, "/cached/acme/widget", conditional, 304);
});
Deno.bench("cached 304, whole stack", { group: "304 in process" }, async () => {
  await inProcess(stacked, "/cached/acme/widget", conditional, 304);
});

// Over a real socket: both servers stay up for the whole run (bench files have
// no teardown hook); the process exits when deno bench is done.
const quiet = { hostname: "127.0.0.1", port: 0, onListen: () => {} };
const bareServer = Deno.serve(quiet, bare.fetch);
const stackedServer = Deno.serve(quiet, stacked.fetch);
const bareUrl = `http://127.0.0.1:${bareServer.addr.port}`;
const stackedUrl = `http://127.0.0.1:${stackedServer.addr.port}`;
bareServer.unref();
stackedServer.unref();

async function overSocket(base: string, path: string, h: Record<string, string>, status: number) {
  const res = await fetch(`${base}${path}`, { headers: h });
  await res.arrayBuffer();
  if (res.status !== status) {
    throw new Error(`Expected ${status} from '${path}' (got '${res.status}')`);
  }
}

Deno.bench("small JSON read, bare", { group: "json over a socket", baseline: true }, async () => {
  await overSocket(bareUrl, "/pkg/acme/widget", headers, 200);
});
Deno.bench("small JSON read, whole stack", { group: "json over a socket" }, async () => {
  await overSocket(stackedUrl, "/pkg/acme/widget", headers, 200);
});
Deno.bench("cached 304, bare", { group: "304 over a socket", baseline: true }, async () => {
  await overSocket(bareUrl, "/cached/acme/widget", conditional, 304);
});
Deno.bench("cached 304, whole stack", { group: "304 over a socket" }, async () => {
  await overSocket(stackedUrl, "/cached/acme/widget", conditional, 304);
});
