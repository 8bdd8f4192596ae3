import assert from "node:assert/strict";
import { createRegistryApp } from "./app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";

function app() {
  const { auth } = parseAuthConfig(JSON.stringify({ "@rack": [] }));
  return createRegistryApp({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    bundleHost: "http://localhost:9001",
    registryHostname: "localhost:9001",
    rackAuth: () => Promise.resolve(auth),
  });
}

Deno.test("createRegistryApp() answers unknown ggui paths with the plain-text 404 and CORS", async () => {
  const res = await app().request("/nope");
  assert.equal(res.status, 404);
  assert.equal(res.headers.get("content-type"), "text/plain; charset=UTF-8");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
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
  assert.deepEqual(await (await a.request("/healthz")).json(), { ok: true });
  const health = await a.request("/health");
  assert.equal(health.status, 200);
  assert.equal((await health.json()).status, "ok");
  const rack = await a.request("/namespaces");
  assert.equal(rack.headers.get("access-control-allow-origin"), null, "no CORS on Rack routes");
  await rack.body?.cancel();
});
