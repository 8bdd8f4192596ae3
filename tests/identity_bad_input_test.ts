// Bad identities and escalation attempts: forged, truncated, expired and
// revoked tokens on every surface's write routes; grants for namespaces that
// do not exist; a publish token creating tokens; a token granting more than
// its creator holds. Each is refused with the surface's error and a refused
// audit record.
import assert from "node:assert/strict";
import { createRegistryApp } from "../routes/app.ts";
import type { RegistryContext } from "../core/context.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import type { AuditRow, Grant } from "../core/rows.ts";
import { listAll } from "../core/store.ts";
import { createToken, revokeToken } from "../core/tokens.ts";
import { CLI_PRINCIPAL } from "../server/cli.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { makeItem, makePackage, uploadRequest } from "./_rack_fixtures.ts";

function setup() {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const ctx: RegistryContext = { storage, bundles, clock: () => new Date() };
  const { auth } = parseAuthConfig(
    JSON.stringify({ "@acme": [{ token: "acme-ci", publish: true }], "@other": [] }),
  );
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
  });
  const make = async (subject: string, grants: Grant[], expiresAt?: string) =>
    await createToken(ctx, { subject, grants, ...(expiresAt ? { expiresAt } : {}) }, CLI_PRINCIPAL);
  return { app, ctx, make };
}

async function refusedRecords(ctx: RegistryContext): Promise<AuditRow[]> {
  const out: AuditRow[] = [];
  for await (const e of listAll<AuditRow>(ctx.storage, keys.auditPrefix())) {
    if (e.value.outcome === "refused") out.push(e.value);
  }
  return out;
}

Deno.test("forged, truncated, expired and revoked tokens are refused on every surface with its own error and a refused record", async () => {
  const { app, ctx, make } = setup();
  const good = await make("ci", [{ namespace: "@acme", actions: ["publish", "yank"] }]);
  const expired = await make(
    "ci",
    [{ namespace: "@acme", actions: ["publish"] }],
    "2020-01-01T00:00:00Z",
  );
  const revoked = await make("ci", [{ namespace: "@acme", actions: ["publish"] }]);
  await revokeToken(ctx, revoked.token.id, CLI_PRINCIPAL);
  const bad = {
    forged: "xr_" + "x".repeat(43),
    truncated: good.secret.slice(0, -1),
    expired: expired.secret,
    revoked: revoked.secret,
  };
  const key = await makeKey();
  const gadget = JSON.stringify(await makeGadget(key));
  const archive = await makePackage({ item: makeItem({ namespace: "@acme" }) });
  for (const [name, token] of Object.entries(bad)) {
    const before = (await refusedRecords(ctx)).length;
    const h = { authorization: `Bearer ${token}`, "content-type": "application/json" };
    const ggui = await app.request("/publish", { method: "POST", headers: h, body: gadget });
    assert.equal(ggui.status, 401, name);
    assert.equal((await ggui.json()).error, "unauthorized");
    const rack = await app.request(uploadRequest(archive, { token }));
    assert.equal(rack.status, 401, name);
    assert.deepEqual(await rack.json(), {
      code: "INVALID_TOKEN",
      message: "Provided token is invalid",
    });
    const rackRead = await app.request("/registries/@acme/quality/husky/versions", { headers: h });
    assert.equal(rackRead.status, 401, name);
    await rackRead.body?.cancel();
    const adm = await app.request("/admin/packages/@acme/map/versions/1.0.0/yank", {
      method: "POST",
      headers: h,
    });
    assert.equal(adm.status, 401, name);
    assert.deepEqual(await adm.json(), {
      code: "unauthorized",
      message: "The bearer token is not valid",
    });
    // ggui reads treat an invalid bearer as anonymous: never 401, never audited.
    assert.equal((await app.request("/pkg/acme/map/1.0.0", { headers: h })).status, 404);
    const records = (await refusedRecords(ctx)).slice(before);
    assert.deepEqual(
      records.map((r) => r.action).sort(),
      ["ggui.publish", "rack.upload", "version.yank"],
      name,
    );
    assert.ok(records.every((r) => r.actor === "anonymous"), name);
    assert.ok(!JSON.stringify(records).includes(token), `${name}: no secret in the log`);
  }
  // The good token still works, so the refusals above were about the token.
  const ok = await app.request(uploadRequest(archive, { token: good.secret }));
  assert.equal(ok.status, 201, await ok.text());
});

