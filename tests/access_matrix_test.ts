// The permission matrix of docs/access.md: every route of every surface
// (ggui, Rack, admin) against anonymous, read-only, publish, other-namespace,
// expired, revoked and admin tokens, plus the audit rule (one record per state
// change or refused write/admin attempt, none for reads) and the cache tiers
// (every error no-store; private content never public, varying on Authorization).
import assert from "node:assert/strict";
import { createRegistryApp } from "../routes/app.ts";
import type { RegistryContext } from "../core/context.ts";
import { sha256Hex } from "../base/digest.ts";
import { parseAuthConfig, rackTokenSubject } from "../core/rack/auth.ts";
import type { AuditRow, Grant } from "../core/rows.ts";
import { listAll } from "../core/store.ts";
import { createToken, revokeToken } from "../core/tokens.ts";
import { CLI_PRINCIPAL } from "../server/cli.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeGadget, makeKey, type TestKey } from "./_ggui_fixtures.ts";
import { ADMIN, makeItem, makePackage, makeTarball, uploadRequest } from "./_rack_fixtures.ts";

/** The tarball `deno publish` would upload for `@acme/util@<version>`. */
function jsrTarball(version: string): Promise<Uint8Array> {
  return makeTarball({
    "deno.json": JSON.stringify({ name: "@acme/util", version, exports: "./mod.ts" }),
    "mod.ts": "export const x = 1;\n",
  });
}

async function jsrPublishRequest(token: string | undefined, version: string): Promise<Request> {
  return new Request(
    `http://registry.test/api/scopes/acme/packages/util/versions/${version}?config=/deno.json`,
    {
      method: "POST",
      headers: { ...auth(token), "content-encoding": "gzip" },
      body: await jsrTarball(version) as BodyInit,
    },
  );
}

const IDS = [
  "anonymous",
  "read-only",
  "publish",
  "other-namespace",
  "expired",
  "revoked",
  "admin",
] as const;
type Id = typeof IDS[number];

const GRANTS: Record<Exclude<Id, "anonymous">, Grant[]> = {
  "read-only": [{ namespace: "@acme", actions: ["read"] }],
  "publish": [{ namespace: "@acme", actions: ["publish"] }],
  "other-namespace": [{ namespace: "@other", actions: ["publish"] }],
  "expired": [{ namespace: "@acme", actions: ["publish"] }],
  "revoked": [{ namespace: "@acme", actions: ["publish"] }],
  "admin": [{ namespace: "*", actions: ["admin"] }],
};

/** auth.json: `@acme` gated (a CI token), `@rack` anonymous. */
const AUTH_JSON = {
  "@rack": [],
  "@acme": [{ token: "acme-ci", publish: true, mark: "CI" }],
};

interface Env {
  app: ReturnType<typeof createRegistryApp>;
  ctx: RegistryContext;
  tokens: Record<Id, string | undefined>;
  keys: Record<Id, TestKey>;
  spareTokenId: string;
}

async function setup(): Promise<Env> {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const ctx: RegistryContext = { storage, bundles, clock: () => new Date() };
  const { auth } = parseAuthConfig(JSON.stringify(AUTH_JSON), { adminToken: ADMIN });
  const app = createRegistryApp({
    storage,
    bundles,
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    rackAuth: () => Promise.resolve(auth),
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
    compress: false,
  });
  const tokens = { anonymous: undefined } as Record<Id, string | undefined>;
  const ids: Record<string, string> = {};
  for (const id of IDS) {
    if (id === "anonymous") continue;
    const created = await createToken(ctx, {
      subject: id,
      grants: GRANTS[id],
      ...(id === "expired" ? { expiresAt: "2020-01-01T00:00:00Z" } : {}),
    }, CLI_PRINCIPAL);
    tokens[id] = created.secret;
    ids[id] = created.token.id;
  }
  await revokeToken(ctx, ids.revoked!, CLI_PRINCIPAL);
  const spare = await createToken(ctx, { subject: "spare", grants: [] }, CLI_PRINCIPAL);
  const keyOf = {} as Record<Id, TestKey>;
  for (const id of IDS) keyOf[id] = await makeKey();
  return { app, ctx, tokens, keys: keyOf, spareTokenId: spare.token.id };
}

