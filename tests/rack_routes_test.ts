// The Rack read, discovery, schema, preset, health and metrics routes, in
// process over memory storage, with packages uploaded as real tar.gz bytes.
import assert from "node:assert/strict";
import { DATA_FORMAT_VERSION, VERSION } from "../core/version.ts";
import { Hono } from "hono";
import { sha256Hex } from "../base/digest.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { updateRow } from "../core/store.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { createRackRoutes } from "../routes/rack/mod.ts";
import {
  ADMIN,
  AUTH_JSON,
  makeItem,
  makePackage,
  makeRackEnv,
  type RackTestEnv,
  TEMPLATE_FILES,
  uploadRequest,
} from "./_rack_fixtures.ts";

const BINARY = Uint8Array.from({ length: 1024 }, (_, i) => (i * 7) % 256);

async function expectError(res: Response, status: number, code: string, message?: string) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
  const body = JSON.parse(text);
  assert.deepEqual(Object.keys(body), ["code", "message"]);
  assert.equal(body.code, code);
  if (message !== undefined) assert.equal(body.message, message);
}

async function publish(
  env: RackTestEnv,
  item: Record<string, unknown>,
  files: Record<string, string | Uint8Array> = TEMPLATE_FILES,
  token = ADMIN,
) {
  const res = await env.app.request(uploadRequest(await makePackage({ item, files }), { token }));
  assert.equal(res.status, 201, await res.clone().text());
  await res.body?.cancel();
}

/** @rack/quality/husky 1.0.0, 1.1.0, 2.0.0-beta.1; @company/features/secret 1.0.0. */
async function seeded(): Promise<RackTestEnv> {
  const env = makeRackEnv();
  const files = { ...TEMPLATE_FILES, "assets/logo.png": BINARY, "styles/app.CSS": "body{}" };
  const fileList = [
    ...(makeItem().files as unknown[]),
    { path: "assets/logo.png", target: "logo.png", type: "registry:asset" },
    { path: "styles/app.CSS", target: "app.css", type: "registry:asset" },
  ];
  for (const version of ["1.0.0", "2.0.0-beta.1", "1.1.0"]) {
    await publish(env, makeItem({ version, files: fileList }), files);
  }
  await publish(
    env,
    makeItem({ namespace: "@company", name: "secret", type: "registry:feature" }),
    TEMPLATE_FILES,
    "ci-token",
  );
  return env;
}

Deno.test("GET …/versions lists every version newest first in the original's byte shape", async () => {
  const env = await seeded();
  const res = await env.app.request("/registries/@rack/quality/husky/versions");
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.equal(
    text,
    '{\n  "versions": [\n    "2.0.0-beta.1",\n    "1.1.0",\n    "1.0.0"\n  ]\n}\n',
  );
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(res.headers.get("cache-control"), "public, max-age=60");
  assert.equal(
    res.headers.get("content-length"),
    String(new TextEncoder().encode(text).byteLength),
  );
  assert.equal(res.headers.get("etag"), `"${sha256Hex(text)}"`);
});

Deno.test("GET the bare registry URL serves the latest release, not a newer prerelease", async () => {
  const env = await seeded();
  const res = await env.app.request("/registries/@rack/quality/husky");
  assert.equal(res.status, 200);
  assert.equal((await res.json()).version, "1.1.0");
  assert.equal(res.headers.get("cache-control"), "public, max-age=60");
  // Only prereleases: the highest prerelease is latest.
  await publish(env, makeItem({ name: "pre", version: "0.1.0-alpha.1" }));
  await publish(env, makeItem({ name: "pre", version: "0.1.0-alpha.2" }));
  assert.equal(
    (await (await env.app.request("/registries/@rack/quality/pre")).json()).version,
    "0.1.0-alpha.2",
  );
});

Deno.test("GET latest with no live version answers 404 No versions available", async () => {
  const env = await seeded();
  await updateRow<Record<string, unknown>>(
    env.ctx.storage,
    keys.packageKey({ namespace: "@rack", name: "quality/husky" }),
    (row) => {
      const next = { ...row };
      delete next.latest;
      return next;
    },
  );
  await expectError(
    await env.app.request("/registries/@rack/quality/husky"),
    404,
    "NOT_FOUND",
    "No versions available",
  );
});

