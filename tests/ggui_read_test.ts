import assert from "node:assert/strict";
import type { Hono } from "hono";
import type { ScopeRow, VersionState } from "../core/rows.ts";
import { updateRow } from "../core/store.ts";
import { scopeKey, versionStateKey } from "../storage/keys.ts";
import { readArtifact } from "../core/ggui/read.ts";
import {
  bearer,
  BUNDLE_HOST,
  GADGET_SOURCE,
  makeBlueprint,
  makeGadget,
  makeGguiApp,
  makeKey,
  makePublicGadget,
  publish,
  registerKey,
  TOKENS,
} from "./_ggui_fixtures.ts";

/** Everything a client can observe of a response. */
async function snapshot(res: Response): Promise<{ status: number; headers: string; body: string }> {
  return {
    status: res.status,
    headers: JSON.stringify([...res.headers].sort()),
    body: await res.text(),
  };
}

async function setup() {
  const env = makeGguiApp({ publicLane: true });
  const alice = await makeKey();
  const bob = await makeKey();
  await registerKey(env.app, TOKENS.alice, alice);
  await registerKey(env.app, TOKENS.bob, bob);
  return { ...env, alice, bob };
}

async function publishOk(app: Hono, token: string, body: unknown): Promise<void> {
  const res = await publish(app, token, body);
  assert.equal(res.status, 201, await res.text());
}

Deno.test("read() answers the publisher with the full body of a private gadget", async () => {
  const { app, alice } = await setup();
  const body = await makeGadget(alice);
  await publishOk(app, TOKENS.alice, body);
  const res = await app.request("/pkg/acme/map/1.0.0", { headers: bearer(TOKENS.alice) });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "private, no-cache");
  assert.equal(res.headers.get("vary"), "Authorization");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const json = await res.json();
  assert.deepEqual(json.manifest, body.manifest);
  assert.deepEqual(Object.keys(json), [
    "manifest",
    "bundleUrl",
    "bundleSri",
    "signatureUrl",
    "authorPublicKey",
    "publishedAt",
    "publishedBy",
    "scopeVerification",
  ]);
  assert.equal(json.bundleUrl, "http://127.0.0.1:9011/bundles/private/@acme/map/1.0.0/bundle.js");
  assert.equal(json.bundleSri, `sha384-${body.bundleSha384}`);
  assert.match(json.bundleSri, /^sha384-[A-Za-z0-9+/]+=*$/);
  assert.equal(json.authorPublicKey, alice.publicKeyBase64);
  assert.equal(json.publishedBy, "alice");
  assert.equal(json.scopeVerification, "unverified");
});

Deno.test("read() accepts the scope with, without and percent-encoded @, and decoded versions", async () => {
  const { app, alice } = await setup();
  await publishOk(
    app,
    TOKENS.alice,
    await makeGadget(alice, { manifest: { version: "1.0.0+build.7" } }),
  );
  for (
    const path of [
      "/pkg/acme/map/1.0.0%2Bbuild.7",
      "/pkg/@acme/map/1.0.0+build.7",
      "/pkg/%40acme/map/1.0.0%2Bbuild.7",
    ]
  ) {
    const res = await app.request(path, { headers: bearer(TOKENS.alice) });
    assert.equal(res.status, 200, path);
  }
  const list = await app.request("/pkg/%40acme/map", { headers: bearer(TOKENS.alice) });
  assert.equal((await list.json()).artifactId, "@acme/map");
});

