// auth.json identities (issue 15, item 2): a token's subject comes from the
// token, never from its `mark`, so two tokens with one mark in different
// namespaces are two identities, a mark `admin` is not the ADMIN_TOKEN, and
// rows published under the old merged subjects (`rack:<mark>`) stay readable
// by their real publisher through its namespace grants only. Over HTTP on
// ggui, JSR and author keys, in process.
import assert from "node:assert/strict";
import type { Authenticator } from "../core/auth.ts";
import type { RegistryContext } from "../core/context.ts";
import { sha256Hex } from "../base/digest.ts";
import { parseAuthConfig, rackTokenSubject } from "../core/rack/auth.ts";
import type { AuditRow } from "../core/rows.ts";
import { listAll } from "../core/store.ts";
import { createRegistryApp } from "../routes/app.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeGadget, makeKey, type TestKey } from "./_ggui_fixtures.ts";
import { ADMIN, makeTarball } from "./_rack_fixtures.ts";

/** `@gated` and `@other` each list a token marked `CI`; `@other` also one marked `admin`. */
const AUTH_JSON = {
  "@gated": [{ token: "gated-ci", publish: true, mark: "CI" }],
  "@other": [
    { token: "other-ci", publish: true, mark: "CI" },
    { token: "other-admin", mark: "admin" },
    { token: "shared", mark: "dev" },
  ],
};

type App = ReturnType<typeof createRegistryApp>;

function makeApp(
  ctx: RegistryContext,
  options: { authenticator?: Authenticator; authJson?: unknown } = {},
): App {
  const { auth } = parseAuthConfig(JSON.stringify(options.authJson ?? AUTH_JSON), {
    adminToken: ADMIN,
  });
  return createRegistryApp({
    storage: ctx.storage,
    bundles: ctx.bundles,
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    rackAuth: () => Promise.resolve(auth),
    ...(options.authenticator ? { authenticator: options.authenticator } : {}),
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
    compress: false,
  });
}

function setup(): { app: App; ctx: RegistryContext } {
  const ctx: RegistryContext = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(),
  };
  return { app: makeApp(ctx), ctx };
}

function headers(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, "content-type": "application/json" };
}

async function get(app: App, token: string, path: string): Promise<Response> {
  return await app.request(path, { headers: headers(token) });
}

