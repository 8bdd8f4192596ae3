// Lifecycle over HTTP for both surfaces: yank (410 on ggui, skipped by Rack's
// latest, still listed and downloadable), dist-tags, hard delete with a
// tombstone that refuses republish on both surfaces, webhook outbox rows, and
// one audit record per change.
import assert from "node:assert/strict";
import { createRegistryApp } from "../routes/app.ts";
import type { RegistryContext } from "../core/context.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import type { AuditRow } from "../core/rows.ts";
import { listAll } from "../core/store.ts";
import { takeGcLease } from "../core/_gc_guard.ts";
import { staticTokenAuthenticator } from "../core/auth.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { ADMIN, makeItem, makePackage, uploadRequest } from "./_rack_fixtures.ts";

const OPS = "ops-token";

function setup() {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const ctx: RegistryContext = { storage, bundles, clock: () => new Date() };
  const { auth } = parseAuthConfig(JSON.stringify({ "@rack": [] }), { adminToken: ADMIN });
  const app = createRegistryApp({
    storage,
    bundles,
    authenticator: staticTokenAuthenticator({ token: OPS, subject: "ops" }),
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    rackAuth: () => Promise.resolve(auth),
    subscriptions: [{
      id: "sub1",
      url: "https://hooks.example/registry",
      secret: "s",
      events: ["version.yanked", "version.deleted", "tag.moved"],
      enabled: true,
    }],
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
  });
  const h = { authorization: `Bearer ${OPS}`, "content-type": "application/json" };
  const admin = (method: string, path: string, body?: unknown) =>
    app.request(`/admin${path}`, {
      method,
      headers: h,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  return { app, ctx, h, admin };
}

async function audits(ctx: RegistryContext): Promise<AuditRow[]> {
  const out: AuditRow[] = [];
  for await (const e of listAll<AuditRow>(ctx.storage, keys.auditPrefix())) out.push(e.value);
  return out;
}

Deno.test("ggui: a yanked version answers 410 with its body, latest moves, and a hard delete leaves a tombstone that refuses republish", async () => {
  const { app, ctx, h, admin } = setup();
  const key = await makeKey();
  assert.equal(
    (await app.request("/author-keys", {
      method: "POST",
      headers: h,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    })).status,
    201,
  );
  for (const version of ["1.0.0", "1.1.0"]) {
    const res = await app.request("/publish", {
      method: "POST",
      headers: h,
      body: JSON.stringify(await makeGadget(key, { manifest: { version } })),
    });
    assert.equal(res.status, 201, await res.text());
  }
  const before = (await audits(ctx)).length;
  const y = await admin("POST", "/packages/@acme/map/versions/1.1.0/yank");
  assert.equal(y.status, 200);
  assert.equal((await y.json()).package.latest, "1.0.0");
  const read = await app.request("/pkg/acme/map/1.1.0", { headers: h });
  assert.equal(read.status, 410);
  assert.equal((await read.json()).manifest.version, "1.1.0");
  const list = await (await app.request("/pkg/acme/map", { headers: h })).json();
  assert.deepEqual(
    list.versions.map((v: { version: string; yanked: boolean }) => [v.version, v.yanked]),
    [["1.1.0", true], ["1.0.0", false]],
  );
  // Still downloadable by exact version.
  const bundle = await app.request("/bundles/private/@acme/map/1.1.0/bundle.js", { headers: h });
  assert.equal(bundle.status, 200);
  await bundle.body?.cancel();
  // A second yank changes nothing and records nothing.
  assert.equal(
    (await (await admin("POST", "/packages/@acme/map/versions/1.1.0/yank")).json()).changed,
    false,
  );
  const tag = await admin("PUT", "/packages/@acme/map/tags/next", { version: "1.1.0" });
  assert.deepEqual((await tag.json()).package.tags, { next: "1.1.0" });
  // Removing a tag that is not there (an inherited name included) changes nothing.
  const noTag = await admin("DELETE", "/packages/@acme/map/tags/constructor");
  assert.equal((await noTag.json()).changed, false);
  const del = await admin("DELETE", "/packages/@acme/map/versions/1.1.0");
  assert.equal(del.status, 200);
  assert.deepEqual((await del.json()).package.tags, {});
  assert.equal((await app.request("/pkg/acme/map/1.1.0", { headers: h })).status, 404);
  const gone = await app.request("/bundles/private/@acme/map/1.1.0/bundle.js", { headers: h });
  assert.equal(gone.status, 404);
  await gone.body?.cancel();
  const again = await app.request("/publish", {
    method: "POST",
    headers: h,
    body: JSON.stringify(await makeGadget(key, { manifest: { version: "1.1.0" } })),
  });
  assert.equal(again.status, 409);
  assert.equal((await again.json()).error, "version_exists");
  // One record per change: yank, tag.set, delete (the refused republish is not an admin route).
  const after = (await audits(ctx)).slice(before).map((a) => `${a.action}:${a.outcome}`);
  assert.deepEqual(after.sort(), ["tag.set:ok", "version.delete:ok", "version.yank:ok"]);
  const deliveries = await (await admin("GET", "/webhooks/deliveries?state=pending")).json();
  assert.deepEqual(
    deliveries.items.map((d: { event: string }) => d.event).sort(),
    ["tag.moved", "version.deleted", "version.yanked"],
  );
});

Deno.test("Rack: latest skips a yanked version, versions.json keeps it, and a deleted version is never served from the row cache", async () => {
  const { app, admin } = setup();
  for (const version of ["1.0.0", "1.1.0"]) {
    const res = await app.request(
      uploadRequest(await makePackage({ item: makeItem({ version }) }), { token: ADMIN }),
    );
    assert.equal(res.status, 201, await res.text());
  }
  const base = "/registries/@rack/quality/husky";
  const latest = async () => (await (await app.request(base)).json()).version;
  assert.equal(await latest(), "1.1.0");
  // Fill the version-row cache.
  assert.equal((await (await app.request(`${base}/1.1.0`)).json()).version, "1.1.0");
  assert.equal(
    (await admin("POST", "/packages/@rack/quality/husky/versions/1.1.0/yank")).status,
    200,
  );
  assert.equal(await latest(), "1.0.0");
  assert.deepEqual((await (await app.request(`${base}/versions`)).json()).versions, [
    "1.1.0",
    "1.0.0",
  ]);
  assert.equal((await app.request(`${base}/1.1.0`)).status, 200);
  const d = await admin("POST", "/packages/@rack/quality/husky/versions/1.1.0/deprecate", {
    message: "Use 1.0.0",
  });
  assert.equal((await d.json()).state.deprecated, "Use 1.0.0");
  assert.equal(
    (await admin("DELETE", "/packages/@rack/quality/husky/versions/1.1.0")).status,
    200,
  );
  const cached = await app.request(`${base}/1.1.0`);
  assert.equal(cached.status, 404);
  assert.equal((await cached.json()).code, "NOT_FOUND");
  assert.equal(
    (await app.request(`${base}/1.1.0/files/templates/setup.ts`)).status,
    404,
  );
  assert.deepEqual((await (await app.request(`${base}/versions`)).json()).versions, ["1.0.0"]);
  const again = await app.request(
    uploadRequest(await makePackage({ item: makeItem({ version: "1.1.0" }) }), { token: ADMIN }),
  );
  assert.equal(again.status, 409);
  assert.equal((await again.json()).code, "VERSION_EXISTS");
});

Deno.test("admin lifecycle routes refuse bad input with the admin envelope and a refused record", async () => {
  const { ctx, admin } = setup();
  const cases: [string, string, unknown, number, string][] = [
    ["POST", "/packages/@rack/quality/husky/versions/1.0.0/yank", undefined, 404, "not_found"],
    ["POST", "/packages/@rack/quality/husky/versions/v1/yank", undefined, 400, "invalid_version"],
    ["POST", "/packages/BAD/x/versions/1.0.0/yank", undefined, 400, "invalid_name"],
    [
      "PUT",
      "/packages/@rack/quality/husky/tags/latest",
      { version: "1.0.0" },
      400,
      "invalid_input",
    ],
    ["PUT", "/packages/@rack/quality/husky/tags/beta", { version: 1 }, 400, "invalid_input"],
    ["POST", "/gc?grace=forever", undefined, 400, "invalid_input"],
    // A misspelt dry run must not run a real, deleting gc.
    ["POST", "/gc?dryRun=yes&grace=0", undefined, 400, "invalid_input"],
    ["POST", "/gc?dryRun=1&grace=9999999999999d", undefined, 400, "invalid_input"],
    ["GET", "/audit?cursor=garbage", undefined, 400, "invalid_input"],
    ["GET", "/audit?since=yesterday", undefined, 400, "invalid_input"],
    ["GET", "/audit?limit=0", undefined, 400, "invalid_input"],
    ["GET", "/webhooks/deliveries?state=lost", undefined, 400, "invalid_input"],
  ];
  for (const [method, path, body, status, code] of cases) {
    const res = await admin(method, path, body);
    assert.equal(res.status, status, `${method} ${path}`);
    const json = await res.json();
    assert.equal(json.code, code, `${method} ${path}`);
    assert.equal(typeof json.message, "string");
  }
  const refused = (await audits(ctx)).filter((a) => a.outcome === "refused");
  assert.equal(refused.length, cases.length);
  const unknown = await admin("GET", "/nope");
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { code: "not_found", message: "Route not found" });
});

Deno.test("package.published is written with each ggui publish and each Rack upload, in the same commit", async () => {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const { auth } = parseAuthConfig(JSON.stringify({ "@rack": [] }), { adminToken: ADMIN });
  const app = createRegistryApp({
    storage,
    bundles,
    authenticator: staticTokenAuthenticator({ token: OPS, subject: "ops" }),
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    rackAuth: () => Promise.resolve(auth),
    subscriptions: [{
      id: "sub2",
      url: "https://hooks.example/all",
      secret: "s",
      events: ["package.published"],
      enabled: true,
    }],
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
  });
  const h = { authorization: `Bearer ${OPS}`, "content-type": "application/json" };
  const key = await makeKey();
  await app.request("/author-keys", {
    method: "POST",
    headers: h,
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  const pub = await app.request("/publish", {
    method: "POST",
    headers: h,
    body: JSON.stringify(await makeGadget(key)),
  });
  assert.equal(pub.status, 201);
  const up = await app.request(uploadRequest(await makePackage(), { token: ADMIN }));
  assert.equal(up.status, 201);
  const bodies: Record<string, unknown>[] = [];
  for await (const e of listAll<{ event: string; body: string }>(storage, keys.outboxPrefix())) {
    assert.equal(e.value.event, "package.published");
    bodies.push(JSON.parse(e.value.body));
  }
  assert.deepEqual(
    bodies.map((b) => `${b.namespace} ${b.version}`).sort(),
    ["@acme 1.0.0", "@rack 1.0.0"],
  );
});

Deno.test("POST /admin/gc while another run holds the lease is a retryable 409 with Retry-After", async () => {
  const { ctx, admin } = setup();
  await takeGcLease(ctx, { runId: "elsewhere", cutoff: new Date().toISOString(), leaseMs: 60_000 });
  const res = await admin("POST", "/gc?grace=0s");
  assert.equal(res.status, 409);
  assert.equal((await res.json()).code, "conflict");
  assert.equal(res.headers.get("retry-after"), "1");
});
