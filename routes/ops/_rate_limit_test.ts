import assert from "node:assert/strict";
import { type Context, Hono } from "hono";
import { clientIp, normalizeIp, rateLimit } from "./_rate_limit.ts";
import { RateLimiter } from "../../core/rate_limit.ts";
import { Counter } from "../../core/metrics.ts";
import { MemoryRegistryStorage } from "../../storage/memory.ts";

const NOW = new Date("2026-03-01T10:00:30Z"); // 30 s before the minute window resets

function rackLimited(c: Context, retryAfter: number) {
  return c.json(
    { code: "RATE_LIMIT_EXCEEDED", message: `Rate limit exceeded. Try again in ${retryAfter}s` },
    429,
    { "cache-control": "no-store" },
  );
}

function gguiLimited(c: Context, retryAfter: number) {
  return c.json(
    {
      error: "rate_limited",
      code: "rate_limited",
      message: `rate limit exceeded; retry in ${retryAfter}s`,
    },
    429,
  );
}

/** An app with one limiter keyed by the peer address given as `env`. */
function limitedApp(
  limiter: RateLimiter,
  onLimited: (c: Context, retryAfter: number) => Response,
  counter?: Counter<"limiter">,
) {
  const app = new Hono();
  app.use(rateLimit({
    limiter,
    key: (c) => clientIp(c, false),
    onLimited,
    ...(counter ? { limitedCounter: counter } : {}),
  }));
  app.get("/json", (c) => c.json({ ok: true }));
  // A handler returning its own Response object (not built through the context).
  app.get("/raw", () => new Response("raw"));
  return app;
}

const peer = (ip: string) => ({ remoteAddr: { hostname: ip, port: 1234, transport: "tcp" } });

Deno.test("a burst over the limit gets the Rack 429 with Retry-After, no-store and the rate-limit headers", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const limiter = new RateLimiter({ storage, clock: () => NOW }, { name: "ip", limit: 3 });
    const counter = new Counter({ name: "limited_total", help: "L.", labelNames: ["limiter"] });
    const app = limitedApp(limiter, rackLimited, counter);
    const statuses = [];
    for (let i = 0; i < 5; i++) {
      const res = await app.request("/json", {}, peer("192.0.2.7"));
      statuses.push(res.status);
      if (i === 0) {
        assert.equal(res.headers.get("x-ratelimit-limit"), "3");
        assert.equal(res.headers.get("x-ratelimit-remaining"), "2");
        assert.equal(
          res.headers.get("x-ratelimit-reset"),
          String(Date.parse("2026-03-01T10:01:00Z") / 1000),
        );
        assert.equal(res.headers.get("ratelimit-policy"), '"ip";q=3;w=60');
        assert.equal(res.headers.get("ratelimit"), '"ip";r=2;t=30');
        assert.equal(res.headers.get("retry-after"), null);
      }
      if (i === 4) {
        assert.equal(res.headers.get("retry-after"), "30");
        assert.equal(res.headers.get("cache-control"), "no-store");
        assert.equal(res.headers.get("x-ratelimit-remaining"), "0");
        assert.equal(res.headers.get("ratelimit"), '"ip";r=0;t=30');
        assert.deepEqual(await res.json(), {
          code: "RATE_LIMIT_EXCEEDED",
          message: "Rate limit exceeded. Try again in 30s",
        });
      } else await res.body?.cancel();
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assert.equal(counter.get({ limiter: "ip" }), 2);
    // Another client has its own budget.
    assert.equal((await app.request("/json", {}, peer("192.0.2.8"))).status, 200);
    await limiter.settled();
  } finally {
    await storage.close();
  }
});

Deno.test("the ggui surface gets its own 429 body from the same middleware", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const limiter = new RateLimiter({ storage, clock: () => NOW }, {
      name: "publish",
      limit: 1,
      mode: "shared",
    });
    const app = limitedApp(limiter, gguiLimited);
    assert.equal((await app.request("/json", {}, peer("::1"))).status, 200);
    const res = await app.request("/json", {}, peer("::1"));
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "30");
    assert.deepEqual(await res.json(), {
      error: "rate_limited",
      code: "rate_limited",
      message: "rate limit exceeded; retry in 30s",
    });
  } finally {
    await storage.close();
  }
});

