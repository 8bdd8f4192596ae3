import assert from "node:assert/strict";
import { createRegistryApp } from "./app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { staticTokenAuthenticator } from "../core/auth.ts";
import { parsePrometheusText, type Sample } from "../tests/_prometheus.ts";

function app(options: Partial<Parameters<typeof createRegistryApp>[0]> = {}) {
  const { auth } = parseAuthConfig(JSON.stringify({ "@rack": [] }));
  return createRegistryApp({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    bundleHost: "http://localhost:9001",
    registryHostname: "localhost:9001",
    rackAuth: () => Promise.resolve(auth),
    ...options,
  });
}

Deno.test("createRegistryApp() answers unknown ggui paths with the plain-text 404 and CORS", async () => {
  const res = await app().request("/nope");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), "text/plain; charset=UTF-8");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(await res.text(), "404 Not Found");
  const priv = await app().request("/bundles/private/x");
  assert.equal(priv.status, 404);
  assert.equal(priv.headers.get("access-control-allow-origin"), null);
  await priv.body?.cancel();
});

Deno.test("createRegistryApp() answers unknown Rack paths in Rack's envelope without CORS", async () => {
  const res = await app().request("/namespaces/%40rack/registries/extra");
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { code: "NOT_FOUND", message: "Route not found" });
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal(res.headers.get("access-control-allow-origin"), null);
});

Deno.test("createRegistryApp() short-circuits OPTIONS with 204 except where ggui and Rack forbid it", async () => {
  const a = app();
  for (const path of ["/search", "/anything/at/all", "/pkg/acme/map"]) {
    const res = await a.request(path, { method: "OPTIONS" });
    assert.equal(res.status, 204, path);
    assert.equal(res.headers.get("access-control-allow-methods"), "GET, POST, DELETE, OPTIONS");
  }
  for (const path of ["/publish", "/bundles/private/@acme/map/1.0.0/bundle.js"]) {
    const res = await a.request(path, { method: "OPTIONS" });
    assert.equal(res.status, 404, path);
    assert.equal(res.headers.get("access-control-allow-origin"), null, path);
    await res.body?.cancel();
  }
  const rack = await a.request("/registries/@rack/x", { method: "OPTIONS" });
  assert.equal(rack.status, 404);
  assert.equal(rack.headers.get("access-control-allow-origin"), null);
  await rack.body?.cancel();
});

Deno.test("createRegistryApp() serves both surfaces' health routes", async () => {
  const a = app();
  const healthz = await a.request("/healthz");
  assert.deepEqual(await healthz.json(), { ok: true });
  assert.equal(healthz.headers.get("access-control-allow-origin"), "*", "ggui CORS on /healthz");
  assert.equal(healthz.headers.get("cache-control"), "no-store");
  const health = await a.request("/health");
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, "ok");
  const rack = await a.request("/namespaces");
  assert.equal(rack.headers.get("access-control-allow-origin"), null, "no CORS on Rack routes");
  await rack.body?.cancel();
});

Deno.test("/metrics parses as Prometheus text and its counters move as requests happen", async () => {
  const a = app();
  const scrape = async () => parsePrometheusText(await (await a.request("/metrics")).text());
  const total = (samples: Sample[], name: string, labels: Record<string, string>) =>
    samples.filter((s) =>
      s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
    ).reduce((n, s) => n + s.value, 0);
  const before = await scrape();
  // A refused ggui publish (no token) and a Rack route.
  await (await a.request("/publish", { method: "POST", body: "{}" })).body?.cancel();
  await (await a.request("/registries/@rack/x/versions")).body?.cancel();
  const after = await scrape();
  assert.equal(
    total(after, "registry_publishes_total", { surface: "ggui", result: "refused" }) -
      total(before, "registry_publishes_total", { surface: "ggui", result: "refused" }),
    1,
  );
  assert.equal(
    total(after, "registry_auth_failures_total", { surface: "ggui" }) -
      total(before, "registry_auth_failures_total", { surface: "ggui" }),
    1,
  );
  const routes = new Set(
    after.filter((s) => s.name === "http_request_duration_seconds_count").map((s) =>
      s.labels.route
    ),
  );
  assert.ok(routes.has("/publish"), [...routes].join(","));
  assert.ok(
    [...routes].every((r) => !r?.includes("@rack")),
    "route labels are patterns, never raw paths",
  );
});

Deno.test("the request log names the caller on every surface, never the token", async () => {
  const lines: string[] = [];
  const { auth } = parseAuthConfig(
    JSON.stringify({ "@gated": [{ token: "rack-secret-token", publish: false }] }),
    { adminToken: "rack-admin-token" },
  );
  const a = createRegistryApp({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    bundleHost: "http://localhost:9001",
    registryHostname: "localhost:9001",
    rackAuth: () => Promise.resolve(auth),
    authenticator: staticTokenAuthenticator({ token: "ggui-secret-token", subject: "alice" }),
    requestLog: (line) => lines.push(line),
  });
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const cases: [string, Record<string, string>, string | undefined][] = [
    ["/pkg/acme/map/1.0.0", bearer("ggui-secret-token"), "alice"],
    ["/@acme/util/meta.json", bearer("ggui-secret-token"), "alice"],
    ["/admin/tokens", bearer("ggui-secret-token"), "alice"],
    ["/namespaces/@gated/registries", bearer("rack-admin-token"), "rack:admin"],
    ["/namespaces/@gated/registries", bearer("rack-secret-token"), "rack:token-"],
    ["/pkg/acme/map/1.0.0", {}, undefined],
  ];
  for (const [path, headers, subject] of cases) {
    lines.length = 0;
    await (await a.request(path, { headers })).body?.cancel();
    await new Promise((r) => setTimeout(r, 0));
    assert.equal(lines.length, 1, path);
    const line = JSON.parse(lines[0]!);
    if (subject === undefined) assert.equal(line.subject, undefined, path);
    else assert.ok(String(line.subject).startsWith(subject), `${path}: ${line.subject}`);
    assert.ok(!lines[0]!.includes("secret-token"), lines[0]);
    assert.ok(!lines[0]!.includes("admin-token"), lines[0]);
  }
});

