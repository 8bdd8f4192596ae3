import assert from "node:assert/strict";
import { staticTokenAuthenticator } from "../core/auth.ts";
import { ERROR_CODES, RegistryError, STORAGE_FULL_MESSAGE } from "../base/errors.ts";
import { createGguiRoutes, gguiErrorResult, parseBearer } from "../routes/ggui/mod.ts";
import type { Commit, CommitResult, Entry, ListOptions, Page, RowKey } from "../storage/types.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import {
  bearer,
  GADGET_SOURCE,
  makeBlueprintManifest,
  makeGadget,
  makeGadgetManifest,
  makeGguiApp,
  makeKey,
  makePublicGadget,
  publish,
  registerKey,
  testSigstoreVerifier,
  tokenMapAuthenticator,
  TOKENS,
} from "./_ggui_fixtures.ts";

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
  "access-control-allow-headers": "content-type, authorization",
};

function assertCors(res: Response, present: boolean, what: string): void {
  for (const [k, v] of Object.entries(CORS)) {
    assert.equal(res.headers.get(k), present ? v : null, `${what}: ${k}`);
  }
}

Deno.test("GET /healthz answers {ok:true} with CORS", async () => {
  const { app } = makeGguiApp();
  const res = await app.request("/healthz");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(await res.text(), '{"ok":true}');
  assertCors(res, true, "healthz");
});

Deno.test("OPTIONS short-circuits with 204 on CORS paths and is a plain 404 on excluded ones", async () => {
  const { app } = makeGguiApp();
  for (
    const path of [
      "/healthz",
      "/search",
      "/pkg/acme/map",
      "/pkg/acme/map/1.0.0",
      "/author-keys",
      "/author-keys/abc",
      "/conformance/check",
      "/bundles/public/@acme/map/1.0.0/bundle.js",
    ]
  ) {
    const res = await app.request(path, { method: "OPTIONS" });
    assert.equal(res.status, 204, path);
    assertCors(res, true, path);
  }
  for (const path of ["/publish", "/bundles/private/@acme/map/1.0.0/bundle.js"]) {
    const res = await app.request(path, { method: "OPTIONS" });
    assert.equal(res.status, 404, path);
    assertCors(res, false, path);
  }
});

Deno.test("/publish responses never carry CORS headers; errors are no-store, gated listings private, public ones bare", async () => {
  const { app } = makeGguiApp();
  const key = await makeKey();
  await registerKey(app, TOKENS.alice, key);
  for (
    const [res, cacheControl] of [
      [await publish(app, TOKENS.alice, await makeGadget(key)), null],
      // Errors are never stored.
      [await publish(app, TOKENS.alice, "{"), "no-store"],
      [await app.request("/publish", { method: "POST" }), "no-store"],
    ] as const
  ) {
    assertCors(res, false, `publish ${res.status}`);
    assert.equal(res.headers.get("cache-control"), cacheControl, `publish ${res.status}`);
  }
  const search = await app.request("/search");
  assertCors(search, true, "search");
  assert.equal(search.headers.get("cache-control"), null);
  // The caller's own keys are private to the credential they were listed for.
  const keys = await app.request("/author-keys", { headers: bearer(TOKENS.alice) });
  assertCors(keys, true, "author-keys");
  assert.equal(keys.status, 200);
  assert.equal(keys.headers.get("cache-control"), "private, no-cache");
  assert.equal(keys.headers.get("vary"), "Authorization");
  const refused = await app.request("/author-keys");
  assert.equal(refused.status, 401);
  assert.equal(refused.headers.get("cache-control"), "no-store");
});

Deno.test("unknown paths and methods are text/plain 404s", async () => {
  const { app } = makeGguiApp();
  for (
    const [method, path] of [
      ["GET", "/nope"],
      ["PUT", "/publish"],
      ["GET", "/publish"],
      [
        "POST",
        "/search",
      ],
      ["GET", "/pkg/acme"],
      ["POST", "/yank"],
    ]
  ) {
    const res = await app.request(path!, { method });
    assert.equal(res.status, 404, `${method} ${path}`);
    assert.equal(res.headers.get("content-type"), "text/plain; charset=UTF-8");
    assert.equal(await res.text(), "404 Not Found");
  }
});

