import assert from "node:assert/strict";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { RegistryContext } from "./context.ts";
import { isRegistryError } from "../base/errors.ts";
import { listAudit } from "./audit.ts";
import {
  authenticateStoredToken,
  chainAuthenticators,
  createToken,
  grantsAllow,
  listTokens,
  principalCan,
  revokeToken,
  storedTokenAuthenticator,
  TOKEN_PREFIX,
} from "./tokens.ts";
import { listAll } from "./store.ts";
import type { Principal } from "./auth.ts";
import { sha256Hex } from "../base/digest.ts";
import type { TokenRow } from "./rows.ts";
import * as keys from "../storage/keys.ts";
import type { JsonValue } from "../storage/types.ts";

const admin: Principal = { subject: "root", admin: true };

function context(start = Date.parse("2026-11-22T00:00:00Z")) {
  let now = start;
  const ctx: RegistryContext = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(now),
  };
  return { ctx, advance: (ms: number) => void (now += ms) };
}

Deno.test("createToken() shows the secret once and stores only its hash", async () => {
  const { ctx } = context();
  const { token, secret } = await createToken(ctx, {
    subject: "ci",
    label: "CI",
    grants: [{ namespace: "@acme", actions: ["publish"] }],
  }, admin);
  assert.ok(secret.startsWith(TOKEN_PREFIX));
  assert.ok(!("sha256" in token));
  for await (const e of listAll(ctx.storage, [])) {
    assert.ok(
      !JSON.stringify(e.value).includes(secret),
      `secret found in ${JSON.stringify(e.key)}`,
    );
  }
  const p = await authenticateStoredToken(ctx, secret);
  assert.equal(p?.subject, "ci");
  assert.equal(p?.admin, false);
  assert.equal(p?.tokenId, token.id);
  assert.ok(principalCan(p, "read", "@acme"));
  assert.ok(principalCan(p, "publish", "@acme"));
  assert.ok(!principalCan(p, "yank", "@acme"));
  assert.ok(!principalCan(p, "read", "@acme-corp"));
  assert.deepEqual((await listTokens(ctx)).map((t) => t.id), [token.id]);
});

Deno.test("revokeToken() makes the very next authentication fail", async () => {
  const { ctx } = context();
  const { token, secret } = await createToken(ctx, { subject: "ci", grants: [] }, admin);
  const auth = storedTokenAuthenticator(ctx);
  assert.ok(await auth.authenticate(secret));
  assert.equal(await revokeToken(ctx, token.id, admin), true);
  assert.equal(await auth.authenticate(secret), null);
  assert.equal(await revokeToken(ctx, "tok_missing", admin), false);
});

Deno.test("an expired token fails from its expiry on", async () => {
  const { ctx, advance } = context();
  const { secret } = await createToken(ctx, {
    subject: "tmp",
    grants: [],
    expiresAt: "2026-11-22T00:01:00Z",
  }, admin);
  assert.ok(await authenticateStoredToken(ctx, secret));
  advance(60_000);
  assert.equal(await authenticateStoredToken(ctx, secret), null);
});

Deno.test("forged and truncated secrets authenticate nobody", async () => {
  const { ctx } = context();
  const { secret } = await createToken(ctx, { subject: "ci", grants: [] }, admin);
  for (
    const bad of [
      "",
      secret.slice(0, -1),
      secret + "x",
      secret.replace(TOKEN_PREFIX, "zz_"),
      "xr_" + "A".repeat(43),
    ]
  ) {
    assert.equal(await authenticateStoredToken(ctx, bad), null, bad);
  }
});

Deno.test("createToken() refuses escalation and records the refusal", async () => {
  const { ctx } = context();
  const publisher: Principal = {
    subject: "ci",
    admin: false,
    grants: [{ namespace: "@acme", actions: ["publish"] }],
  };
  await assert.rejects(
    createToken(
      ctx,
      { subject: "x", grants: [{ namespace: "@acme", actions: ["read"] }] },
      publisher,
    ),
    (e) => isRegistryError(e, "forbidden"),
  );
  const nsAdmin: Principal = {
    subject: "lead",
    admin: false,
    grants: [{ namespace: "@acme", actions: ["admin"] }],
  };
  await createToken(
    ctx,
    { subject: "lead/dev", grants: [{ namespace: "@acme", actions: ["publish"] }] },
    nsAdmin,
  );
  // Another subject is another identity (ggui scope owner, publisher): only a
  // global admin names one; and a token without grants is a global admin's too.
  for (
    const input of [
      { subject: "alice", grants: [{ namespace: "@acme", actions: ["read" as const] }] },
      { subject: "lead", grants: [] },
    ]
  ) {
    await assert.rejects(createToken(ctx, input, nsAdmin), (e) => isRegistryError(e, "forbidden"));
  }
  // A caller with no admin grant at all is refused before anything else is checked.
  const reader: Principal = {
    subject: "r",
    admin: false,
    grants: [{ namespace: "@acme", actions: ["read"] }],
  };
  await assert.rejects(
    createToken(ctx, { subject: "cli", grants: [] }, reader),
    (e) => isRegistryError(e, "forbidden"),
  );
  await assert.rejects(
    createToken(
      ctx,
      { subject: "lead/x", grants: [{ namespace: "@other", actions: ["read"] }] },
      nsAdmin,
    ),
    (e) => isRegistryError(e, "forbidden"),
  );
  await assert.rejects(
    createToken(
      ctx,
      { subject: "lead/x", grants: [{ namespace: "*", actions: ["read"] }] },
      nsAdmin,
    ),
    (e) => isRegistryError(e, "forbidden"),
  );
  await assert.rejects(
    createToken(ctx, { subject: "x", grants: [{ namespace: "acme", actions: ["read"] }] }, admin),
    (e) => isRegistryError(e, "invalid_input"),
  );
  const refused = await listAudit(ctx, { action: "token.create", outcome: "refused" });
  assert.equal(refused.items.length, 7);
  const ok = await listAudit(ctx, { action: "token.create", outcome: "ok" });
  assert.equal(ok.items.length, 1);
  assert.equal(ok.items[0]!.actor, "lead");
});

