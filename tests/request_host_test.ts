// Blob URLs and install commands follow the address a client used when the
// operator set no --bundle-host/--registry-hostname: a server bound to 0.0.0.0
// never hands out localhost (the client's own machine).
import assert from "node:assert/strict";
import { staticTokenAuthenticator } from "../core/auth.ts";
import { createRegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { startServer } from "./_server.ts";
import { gguiContextFor } from "../routes/ggui/_http.ts";
import type { GguiContext } from "../core/ggui/_common.ts";

const H = { authorization: "Bearer tok", "content-type": "application/json" };

async function publishGadget(
  base: string,
  fetcher: (url: string, init: RequestInit) => Response | Promise<Response>,
) {
  const key = await makeKey();
  const reg = await fetcher(`${base}/author-keys`, {
    method: "POST",
    headers: H,
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  assert.equal(reg.status, 201);
  const res = await fetcher(`${base}/publish`, {
    method: "POST",
    headers: H,
    body: JSON.stringify(await makeGadget(key)),
  });
  assert.equal(res.status, 201);
  return await res.json();
}

Deno.test("a server bound to 0.0.0.0 gives blob URLs for the address the client used, not localhost", async () => {
  await using server = await startServer(["--storage=memory", "--token=tok", "--host=0.0.0.0"]);
  const port = new URL(server.url).port;
  const base = `http://127.0.0.1:${port}`;
  const published = await publishGadget(base, fetch);
  assert.equal(published.bundleUrl, `${base}/bundles/private/@acme/map/1.0.0/bundle.js`);
  const read = await (await fetch(`${base}/pkg/@acme/map/1.0.0`, { headers: H })).json();
  assert.equal(read.bundleUrl, `${base}/bundles/private/@acme/map/1.0.0/bundle.js`);
  assert.equal(
    read.installCommand ?? published.installCommand,
    `ggui gadget install @acme/map@1.0.0 --registry=http://127.0.0.1:${port}`,
  );
});

function app(trustProxy: boolean) {
  return createRegistryApp(
    {
      storage: new MemoryRegistryStorage(),
      bundles: new MemoryBundleStorage(),
      clock: () => new Date(),
      authenticator: staticTokenAuthenticator({ token: "tok" }),
      bundleHost: "http://fallback:9001",
      registryHostname: "fallback:9001",
      hostFromRequest: ["bundleHost", "registryHostname"],
      trustProxy,
      logRequests: false,
    } as Parameters<typeof createRegistryApp>[0],
  );
}

Deno.test("X-Forwarded-Host and -Proto name the blob URL only when --trust-proxy allows", async () => {
  const forwarded = {
    host: "10.0.0.5:9001",
    "x-forwarded-host": "reg.example",
    "x-forwarded-proto": "https",
  };
  const trusted = app(true);
  const viaProxy = await publishGadget(
    "http://10.0.0.5:9001",
    (url, init) =>
      trusted.request(url, {
        ...init,
        headers: { ...init.headers as Record<string, string>, ...forwarded },
      }),
  );
  assert.equal(viaProxy.bundleUrl, "https://reg.example/bundles/private/@acme/map/1.0.0/bundle.js");
  const direct = app(false);
  const notTrusted = await publishGadget(
    "http://10.0.0.5:9001",
    (url, init) =>
      direct.request(url, {
        ...init,
        headers: { ...init.headers as Record<string, string>, ...forwarded },
      }),
  );
  assert.equal(
    notTrusted.bundleUrl,
    "http://10.0.0.5:9001/bundles/private/@acme/map/1.0.0/bundle.js",
  );
  const fresh = app(false);
  const bad = await publishGadget(
    "http://x",
    (url, init) =>
      fresh.request(url, {
        ...init,
        headers: { ...init.headers as Record<string, string>, host: "evil/<x>" },
      }),
  );
  assert.equal(bad.bundleUrl, "http://fallback:9001/bundles/private/@acme/map/1.0.0/bundle.js");
});

Deno.test("each client host and scheme gets its own blob URLs, read after read", async () => {
  const registry = app(false);
  await publishGadget("http://a.test", (url, init) => registry.request(url, init));
  const read = async (url: string, host: string) => {
    const res = await registry.request(url, { headers: { ...H, host } });
    assert.equal(res.status, 200);
    return (await res.json()).bundleUrl;
  };
  const path = "/pkg/@acme/map/1.0.0";
  const blob = "/bundles/private/@acme/map/1.0.0/bundle.js";
  for (let i = 0; i < 2; i++) {
    assert.equal(await read(`http://a.test${path}`, "a.test"), `http://a.test${blob}`);
    assert.equal(await read(`http://a.test${path}`, "b.test:8080"), `http://b.test:8080${blob}`);
    assert.equal(await read(`https://a.test${path}`, "a.test"), `https://a.test${blob}`);
  }
});

Deno.test("gguiContextFor() makes one context per client host, not one per request", () => {
  const ctx = { bundleHost: "http://fallback", registryHostname: "fallback" } as GguiContext;
  const hosts = new Map<string, object>();
  const hostOf = (req: Request) => {
    const host = req.headers.get("host")!;
    if (!hosts.has(host)) hosts.set(host, Object.freeze({ bundleHost: `http://${host}` }));
    return hosts.get(host)!;
  };
  const at = (host: string) =>
    gguiContextFor(ctx, { hostOf }, new Request("http://x/pkg", { headers: { host } }));
  const first = at("a.test");
  assert.equal(first.bundleHost, "http://a.test");
  assert.equal(at("a.test"), first);
  assert.equal(at("b.test").bundleHost, "http://b.test");
  assert.equal(ctx.bundleHost, "http://fallback");
});
