// Webhook subscriptions managed through the admin API (issue #5: "from the
// Rack webhooks.json format and from an authenticated admin route"): created,
// listed without secrets, honoured by the next publish's outbox rows in the
// same commit, deleted, audited; bad input and non-admins change nothing.
import assert from "node:assert/strict";
import { staticTokenAuthenticator } from "../core/auth.ts";
import type { RegistryContext } from "../core/context.ts";
import type { OutboxRow } from "../core/rows.ts";
import { listAll } from "../core/store.ts";
import { createToken } from "../core/tokens.ts";
import { CLI_PRINCIPAL } from "../server/cli.ts";
import { createRegistryApp } from "../routes/app.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeGadget, makeKey } from "./_ggui_fixtures.ts";

const ROOT = "root-token";

async function setup() {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const ctx: RegistryContext = { storage, bundles, clock: () => new Date() };
  const fileSub = {
    id: "0123456789abcdef",
    url: "https://hooks.example/file",
    secret: "file-secret-123456",
    events: ["uploaded"],
    enabled: true,
  };
  const app = createRegistryApp({
    storage,
    bundles,
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    authenticator: staticTokenAuthenticator({ token: ROOT, subject: "root" }),
    subscriptions: [fileSub],
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    readCacheMs: 0,
  });
  const reader = await createToken(ctx, {
    subject: "reader",
    grants: [{ namespace: "*", actions: ["read"] }],
  }, CLI_PRINCIPAL);
  const key = await makeKey();
  const reg = await app.request("/author-keys", {
    method: "POST",
    headers: { authorization: `Bearer ${ROOT}`, "content-type": "application/json" },
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  assert.equal(reg.status, 201);
  return { app, ctx, key, readerToken: reader.secret, fileSub };
}

function admin(
  app: ReturnType<typeof createRegistryApp>,
  method: string,
  path: string,
  body?: unknown,
  token: string | null = ROOT,
) {
  return Promise.resolve(app.request(`/admin${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      "content-type": "application/json",
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }));
}

async function outbox(ctx: RegistryContext): Promise<OutboxRow[]> {
  const rows: OutboxRow[] = [];
  for await (const e of listAll<OutboxRow>(ctx.storage, keys.outboxPrefix())) rows.push(e.value);
  return rows;
}

async function publish(
  app: ReturnType<typeof createRegistryApp>,
  key: Awaited<ReturnType<typeof makeKey>>,
  version: string,
) {
  const res = await app.request("/publish", {
    method: "POST",
    headers: { authorization: `Bearer ${ROOT}`, "content-type": "application/json" },
    body: JSON.stringify(await makeGadget(key, { manifest: { version } })),
  });
  assert.equal(res.status, 201, await res.text());
}

Deno.test("an admin-made subscription gets outbox rows from the next publish, until it is deleted", async () => {
  const { app, ctx, key, fileSub } = await setup();
  const created = await admin(app, "POST", "/webhooks", {
    url: "https://hooks.example/ci",
    events: ["package.published"],
    description: "CI",
  });
  assert.equal(created.status, 201);
  const sub = await created.json();
  assert.match(sub.id, /^wh_[0-9a-f]{16}$/);
  assert.match(sub.secret, /^[0-9a-f]{64}$/, "a generated secret, shown once");
  assert.equal(sub.enabled, true);

  // Listed beside the file's subscription, neither with its secret.
  const list = await (await admin(app, "GET", "/webhooks")).json();
  assert.deepEqual(
    list.subscriptions.map((s: { id: string; source: string }) => [s.id, s.source]),
    [[fileSub.id, "file"], [sub.id, "admin"]],
  );
  assert.ok(list.subscriptions.every((s: Record<string, unknown>) => !("secret" in s)));
  assert.ok(!JSON.stringify(list).includes(sub.secret));

  await publish(app, key, "1.0.0");
  const rows = (await outbox(ctx)).filter((r) => r.subscription === sub.id);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.event, "package.published");
  assert.equal(rows[0]!.url, "https://hooks.example/ci");

  const deleted = await admin(app, "DELETE", `/webhooks/${sub.id}`);
  assert.equal(deleted.status, 200);
  await publish(app, key, "1.0.1");
  assert.equal((await outbox(ctx)).filter((r) => r.subscription === sub.id).length, 1);

  // Both changes are audited, never with the secret.
  const audit = [];
  for await (const e of listAll<{ action: string }>(ctx.storage, keys.auditPrefix())) {
    audit.push(e.value);
  }
  assert.deepEqual(
    audit.map((a) => a.action).filter((a) => a.startsWith("webhook.")),
    ["webhook.create", "webhook.delete"],
  );
  assert.ok(!JSON.stringify(audit).includes(sub.secret));

  // A file subscription is changed in its file, and says so.
  const fixed = await admin(app, "DELETE", `/webhooks/${fileSub.id}`);
  assert.equal(fixed.status, 404);
  assert.match((await fixed.json()).message, /declared in webhooks\.json/);
});

Deno.test("bad subscriptions and callers who are not admins change nothing", async () => {
  const { app, ctx, readerToken } = await setup();
  const before = await ctx.storage.list(keys.configPrefix("webhook"));
  for (
    const [body, message] of [
      [{ url: "ftp://hooks.example/x", events: ["uploaded"] }, /http or https/],
      [{ url: "https://user:pw@hooks.example/x", events: ["uploaded"] }, /credentials/],
      [{ url: "not a url", events: ["uploaded"] }, /not a URL/],
      [{ url: "https://hooks.example/x", events: [] }, /`events`/],
      [{ url: "https://hooks.example/x", events: ["Bad Event"] }, /`events`/],
      // A name no code emits would make a subscription that never fires.
      [{ url: "https://hooks.example/x", events: ["no.such.event"] }, /Unknown event/],
      [{ url: "https://hooks.example/x", events: ["uploaded"], secret: "short" }, /16 characters/],
      [{ url: "https://hooks.example/x", events: ["uploaded"], enabled: "yes" }, /`enabled`/],
      [{ events: ["uploaded"] }, /`url`/],
    ] as const
  ) {
    const res = await admin(app, "POST", "/webhooks", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    const err = await res.json();
    assert.equal(err.code, "invalid_input");
    assert.match(err.message, message);
  }
  const ok = { url: "https://hooks.example/x", events: ["uploaded"] };
  const anonymous = await admin(app, "POST", "/webhooks", ok, null);
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
  for (const [method, path] of [["POST", "/webhooks"], ["GET", "/webhooks"]] as const) {
    const res = await admin(app, method, path, method === "POST" ? ok : undefined, readerToken);
    assert.equal(res.status, 403, `${method} ${path}`);
    await res.body?.cancel();
  }
  const missing = await admin(app, "DELETE", "/webhooks/wh_0000000000000000");
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  assert.deepEqual(await ctx.storage.list(keys.configPrefix("webhook")), before);
});

Deno.test("POST /admin/webhooks refuses private targets in every spelling and embedding, and changes nothing", async () => {
  const { app, ctx } = await setup();
  const before = await ctx.storage.list(keys.configPrefix("webhook"));
  // No resolver given to the app: IP literals and localhost names are judged all the same.
  for (
    const url of [
      "http://10.0.0.5/hook",
      "http://2130706433:8080/hook",
      "http://0x7f.1/hook",
      "http://127.1/hook",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::1]/",
      "http://[::ffff:127.0.0.1]/",
      "http://[::127.0.0.1]/",
      "http://[2002:7f00:1::]/",
      "http://[2002:a9fe:a9fe::1]/",
      "http://[64:ff9b::a00:1]/",
      "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
      "http://[fd00::1]/",
      "http://[fe80::1]/",
      "http://localhost:9000/",
      "http://hooks.localhost/",
      "http://100.64.0.1/",
      "http://198.18.0.1/",
      "http://255.255.255.255/",
    ]
  ) {
    const res = await admin(app, "POST", "/webhooks", { url, events: ["uploaded"] });
    assert.equal(res.status, 400, url);
    const err = await res.json();
    assert.equal(err.code, "invalid_input", url);
    assert.match(
      err.message,
      /^`url` is refused: Webhook host '.+' is on a private or loopback network; allow it with --webhook-allow-hosts$/,
      url,
    );
  }
  assert.deepEqual(await ctx.storage.list(keys.configPrefix("webhook")), before);
});

Deno.test("POST /admin/webhooks resolves a new URL's host with the server's guard: private answers are refused, --webhook-allow-hosts lets them through", async () => {
  const storage = new MemoryRegistryStorage();
  const answers: Record<string, string[]> = {
    "hooks.example.com": ["93.184.216.34"],
    "intranet.example.com": ["93.184.216.34", "10.1.2.3"],
    "tunnel.example.com": ["2002:c0a8:101::1"],
    "ci.internal.test": ["10.9.9.9"],
  };
  const app = createRegistryApp({
    storage,
    bundles: new MemoryBundleStorage(),
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    authenticator: staticTokenAuthenticator({ token: ROOT, subject: "root" }),
    webhookGuard: {
      allowHosts: ["ci.internal.test", "10.0.0.9"],
      resolve: (host) => Promise.resolve(answers[host] ?? []),
    },
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    readCacheMs: 0,
  });
  for (
    const [url, address] of [
      ["https://intranet.example.com/hook", "10.1.2.3"],
      ["https://tunnel.example.com/hook", "2002:c0a8:101::1"],
    ]
  ) {
    const res = await admin(app, "POST", "/webhooks", { url, events: ["uploaded"] });
    assert.equal(res.status, 400, url);
    assert.match((await res.json()).message, new RegExp(`resolves to '${address}'`), url);
  }
  assert.deepEqual((await storage.list(keys.configPrefix("webhook"))).items, []);
  for (
    const url of [
      "https://hooks.example.com/hook",
      "http://ci.internal.test:8080/hook", // allow-listed name
      "http://10.0.0.9/hook", // allow-listed address
      "https://not-yet.example.com/hook", // no answer yet: checked again at each delivery
    ]
  ) {
    const res = await admin(app, "POST", "/webhooks", { url, events: ["uploaded"] });
    assert.equal(res.status, 201, url);
    await res.body?.cancel();
  }
});

Deno.test("token and scope changes are events too: token.created, token.revoked, scope.claimed, each in its change's commit", async () => {
  const { app, ctx, key } = await setup();
  const made = await admin(app, "POST", "/webhooks", {
    url: "https://hooks.example/audit",
    events: ["token.created", "token.revoked", "scope.claimed"],
  });
  const sub = await made.json();
  const token = await admin(app, "POST", "/tokens", {
    subject: "ci",
    grants: [{ namespace: "*", actions: ["read"] }],
  });
  assert.equal(token.status, 201);
  const { token: row, secret } = await token.json();
  assert.equal((await admin(app, "DELETE", `/tokens/${row.id}`)).status, 200);
  await publish(app, key, "1.0.0"); // the first publish into @acme claims it
  await publish(app, key, "1.0.1"); // claims nothing

  const events = (await outbox(ctx)).filter((r) => r.subscription === sub.id);
  // One row each (rows made within one millisecond have no defined order).
  assert.deepEqual(
    events.map((r) => r.event).sort(),
    ["scope.claimed", "token.created", "token.revoked"],
  );
  const body = (event: string) => JSON.parse(events.find((r) => r.event === event)!.body);
  const [created, revoked, claimed] = ["token.created", "token.revoked", "scope.claimed"].map(body);
  assert.equal(created.tokenId, row.id);
  assert.equal(created.subject, "ci");
  assert.equal(created.createdBy, "root");
  assert.equal(revoked.tokenId, row.id);
  assert.equal(revoked.revokedBy, "root");
  assert.deepEqual([claimed.scope, claimed.owner, claimed.surface], ["@acme", "root", "ggui"]);
  // Never the secret nor its hash.
  const bodies = events.map((r) => r.body).join("\n");
  assert.ok(!bodies.includes(secret));
  assert.ok(!bodies.includes("sha256"));
});