Deno.test("grantsAllow() matches patterns whole and implies read from publish and yank", () => {
  const grants = [{ namespace: "@team-*", actions: ["yank" as const] }];
  assert.ok(grantsAllow(grants, "read", "@team-a"));
  assert.ok(grantsAllow(grants, "yank", "@team-a"));
  assert.ok(!grantsAllow(grants, "publish", "@team-a"));
  assert.ok(!grantsAllow(grants, "read", "@teamx"));
  assert.ok(!grantsAllow(grants, "read", "@x-team-a"));
  assert.ok(grantsAllow([{ namespace: "*", actions: ["admin"] }], "publish", "@any"));
});

Deno.test("chainAuthenticators() tries each source in order", async () => {
  const { ctx } = context();
  const { secret } = await createToken(ctx, { subject: "stored", grants: [] }, admin);
  const fixed = {
    authenticate: (t: string) =>
      Promise.resolve(t === "static" ? { subject: "s", admin: true } : null),
  };
  const chain = chainAuthenticators(fixed, storedTokenAuthenticator(ctx));
  assert.equal((await chain.authenticate("static"))?.subject, "s");
  assert.equal((await chain.authenticate(secret))?.subject, "stored");
  assert.equal(await chain.authenticate("nope"), null);
});

Deno.test("authenticateNow() answers at once what authenticate() would, or undefined when it needs a read", async () => {
  const ctx: RegistryContext = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(),
  };
  const { staticTokenAuthenticator } = await import("./auth.ts");
  const fixed = staticTokenAuthenticator({ token: "s3cret", subject: "ops" });
  const stored = storedTokenAuthenticator(ctx);
  assert.deepEqual(fixed.authenticateNow!("s3cret"), await fixed.authenticate("s3cret"));
  assert.equal(fixed.authenticateNow!("wrong"), null);
  assert.equal(stored.authenticateNow!("not-a-stored-token"), null);
  assert.equal(stored.authenticateNow!(`${TOKEN_PREFIX}abc`), undefined);
  const chain = chainAuthenticators(fixed, stored);
  assert.equal(chain.authenticateNow!("s3cret")?.subject, "ops");
  assert.equal(chain.authenticateNow!("other"), null);
  assert.equal(chain.authenticateNow!(`${TOKEN_PREFIX}abc`), undefined);
  const opaque = chainAuthenticators({ authenticate: () => Promise.resolve(null) }, fixed);
  assert.equal(opaque.authenticateNow!("s3cret"), undefined, "a link that cannot tell comes first");
});

Deno.test("createToken() refuses a subject the server reserves for itself, and records the refusal", async () => {
  const { ctx } = context();
  for (const subject of ["rack:admin", "rack:token-0123456789ab", "Rack:CI", "anonymous"]) {
    await assert.rejects(
      createToken(ctx, { subject, grants: [] }, admin),
      (err: unknown) => isRegistryError(err) && err.code === "invalid_input",
      subject,
    );
  }
  assert.deepEqual(await listTokens(ctx), []);
  const refusals = (await listAudit(ctx)).items.filter((a) => a.outcome === "refused");
  assert.equal(refusals.length, 4);
});

Deno.test("a stored token whose row names a reserved subject (written before the rule) authenticates nobody", async () => {
  const { ctx } = context();
  const { token, secret } = await createToken(ctx, { subject: "ci", grants: [] }, admin);
  const key = keys.tokenKey(sha256Hex(secret));
  const row = (await ctx.storage.get<TokenRow>(key))!.value;
  await ctx.storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key,
      value: { ...row, subject: "rack:admin" } as unknown as JsonValue,
    }],
  });
  assert.equal(token.subject, "ci");
  assert.equal(await authenticateStoredToken(ctx, secret), null);
});
