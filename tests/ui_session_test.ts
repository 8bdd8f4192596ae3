// Signing in to the web pages: a pasted token becomes a session cookie, the
// token never shows in a URL, page, header or log line, forms carry CSRF
// tokens, failed attempts spend the failed-authentication budget, and a
// session ends with its token's revocation, its expiry, or sign-out.
import assert from "node:assert/strict";
import { createSession, SESSION_SWEEP_LIMIT } from "../core/sessions.ts";
import { revokeToken } from "../core/tokens.ts";
import { listAll } from "../core/store.ts";
import type { RegistryStorage } from "../storage/types.ts";
import { createToken } from "../core/tokens.ts";
import * as keys from "../storage/keys.ts";
import { ALICE, publishJsr, signIn, uiFixture, uiGet as page } from "./_ui_fixtures.ts";

async function sessionRows(f: { storage: RegistryStorage }, prefix = ["ui_session"]) {
  let n = 0;
  for await (const _ of listAll(f.storage, prefix)) n++;
  return n;
}

Deno.test("signing in sets an HttpOnly SameSite=Strict session cookie and shows private packages", async () => {
  const lines: string[] = [];
  const f = await uiFixture({ requestLog: (l) => lines.push(l) });
  await publishJsr(f.app, "@acme/secret@1.0.0", { "README.md": "# Top secret" }, ALICE);
  assert.equal((await page(f.app, "/@acme/secret")).status, 404);
  const { res, session, body } = await signIn(f.app, f.reader);
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/");
  const line = res.headers.getSetCookie().find((l) => l.startsWith("registry_session="))!;
  assert.match(line, /HttpOnly/);
  assert.match(line, /SameSite=Strict/);
  assert.doesNotMatch(line, /Secure/);
  const own = await page(f.app, "/@acme/secret", session);
  assert.equal(own.status, 200);
  const html = await own.text();
  assert.match(html, /Top secret/);
  assert.match(html, /reader/);
  const home = await (await page(f.app, "/", session)).text();
  assert.match(home, /href="\/@acme\/secret"/);
  // The token is nowhere: not in the session row, a page, a header or a log line.
  const rows = JSON.stringify((await f.storage.list(["ui_session"])).items);
  for (const text of [rows, body, html, home, JSON.stringify([...res.headers]), ...lines]) {
    assert.ok(!text.includes(f.reader));
  }
  // Over https the cookie is Secure.
  const secure = await signIn(f.app, f.reader, "https://registry.example");
  assert.match(secure.res.headers.getSetCookie().join("\n"), /registry_session=[^\n]*; Secure/);
});

Deno.test("a failed sign-in answers 401 and spends the failed-authentication budget", async () => {
  const f = await uiFixture({ authFailuresPerMinute: 2 });
  const statuses: number[] = [];
  for (let i = 0; i < 2; i++) statuses.push((await signIn(f.app, "rk_wrong")).res.status);
  assert.deepEqual(statuses, [401, 401]);
  // The third is refused before the form is even served.
  const refused = await page(f.app, "/ui/sign-in");
  assert.equal(refused.status, 429);
  await refused.body?.cancel();
  assert.equal(await sessionRows(f), 0);
});

Deno.test("sign-in and sign-out refuse a form without its CSRF token, changing nothing", async () => {
  const f = await uiFixture();
  const forged = await f.app.request("/ui/sign-in", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ csrf: "x", token: f.reader }).toString(),
  });
  assert.equal(forged.status, 403);
  await forged.body?.cancel();
  assert.equal(await sessionRows(f), 0);
  const { session } = await signIn(f.app, f.reader);
  const out = await f.app.request("/ui/sign-out", {
    method: "POST",
    headers: {
      cookie: `registry_session=${session}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: "csrf=forged",
  });
  assert.equal(out.status, 403);
  await out.body?.cancel();
  assert.equal(await sessionRows(f), 1);
  // With the session's own token it ends the session.
  const html = await (await page(f.app, "/", session)).text();
  const csrf = /action="\/ui\/sign-out"[^]*?name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const done = await f.app.request("/ui/sign-out", {
    method: "POST",
    headers: {
      cookie: `registry_session=${session}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ csrf }).toString(),
  });
  assert.equal(done.status, 303);
  assert.match(done.headers.getSetCookie().join(), /registry_session=; Path=\/; Max-Age=0/);
  assert.equal(await sessionRows(f), 0);
  assert.doesNotMatch(await (await page(f.app, "/", session)).text(), /Sign out/);
});