Deno.test("escalation attempts are refused: a publish token creating tokens, and a namespace admin granting more than it holds", async () => {
  const { app, ctx, make } = setup();
  const publisher = await make("ci", [{ namespace: "@acme", actions: ["publish"] }]);
  const nsAdmin = await make("lead", [{ namespace: "@acme", actions: ["admin"] }]);
  const post = (token: string, body: unknown) =>
    app.request("/admin/tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const cases: [string, string, unknown, number, string][] = [
    [
      "publish token creating a read token",
      publisher.secret,
      { subject: "x", grants: [{ namespace: "@acme", actions: ["read"] }] },
      403,
      "forbidden",
    ],
    [
      "namespace admin granting another namespace",
      nsAdmin.secret,
      { subject: "lead/x", grants: [{ namespace: "@other", actions: ["read"] }] },
      403,
      "forbidden",
    ],
    [
      "namespace admin granting every namespace",
      nsAdmin.secret,
      { subject: "lead/x", grants: [{ namespace: "*", actions: ["read"] }] },
      403,
      "forbidden",
    ],
    [
      "namespace admin granting a pattern wider than its namespace",
      nsAdmin.secret,
      { subject: "lead/x", grants: [{ namespace: "@a*", actions: ["read"] }] },
      403,
      "forbidden",
    ],
  ];
  for (const [name, token, body, status, code] of cases) {
    const before = (await refusedRecords(ctx)).length;
    const res = await post(token, body);
    assert.equal(res.status, status, name);
    assert.equal((await res.json()).code, code, name);
    const records = (await refusedRecords(ctx)).slice(before);
    assert.equal(records.length, 1, `${name}: one refused record`);
    assert.equal(records[0]!.action, "token.create");
  }
  // Within its namespace the namespace admin may hand out what it holds, to
  // itself or a subject under it; another subject is another identity.
  const other = await post(nsAdmin.secret, {
    subject: "alice",
    grants: [{ namespace: "@acme", actions: ["read"] }],
  });
  assert.equal(other.status, 403);
  await other.body?.cancel();
  const okRes = await post(nsAdmin.secret, {
    subject: "lead/dev",
    grants: [{ namespace: "@acme", actions: ["read", "yank"] }],
  });
  assert.equal(okRes.status, 201);
  const created = await okRes.json();
  assert.match(created.secret, /^xr_/);
  assert.equal(created.token.sha256, undefined, "the hash is never shown");
  // …but it may not list or revoke tokens (global admin only).
  const list = await app.request("/admin/tokens", {
    headers: { authorization: `Bearer ${nsAdmin.secret}` },
  });
  assert.equal(list.status, 403);
});

