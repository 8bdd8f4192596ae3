/**
 * The cost of the operations stack: a plain small JSON read and a cached 304,
 * each on a bare app and on one with the whole stack as the server mounts it
 * (the fused `opsStack`: request id + JSON log to a no-op sink, HTTP metrics,
 * local-mode general and failed-auth limits, compression; see `_ops_apps.ts`).
 * Measured in process via `app.fetch` (the stack against the bare Hono
 * dispatch alone), and over a real socket on 127.0.0.1 with a `fetch` client
 * in the same process. `load.ts` drives the same two apps with wrk from
 * another core (server CPU per request). Run: `deno bench -A bench/ops_bench.ts`.
 *
 * @module
 */
import type { Hono } from "hono";
import { bareApp, CACHED_PATH, JSON_PATH, stackedApp } from "./_ops_apps.ts";

const bare = bareApp();
const stacked = stackedApp();

const env = { remoteAddr: { hostname: "192.0.2.1", port: 5000, transport: "tcp" } };
const headers = { "accept-encoding": "gzip, deflate, br", "user-agent": "bench" };
const etag = (await bare.fetch(new Request(`http://x${CACHED_PATH}`))).headers.get("etag")!;
const conditional = { ...headers, "if-none-match": etag };

async function inProcess(app: Hono, path: string, h: Record<string, string>, status: number) {
  const res = await app.fetch(new Request(`http://registry.test${path}`, { headers: h }), env);
  await res.arrayBuffer();
  if (res.status !== status) {
    throw new Error(`Expected ${status} from '${path}' (got '${res.status}')`);
  }
}

Deno.bench("small JSON read, bare", { group: "json in process", baseline: true }, async () => {
  await inProcess(bare, JSON_PATH, headers, 200);
});
Deno.bench("small JSON read, whole stack", { group: "json in process" }, async () => {
  await inProcess(stacked, JSON_PATH, headers, 200);
});
Deno.bench("cached 304, bare", { group: "304 in process", baseline: true }, async () => {
  await inProcess(bare, CACHED_PATH, conditional, 304);
});
Deno.bench("cached 304, whole stack", { group: "304 in process" }, async () => {
  await inProcess(stacked, CACHED_PATH, conditional, 304);
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
  await overSocket(bareUrl, JSON_PATH, headers, 200);
});
Deno.bench("small JSON read, whole stack", { group: "json over a socket" }, async () => {
  await overSocket(stackedUrl, JSON_PATH, headers, 200);
});
Deno.bench("cached 304, bare", { group: "304 over a socket", baseline: true }, async () => {
  await overSocket(bareUrl, CACHED_PATH, conditional, 304);
});
Deno.bench("cached 304, whole stack", { group: "304 over a socket" }, async () => {
  await overSocket(stackedUrl, CACHED_PATH, conditional, 304);
});
