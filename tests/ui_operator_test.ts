// The operator pages: tokens created with the secret shown once, revoked
// (ending that token's sessions), the audit log filtered; for global admins
// only, and every form with the session's CSRF token.
import assert from "node:assert/strict";
import { csrfOf, signIn, uiFixture, uiGet as get, uiPost as post } from "./_ui_fixtures.ts";

Deno.test("an admin creates a token, sees its secret once, and revoking it ends its session", async () => {
  const f = await uiFixture();
  const { session } = await signIn(f.app, f.admin);
  const csrf = await csrfOf(f.app, session!);
  const res = await post(f.app, "/ui/tokens", session!, {
    csrf,
    subject: "dave",
    namespace: "@acme",
    "action-read": "on",
    days: "30",
    label: "laptop",
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const html = await res.text();
  const secret = /<pre id="secret">([^<]+)<\/pre>/.exec(html)![1]!;
  const id = /Token <code>([^<]+)<\/code> created/.exec(html)![1]!;
  // Never again: the list shows the token, not its secret.
  const list = await (await get(f.app, "/ui/tokens", session)).text();
  assert.match(list, /dave/);
  assert.ok(!list.includes(secret));
  // The new token signs in; revoking it ends that session on its next request.
  const dave = await signIn(f.app, secret);
  assert.match(await (await get(f.app, "/", dave.session)).text(), /dave/);
  const revoked = await post(f.app, `/ui/tokens/${id}/revoke`, session!, { csrf });
  assert.equal(revoked.status, 303);
  assert.doesNotMatch(await (await get(f.app, "/", dave.session)).text(), /dave/);
  assert.match(await (await get(f.app, "/ui/tokens", session)).text(), /revoked/);
  // The audit log shows both, filtered by action.
  const audit = await (await get(f.app, "/ui/audit?action=token.revoke", session)).text();
  assert.match(audit, new RegExp(id));
  assert.doesNotMatch(audit, /token\.create/);
});

Deno.test("operator forms refuse a missing CSRF token and change nothing", async () => {
  const f = await uiFixture();
  const { session } = await signIn(f.app, f.admin);
  const before = (await f.storage.list(["token"])).items.length;
  const res = await post(f.app, "/ui/tokens", session!, {
    subject: "eve",
    namespace: "*",
    "action-admin": "on",
  });
  assert.equal(res.status, 403);
  await res.body?.cancel();
  assert.equal((await f.storage.list(["token"])).items.length, before);
});

Deno.test("operator pages send the signed-out to sign in and refuse non-admins", async () => {
  const f = await uiFixture();
  const anon = await get(f.app, "/ui/tokens");
  assert.equal(anon.status, 303);
  assert.equal(anon.headers.get("location"), "/ui/sign-in");
  const { session } = await signIn(f.app, f.reader);
  for (const path of ["/ui/tokens", "/ui/audit"]) {
    const res = await get(f.app, path, session);
    assert.equal(res.status, 403, path);
    await res.body?.cancel();
  }
});

Deno.test("bad operator input is a page, never an error", async () => {
  const f = await uiFixture();
  const { session } = await signIn(f.app, f.admin);
  const csrf = await csrfOf(f.app, session!);
  for (
    const fields of [
      { subject: "", namespace: "@acme" },
      { subject: "x", namespace: "not a namespace", "action-read": "on" },
      { subject: "x", namespace: "@acme", days: "-3" },
    ] as Record<string, string>[]
  ) {
    const res = await post(f.app, "/ui/tokens", session!, { csrf, ...fields });
    assert.equal(res.status, 400, JSON.stringify(fields));
    assert.match(await res.text(), /class="error"/);
  }
  const audit = await get(f.app, "/ui/audit?cursor=%00nope&outcome=maybe", session);
  assert.equal(audit.status, 200);
  await audit.body?.cancel();
});
