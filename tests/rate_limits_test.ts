/**
 * Budgets by what a request costs, on default settings, over the whole app:
 * immutable reads are not limited, Rack keeps the original's 1,200 per
 * minute with its headers and body, uploads count per token when one is
 * presented.
 */
import assert from "node:assert/strict";
import { createRegistryApp, type RegistryAppOptions } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { staticTokenAuthenticator } from "../core/auth.ts";

function app(options: Partial<RegistryAppOptions> = {}) {
  const { auth } = parseAuthConfig(JSON.stringify({ "@rack": [] }));
  return createRegistryApp({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    bundleHost: "http://localhost:9001",
    registryHostname: "localhost:9001",
    rackAuth: () => Promise.resolve(auth),
    authenticator: staticTokenAuthenticator({ token: "CI-TOKEN", subject: "ci" }),
    ...options,
  });
}

async function statusOf(res: Response | Promise<Response>): Promise<Response> {
  const r = await res;
  await r.body?.cancel();
  return r;
}

Deno.test("on default settings 3,000 immutable reads from one address are never refused and carry no rate-limit headers", async () => {
  const a = app();
  const paths = [
    "/@acme/many/1.0.0/f1.ts",
    "/@acme/many/1.0.0_meta.json",
    "/pkg/acme/map/1.0.0",
    "/bundles/public/@acme/map/1.0.0/bundle.js",
  ];
  for (let i = 0; i < 3000; i++) {
    const res = await statusOf(a.request(paths[i % paths.length]!));
    assert.notEqual(res.status, 429, `request ${i}`);
    assert.equal(res.headers.get("x-ratelimit-limit"), null, paths[i % paths.length]);
    assert.equal(res.headers.get("ratelimit-policy"), null);
  }
});

Deno.test("metadata reads have a budget far above an install's and say so in their headers", async () => {
  const a = app();
  const first = await statusOf(a.request("/@acme/many/meta.json"));
  assert.equal(first.headers.get("x-ratelimit-limit"), "6000");
  const small = app({ metadataRateLimitPerMinute: 3 });
  for (let i = 0; i < 3; i++) {
    assert.equal((await statusOf(small.request("/pkg/acme/map"))).status, 404);
  }
  const refused = await small.request("/@acme/many/meta.json");
  assert.equal(refused.status, 429);
  assert.equal((await refused.json()).code, "rateLimited", "JSR's own error format");
  assert.equal(refused.headers.get("ratelimit-policy"), '"metadata";q=3;w=60');
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  // Immutable reads stay open while the metadata budget is spent.
  assert.equal((await statusOf(small.request("/@acme/many/1.0.0/mod.ts"))).status, 404);
});

Deno.test("searches have their own budget, apart from metadata", async () => {
  const a = app({ queryRateLimitPerMinute: 2 });
  for (let i = 0; i < 2; i++) assert.equal((await statusOf(a.request("/search"))).status, 200);
  const refused = await a.request("/search");
  assert.equal(refused.status, 429);
  assert.equal((await refused.json()).error, "rate_limited");
  assert.equal(refused.headers.get("ratelimit-policy"), '"query";q=2;w=60');
  assert.equal((await statusOf(a.request("/pkg/acme/map"))).status, 404, "listings still answer");
});

Deno.test("the home page's search spends the query budget; the home page itself does not", async () => {
  const a = app({ queryRateLimitPerMinute: 2 });
  const html = { headers: { accept: "text/html" } };
  for (let i = 0; i < 2; i++) {
    assert.equal((await statusOf(a.request("/?q=greet", html))).status, 200);
  }
  const refused = await statusOf(a.request("/?q=greet&format=jsr", html));
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("ratelimit-policy"), '"query";q=2;w=60');
  assert.equal((await statusOf(a.request("/search"))).status, 429, "one budget for every search");
  const home = await statusOf(a.request("/", html));
  assert.equal(
    home.status,
    200,
    "the plain home page is a metadata read, answered while searches wait",
  );
});