Deno.test("versioned registry.json and template files are byte-exact, typed, sized, ETagged and immutable", async () => {
  const env = await seeded();
  const item = await env.app.request("/registries/@rack/quality/husky/1.0.0");
  assert.equal(item.status, 200);
  const itemText = await item.text();
  assert.equal(JSON.parse(itemText).version, "1.0.0");
  assert.equal(item.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(item.headers.get("content-type"), "application/json");

  const png = await env.app.request("/registries/@rack/quality/husky/1.0.0/files/assets/logo.png");
  assert.deepEqual(new Uint8Array(await png.arrayBuffer()), BINARY);
  assert.equal(png.headers.get("content-type"), "image/png");
  assert.equal(png.headers.get("content-length"), "1024");
  assert.equal(png.headers.get("etag"), `"${sha256Hex(BINARY)}"`);
  assert.equal(png.headers.get("cache-control"), "public, max-age=31536000, immutable");

  const css = await env.app.request("/registries/@rack/quality/husky/1.0.0/files/./styles/app.CSS");
  assert.equal(css.headers.get("content-type"), "text/css");
  assert.equal(await css.text(), "body{}");
  const hook = await env.app.request(
    "/registries/%40rack/quality/husky/1.0.0/files/templates/.husky/commit-msg",
  );
  assert.equal(hook.headers.get("content-type"), "application/octet-stream");
  assert.equal(await hook.text(), TEMPLATE_FILES["templates/.husky/commit-msg"]);
  const json = await env.app.request("/registries/@rack/quality/husky/1.0.0/files/registry.json");
  assert.equal(await json.text(), itemText);
});

Deno.test("If-None-Match with the content digest answers 304 with ETag and Cache-Control, no body", async () => {
  const env = await seeded();
  const url = "/registries/@rack/quality/husky/1.0.0/files/assets/logo.png";
  const etag = `"${sha256Hex(BINARY)}"`;
  const res = await env.app.request(url, { headers: { "if-none-match": `"nope", ${etag}` } });
  assert.equal(res.status, 304);
  assert.equal(res.headers.get("etag"), etag);
  assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(await res.text(), "");
  const miss = await env.app.request(url, { headers: { "if-none-match": '"other"' } });
  assert.equal(miss.status, 200);
  await miss.body?.cancel();
  const versions = await env.app.request("/registries/@rack/quality/husky/versions");
  const again = await env.app.request("/registries/@rack/quality/husky/versions", {
    headers: { "if-none-match": versions.headers.get("etag")! },
  });
  await versions.body?.cancel();
  assert.equal(again.status, 304);
});

Deno.test("a version's files carry its publication date and answer If-Modified-Since; latest carries none", async () => {
  const env = await seeded();
  for (
    const url of [
      "/registries/@rack/quality/husky/1.0.0/files/assets/logo.png",
      "/registries/@rack/quality/husky/1.0.0",
    ]
  ) {
    const res = await env.app.request(url);
    const lastModified = res.headers.get("last-modified");
    await res.body?.cancel();
    assert.ok(lastModified !== null, url);
    const date = new Date(lastModified);
    const current = await env.app.request(url, { headers: { "if-modified-since": lastModified } });
    assert.equal(current.status, 304, url);
    assert.equal(await current.text(), "");
    const older = new Date(date.getTime() - 1000).toUTCString();
    const stale = await env.app.request(url, { headers: { "if-modified-since": older } });
    assert.equal(stale.status, 200, url);
    await stale.body?.cancel();
  }
  const latest = await env.app.request("/registries/@rack/quality/husky");
  assert.equal(latest.status, 200);
  assert.equal(latest.headers.get("last-modified"), null);
  await latest.body?.cancel();
});

Deno.test("HEAD answers every GET route with the same status and headers and no body", async () => {
  const env = await seeded();
  for (
    const path of [
      "/registries/@rack/quality/husky/versions",
      "/registries/@rack/quality/husky",
      "/registries/@rack/quality/husky/1.0.0",
      "/registries/@rack/quality/husky/1.0.0/files/assets/logo.png",
      "/registries/@rack/quality/husky/9.9.9",
      "/schemas/preset.json",
      "/namespaces",
      "/namespaces/@rack/registries",
      "/health",
    ]
  ) {
    const get = await env.app.request(path);
    const head = await env.app.request(path, { method: "HEAD" });
    assert.equal(head.status, get.status, path);
    for (const h of ["content-type", "content-length", "cache-control", "etag"]) {
      assert.equal(head.headers.get(h), get.headers.get(h), `${path} ${h}`);
    }
    assert.equal(await head.text(), "", path);
    await get.body?.cancel();
  }
});

Deno.test("reads answer 404 NOT_FOUND for unknown registries, versions and files, and a flat path of a categorized item", async () => {
  const env = await seeded();
  for (
    const path of [
      "/registries/@rack/quality/nope",
      "/registries/@rack/quality/nope/versions",
      "/registries/@rack/quality/husky/9.9.9",
      "/registries/@rack/quality/husky/1.0.0/files/missing.txt",
      "/registries/@rack/husky/1.0.0",
      "/registries/@rack/husky",
    ]
  ) await expectError(await env.app.request(path), 404, "NOT_FOUND", "Resource not found");
  await expectError(
    await env.app.request("/registries/@rack/husky/1.0.0/readme"),
    400,
    "INVALID_PATH",
    "Invalid registry resource path",
  );
  await expectError(await env.app.request("/registries/@rack/husky/%E0%A4%A"), 400, "INVALID_PATH");
});

Deno.test("gated namespaces: token rules on reads, private cache variants with Vary", async () => {
  const env = await seeded();
  const url = "/registries/@company/features/secret/1.0.0";
  await expectError(
    await env.app.request(url),
    401,
    "UNAUTHORIZED",
    "Authentication token is required",
  );
  await expectError(
    await env.app.request(url, { headers: { authorization: "Bearer other-token" } }),
    401,
    "INVALID_TOKEN",
    "Provided token is invalid",
  );
  await expectError(
    await env.app.request(url, { headers: { "x-registry-token": "old-token" } }),
    401,
    "TOKEN_EXPIRED",
    "Authentication token has expired",
  );
  for (
    const headers of [{ authorization: "Bearer dev-token" }, { "x-registry-token": "ci-token" }, {
      authorization: `bearer ${ADMIN}`,
    }]
  ) {
    const res = await env.app.request(url, {
      headers: headers as unknown as Record<string, string>,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "private, max-age=31536000, immutable");
    assert.equal(res.headers.get("vary"), "Authorization, X-Registry-Token");
    await res.body?.cancel();
  }
  const versions = await env.app.request("/registries/@company/features/secret/versions", {
    headers: { authorization: "Bearer dev-token" },
  });
  assert.equal(versions.headers.get("cache-control"), "private, max-age=60");
  await versions.body?.cancel();
  // An anonymous namespace ignores tokens, even wrong ones, and stays public without Vary.
  const pub = await env.app.request("/registries/@rack/quality/husky/1.0.0", {
    headers: { authorization: "Bearer junk" },
  });
  assert.equal(pub.status, 200);
  assert.equal(pub.headers.get("vary"), null);
  await pub.body?.cancel();
});

Deno.test("undeclared namespaces are forbidden to everyone, the admin included", async () => {
  const env = await seeded();
  env.setAuth({ "@rack": [] });
  for (
    const headers of [{}, { authorization: `Bearer ${ADMIN}` }, {
      authorization: "Bearer ci-token",
    }]
  ) {
    await expectError(
      await env.app.request("/registries/@company/features/secret/1.0.0", {
        headers: headers as unknown as Record<string, string>,
      }),
      403,
      "FORBIDDEN_NAMESPACE",
      "Namespace not allowed",
    );
    await expectError(
      await env.app.request("/namespaces/@company/registries", {
        headers: headers as unknown as Record<string, string>,
      }),
      403,
      "FORBIDDEN_NAMESPACE",
    );
  }
  const list =
    await (await env.app.request("/namespaces", { headers: { authorization: `Bearer ${ADMIN}` } }))
      .json();
  assert.deepEqual(list, { namespaces: ["@rack"] });
});

Deno.test("a revoked token stops working as soon as the auth provider changes", async () => {
  const env = await seeded();
  const url = "/registries/@company/features/secret/1.0.0";
  const ok = await env.app.request(url, { headers: { authorization: "Bearer dev-token" } });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  env.setAuth({ ...AUTH_JSON, "@company": [{ token: "ci-token", publish: true }] });
  await expectError(
    await env.app.request(url, { headers: { authorization: "Bearer dev-token" } }),
    401,
    "INVALID_TOKEN",
  );
});

Deno.test("GET /namespaces lists declared namespaces with content that the caller may read", async () => {
  const env = await seeded();
  const anon = await env.app.request("/namespaces");
  assert.deepEqual(await anon.json(), { namespaces: ["@rack"] });
  assert.equal(anon.headers.get("cache-control"), "public, max-age=60");
  assert.equal(anon.headers.get("vary"), "Authorization, X-Registry-Token");
  const dev = await env.app.request("/namespaces", {
    headers: { authorization: "Bearer dev-token" },
  });
  assert.deepEqual(await dev.json(), { namespaces: ["@company", "@rack"] });
  assert.equal(dev.headers.get("cache-control"), "private, max-age=60");
  for (const token of ["other-token", "old-token", "junk"]) {
    const res = await env.app.request("/namespaces", {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.deepEqual(await res.json(), { namespaces: ["@rack"] }, token);
  }
  const admin = await env.app.request("/namespaces", {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  // @other is declared but empty.
  assert.deepEqual(await admin.json(), { namespaces: ["@company", "@rack"] });
});

Deno.test("GET /namespaces/:ns/registries lists registry paths, sorted, under the read rules", async () => {
  const env = await seeded();
  await publish(env, makeItem({ name: "vite", type: "registry:build" }));
  const res = await env.app.request("/namespaces/%40rack/registries");
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), {
    namespace: "@rack",
    registries: ["build/vite", "quality/husky"],
  });
  assert.equal(res.headers.get("cache-control"), "public, max-age=60");
  await expectError(
    await env.app.request("/namespaces/rack/registries"),
    400,
    "INVALID_NAMESPACE",
    "Namespace must match /^@[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$/",
  );
  await expectError(
    await env.app.request("/namespaces/@nope/registries"),
    403,
    "FORBIDDEN_NAMESPACE",
  );
  await expectError(await env.app.request("/namespaces/@company/registries"), 401, "UNAUTHORIZED");
  await expectError(
    await env.app.request("/namespaces/@company/registries", {
      headers: { authorization: "Bearer other-token" },
    }),
    401,
    "INVALID_TOKEN",
  );
  const gated = await env.app.request("/namespaces/@company/registries", {
    headers: { authorization: "Bearer dev-token" },
  });
  assert.deepEqual(await gated.json(), { namespace: "@company", registries: ["features/secret"] });
  assert.equal(gated.headers.get("cache-control"), "private, max-age=60");
  await expectError(
    await env.app.request("/namespaces/@other/registries", {
      headers: { authorization: "Bearer other-token" },
    }),
    404,
    "NAMESPACE_NOT_FOUND",
    "Namespace @other not found",
  );
});

Deno.test("GET /schemas/:file serves the three schemas, built in or from SCHEMA_DIR", async () => {
  const env = makeRackEnv();
  for (const file of ["rack.json", "preset.json", "registry-item.json"]) {
    const res = await env.app.request(`/schemas/${file}`);
    assert.equal(res.status, 200, file);
    assert.equal(res.headers.get("cache-control"), "public, max-age=86400");
    assert.equal(res.headers.get("content-type"), "application/json");
    const text = await res.text();
    assert.equal(JSON.parse(text).$schema, "https://json-schema.org/draft/2020-12/schema");
    assert.equal(res.headers.get("etag"), `"${sha256Hex(text)}"`);
  }
  await expectError(
    await env.app.request("/schemas/other.json"),
    404,
    "NOT_FOUND",
    "Schema not found",
  );
  await expectError(
    await env.app.request("/schemas/..%2Fauth.json"),
    404,
    "NOT_FOUND",
    "Schema not found",
  );
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/preset.json`, '{"custom":true}\n');
    const custom = makeRackEnv({ schemaDir: dir });
    assert.equal(
      await (await custom.app.request("/schemas/preset.json")).text(),
      '{"custom":true}\n',
    );
    await expectError(
      await custom.app.request("/schemas/rack.json"),
      404,
      "NOT_FOUND",
      "Schema not found",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("presets: the admin publishes one validated against preset.json; anyone reads it", async () => {
  const env = makeRackEnv();
  const preset = {
    name: "react-app",
    version: "1.0.0",
    registries: ["frameworks/react", "@rack/build/vite"],
  };
  const put = (
    body: unknown,
    headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` },
    name = "react-app",
  ) => env.app.request(`/presets/${name}`, { method: "PUT", body: JSON.stringify(body), headers });
  await expectError(await env.app.request("/presets/react-app"), 404, "NOT_FOUND");
  await expectError(await put(preset, {}), 401, "UNAUTHORIZED");
  await expectError(
    await put(preset, { authorization: "Bearer ci-token" }),
    403,
    "INSUFFICIENT_PERMISSIONS",
  );
  await expectError(await put({ ...preset, registries: [] }), 400, "SCHEMA_VALIDATION_FAILED");
  await expectError(await put(preset, undefined, "other"), 400, "INVALID_PRESET");
  await expectError(await put(preset, undefined, "Bad_Name"), 400, "INVALID_PRESET");
  await expectError(
    await env.app.request("/presets/react-app", {
      method: "PUT",
      body: new Blob(["x".repeat(70 * 1024)]).stream(),
      headers: { authorization: `Bearer ${ADMIN}` },
    }),
    413,
    "FST_REQ_FILE_TOO_LARGE",
  );
  await expectError(
    await env.app.request("/presets/react-app", {
      method: "PUT",
      body: "{",
      headers: { authorization: `Bearer ${ADMIN}` },
    }),
    400,
    "UPLOAD_FAILED",
  );
  const created = await put(preset);
  assert.equal(created.status, 201);
  await created.body?.cancel();
  const replaced = await put({ ...preset, version: "1.1.0" });
  assert.equal(replaced.status, 200);
  await replaced.body?.cancel();
  const res = await env.app.request("/presets/react-app");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "public, max-age=86400");
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(await res.json(), { ...preset, version: "1.1.0" });
  await expectError(
    await env.app.request("/presets/Bad_Name"),
    400,
    "INVALID_PRESET",
    "Preset name must match /^[a-z0-9]+(?:-[a-z0-9]+)*$/",
  );
});

Deno.test("GET /health probes the real storage: 200 when it works, 503 when it fails", async () => {
  const env = makeRackEnv();
  const ok = await env.app.request("/health");
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("cache-control"), "no-store");
  assert.deepEqual(await ok.json(), {
    status: "ok",
    version: VERSION,
    dataFormat: DATA_FORMAT_VERSION,
    checks: { storage: { status: "ok" } },
  });

  const storage = new MemoryRegistryStorage();
  storage.commit = () => Promise.reject(new Error("disk on fire at /var/secret"));
  const ctx = { storage, bundles: new MemoryBundleStorage(), clock: () => new Date() };
  const { auth } = parseAuthConfig("{}");
  const app = new Hono().route(
    "/",
    createRackRoutes({ ctx, auth: () => Promise.resolve(auth), log: () => {} }),
  );
  const bad = await app.request("/health");
  assert.equal(bad.status, 503);
  assert.equal(bad.headers.get("cache-control"), "no-store");
  const body = await bad.json();
  assert.equal(body.status, "error");
  assert.equal(body.checks.storage.status, "error");
  assert.ok(!JSON.stringify(body).includes("secret"));
});