Deno.test("a stranger's private read, listing and bundle fetches are byte-identical to misses", async () => {
  const { app, alice } = await setup();
  await publishOk(app, TOKENS.alice, await makeGadget(alice));
  await publishOk(app, TOKENS.alice, await makeBlueprint(alice));
  const strangers: Record<string, string>[] = [
    {},
    { authorization: `Bearer ${TOKENS.bob}` },
    { authorization: "Bearer wrong-token" },
    { authorization: "bearer token-alice" },
  ];
  const first = await app.request("/pkg/acme/map/1.0.0", { headers: bearer(TOKENS.alice) });
  const visibleEtag = first.headers.get("etag")!;
  await first.body?.cancel();
  assert.match(visibleEtag, /^"[0-9a-f]{64}"$/);
  for (const headers of strangers) {
    // Read: the private version vs a version that does not exist (same path shape).
    const hidden = await snapshot(await app.request("/pkg/acme/map/1.0.0", { headers }));
    const visible = await snapshot(
      await app.request("/pkg/acme/map/1.0.0", { headers: bearer(TOKENS.alice) }),
    );
    assert.equal(visible.status, 200); // alice sees it
    assert.equal(hidden.status, 404);
    assert.equal(
      hidden.body,
      '{"error":"not_found","code":"not_found","message":"package @acme/map@1.0.0 not found"}',
    );
    // Compare against a genuine miss of the same id in a fresh registry.
    const fresh = makeGguiApp();
    const miss = await snapshot(await fresh.app.request("/pkg/acme/map/1.0.0", { headers }));
    assert.deepEqual(hidden, miss);
    // Listing.
    const hiddenList = await snapshot(await app.request("/pkg/acme/map", { headers }));
    const missList = await snapshot(await fresh.app.request("/pkg/acme/map", { headers }));
    assert.equal(hiddenList.status, 404);
    assert.equal(
      hiddenList.body,
      '{"error":"not_found","code":"not_found","message":"no such artifact: @acme/map"}',
    );
    assert.deepEqual(hiddenList, missList);
    // Knowing the private document's ETag gets a stranger no 304: the same miss.
    const tagged = { ...headers, "if-none-match": visibleEtag };
    assert.deepEqual(
      await snapshot(await app.request("/pkg/acme/map/1.0.0", { headers: tagged })),
      await snapshot(await fresh.app.request("/pkg/acme/map/1.0.0", { headers: tagged })),
    );
    assert.deepEqual(
      await snapshot(await app.request("/pkg/acme/card/1.0.0", { headers })),
      await snapshot(await fresh.app.request("/pkg/acme/card/1.0.0", { headers })),
    );
  }
  // Private bundles: bob (valid bearer, not publisher/owner) vs missing row vs wrong prefix.
  const bob = { authorization: `Bearer ${TOKENS.bob}` };
  const expected = {
    status: 404,
    headers: JSON.stringify([
      ["cache-control", "no-store"],
      ["content-length", "69"],
      ["content-type", "application/json"],
    ]),
    body: '{"error":"not_found","code":"not_found","message":"bundle not found"}',
  };
  for (const file of ["bundle.js", "bundle.js.sig", "manifest.json"]) {
    assert.deepEqual(
      await snapshot(
        await app.request(`/bundles/private/@acme/map/1.0.0/${file}`, { headers: bob }),
      ),
      expected,
    );
    assert.deepEqual(
      await snapshot(
        await app.request(`/bundles/private/@acme/nope/1.0.0/${file}`, { headers: bob }),
      ),
      expected,
    );
    assert.deepEqual(
      await snapshot(
        await app.request(`/bundles/private/@acme/map/9.9.9/${file}`, { headers: bob }),
      ),
      expected,
    );
  }
});