Deno.test("parseBearer() accepts only the exact `Bearer ` prefix with a non-empty token", () => {
  assert.equal(parseBearer("Bearer abc"), "abc");
  assert.equal(parseBearer("Bearer  abc"), " abc");
  for (
    const bad of [
      undefined,
      null,
      "",
      "Bearer",
      "Bearer ",
      "bearer abc",
      "BEARER abc",
      "Basic abc",
      " Bearer abc",
    ]
  ) {
    assert.equal(parseBearer(bad), null, String(bad));
  }
});

Deno.test("the single-token mode maps the token to its configured subject", async () => {
  const ctx = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date("2026-11-22T00:00:00.000Z"),
  };
  const app = createGguiRoutes({
    ctx,
    authenticator: staticTokenAuthenticator({ token: "s3cret" }),
    bundleHost: "https://registry.example.com/",
    registryHostname: "registry.example.com",
  });
  const key = await makeKey();
  const reg = await app.request("/author-keys", {
    method: "POST",
    headers: bearer("s3cret"),
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  assert.match((await reg.json()).subject, /^bearer-[0-9a-f]{12}$/);
  const res = await app.request("/publish", {
    method: "POST",
    headers: bearer("s3cret"),
    body: JSON.stringify(await makeGadget(key)),
  });
  assert.equal(res.status, 201);
  const body = await res.json();
  // The trailing slash of bundleHost is dropped; a non-loopback host installs over https.
  assert.equal(
    body.bundleUrl,
    "https://registry.example.com/bundles/private/@acme/map/1.0.0/bundle.js",
  );
  assert.equal(
    body.installCommand,
    "ggui gadget install @acme/map@1.0.0 --registry=https://registry.example.com",
  );
});

Deno.test("POST /conformance/check answers 200 {ok, errors, issues} and 400 for non-JSON", async () => {
  const { app } = makeGguiApp();
  const check = async (body: string) => {
    const res = await app.request("/conformance/check", {
      method: "POST",
      headers: bearer(TOKENS.alice),
      body,
    });
    return {
      status: res.status,
      body: await res.json(),
      cors: res.headers.get("access-control-allow-origin"),
    };
  };
  const notJson = await check("{oops");
  assert.equal(notJson.status, 400);
  assert.deepEqual(notJson.body, {
    ok: false,
    errors: [{ code: "manifest_invalid", message: "request body is not valid JSON" }],
    issues: [{ code: "manifest_invalid", message: "request body is not valid JSON" }],
  });
  const good = await check(
    JSON.stringify({ manifest: makeGadgetManifest(), bundle: GADGET_SOURCE }),
  );
  assert.equal(good.status, 200);
  assert.deepEqual(good.body, { ok: true, errors: [], issues: [] });
  assert.equal(good.cors, "*");
  const noBundle = await check(JSON.stringify({ manifest: makeGadgetManifest() }));
  assert.equal(noBundle.status, 200);
  assert.equal(noBundle.body.ok, false);
  assert.equal(noBundle.body.errors[0].code, "bundle_parse_error");
  assert.deepEqual(noBundle.body.issues, noBundle.body.errors);
  const nullBody = await check("null");
  assert.equal(nullBody.status, 200);
  assert.equal(nullBody.body.errors[0].code, "manifest_invalid");
  const badManifest = await check(
    JSON.stringify({ manifest: { ...makeGadgetManifest(), tags: ["UP"] } }),
  );
  assert.deepEqual(badManifest.body.errors[0], {
    code: "manifest_invalid",
    message: "tag must be lowercase alphanumeric with hyphens only",
    path: ["tags", 0],
    detail: { zodCode: "invalid_format" },
  });
  const blueprint = await check(JSON.stringify({ manifest: makeBlueprintManifest() }));
  assert.deepEqual(blueprint.body, { ok: true, errors: [], issues: [] });
  // Anonymous works too.
  const anon = await app.request("/conformance/check", {
    method: "POST",
    body: JSON.stringify({ manifest: makeBlueprintManifest() }),
  });
  assert.equal(anon.status, 200);
});

/** Row storage that fails every operation once `broken` is set, with a revealing message. */
class BrokenStorage extends MemoryRegistryStorage {
  broken = false;
  #fail(): never {
    throw new Error("disk on fire at /srv/secret/registry.db");
  }
  override get<T>(key: RowKey): Promise<Entry<T> | null> {
    if (this.broken) this.#fail();
    return super.get<T>(key);
  }
  override getMany<T>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    if (this.broken) this.#fail();
    return super.getMany<T>(keys);
  }
  override list<T>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> {
    if (this.broken) this.#fail();
    return super.list<T>(prefix, options);
  }
  override commit(commit: Commit): Promise<CommitResult> {
    if (this.broken) this.#fail();
    return super.commit(commit);
  }
}