Deno.test("revoking a token ends its sessions on the next request in another process", async () => {
  const f = await uiFixture();
  const root = { subject: "root", admin: true };
  const ctx = { storage: f.storage, bundles: f.bundles, clock: () => new Date() };
  const made = await createToken(ctx, {
    subject: "carol",
    grants: [{ namespace: "@acme", actions: ["read"] }],
  }, root);
  const { session } = await signIn(f.app, made.secret);
  assert.match(await (await page(f.app, "/", session)).text(), /carol/);
  // Another process on the same store revokes the token.
  await revokeToken(ctx, made.token.id, root);
  const afterRes = await page(f.app, "/", session);
  // The dead session's cookie is cleared.
  assert.match(afterRes.headers.getSetCookie().join(), /registry_session=; Path=\/; Max-Age=0/);
  const after = await afterRes.text();
  assert.doesNotMatch(after, /carol/);
  assert.match(after, /Sign in/);
  assert.equal(await sessionRows(f), 0);
});

Deno.test("a session ends when it expires", async () => {
  let now = Date.parse("2026-12-01T00:00:00Z");
  const f = await uiFixture({ clock: () => new Date(now) });
  const { session } = await signIn(f.app, f.reader);
  assert.match(await (await page(f.app, "/", session)).text(), /Sign out/);
  now += 12 * 60 * 60 * 1000 + 1;
  assert.doesNotMatch(await (await page(f.app, "/", session)).text(), /Sign out/);
  const key = keys.uiSessionKey("x");
  assert.equal(key[0], "ui_session");
  assert.equal(await sessionRows(f), 0);
});

Deno.test("expired sessions are swept on sign-in though their cookies never come back", async () => {
  let now = Date.parse("2026-12-01T00:00:00Z");
  const f = await uiFixture({ clock: () => new Date(now) });
  const ctx = { storage: f.storage, bundles: f.bundles, clock: () => new Date(now) };
  // 130 abandoned sessions (more than one sweep deletes) and one still live.
  for (let i = 0; i < 130; i++) {
    await createSession(ctx, { token: f.reader, principal: { subject: "reader", admin: false } });
  }
  now += 6 * 60 * 60 * 1000;
  const { session: live } = await signIn(f.app, f.reader);
  assert.equal(await sessionRows(f), 131);
  now += 6 * 60 * 60 * 1000 + 1;
  // Signing in sweeps a bounded batch of the expired ones, then the rest.
  await signIn(f.app, f.admin);
  assert.equal(await sessionRows(f), 131 - SESSION_SWEEP_LIMIT + 1);
  await signIn(f.app, f.admin);
  assert.equal(await sessionRows(f), 3);
  assert.equal(await sessionRows(f, ["ui_session_by_expiry"]), 3);
  assert.match(await (await page(f.app, "/", live)).text(), /Sign out/);
  // Sign-out and a dead cookie remove the pointer with the row.
  now += 12 * 60 * 60 * 1000;
  assert.doesNotMatch(await (await page(f.app, "/", live)).text(), /Sign out/);
  assert.equal(await sessionRows(f, ["ui_session_by_expiry"]), 2);
});

Deno.test("forged or stale session cookies are anonymous, never an error", async () => {
  const f = await uiFixture();
  for (const cookie of ["", "x", "%00", "a".repeat(5000), "registry_session"]) {
    const res = await page(f.app, "/", cookie);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Sign in/);
  }
});

Deno.test("a signed-in stranger gets the missing page's bytes for a private package", async () => {
  const f = await uiFixture();
  await publishJsr(f.app, "@acme/secret@1.0.0", {}, ALICE);
  const { session } = await signIn(f.app, "tok-bob");
  for (const [hidden, missing] of [["/@acme/secret", "/@acme/nothing"]] as const) {
    const a = await page(f.app, hidden, session);
    const b = await page(f.app, missing, session);
    assert.equal(a.status, 404);
    assert.deepEqual([...a.headers], [...b.headers]);
    const text = await a.text();
    assert.equal(text, await b.text());
    assert.match(text, /bob/);
  }
  const home = await (await page(f.app, "/", session)).text();
  assert.match(home, /0 packages/);
});