Deno.test("private bundles need a bearer and serve the publisher with private immutable caching", async () => {
  const { app, alice } = await setup();
  await publishOk(app, TOKENS.alice, await makeGadget(alice));
  const noAuth: Record<string, string>[] = [{}, { authorization: "Bearer nope" }, {
    authorization: "Basic x",
  }];
  for (const headers of noAuth) {
    const res = await app.request("/bundles/private/@acme/map/1.0.0/bundle.js", { headers });
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.deepEqual(await res.json(), {
      error: "unauthorized",
      code: "unauthorized",
      message: "private bundles require a valid bearer token in the Authorization header",
    });
  }
  const res = await app.request("/bundles/private/@acme/map/1.0.0/bundle.js", {
    headers: bearer(TOKENS.alice),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/javascript; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "private, max-age=31536000, immutable");
  // Gated content varies on Authorization: a browser cache keeps it per credential.
  assert.equal(res.headers.get("vary"), "Authorization");
  assert.equal(res.headers.get("access-control-allow-origin"), null);
  assert.equal(await res.text(), GADGET_SOURCE);
  const sig = await app.request("/bundles/private/@acme/map/1.0.0/bundle.js.sig", {
    headers: bearer(TOKENS.alice),
  });
  const sigText = await sig.text();
  assert.equal(JSON.parse(sigText).algorithm, "ed25519");
  assert.ok(sigText.startsWith('{\n  "algorithm"')); // pretty JSON
  const manifest = await app.request("/bundles/private/@acme/map/1.0.0/manifest.json", {
    headers: bearer(TOKENS.alice),
  });
  assert.equal((await manifest.json()).name, "map");
  // OPTIONS on the private prefix is not special-cased.
  const opt = await app.request("/bundles/private/@acme/map/1.0.0/bundle.js", {
    method: "OPTIONS",
  });
  assert.equal(opt.status, 404);
  // A private blob is not reachable under the public prefix.
  const pub = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js");
  assert.equal(pub.status, 404);
  assert.deepEqual(await pub.json(), {
    error: "not_found",
    code: "not_found",
    message: "bundle not found",
  });
});

Deno.test("the scope owner may read a private version another subject published", async () => {
  const { app, alice, storage } = await setup();
  await publishOk(app, TOKENS.alice, await makeGadget(alice));
  // An operator transfers @acme to bob (storage-only operation).
  await updateRow<ScopeRow>(
    storage,
    scopeKey("@acme"),
    (row) => row && { ...row, ownerSubject: "bob" },
  );
  for (const token of [TOKENS.alice, TOKENS.bob]) {
    assert.equal(
      (await app.request("/pkg/acme/map/1.0.0", { headers: bearer(token) })).status,
      200,
    );
    assert.equal((await app.request("/pkg/acme/map", { headers: bearer(token) })).status, 200);
    assert.equal(
      (await app.request("/bundles/private/@acme/map/1.0.0/bundle.js", { headers: bearer(token) }))
        .status,
      200,
    );
  }
  assert.equal((await app.request("/pkg/acme/map/1.0.0")).status, 404);
});

Deno.test("listArtifactVersions() sorts by semver descending with prereleases below releases", async () => {
  const { app, alice } = await setup();
  for (
    const version of [
      "1.0.0-alpha",
      "0.9.0",
      "2.0.0-rc.1",
      "1.0.0",
      "1.0.0-alpha.1",
      "1.0.0-beta",
      "0.10.0",
    ]
  ) {
    await publishOk(app, TOKENS.alice, await makeGadget(alice, { manifest: { version } }));
  }
  const res = await app.request("/pkg/acme/map", { headers: bearer(TOKENS.alice) });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body.versions.map((v: { version: string }) => v.version), [
    "2.0.0-rc.1",
    "1.0.0",
    "1.0.0-beta",
    "1.0.0-alpha.1",
    "1.0.0-alpha",
    "0.10.0",
    "0.9.0",
  ]);
  assert.deepEqual(Object.keys(body.versions[0]), [
    "version",
    "publishedAt",
    "yanked",
    "kind",
    "visibility",
  ]);
  assert.equal(body.versions[0].yanked, false);
  assert.equal(body.versions[0].kind, "gadget");
});

Deno.test("listArtifactVersions() filters private versions per row for strangers", async () => {
  const { app, alice } = await setup();
  await publishOk(app, TOKENS.alice, makePublicGadget({ manifest: { version: "1.0.0" } }));
  await publishOk(app, TOKENS.alice, await makeGadget(alice, { manifest: { version: "2.0.0" } }));
  const anon = await (await app.request("/pkg/acme/map")).json();
  assert.deepEqual(anon.versions.map((v: { version: string }) => v.version), ["1.0.0"]);
  const own = await (await app.request("/pkg/acme/map", { headers: bearer(TOKENS.alice) })).json();
  assert.deepEqual(
    own.versions.map((v: { version: string; visibility: string }) => [v.version, v.visibility]),
    [
      ["2.0.0", "private"],
      ["1.0.0", "public"],
    ],
  );
});