function auth(token: string | undefined): Record<string, string> {
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function call(
  env: Env,
  id: Id,
  req: { method?: string; path: string; body?: unknown } | Request,
): Promise<Response> {
  if (req instanceof Request) return await env.app.request(req);
  return await env.app.request(req.path, {
    method: req.method ?? "GET",
    headers: { ...auth(env.tokens[id]), "content-type": "application/json" },
    ...(req.body === undefined ? {} : { body: JSON.stringify(req.body) }),
  });
}

async function auditCount(ctx: RegistryContext): Promise<number> {
  let n = 0;
  for await (const _ of listAll(ctx.storage, keys.auditPrefix())) n++;
  return n;
}

type Audit = "read" | "write";
interface Row {
  name: string;
  /** `read`: never audited. `write`: audited on 2xx and on 401/403. */
  audit: Audit;
  request: (
    env: Env,
    id: Id,
    i: number,
  ) => Promise<Request | { method?: string; path: string; body?: unknown }> | Request | {
    method?: string;
    path: string;
    body?: unknown;
  };
  expect: number[];
  /** Rack wire codes per identity (checked when given). */
  codes?: (string | undefined)[];
  /** The content is private or gated: no answer may be cacheable as `public`. */
  private?: true;
}

const U = "UNAUTHORIZED", IT = "INVALID_TOKEN", IP = "INSUFFICIENT_PERMISSIONS";
const V = "/admin/packages/@acme/map/versions/1.0.0";

const ROWS: Row[] = [
  // --- ggui -------------------------------------------------------------------
  {
    name: "ggui GET /healthz",
    audit: "read",
    request: () => ({ path: "/healthz" }),
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  {
    name: "ggui GET /search",
    audit: "read",
    request: () => ({ path: "/search?q=map" }),
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  {
    name: "ggui POST /conformance/check",
    audit: "read",
    request: async (env) => ({
      method: "POST",
      path: "/conformance/check",
      body: { manifest: (await makeGadget(env.keys.publish)).manifest },
    }),
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  {
    name: "ggui POST /author-keys",
    audit: "write",
    request: (env, id) => ({
      method: "POST",
      path: "/author-keys",
      body: { publicKeyBase64: env.keys[id].publicKeyBase64 },
    }),
    expect: [401, 201, 201, 201, 401, 401, 201],
  },
  {
    name: "ggui GET /author-keys",
    private: true,
    audit: "read",
    request: () => ({ path: "/author-keys" }),
    expect: [401, 200, 200, 200, 401, 401, 200],
  },
  {
    name: "ggui GET /pkg/@acme/map",
    private: true,
    audit: "read",
    request: () => ({ path: "/pkg/@acme/map" }),
    expect: [404, 200, 200, 404, 404, 404, 200],
  },
  {
    name: "ggui GET /pkg/@acme/map/1.0.0",
    private: true,
    audit: "read",
    request: () => ({ path: "/pkg/acme/map/1.0.0" }),
    expect: [404, 200, 200, 404, 404, 404, 200],
  },
  {
    name: "ggui GET /bundles/private/…/bundle.js",
    private: true,
    audit: "read",
    request: () => ({ path: "/bundles/private/@acme/map/1.0.0/bundle.js" }),
    expect: [401, 200, 200, 404, 401, 401, 200],
  },
  {
    name: "ggui GET /bundles/public/…/bundle.js (a private version)",
    private: true,
    audit: "read",
    request: () => ({ path: "/bundles/public/@acme/map/1.0.0/bundle.js" }),
    expect: [404, 404, 404, 404, 404, 404, 404],
  },
  {
    name: "ggui POST /publish into @acme",
    audit: "write",
    request: async (env, id, i) => ({
      method: "POST",
      path: "/publish",
      body: await makeGadget(env.keys[id], { manifest: { version: `2.0.${i}` } }),
    }),
    expect: [401, 403, 201, 403, 401, 401, 201],
  },
  // --- Rack -------------------------------------------------------------------
  {
    name: "Rack GET /health",
    audit: "read",
    request: () => ({ path: "/health" }),
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  {
    name: "Rack GET /schemas/registry-item.json",
    audit: "read",
    request: () => ({ path: "/schemas/registry-item.json" }),
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  {
    name: "Rack GET /namespaces",
    audit: "read",
    request: () => ({ path: "/namespaces" }),
    expect: [200, 200, 200, 200, 200, 200, 200],
  },
  {
    name: "Rack GET /namespaces/@acme/registries",
    private: true,
    audit: "read",
    request: () => ({ path: "/namespaces/%40acme/registries" }),
    expect: [401, 200, 200, 401, 401, 401, 200],
    codes: [U, , , IT, IT, IT],
  },
  {
    name: "Rack GET versions.json",
    private: true,
    audit: "read",
    request: () => ({ path: "/registries/@acme/quality/husky/versions" }),
    expect: [401, 200, 200, 401, 401, 401, 200],
    codes: [U, , , IT, IT, IT],
  },
  {
    name: "Rack GET latest",
    private: true,
    audit: "read",
    request: () => ({ path: "/registries/@acme/quality/husky" }),
    expect: [401, 200, 200, 401, 401, 401, 200],
    codes: [U, , , IT, IT, IT],
  },
  {
    name: "Rack GET a template file",
    private: true,
    audit: "read",
    request: () => ({ path: "/registries/@acme/quality/husky/1.0.0/files/templates/setup.ts" }),
    expect: [401, 200, 200, 401, 401, 401, 200],
    codes: [U, , , IT, IT, IT],
  },
  {
    name: "Rack GET /presets/react-app",
    audit: "read",
    request: () => ({ path: "/presets/react-app" }),
    expect: [404, 404, 404, 404, 404, 404, 404],
  },
  {
    name: "Rack POST /registries into @acme",
    audit: "write",
    request: async (env, id, i) =>
      uploadRequest(
        await makePackage({ item: makeItem({ namespace: "@acme", version: `2.0.${i}` }) }),
        { token: env.tokens[id] },
      ),
    expect: [401, 403, 201, 403, 401, 401, 201],
    codes: [U, IP, , IP, IT, IT],
  },
  {
    name: "Rack PUT /presets/react-app",
    audit: "write",
    request: () => ({
      method: "PUT",
      path: "/presets/react-app",
      body: { name: "react-app", version: "1.0.0", registries: ["@acme/quality/husky"] },
    }),
    expect: [401, 403, 403, 403, 403, 403, 201],
    codes: [U, IP, IP, IP, IP, IP],
  },
  // --- admin --------------------------------------------------------------------
  {
    name: "admin POST yank",
    audit: "write",
    request: () => ({ method: "POST", path: `${V}/yank` }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin POST unyank",
    audit: "write",
    request: () => ({ method: "POST", path: `${V}/unyank` }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin POST deprecate",
    audit: "write",
    request: () => ({ method: "POST", path: `${V}/deprecate`, body: { message: "Use 2.x" } }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin POST undeprecate",
    audit: "write",
    request: () => ({ method: "POST", path: `${V}/undeprecate` }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin PUT tag",
    audit: "write",
    request: () => ({
      method: "PUT",
      path: "/admin/packages/@acme/map/tags/stable",
      body: { version: "1.0.0" },
    }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin DELETE tag",
    audit: "write",
    request: () => ({ method: "DELETE", path: "/admin/packages/@acme/map/tags/stable" }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin DELETE version",
    audit: "write",
    request: () => ({ method: "DELETE", path: "/admin/packages/@acme/map/versions/2.0.6" }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin POST /admin/tokens",
    audit: "write",
    request: () => ({
      method: "POST",
      path: "/admin/tokens",
      body: { subject: "new", grants: [{ namespace: "@acme", actions: ["read"] }] },
    }),
    expect: [401, 403, 403, 403, 401, 401, 201],
  },
  {
    name: "admin GET /admin/tokens",
    private: true,
    audit: "write",
    request: () => ({ path: "/admin/tokens" }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin DELETE /admin/tokens/:id",
    audit: "write",
    request: (env) => ({ method: "DELETE", path: `/admin/tokens/${env.spareTokenId}` }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin GET /admin/audit",
    private: true,
    audit: "write",
    request: () => ({ path: "/admin/audit?limit=5" }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin GET /admin/audit.jsonl",
    private: true,
    audit: "write",
    request: () => ({ path: "/admin/audit.jsonl" }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin GET /admin/webhooks/deliveries",
    private: true,
    audit: "write",
    request: () => ({ path: "/admin/webhooks/deliveries?state=dead" }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin GET /admin/webhooks",
    private: true,
    audit: "write",
    request: () => ({ path: "/admin/webhooks" }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  {
    name: "admin POST /admin/webhooks",
    audit: "write",
    request: () => ({
      method: "POST",
      path: "/admin/webhooks",
      body: { url: "https://hooks.example/matrix", events: ["package.published"] },
    }),
    expect: [401, 403, 403, 403, 401, 401, 201],
  },
  {
    name: "admin POST /admin/gc?dryRun=1",
    audit: "write",
    request: () => ({ method: "POST", path: "/admin/gc?dryRun=1" }),
    expect: [401, 403, 403, 403, 401, 401, 200],
  },
  // Last: deleting each subject's own author key (a state change when it exists).
  // --- JSR (@acme is gated in auth.json: its JSR versions are private) ----------
  {
    name: "JSR GET /@acme/util/meta.json",
    private: true,
    audit: "read",
    request: () => ({ path: "/@acme/util/meta.json" }),
    expect: [404, 200, 200, 404, 401, 401, 200],
  },
  {
    name: "JSR GET /@acme/util/1.0.0/mod.ts",
    private: true,
    audit: "read",
    request: () => ({ path: "/@acme/util/1.0.0/mod.ts" }),
    expect: [404, 200, 200, 404, 401, 401, 200],
  },
  {
    name: "JSR POST a version of @acme/util",
    audit: "write",
    request: (env, id, i) => jsrPublishRequest(env.tokens[id], `2.0.${i}`),
    expect: [401, 403, 200, 403, 401, 401, 200],
    codes: [
      "missingAuthentication",
      "actorNotScopeMember",
      undefined,
      "actorNotScopeMember",
      "invalidBearerToken",
      "invalidBearerToken",
      undefined,
    ],
  },
  {
    name: "JSR PATCH yank @acme/util@1.0.0",
    audit: "write",
    request: () => ({
      method: "PATCH",
      path: "/api/scopes/acme/packages/util/versions/1.0.0",
      body: { yanked: true },
    }),
    expect: [401, 403, 403, 404, 401, 401, 204],
  },
  {
    name: "ggui DELETE /author-keys/:keyId",
    audit: "write",
    request: (env, id) => ({ method: "DELETE", path: `/author-keys/${env.keys[id].keyId}` }),
    expect: [401, 200, 200, 200, 401, 401, 200],
  },
];

/** Admin reads that succeed are reads; everything else on a `write` row is audited. */
function expectedAuditDelta(row: Row, status: number): number {
  if (row.audit === "read") return 0;
  if (status === 401 || status === 403) return 1;
  if (row.name.startsWith("admin GET") || row.name.startsWith("admin POST /admin/gc")) return 0;
  return status >= 200 && status < 300 ? 1 : 0;
}

Deno.test("every route of every surface answers each identity as docs/access.md says, audits exactly the state changes and refusals, and keeps its cache tiers", async () => {
  const env = await setup();
  // The content the reads look at: a private ggui version and a Rack version, both by `publish`.
  const setupKey = await makeKey();
  assert.equal(
    (await call(env, "publish", {
      method: "POST",
      path: "/author-keys",
      body: { publicKeyBase64: setupKey.publicKeyBase64 },
    })).status,
    201,
  );
  const pub = await call(env, "publish", {
    method: "POST",
    path: "/publish",
    body: await makeGadget(setupKey),
  });
  assert.equal(pub.status, 201, await pub.text());
  const up = await call(
    env,
    "publish",
    uploadRequest(await makePackage({ item: makeItem({ namespace: "@acme" }) }), {
      token: env.tokens.publish,
    }),
  );
  assert.equal(up.status, 201, await up.text());
  const jsr = await call(env, "publish", await jsrPublishRequest(env.tokens.publish, "1.0.0"));
  assert.equal((await jsr.json()).status, "success");

  const mismatches: string[] = [];
  for (const row of ROWS) {
    for (const [i, id] of IDS.entries()) {
      const before = await auditCount(env.ctx);
      const res = await call(env, id, await row.request(env, id, i));
      const text = await res.text();
      const want = row.expect[i]!;
      if (res.status !== want) {
        mismatches.push(`${row.name} as ${id}: ${res.status} (want ${want}) ${text.slice(0, 160)}`);
      }
      const code = row.codes?.[i];
      if (code !== undefined && res.status === want && JSON.parse(text).code !== code) {
        mismatches.push(`${row.name} as ${id}: code ${JSON.parse(text).code} (want ${code})`);
      }
      // Cache tiers (issue #5): errors are never stored; private content is
      // never public, and when a private cache may keep it, it varies on the credentials.
      const cc = res.headers.get("cache-control") ?? "";
      if (res.status >= 400 && cc !== "no-store") {
        mismatches.push(`${row.name} as ${id}: ${res.status} with Cache-Control '${cc}'`);
      }
      if (row.private && res.status < 400) {
        if (/\bpublic\b/.test(cc) || !/\b(?:private|no-store)\b/.test(cc)) {
          mismatches.push(`${row.name} as ${id}: private content with Cache-Control '${cc}'`);
        }
        if (/\bprivate\b/.test(cc) && !/\bauthorization\b/i.test(res.headers.get("vary") ?? "")) {
          mismatches.push(`${row.name} as ${id}: private content without Vary: Authorization`);
        }
      }
      const delta = (await auditCount(env.ctx)) - before;
      const wantDelta = expectedAuditDelta(row, res.status);
      if (delta !== wantDelta) {
        mismatches.push(`${row.name} as ${id}: ${delta} audit records (want ${wantDelta})`);
      }
    }
  }
  assert.deepEqual(mismatches, []);

  // Discovery lists @acme exactly to those who may read it.
  for (
    const [id, listed] of [["anonymous", false], ["read-only", true], ["other-namespace", false], [
      "expired",
      false,
    ], ["admin", true]] as const
  ) {
    const body = await (await call(env, id, { path: "/namespaces" })).json();
    assert.equal(body.namespaces.includes("@acme"), listed, id);
  }
});

Deno.test("an auth.json token is the same identity on ggui and the admin API: it publishes and reads there by its grants", async () => {
  const env = await setup();
  const ci = "acme-ci";
  const key = await makeKey();
  const headers = { authorization: `Bearer ${ci}`, "content-type": "application/json" };
  const reg = await env.app.request("/author-keys", {
    method: "POST",
    headers,
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  assert.equal(reg.status, 201);
  assert.equal((await reg.json()).subject, rackTokenSubject(sha256Hex(ci)));
  const pub = await env.app.request("/publish", {
    method: "POST",
    headers,
    body: JSON.stringify(await makeGadget(key)),
  });
  assert.equal(pub.status, 201, await pub.text());
  // Nothing claimed: a declared namespace follows its grants.
  assert.equal(await env.ctx.storage.get(keys.scopeKey("@acme")), null);
  // The read-only stored token reads the private version; a plain identity cannot claim @acme.
  assert.equal((await call(env, "read-only", { path: "/pkg/acme/map/1.0.0" })).status, 200);
  const plain = await createToken(env.ctx, { subject: "mallory", grants: [] }, CLI_PRINCIPAL);
  const mk = await makeKey();
  const ph = { authorization: `Bearer ${plain.secret}`, "content-type": "application/json" };
  await env.app.request("/author-keys", {
    method: "POST",
    headers: ph,
    body: JSON.stringify({ publicKeyBase64: mk.publicKeyBase64 }),
  });
  const denied = await env.app.request("/publish", {
    method: "POST",
    headers: ph,
    body: JSON.stringify(await makeGadget(mk, { manifest: { version: "9.0.0" } })),
  });
  assert.equal(denied.status, 403);
  assert.equal((await denied.json()).error, "scope_forbidden");
  // The Rack ADMIN_TOKEN is an admin on the admin API.
  const list = await env.app.request("/admin/tokens", {
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  assert.equal(list.status, 200);
  // An auth.json publish token cannot yank (no yank grant).
  const yank = await env.app.request("/admin/packages/@acme/map/versions/1.0.0/yank", {
    method: "POST",
    headers,
  });
  assert.equal(yank.status, 403);
});

Deno.test("a scoped stored token claims an unconfigured namespace on ggui and never one its grants do not cover", async () => {
  const env = await setup();
  const scoped = await createToken(env.ctx, {
    subject: "team",
    grants: [{ namespace: "@team-*", actions: ["publish"] }],
  }, CLI_PRINCIPAL);
  const key = await makeKey();
  const h = { authorization: `Bearer ${scoped.secret}`, "content-type": "application/json" };
  await env.app.request("/author-keys", {
    method: "POST",
    headers: h,
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  const ok = await env.app.request("/publish", {
    method: "POST",
    headers: h,
    body: JSON.stringify(await makeGadget(key, { manifest: { scope: "@team-web" } })),
  });
  assert.equal(ok.status, 201, await ok.text());
  assert.equal(
    (await env.ctx.storage.get<{ ownerSubject: string }>(keys.scopeKey("@team-web")))?.value
      .ownerSubject,
    "team",
  );
  const no = await env.app.request("/publish", {
    method: "POST",
    headers: h,
    body: JSON.stringify(await makeGadget(key, { manifest: { scope: "@random" } })),
  });
  assert.equal(no.status, 403);
  assert.equal(await env.ctx.storage.get(keys.scopeKey("@random")), null);
  // On Rack, the same token uploads into its undeclared namespace by its grants (stored private).
  const up = await env.app.request(
    uploadRequest(await makePackage({ item: makeItem({ namespace: "@team-web" }) }), {
      token: scoped.secret,
    }),
  );
  assert.equal(up.status, 201, await up.text());
  const anon = await env.app.request("/registries/@team-web/quality/husky/versions");
  assert.equal(anon.status, 403);
  assert.equal((await anon.json()).code, "FORBIDDEN_NAMESPACE");
  const mine = await env.app.request("/registries/@team-web/quality/husky/versions", {
    headers: { authorization: `Bearer ${scoped.secret}` },
  });
  assert.equal(mine.status, 200);
  assert.match(mine.headers.get("cache-control") ?? "", /private/);
  // Discovery lists it to that token only.
  const listed = await env.app.request("/namespaces", {
    headers: { authorization: `Bearer ${scoped.secret}` },
  });
  assert.ok(
    !(await listed.json()).namespaces.includes("@team-web"),
    "a pattern grant names no namespace",
  );
  const exact = await createToken(env.ctx, {
    subject: "web",
    grants: [{ namespace: "@team-web", actions: ["read"] }],
  }, CLI_PRINCIPAL);
  const seen = await env.app.request("/namespaces", {
    headers: { authorization: `Bearer ${exact.secret}` },
  });
  assert.ok((await seen.json()).namespaces.includes("@team-web"));
  assert.ok(
    !(await (await env.app.request("/namespaces")).json()).namespaces.includes("@team-web"),
  );
});

Deno.test("the audit log records every refused admin attempt with actor and outcome, never the secret", async () => {
  const env = await setup();
  const forged = "xr_" + "A".repeat(43);
  await call(env, "publish", { path: "/admin/audit" });
  await env.app.request("/admin/tokens", { headers: { authorization: `Bearer ${forged}` } });
  const rows: AuditRow[] = [];
  for await (const e of listAll<AuditRow>(env.ctx.storage, keys.auditPrefix())) rows.push(e.value);
  const refused = rows.filter((r) => r.outcome === "refused");
  // Ids order by millisecond; two records of one millisecond may come either way.
  assert.deepEqual(refused.map((r) => `${r.actor} ${r.action}`).sort(), [
    "anonymous token.list",
    "publish audit.read",
  ]);
  assert.ok(!JSON.stringify(rows).includes(forged));
  assert.ok(!JSON.stringify(rows).includes(env.tokens.publish!));
});