Deno.test("Rack routes still limit at 1,200 per minute with the original's headers and body", async () => {
  const a = app();
  for (let i = 0; i < 1200; i++) {
    const res = await statusOf(a.request(i % 2 ? "/namespaces" : "/registries/@rack/ui/versions"));
    assert.notEqual(res.status, 429, `request ${i}`);
    if (i === 0) {
      assert.equal(res.headers.get("x-ratelimit-limit"), "1200");
      assert.equal(res.headers.get("x-ratelimit-remaining"), "1199");
      assert.match(res.headers.get("x-ratelimit-reset")!, /^\d+$/);
    }
  }
  const refused = await a.request("/namespaces");
  assert.equal(refused.status, 429);
  const body = await refused.json();
  assert.equal(body.code, "RATE_LIMIT_EXCEEDED");
  assert.match(body.message, /^Rate limit exceeded\. Try again in \d+s$/);
  assert.equal(refused.headers.get("cache-control"), "no-store");
  assert.equal(refused.headers.get("x-ratelimit-limit"), "1200");
  assert.equal(refused.headers.get("x-ratelimit-remaining"), "0");
  assert.ok(Number(refused.headers.get("retry-after")) > 0);
  // A spoofed X-Forwarded-For is not believed without --trust-proxy.
  const spoofed = await statusOf(
    a.request("/namespaces", { headers: { "x-forwarded-for": "203.0.113.9" } }),
  );
  assert.equal(spoofed.status, 429);
  // The other surfaces' reads are not spent by Rack's traffic.
  assert.equal((await statusOf(a.request("/@acme/x/1.0.0/mod.ts"))).status, 404);
});

Deno.test("a token's uploads count per token, so a release of 300 publishes is not refused", async () => {
  // (Failed authentications are not counted here: the anonymous publishes below all fail it.)
  const a = app({ authFailuresPerMinute: 0 });
  const publish = (headers: Record<string, string>) =>
    statusOf(a.request("/publish", { method: "POST", headers, body: "{" }));
  for (let i = 0; i < 300; i++) {
    const res = await publish({ authorization: "Bearer CI-TOKEN" });
    assert.equal(res.status, 400, `publish ${i}: a bad body, not a refusal`);
  }
  // Rack's header spends the same token's budget.
  const rack = await statusOf(
    a.request("/registries", { method: "POST", headers: { "x-registry-token": "CI-TOKEN" } }),
  );
  assert.notEqual(rack.status, 429);
  // Without a token the address's budget (60) applies.
  const statuses: number[] = [];
  for (let i = 0; i < 61; i++) statuses.push((await publish({})).status);
  assert.ok(statuses.slice(0, 60).every((s) => s !== 429), statuses.join());
  assert.equal(statuses[60], 429);
  const policy = (await publish({})).headers.get("ratelimit-policy");
  assert.equal(policy, '"upload";q=60;w=60');
});

Deno.test("a per-token upload budget refuses that token alone, across tokens and addresses", async () => {
  const storage = new MemoryRegistryStorage();
  const make = () => app({ storage, tokenUploadRateLimitPerMinute: 2 });
  const [one, two] = [make(), make()];
  const publish = (a: ReturnType<typeof app>, token: string) =>
    statusOf(
      a.request("/publish", {
        method: "POST",
        headers: { authorization: `Bearer ${token}` },
        body: "{",
      }),
    );
  assert.equal((await publish(one, "CI-TOKEN")).status, 400);
  assert.equal((await publish(two, "CI-TOKEN")).status, 400, "a second process shares the count");
  const refused = await publish(one, "CI-TOKEN");
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("ratelimit-policy"), '"upload-token";q=2;w=60');
  // Another token has its own budget (it fails authentication: 401, not 429).
  assert.equal((await publish(one, "OTHER")).status, 401);
});