Deno.test("public gadgets read anonymously and their blobs are served with immutable caching and CORS", async () => {
  const { app } = await setup();
  await publishOk(app, TOKENS.alice, makePublicGadget());
  const read = await app.request("/pkg/acme/map/1.0.0");
  assert.equal(read.status, 200);
  const body = await read.json();
  assert.equal(body.bundleUrl, "http://127.0.0.1:9011/bundles/public/@acme/map/1.0.0/bundle.js");
  assert.equal(body.authorPublicKey, "MIIBtestleaf=");
  const blob = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js");
  assert.equal(blob.status, 200);
  assert.equal(blob.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(blob.headers.get("vary"), null);
  assert.equal(blob.headers.get("access-control-allow-origin"), "*");
  assert.equal(blob.headers.get("content-length"), String(GADGET_SOURCE.length));
  assert.equal(await blob.text(), GADGET_SOURCE);
  const sig = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js.sig");
  assert.equal(sig.headers.get("content-type"), "application/json");
  assert.equal((await sig.json()).algorithm, "sigstore-cosign");
  for (
    const [file, message] of [["bundle.js", "bundle not found"], [
      "bundle.js.sig",
      "signature not found",
    ], ["manifest.json", "manifest not found"]]
  ) {
    const miss = await app.request(`/bundles/public/@acme/map/9.9.9/${file}`);
    assert.equal(miss.status, 404);
    assert.deepEqual(await miss.json(), { error: "not_found", code: "not_found", message });
  }
  // A public blob is not reachable under the private prefix.
  const priv = await app.request("/bundles/private/@acme/map/1.0.0/bundle.js", {
    headers: bearer(TOKENS.alice),
  });
  assert.equal(priv.status, 404);
});

Deno.test("bundles and /pkg answer 304 to a matching If-None-Match with a strong ETag", async () => {
  const { app } = await setup();
  await publishOk(app, TOKENS.alice, makePublicGadget());
  const blob = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js");
  const etag = blob.headers.get("etag")!;
  await blob.body?.cancel();
  assert.match(etag, /^"[0-9a-f]{64}"$/);
  const again = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js", {
    headers: { "if-none-match": etag },
  });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
  assert.equal(again.headers.get("etag"), etag);
  const other = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js", {
    headers: { "if-none-match": '"abc"' },
  });
  assert.equal(other.status, 200);
  await other.body?.cancel();

  const pkg = await app.request("/pkg/acme/map/1.0.0");
  const pkgTag = pkg.headers.get("etag")!;
  await pkg.body?.cancel();
  assert.match(pkgTag, /^"[0-9a-f]{64}"$/);
  const cached = await app.request("/pkg/acme/map/1.0.0", {
    headers: { "if-none-match": `W/"x", ${pkgTag}` },
  });
  assert.equal(cached.status, 304);
  assert.equal(cached.headers.get("cache-control"), "private, no-cache");
  assert.equal(cached.headers.get("vary"), "Authorization");
  const list = await app.request("/pkg/acme/map");
  const listTag = list.headers.get("etag")!;
  await list.body?.cancel();
  assert.equal(
    (await app.request("/pkg/acme/map", { headers: { "if-none-match": listTag } })).status,
    304,
  );
});

Deno.test("a yanked version reads 410 with the same body, stays listed and keeps its public blobs", async () => {
  const { app, alice, storage } = await setup();
  await publishOk(app, TOKENS.alice, makePublicGadget());
  await publishOk(app, TOKENS.alice, await makeGadget(alice, { manifest: { name: "secret" } }));
  const before = await (await app.request("/pkg/acme/map/1.0.0")).json();
  for (const name of ["map", "secret"]) {
    await updateRow<VersionState>(
      storage,
      versionStateKey({ namespace: "@acme", name, version: "1.0.0" }),
      (s) => s && { ...s, yanked: true, yankedAt: "2026-11-22T02:00:00.000Z" },
    );
  }
  const res = await app.request("/pkg/acme/map/1.0.0");
  assert.equal(res.status, 410);
  assert.deepEqual(await res.json(), before);
  const list = await (await app.request("/pkg/acme/map")).json();
  assert.equal(list.versions[0].yanked, true);
  const blob = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js");
  assert.equal(blob.status, 200);
  await blob.body?.cancel();
  // A yanked private row is 404 (not 410) for strangers, 410 for the publisher.
  assert.equal((await app.request("/pkg/acme/secret/1.0.0")).status, 404);
  assert.equal(
    (await app.request("/pkg/acme/secret/1.0.0", { headers: bearer(TOKENS.alice) })).status,
    410,
  );
});

Deno.test("/pkg treats an invalid bearer as anonymous and never answers 401", async () => {
  const { app } = await setup();
  await publishOk(app, TOKENS.alice, makePublicGadget());
  for (const authorization of ["Bearer nope", "Basic abc", "Bearer "]) {
    assert.equal(
      (await app.request("/pkg/acme/map/1.0.0", { headers: { authorization } })).status,
      200,
    );
    assert.equal((await app.request("/pkg/acme/map", { headers: { authorization } })).status, 200);
  }
});

