// Journey 3, "mod.ts as a library": a separate small project (this folder has
// its own deno.json) imports the package by name, proves its own storage
// backends with the published contract suites, and mounts the registry inside
// its own Hono app under a prefix, served on a real port.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createRegistryApp, staticTokenAuthenticator } from "@x/registry";
import { bundleStorageContract, registryStorageContract } from "@x/registry/testing";
import { MapRowStorage } from "./custom_storage.ts";
import { MapBlobStorage } from "./custom_bundles.ts";
import { GADGET_SOURCE, makeGadget, makeKey } from "../_ggui_fixtures.ts";

registryStorageContract("embedder's MapRowStorage", () => new MapRowStorage());
bundleStorageContract("embedder's MapBlobStorage", () => new MapBlobStorage(), {
  tamper: (s, digest) => Promise.resolve((s as MapBlobStorage).rot(digest)),
  largeBlobMiB: 3,
});

Deno.test("an embedder mounts the registry under /registry in its own Hono app", async () => {
  const host = new Hono();
  host.get("/", (c) => c.text("my own site"));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req, info) => host.fetch(req, info),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const registry = createRegistryApp({
    storage: new MapRowStorage(),
    bundles: new MapBlobStorage(),
    authenticator: staticTokenAuthenticator({
      token: "embed-token",
      subject: "embedder",
    }),
    bundleHost: `${base}/registry`,
    registryHostname: `127.0.0.1:${server.addr.port}`,
  });
  host.mount("/registry", registry.fetch);
  try {
    assert.equal(await (await fetch(`${base}/`)).text(), "my own site");
    assert.deepEqual(await (await fetch(`${base}/registry/healthz`)).json(), {
      ok: true,
    });
    const h = {
      authorization: "Bearer embed-token",
      "content-type": "application/json",
    };
    const key = await makeKey();
    const reg = await fetch(`${base}/registry/author-keys`, {
      method: "POST",
      headers: h,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    });
    assert.equal(reg.status, 201);
    const pub = await fetch(`${base}/registry/publish`, {
      method: "POST",
      headers: h,
      body: JSON.stringify(await makeGadget(key)),
    });
    assert.equal(pub.status, 201, await pub.text());
    const read = await (await fetch(`${base}/registry/pkg/acme/map/1.0.0`, { headers: h }))
      .json();
    assert.ok(read.bundleUrl.startsWith(`${base}/registry/bundles/private/`));
    const bundle = await fetch(read.bundleUrl, { headers: h });
    assert.equal(await bundle.text(), GADGET_SOURCE);
  } finally {
    await server.shutdown();
  }
});
