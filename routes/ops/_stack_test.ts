import assert from "node:assert/strict";
import { Hono } from "hono";
import { MemoryRegistryStorage } from "../../storage/memory.ts";
import { RateLimiter } from "../../core/rate_limit.ts";
import { createOpsCore, opsStack } from "./_stack.ts";

function setup(options: { limit?: number; failures?: number; log?: string[] } = {}) {
  const ctx = {
    storage: new MemoryRegistryStorage(),
    clock: () => new Date("2026-11-22T00:00:30Z"),
  };
  const general = new RateLimiter(ctx, { name: "ip", limit: options.limit ?? 100, mode: "local" });
  const authFailures = new RateLimiter(ctx, {
    name: "authfail",
    limit: options.failures ?? 100,
    mode: "local",
  });
  const app = new Hono();
  app.use(opsStack({
    key: (c) => c.req.header("x-client") ?? "c1",
    general,
    authFailures,
    onLimited: (_c, retry) => new Response(JSON.stringify({ limited: retry }), { status: 429 }),
    ...(options.log ? { log: (line: string) => options.log!.push(line) } : {}),
  }));
  app.get("/ok", (c) => c.json({ ok: true }));
  app.get("/big", (c) => c.json({ pad: "x".repeat(5000) }));
  app.get("/denied", (c) => c.json({ error: "unauthorized" }, 401));
  return app;
}

Deno.test("opsStack() limits per client and labels responses with the Rack rate-limit headers", async () => {
  const app = setup({ limit: 2 });
  const a = await app.request("/ok");
  assert.equal(a.headers.get("x-ratelimit-limit"), "2");
  assert.equal(a.headers.get("x-ratelimit-remaining"), "1");
  assert.match(a.headers.get("x-ratelimit-reset")!, /^\d+$/);
  await app.request("/ok");
  const limited = await app.request("/ok");
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get("retry-after"), "30");
  assert.equal(limited.headers.get("ratelimit-policy"), '"ip";q=2;w=60');
  assert.equal(
    (await app.request("/ok", { headers: { "x-client": "c2" } })).status,
    200,
    "another client",
  );
});

Deno.test("opsStack() refuses a client after too many failed authentications only", async () => {
  const app = setup({ failures: 2 });
  for (let i = 0; i < 5; i++) {
    assert.equal((await app.request("/ok")).status, 200, "successes do not count");
  }
  assert.equal((await app.request("/denied")).status, 401);
  assert.equal((await app.request("/denied")).status, 401);
  const refused = await app.request("/ok");
  assert.equal(refused.status, 429);
  assert.deepEqual(await refused.json(), { limited: 30 });
});

Deno.test("opsStack() compresses large documents and logs one line per request with its id", async () => {
  const log: string[] = [];
  const app = setup({ log });
  const big = await app.request("/big", {
    headers: { "accept-encoding": "gzip", "x-request-id": "req-1" },
  });
  assert.equal(big.headers.get("content-encoding"), "gzip");
  assert.equal(big.headers.get("vary"), "Accept-Encoding");
  assert.equal(big.headers.get("x-request-id"), "req-1");
  const text = await new Response(big.body!.pipeThrough(new DecompressionStream("gzip"))).text();
  assert.equal(JSON.parse(text).pad.length, 5000);
  const small = await app.request("/ok", {
    headers: { "accept-encoding": "gzip", authorization: "Bearer s3cret" },
  });
  assert.equal(small.headers.get("content-encoding"), null, "small bodies are sent as they are");
  assert.equal(log.length, 2);
  const line = JSON.parse(log[1]!);
  assert.equal(line.route, "/ok");
  assert.equal(line.status, 200);
  assert.match(line.requestId, /^[0-9a-f-]{36}$/);
  assert.ok(!log.join("\n").includes("s3cret"), "no secret is ever logged");
});

Deno.test("opsStack() gives a HEAD the Content-Length of its GET, with compression on or off", async () => {
  for (const compress of [undefined, false] as const) {
    const app = new Hono();
    app.use(opsStack({
      key: () => "c1",
      onLimited: () => new Response(null, { status: 429 }),
      ...(compress === false ? { compress } : {}),
    }));
    app.get("/ok", (c) => c.json({ ok: true }));
    app.get("/big", (c) => c.json({ pad: "é".repeat(3000) }));
    for (const path of ["/ok", "/big"]) {
      const get = await app.request(path);
      const head = await app.request(path, { method: "HEAD" });
      const length = String((await get.bytes()).byteLength);
      assert.equal(head.headers.get("content-length"), length, `${path} ${compress}`);
      assert.equal(head.body, null);
    }
  }
});

Deno.test("opsStack() counts the bytes of a body compressed as it streams, once it is sent", async () => {
  const { httpResponseBytes } = await import("../../core/metrics.ts");
  const app = new Hono();
  app.use(opsStack({ key: () => "c1", onLimited: () => new Response(null, { status: 429 }) }));
  // NDJSON is a stream by nature: compressed as it flows, never measured first.
  const text = '{"line":"of text"}\n'.repeat(2000);
  app.get("/stream", () =>
    new Response(new Blob([text]).stream(), {
      headers: { "content-type": "application/x-ndjson" },
    }));
  const before = httpResponseBytes.get({ route: "/stream" });
  const res = await app.request("/stream", { headers: { "accept-encoding": "gzip" } });
  assert.equal(res.headers.get("content-encoding"), "gzip");
  assert.equal(res.headers.get("content-length"), null, "compressed as it flows");
  const sent = (await res.bytes()).byteLength;
  assert.equal(httpResponseBytes.get({ route: "/stream" }), before + sent);
});

Deno.test("OpsCore.begin() looks the client up only when a budget needs it", () => {
  const ctx = {
    storage: new MemoryRegistryStorage(),
    clock: () => new Date("2026-11-22T00:00:30Z"),
  };
  const authFailures = new RateLimiter(ctx, { name: "authfail", limit: 1, mode: "local" });
  const ops = createOpsCore({
    key: () => "c1",
    costLimits: { classify: () => "immutable", limiters: { immutable: undefined } },
    authFailures,
    onLimited: () => new Response(null, { status: 429 }),
  });
  let lookups = 0;
  const client = () => (lookups++, "192.0.2.1");
  const req = () => new Request("http://registry.test/pkg/@a/b/1.0.0");
  // An unlimited read, nobody has failed to authenticate: no lookup at all.
  assert.equal(ops.begin(req(), client).refused, undefined);
  assert.equal(lookups, 0);
  // Once a client is over the failed-authentication budget, every request is looked up.
  authFailures.hitNow("192.0.2.1");
  const refused = ops.begin(req(), client);
  assert.equal(lookups, 1);
  assert.equal(refused.refused?.limiter, authFailures);
  assert.equal(refused.client, "192.0.2.1");
});