Deno.test("rate-limit headers reach responses a handler built itself", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const limiter = new RateLimiter({ storage, clock: () => NOW }, { name: "ip", limit: 10 });
    const res = await limitedApp(limiter, rackLimited).request("/raw", {}, peer("192.0.2.1"));
    assert.equal(await res.text(), "raw");
    assert.equal(res.headers.get("x-ratelimit-remaining"), "9");
    await limiter.settled();
  } finally {
    await storage.close();
  }
});

Deno.test("a failed-authentication budget counts only failures and then refuses the client", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const limiter = new RateLimiter({ storage, clock: () => NOW }, {
      name: "authfail",
      limit: 2,
      mode: "shared",
    });
    const app = new Hono();
    app.use(
      "/publish",
      rateLimit({
        limiter,
        key: (c) => clientIp(c, false),
        onLimited: rackLimited,
        countIf: (c) => c.res.status === 401,
      }),
    );
    app.post(
      "/publish",
      (c) =>
        c.req.header("authorization") === "Bearer good"
          ? c.json({ ok: true }, 201)
          : c.json({ code: "INVALID_TOKEN" }, 401),
    );
    const send = (token: string) =>
      app.request(
        "/publish",
        { method: "POST", headers: { authorization: `Bearer ${token}` } },
        peer("198.51.100.9"),
      );
    for (let i = 0; i < 5; i++) assert.equal((await send("good")).status, 201);
    const first = await send("bad");
    assert.equal(first.status, 401);
    assert.equal(first.headers.get("x-ratelimit-remaining"), "1");
    assert.equal((await send("bad")).status, 401);
    const locked = await send("good");
    assert.equal(locked.status, 429);
    assert.equal(locked.headers.get("retry-after"), "30");
  } finally {
    await storage.close();
  }
});

Deno.test("clientIp uses the peer address unless the proxy is trusted", async () => {
  const app = new Hono();
  const seen: Record<string, string> = {};
  app.get("/:mode", (c) => {
    const mode = c.req.param("mode");
    const trust = mode === "false" ? false : mode === "true" ? true : Number(mode);
    seen[mode] = clientIp(c, trust);
    return c.text("ok");
  });
  const xff = { "x-forwarded-for": "203.0.113.50, 198.51.100.2,10.0.0.3" };
  for (const mode of ["false", "true", "1", "2", "3", "9"]) {
    await app.request(`/${mode}`, { headers: xff }, peer("10.0.0.4"));
  }
  assert.deepEqual(seen, {
    false: "10.0.0.4",
    true: "203.0.113.50",
    1: "10.0.0.3",
    2: "198.51.100.2",
    3: "203.0.113.50",
    9: "203.0.113.50",
  });
  await app.request("/1", {}, peer("::ffff:192.0.2.1"));
  assert.equal(seen[1], "192.0.2.1");
  await app.request("/1", { headers: { "x-forwarded-for": "not-an-ip" } }, peer("10.0.0.4"));
  assert.equal(seen[1], "unknown");
  await app.request("/false");
  assert.equal(seen.false, "unknown");
});

Deno.test("normalizeIp strips ports and brackets and refuses what is not an address", () => {
  assert.equal(normalizeIp("192.0.2.1:8080"), "192.0.2.1");
  assert.equal(normalizeIp("[2001:DB8::1]:443"), "2001:db8::1");
  assert.equal(normalizeIp(" 2001:db8::2 "), "2001:db8::2");
  assert.equal(normalizeIp("256.1.1.1"), null);
  assert.equal(normalizeIp("evil"), null);
  assert.equal(normalizeIp("1.2.3.4, 5.6.7.8"), null);
});

Deno.test("over a real socket the peer address is the key", async () => {
  const app = new Hono();
  app.get("/ip", (c) => c.text(clientIp(c, false)));
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    app.fetch,
  );
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/ip`, {
    headers: { "x-forwarded-for": "203.0.113.1" },
  });
  assert.equal(await res.text(), "127.0.0.1");
});