Deno.test("a storage fault is a 500 INTERNAL_SERVER_ERROR with generic text", async () => {
  const storage = new MemoryRegistryStorage();
  storage.get = () => Promise.reject(new Error("connection reset by /var/secret"));
  storage.getMany = () => Promise.reject(new Error("connection reset by /var/secret"));
  const ctx = { storage, bundles: new MemoryBundleStorage(), clock: () => new Date() };
  const { auth } = parseAuthConfig('{"@rack":[]}');
  const logged: string[] = [];
  const app = new Hono().route(
    "/",
    createRackRoutes({
      ctx,
      auth: () => Promise.resolve(auth),
      log: (_l, m, f) => logged.push(m + JSON.stringify(f)),
    }),
  );
  await expectError(
    await app.request("/registries/@rack/husky"),
    500,
    "INTERNAL_SERVER_ERROR",
    "Internal server error",
  );
  assert.ok(logged.some((l) => l.includes("connection reset")));
});

Deno.test("GET /metrics exposes the http_request_duration_seconds histogram", async () => {
  const env = await seeded();
  const res = await env.app.request("/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  const text = await res.text();
  assert.match(text, /# TYPE http_request_duration_seconds histogram/);
  assert.match(
    text,
    /http_request_duration_seconds_bucket\{method="POST",route="\/registries",status_code="201",le="0\.001"\} \d+/,
  );
  for (const le of ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "+Inf"]) {
    assert.ok(text.includes(`le="${le}"`));
  }
  assert.match(text, /process_resident_memory_bytes \d+/);
});

Deno.test("unknown routes under the Rack prefixes answer the {code, message} 404 envelope", async () => {
  const env = makeRackEnv();
  for (
    const [method, path] of <[string, string][]> [
      ["GET", "/registries"],
      ["DELETE", "/registries/@rack/husky"],
      ["POST", "/registries/@rack/husky"],
      ["GET", "/namespaces/@rack"],
      ["GET", "/namespaces/@rack/registries/x"],
      ["GET", "/presets"],
      ["GET", "/schemas"],
    ]
  ) {
    await expectError(await env.app.request(path, { method }), 404, "NOT_FOUND", "Route not found");
  }
});

Deno.test("template files honour a single Range with 206 and refuse an unsatisfiable one with 416", async () => {
  const env = await seeded();
  const url = "/registries/@rack/quality/husky/1.0.0/files/assets/logo.png";
  const part = await env.app.request(url, { headers: { range: "bytes=10-19" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), "bytes 10-19/1024");
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), BINARY.slice(10, 20));
  const bad = await env.app.request(url, { headers: { range: "bytes=5000-" } });
  assert.equal(bad.status, 416);
  await bad.body?.cancel();
});