Deno.test("storage faults answer the spec's 5xx bodies without internal text", async () => {
  const storage = new BrokenStorage();
  const bundles = new MemoryBundleStorage();
  const app = createGguiRoutes({
    ctx: { storage, bundles, clock: () => new Date() },
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice" }),
    bundleHost: "http://127.0.0.1:9011",
    registryHostname: "127.0.0.1:9011",
    sigstore: testSigstoreVerifier,
  });
  const key = await makeKey();
  await registerKey(app, TOKENS.alice, key);
  assert.equal((await publish(app, TOKENS.alice, makePublicGadget())).status, 201);
  const gadget = await makeGadget(key, { manifest: { version: "2.0.0" } });
  storage.broken = true;
  const cases: [string, RequestInit, number, string, string][] = [
    ["/search", {}, 500, "server_error", "failed to search registry"],
    ["/pkg/acme/map", {}, 500, "server_error", "failed to list versions"],
    ["/pkg/acme/map/1.0.0", {}, 500, "server_error", "failed to read package"],
    [
      "/author-keys",
      { headers: bearer(TOKENS.alice) },
      500,
      "server_error",
      "failed to list author keys",
    ],
    [
      `/author-keys/${key.keyId}`,
      { method: "DELETE", headers: bearer(TOKENS.alice) },
      500,
      "server_error",
      "failed to delete author key",
    ],
    [
      "/author-keys",
      {
        method: "POST",
        headers: bearer(TOKENS.alice),
        body: JSON.stringify({ publicKeyBase64: (await makeKey()).publicKeyBase64 }),
      },
      500,
      "server_error",
      "failed to write AuthorKey row",
    ],
    [
      "/publish",
      { method: "POST", headers: bearer(TOKENS.alice), body: JSON.stringify(gadget) },
      500,
      "internal",
      "failed to read the scope owner",
    ],
    [
      "/bundles/private/@acme/map/1.0.0/bundle.js",
      { headers: bearer(TOKENS.alice) },
      500,
      "server_error",
      "internal error",
    ],
    ["/bundles/public/@acme/map/1.0.0/bundle.js", {}, 500, "server_error", "failed to read bundle"],
  ];
  for (const [path, init, status, code, message] of cases) {
    const res = await app.request(path, init);
    const text = await res.text();
    assert.equal(res.status, status, `${path}: ${text}`);
    assert.doesNotMatch(text, /disk on fire|secret/);
    assert.deepEqual(JSON.parse(text), { error: code, code, message }, path);
  }
});

