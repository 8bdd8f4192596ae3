import assert from "node:assert/strict";
import { defaultSubjectForToken, isReservedSubject, staticTokenAuthenticator } from "./auth.ts";
import { sha256Hex } from "../base/digest.ts";

Deno.test("staticTokenAuthenticator() accepts exactly the configured token", async () => {
  const auth = staticTokenAuthenticator({ token: "s3cret-token", subject: "alice" });
  assert.deepEqual(await auth.authenticate("s3cret-token"), { subject: "alice", admin: true });
  assert.equal(await auth.authenticate("s3cret-toke"), null);
  assert.equal(await auth.authenticate("s3cret-token "), null);
  assert.equal(await auth.authenticate("S3CRET-TOKEN"), null);
  assert.equal(await auth.authenticate(""), null);
});

Deno.test("staticTokenAuthenticator() derives the subject from the token when none is given", async () => {
  const auth = staticTokenAuthenticator({ token: "abc" });
  const p = await auth.authenticate("abc");
  assert.equal(p?.subject, `bearer-${sha256Hex("abc").slice(0, 12)}`);
  assert.equal(p?.subject, defaultSubjectForToken("abc"));
  assert.match(p!.subject, /^bearer-[0-9a-f]{12}$/);
});

Deno.test("staticTokenAuthenticator() refuses an empty token or subject", () => {
  assert.throws(() => staticTokenAuthenticator({ token: "" }), TypeError);
  assert.throws(() => staticTokenAuthenticator({ token: "x", subject: "" }), TypeError);
});

Deno.test("staticTokenAuthenticator() refuses a subject the server reserves for itself", () => {
  for (const subject of ["rack:admin", "rack:token-0123456789ab", "RACK:CI", "anonymous", "cli"]) {
    assert.throws(() => staticTokenAuthenticator({ token: "x", subject }), TypeError, subject);
  }
  assert.ok(isReservedSubject("rack:anything"));
  assert.ok(!isReservedSubject("admin") && !isReservedSubject("team/rack:x"));
});
