// Blob URLs and install commands follow the address a client used when the
// operator set no --bundle-host/--registry-hostname: a server bound to 0.0.0.0
// never hands out localhost (the client's own machine).
import assert from "node:assert/strict";
import { staticTokenAuthenticator } from "../core/auth.ts";
import { createRegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { startServer } from "./_server.ts";

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