Deno.test("429s carry the request id, ggui's CORS where ggui sends it, and the upload budget's own headers", async () => {
  const a = app({
    authenticator: staticTokenAuthenticator({ token: "T", subject: "ci" }),
    queryRateLimitPerMinute: 2,
    tokenUploadRateLimitPerMinute: 1,
    requestLog: () => {},
  });
  const publish = () =>
    a.request("/publish", {
      method: "POST",
      headers: { authorization: "Bearer T", "x-request-id": "pub-1" },
      body: "{",
    });
  const first = await publish();
  assert.equal(first.status, 400);
  assert.equal(first.headers.get("x-ratelimit-limit"), "1", "the upload budget's headers");
  await first.body?.cancel();
  const second = await publish();
  assert.equal(second.status, 429);
  assert.equal(second.headers.get("x-ratelimit-limit"), "1");
  assert.equal(second.headers.get("x-ratelimit-remaining"), "0");
  assert.equal(second.headers.get("x-request-id"), "pub-1");
  assert.equal(second.headers.get("access-control-allow-origin"), null, "/publish has no CORS");
  await second.body?.cancel();
  // The query budget (2) is spent by two searches.
  for (let i = 0; i < 2; i++) await (await a.request("/search")).body?.cancel();
  for (const method of ["GET", "OPTIONS"]) {
    const res = await a.request("/search", { method, headers: { "x-request-id": "s-1" } });
    assert.equal(res.status, 429, method);
    assert.equal(res.headers.get("x-request-id"), "s-1", method);
    assert.equal(res.headers.get("access-control-allow-origin"), "*", method);
    assert.equal(res.headers.get("cache-control"), "no-store", method);
    assert.ok(res.headers.get("retry-after"), method);
    await res.body?.cancel();
  }
});

Deno.test("the route label is the route that answered, not a catch-all 404 that also matched", async () => {
  const a = app();
  const requests: [string, string, string][] = [
    ["POST", "/registries", "/registries"],
    ["GET", "/namespaces", "/namespaces"],
    ["GET", "/namespaces/@rack/registries", "/namespaces/:ns/registries"],
    ["GET", "/schemas/registry-item.json", "/schemas/:file"],
    ["GET", "/presets/none", "/presets/:name"],
    ["GET", "/registries/@rack/x/versions", "/registries/*"],
  ];
  for (const [method, path] of requests) {
    await (await a.request(path, { method })).body?.cancel();
  }
  const samples = parsePrometheusText(await (await a.request("/metrics")).text())
    .filter((s) => s.name === "http_request_duration_seconds_count");
  for (const [method, path, route] of requests) {
    assert.ok(
      samples.some((s) => s.labels.method === method && s.labels.route === route),
      `${method} ${path} → ${route}: ${JSON.stringify(samples.map((s) => s.labels.route))}`,
    );
  }
});

Deno.test("ggui author-key writes spend the upload budget, as the ggui spec's weaknesses ask", async () => {
  const a = app({
    authenticator: staticTokenAuthenticator({ token: "T", subject: "ci" }),
    rateLimitPerMinute: 100,
    tokenUploadRateLimitPerMinute: 2,
  });
  const write = (method: string, path: string) =>
    a.request(path, {
      method,
      headers: { authorization: "Bearer T" },
      ...(method === "POST" ? { body: "{}" } : {}),
    });
  const statuses: number[] = [];
  for (const [method, path] of [["POST", "/author-keys"], ["DELETE", "/author-keys/k1"]]) {
    const res = await write(method!, path!);
    statuses.push(res.status);
    await res.body?.cancel();
  }
  assert.ok(statuses.every((s) => s !== 429), String(statuses));
  const third = await write("POST", "/author-keys");
  assert.equal(third.status, 429);
  assert.equal((await third.json()).code, "rate_limited");
  // Reads are not writes: listing keys still answers.
  const list = await a.request("/author-keys", { headers: { authorization: "Bearer T" } });
  assert.equal(list.status, 200);
  await list.body?.cancel();
});

Deno.test("a request a budget refuses is labelled with the route it asked for, not a catch-all", async () => {
  const a = app({ uploadRateLimitPerMinute: 1 });
  for (let i = 0; i < 2; i++) {
    await (await a.request("/registries", { method: "POST" })).body?.cancel();
  }
  const samples = parsePrometheusText(await (await a.request("/metrics")).text())
    .filter((s) => s.name === "http_request_duration_seconds_count" && s.labels.method === "POST");
  const refused = samples.filter((s) => s.labels.status_code === "429").map((s) => s.labels.route);
  assert.ok(refused.includes("/registries"), refused.join());
  assert.ok(!refused.includes("/registries/*"), refused.join());
});