async function registerKey(app: App, token: string, key: TestKey): Promise<Response> {
  return await app.request("/author-keys", {
    method: "POST",
    headers: headers(token),
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
}

/** Register `key` for `token` and publish a private gadget `<scope>/map@<version>` signed by it. */
async function publishGadget(
  app: App,
  token: string,
  key: TestKey,
  options: { scope: string; version?: string; register?: boolean },
): Promise<Response> {
  if (options.register !== false) assert.equal((await registerKey(app, token, key)).status, 201);
  return await app.request("/publish", {
    method: "POST",
    headers: headers(token),
    body: JSON.stringify(
      await makeGadget(key, {
        manifest: { scope: options.scope, version: options.version ?? "1.0.0" },
      }),
    ),
  });
}

async function keyIds(app: App, token: string): Promise<{ subject: string; ids: string[] }> {
  const res = await get(app, token, "/author-keys");
  assert.equal(res.status, 200);
  const body = await res.json();
  return { subject: body.subject, ids: body.keys.map((k: { keyId: string }) => k.keyId) };
}

/** Every read of a private ggui version, as `token`: the statuses in order. */
async function gguiReads(app: App, token: string, scope: string): Promise<number[]> {
  const out: number[] = [];
  for (
    const path of [
      `/pkg/${scope}/map`,
      `/pkg/${scope.slice(1)}/map/1.0.0`,
      `/bundles/private/${scope}/map/1.0.0/bundle.js`,
    ]
  ) {
    const res = await get(app, token, path);
    await res.body?.cancel();
    out.push(res.status);
  }
  return out;
}

Deno.test("an auth.json token does not read private ggui versions published by another namespace's token with the same mark", async () => {
  const { app } = setup();
  const pub = await publishGadget(app, "gated-ci", await makeKey(), { scope: "@gated" });
  assert.equal(pub.status, 201, await pub.text());
  assert.deepEqual(await gguiReads(app, "gated-ci", "@gated"), [200, 200, 200]);
  // Listed only in @other, with the same mark: the version is missing to it.
  assert.deepEqual(await gguiReads(app, "other-ci", "@gated"), [404, 404, 404]);
});

Deno.test("an auth.json token does not read a private JSR package published by another namespace's token with the same mark", async () => {
  const { app } = setup();
  const tarball = await makeTarball({
    "deno.json": JSON.stringify({ name: "@gated/util", version: "1.0.0", exports: "./mod.ts" }),
    "mod.ts": "export const secret = 1;\n",
  });
  const res = await app.request(
    "/api/scopes/gated/packages/util/versions/1.0.0?config=/deno.json",
    {
      method: "POST",
      headers: { authorization: "Bearer gated-ci", "content-encoding": "gzip" },
      body: tarball as BodyInit,
    },
  );
  assert.equal((await res.json()).status, "success");
  for (const path of ["/@gated/util/meta.json", "/@gated/util/1.0.0/mod.ts"]) {
    const own = await get(app, "gated-ci", path);
    assert.equal(own.status, 200, path);
    await own.body?.cancel();
    const other = await get(app, "other-ci", path);
    assert.equal(other.status, 404, `${path}: ${await other.text()}`);
  }
});

Deno.test("an auth.json token neither lists, deletes nor adds to the author keys of another token with the same mark", async () => {
  const { app } = setup();
  const gatedKey = await makeKey();
  assert.equal((await registerKey(app, "gated-ci", gatedKey)).status, 201);
  const gated = await keyIds(app, "gated-ci");
  assert.deepEqual(gated.ids, [gatedKey.keyId]);

  const other = await keyIds(app, "other-ci");
  assert.deepEqual(other.ids, []);
  assert.notEqual(other.subject, gated.subject);
  const del = await app.request(`/author-keys/${gatedKey.keyId}`, {
    method: "DELETE",
    headers: headers("other-ci"),
  });
  assert.deepEqual(await del.json(), { keyId: gatedKey.keyId, deleted: false });
  assert.deepEqual((await keyIds(app, "gated-ci")).ids, [gatedKey.keyId]);

  // A key other-ci registers is its own: gated-ci cannot publish with it.
  const otherKey = await makeKey();
  assert.equal((await registerKey(app, "other-ci", otherKey)).status, 201);
  assert.deepEqual((await keyIds(app, "gated-ci")).ids, [gatedKey.keyId]);
  const signedByOther = await publishGadget(app, "gated-ci", otherKey, {
    scope: "@gated",
    register: false,
  });
  assert.equal(signedByOther.status, 403);
  assert.equal((await signedByOther.json()).error, "unknown_key");
  assert.equal(gated.subject, rackTokenSubject(sha256Hex("gated-ci")));
});

Deno.test("an auth.json token marked admin is not the ADMIN_TOKEN: it reads none of the admin's private versions or keys", async () => {
  const { app } = setup();
  const adminKey = await makeKey();
  const pub = await publishGadget(app, ADMIN, adminKey, { scope: "@gated" });
  assert.equal(pub.status, 201, await pub.text());
  assert.deepEqual(await gguiReads(app, ADMIN, "@gated"), [200, 200, 200]);
  assert.deepEqual(await gguiReads(app, "other-admin", "@gated"), [404, 404, 404]);
  const marked = await keyIds(app, "other-admin");
  assert.equal(marked.subject, rackTokenSubject(sha256Hex("other-admin")));
  assert.deepEqual(marked.ids, []);
  assert.deepEqual((await keyIds(app, ADMIN)).ids, [adminKey.keyId]);
});

Deno.test("one auth.json token listed in two namespaces with two marks is one identity, its first mark the audit label", async () => {
  const { app, ctx } = setup();
  const authJson = {
    ...AUTH_JSON,
    "@gated": [...AUTH_JSON["@gated"], { token: "shared", publish: true, mark: "deploy" }],
  };
  const both = makeApp(ctx, { authJson });
  const key = await makeKey();
  const pub = await publishGadget(both, "shared", key, { scope: "@gated" });
  assert.equal(pub.status, 201, await pub.text());
  const mine = await keyIds(both, "shared");
  assert.equal(mine.subject, rackTokenSubject(sha256Hex("shared")));
  assert.deepEqual(mine.ids, [key.keyId]);
  // The version is the token's wherever it reads from; the mark is a label only.
  const row = await get(both, "shared", "/pkg/gated/map/1.0.0");
  assert.equal((await row.json()).publishedBy, mine.subject);
  const audit: AuditRow[] = [];
  for await (const e of listAll<AuditRow>(ctx.storage, keys.auditPrefix())) audit.push(e.value);
  const publish = audit.find((a) => a.action === "ggui.publish")!;
  assert.equal(publish.actor, mine.subject);
  assert.equal((publish.detail as { label?: string }).label, "deploy");
  // Still unreadable to the same-mark token of the other namespace.
  assert.equal((await get(app, "other-ci", "/pkg/gated/map/1.0.0")).status, 404);
});

Deno.test("a private version published under a merged subject (rack:CI) stays readable by its real publisher through its grants, and by no same-mark stranger", async () => {
  const ctx: RegistryContext = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(),
  };
  // Before the fix, gated-ci's subject was `rack:CI`: publish as that subject.
  const legacy: Authenticator = {
    authenticate: (token) =>
      Promise.resolve(
        token === "gated-ci"
          ? {
            subject: "rack:CI",
            admin: false,
            grants: [{ namespace: "@gated", actions: ["publish"] }],
          }
          : null,
      ),
  };
  const before = makeApp(ctx, { authenticator: legacy });
  const key = await makeKey();
  const pub = await publishGadget(before, "gated-ci", key, { scope: "@gated" });
  assert.equal(pub.status, 201, await pub.text());
  assert.equal(
    (await (await get(before, "gated-ci", "/pkg/gated/map/1.0.0")).json()).publishedBy,
    "rack:CI",
  );

  const app = makeApp(ctx);
  // The real publisher is listed in @gated: it reads by its grant.
  assert.deepEqual(await gguiReads(app, "gated-ci", "@gated"), [200, 200, 200]);
  // A same-mark token of another namespace does not take the old subject.
  assert.deepEqual(await gguiReads(app, "other-ci", "@gated"), [404, 404, 404]);
  // Keys registered under the merged subject belong to nobody now (either
  // token may have registered them): the real publisher registers its key
  // again, under its own subject, and publishes as before.
  assert.deepEqual((await keyIds(app, "gated-ci")).ids, []);
  assert.deepEqual((await keyIds(app, "other-ci")).ids, []);
  const next = await publishGadget(app, "gated-ci", key, { scope: "@gated", version: "1.0.1" });
  assert.equal(next.status, 201, await next.text());
});

Deno.test("POST /admin/tokens refuses a subject the server reserves (rack:…), so no stored token acts as an auth.json token or the ADMIN_TOKEN", async () => {
  const { app } = setup();
  for (const subject of ["rack:admin", rackTokenSubject(sha256Hex("gated-ci")), "rack:CI"]) {
    const res = await app.request("/admin/tokens", {
      method: "POST",
      headers: headers(ADMIN),
      body: JSON.stringify({ subject, grants: [{ namespace: "@gated", actions: ["read"] }] }),
    });
    assert.equal(res.status, 400, subject);
    const body = await res.json();
    assert.equal(body.code, "invalid_input");
    assert.match(body.message, /reserved/);
  }
  const list = await (await get(app, ADMIN, "/admin/tokens")).json();
  assert.deepEqual(list.tokens, []);
});