Deno.test("traversal and malformed path segments answer not-found shapes", async () => {
  const { app, alice } = await setup();
  await publishOk(app, TOKENS.alice, await makeGadget(alice));
  for (
    const path of [
      "/pkg/acme/..%2F..%2Fetc/1.0.0",
      "/pkg/..%2Facme/map/1.0.0",
      "/pkg/acme/map/..%2F1.0.0",
      "/pkg/acme/map/1.0",
      "/pkg/acme/MAP/1.0.0",
    ]
  ) {
    const res = await app.request(path, { headers: bearer(TOKENS.alice) });
    assert.equal(res.status, 404, path);
    assert.equal((await res.json()).code, "not_found");
  }
  for (
    const path of [
      "/bundles/private/@acme/..%2Fmap/1.0.0/bundle.js",
      "/bundles/private/@acme/map/..%2F..%2F1.0.0/bundle.js",
      "/bundles/public/%2E%2E/map/1.0.0/bundle.js",
    ]
  ) {
    const res = await app.request(path, { headers: bearer(TOKENS.alice) });
    assert.equal(res.status, 404, path);
  }
  // Unknown files and the old unsplit bundle shape are plain 404s.
  for (
    const path of ["/bundles/public/@acme/map/1.0.0/other.js", "/bundles/@acme/map/1.0.0/bundle.js"]
  ) {
    const res = await app.request(path);
    assert.equal(res.status, 404);
    assert.equal(await res.text(), "404 Not Found");
  }
});

Deno.test("a package of another format answers not found on every ggui read", async () => {
  const { app, storage } = await setup();
  const row = {
    namespace: "@rack",
    name: "husky",
    version: "1.0.0",
    format: "rack.registry",
    visibility: "public",
    files: {},
    facts: {},
    publishedAt: "2026-11-22T00:00:00.000Z",
    publishedBy: "ci",
  };
  const state = {
    version: "1.0.0",
    format: "rack.registry",
    visibility: "public",
    publishedAt: row.publishedAt,
    publishedBy: "ci",
    yanked: false,
  };
  await storage.commit({
    checks: [],
    mutations: [
      { type: "set", key: ["ver", "@rack", "husky", "1.0.0"], value: row },
      { type: "set", key: ["vstate", "@rack", "husky", "1.0.0"], value: state },
    ],
  });
  assert.equal((await app.request("/pkg/rack/husky/1.0.0")).status, 404);
  assert.equal((await app.request("/pkg/rack/husky")).status, 404);
  assert.equal((await app.request("/bundles/public/@rack/husky/1.0.0/manifest.json")).status, 404);
});

Deno.test("read() reflects scope verification and yank changes made after an earlier read", async () => {
  const { app, storage } = await setup();
  await publishOk(app, TOKENS.alice, makePublicGadget());
  const first = await (await app.request("/pkg/acme/map/1.0.0")).json();
  assert.equal(first.scopeVerification, "unverified");
  await updateRow<ScopeRow>(
    storage,
    scopeKey("@acme"),
    (row) => row && { ...row, verification: "verified", verifiedDomain: "acme.example" },
  );
  const second = await (await app.request("/pkg/acme/map/1.0.0")).json();
  assert.equal(second.scopeVerification, "verified");
  assert.equal(second.verifiedDomain, "acme.example");
});

Deno.test("readArtifact() hands out frozen bodies, so a library caller cannot corrupt the cache", async () => {
  const { app, ctx } = await setup();
  await publishOk(app, TOKENS.alice, makePublicGadget());
  const gctx = { ...ctx, bundleHost: BUNDLE_HOST, registryHostname: "h" };
  const ref = { authn: undefined, scope: "@acme", name: "map", version: "1.0.0" };
  const body = (await readArtifact(gctx, ref)).body as { manifest: Record<string, unknown> };
  assert.throws(() => {
    body.manifest.name = "x";
  }, TypeError);
  assert.throws(() => {
    (body.manifest.exports as unknown[]).push(1);
  }, TypeError);
  const again = (await readArtifact(gctx, ref)).body as { manifest: Record<string, unknown> };
  assert.equal(again.manifest.name, "map");
});