Deno.test("grants for namespaces that do not exist or are malformed are refused with a record", async () => {
  const { app, ctx, make } = setup();
  const root = await make("root", [{ namespace: "*", actions: ["admin"] }]);
  const post = (body: unknown) =>
    app.request("/admin/tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${root.secret}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  const cases: [unknown, string][] = [
    [{ subject: "x", grants: [{ namespace: "@ghost", actions: ["read"] }] }, "invalid_input"],
    [{ subject: "x", grants: [{ namespace: "acme", actions: ["read"] }] }, "invalid_input"],
    [{ subject: "x", grants: [{ namespace: "@acme", actions: ["own"] }] }, "invalid_input"],
    [{ subject: "x", grants: "@acme:read" }, "invalid_input"],
    [{ subject: "", grants: [] }, "invalid_input"],
    [{ subject: "x", grants: [], expiresAt: "soon" }, "invalid_input"],
  ];
  for (const [body, code] of cases) {
    const before = (await refusedRecords(ctx)).length;
    const res = await post(body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal((await res.json()).code, code);
    assert.equal((await refusedRecords(ctx)).length - before, 1, JSON.stringify(body));
  }
  const notJson = await app.request("/admin/tokens", {
    method: "POST",
    headers: { authorization: `Bearer ${root.secret}` },
    body: "{",
  });
  assert.equal(notJson.status, 400);
  // Declared (auth.json) and pattern grants are fine.
  assert.equal(
    (await post({ subject: "x", grants: [{ namespace: "@other", actions: ["read"] }] })).status,
    201,
  );
  assert.equal(
    (await post({ subject: "x", grants: [{ namespace: "@team-*", actions: ["read"] }] })).status,
    201,
  );
});

Deno.test("the audit log filters by actor, action, target, outcome and time, pages with a cursor and exports JSON lines", async () => {
  const { app, make } = setup();
  const root = await make("root", [{ namespace: "*", actions: ["admin"] }]);
  const h = { authorization: `Bearer ${root.secret}`, "content-type": "application/json" };
  for (let i = 0; i < 5; i++) {
    await app.request("/admin/tokens", {
      method: "POST",
      headers: h,
      body: JSON.stringify({
        subject: `s${i}`,
        grants: [{ namespace: "@acme", actions: ["read"] }],
      }),
    });
  }
  await app.request("/admin/packages/@acme/none/versions/1.0.0/yank", {
    method: "POST",
    headers: h,
  });
  const get = async (q: string) =>
    await (await app.request(`/admin/audit?${q}`, { headers: h })).json();
  const all = await get("limit=1000");
  // The CLI created `root` (1 record), root created 5, one yank was refused.
  assert.equal(all.items.length, 7);
  assert.equal((await get("actor=root&action=token.create")).items.length, 5);
  assert.equal((await get("outcome=refused")).items.length, 1);
  assert.equal((await get("target=@acme/none")).items.length, 1);
  const seen: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await get(`limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    seen.push(...page.items.map((r: AuditRow) => r.id));
    cursor = page.cursor;
  } while (cursor);
  assert.deepEqual(seen, all.items.map((r: AuditRow) => r.id));
  assert.equal((await get(`until=${encodeURIComponent("2000-01-01T00:00:00Z")}`)).items.length, 0);
  const jsonl = await app.request("/admin/audit.jsonl?action=token.create", { headers: h });
  assert.equal(jsonl.headers.get("content-type"), "application/x-ndjson");
  const lines = (await jsonl.text()).trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(lines.length, 6);
  assert.ok(lines.every((l) => l.action === "token.create"));
});

Deno.test("POST /admin/tokens: no identity can be minted by a non-admin, and bad fields change nothing", async () => {
  const { app, ctx, make } = setup();
  const reader = await make("reader", [{ namespace: "@acme", actions: ["read"] }]);
  const root = await make("root", [{ namespace: "*", actions: ["admin"] }]);
  const post = (token: string, body: unknown) =>
    app.request("/admin/tokens", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
  const tokensBefore = (await (await app.request("/admin/tokens", {
    headers: { authorization: `Bearer ${root.secret}` },
  })).json()).tokens.length;
  // A read-only token minting another subject (a token without grants), or
  // asking about a namespace that does not exist: 403 either way.
  for (
    const body of [
      { subject: "cli", grants: [] },
      { subject: "alice", grants: [] },
      { subject: "x", grants: [{ namespace: "@ghost", actions: ["read"] }] },
      {},
    ]
  ) {
    const res = await post(reader.secret, body);
    assert.equal(res.status, 403, JSON.stringify(body));
    await res.body?.cancel();
  }
  // Bad fields, even from a global admin: 400, nothing created.
  const future = new Date(Date.now() + 3_600_000).toISOString();
  for (
    const body of [
      { subject: "x", grants: [], expiresAt: 1_700_000_000_000 },
      { subject: "x", grants: [], expiresAt: null },
      { subject: "x", grants: [], expiresAt: "2020-01-01T00:00:00Z" },
      { subject: "x", grants: [], label: 42 },
      { subject: "x", grants: [], label: "l".repeat(300) },
      { subject: "x", grants: [], admin: true },
      { subject: { a: 1 }, grants: [], expiresAt: future },
    ]
  ) {
    const res = await post(root.secret, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    await res.body?.cancel();
  }
  const big = await post(root.secret, { subject: "x", grants: [], label: "y".repeat(100_000) });
  assert.equal(big.status, 413);
  await big.body?.cancel();
  const tokensAfter = (await (await app.request("/admin/tokens", {
    headers: { authorization: `Bearer ${root.secret}` },
  })).json()).tokens.length;
  assert.equal(tokensAfter, tokensBefore);
  // A refused subject that was not text leaves a record the target filter still reads.
  const filtered = await app.request("/admin/audit?target=@acme", {
    headers: { authorization: `Bearer ${root.secret}` },
  });
  assert.equal(filtered.status, 200);
  await filtered.body?.cancel();
  const garbage = await app.request("/admin/audit?cursor=garbage", {
    headers: { authorization: `Bearer ${root.secret}` },
  });
  assert.equal(garbage.status, 400);
  await garbage.body?.cancel();
  assert.ok((await refusedRecords(ctx)).every((r) => typeof r.target === "string"));
});