Deno.test("gguiErrorResult() maps every domain code, hiding 5xx messages", () => {
  for (const code of ERROR_CODES) {
    const res = gguiErrorResult(new RegistryError(code, `Detail about '${code}'`));
    const body = res.body as { error: string; code: string; message: string };
    assert.equal(body.error, body.code);
    assert.ok(res.status >= 400 && res.status < 600, code);
    // A 503 says only that storage is unavailable, a 507 that it is full; every
    // 5xx hides the internal detail.
    if (res.status === 503) assert.equal(body.message, "storage is unavailable, try again later");
    else if (res.status === 507) assert.equal(body.message, STORAGE_FULL_MESSAGE);
    else if (res.status >= 500) assert.equal(body.message, "internal error");
    else assert.equal(body.message, `Detail about '${code}'`);
  }
  assert.deepEqual(gguiErrorResult(new Error("secret")), {
    status: 500,
    body: { error: "server_error", code: "server_error", message: "internal error" },
  });
  assert.equal(gguiErrorResult(new RegistryError("too_large", "x")).status, 413);
});

Deno.test("POST /publish refuses a body over the configured cap with 413 and writes nothing", async () => {
  const ctx = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(),
  };
  const app = createGguiRoutes({
    ctx,
    authenticator: staticTokenAuthenticator({ token: "t" }),
    bundleHost: "http://localhost:1",
    registryHostname: "localhost:1",
    maxBodyBytes: 1024,
  });
  const res = await app.request("/publish", {
    method: "POST",
    headers: bearer("t"),
    body: JSON.stringify({ pad: "x".repeat(2048) }),
  });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).code, "bundle_too_large");
  assert.equal((await ctx.storage.list([])).items.length, 0);
});

Deno.test("an error thrown inside a route is answered by onError, keeping CORS on CORS paths", async () => {
  class CorruptBundles extends MemoryBundleStorage {
    override get(): Promise<never> {
      return Promise.reject(
        new RegistryError("blob_corrupt", "Stored blob 'abc' failed its digest check"),
      );
    }
  }
  const storage = new MemoryRegistryStorage();
  const app = createGguiRoutes({
    ctx: { storage, bundles: new CorruptBundles(), clock: () => new Date() },
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice" }),
    bundleHost: "http://127.0.0.1:9011",
    registryHostname: "127.0.0.1:9011",
    sigstore: testSigstoreVerifier,
  });
  assert.equal((await publish(app, TOKENS.alice, makePublicGadget())).status, 201);
  const res = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js");
  assert.equal(res.status, 500);
  assert.deepEqual(await res.json(), {
    error: "server_error",
    code: "server_error",
    message: "internal error",
  });
  assertCors(res, true, "thrown");
});

Deno.test("HEAD on a bundle answers its headers without a body", async () => {
  const { app } = makeGguiApp({ publicLane: true });
  assert.equal((await publish(app, TOKENS.alice, makePublicGadget())).status, 201);
  const res = await app.request("/bundles/public/@acme/map/1.0.0/bundle.js", { method: "HEAD" });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), String(GADGET_SOURCE.length));
  assert.equal(await res.text(), "");
});

Deno.test("a manifest nested deeper than 64 levels is refused as invalid, never a 500, and writes nothing", async () => {
  const { app, storage } = makeGguiApp();
  const key = await makeKey();
  await registerKey(app, TOKENS.alice, key);
  const rowsBefore = (await storage.list([])).items.length;
  let deep: unknown = 1;
  for (let i = 0; i < 5000; i++) deep = [deep];
  const manifest = makeGadgetManifest({
    exports: [{ hook: "useMap", description: "d", usage: "u", example: deep }],
  });
  const check = await app.request("/conformance/check", {
    method: "POST",
    headers: bearer(TOKENS.alice),
    body: JSON.stringify({ manifest, bundle: GADGET_SOURCE }),
  });
  assert.equal(check.status, 200);
  const checked = await check.json();
  assert.equal(checked.ok, false);
  assert.match(JSON.stringify(checked.errors), /nested more than 64 levels/);
  const gadget = await makeGadget(key, { manifest: { exports: manifest.exports } });
  const res = await publish(app, TOKENS.alice, gadget);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error, "manifest_invalid");
  assert.equal(body.detail.issues[0].code, "too_deep");
  assert.equal((await storage.list([])).items.length, rowsBefore);
});
