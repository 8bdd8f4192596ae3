import assert from "node:assert/strict";
import { cookieOf, overHttps, setCookie } from "./_cookies.ts";

Deno.test("setCookie() marks the session Secure over https, also behind a TLS-terminating proxy", () => {
  const plain = new Request("http://registry.test/ui/sign-in");
  assert.ok(!setCookie(plain, "s", "v", 60).includes("Secure"));
  for (
    const headers of <Record<string, string>[]> [
      { "x-forwarded-proto": "https" },
      { "x-forwarded-proto": "HTTPS, http" },
      { forwarded: "for=192.0.2.1;proto=https;by=203.0.113.4" },
      { forwarded: 'proto="https"' },
    ]
  ) {
    const req = new Request("http://registry.test/ui/sign-in", { headers });
    assert.ok(overHttps(req), JSON.stringify(headers));
    assert.match(setCookie(req, "s", "v", 60), /; HttpOnly; SameSite=Strict; Secure$/);
  }
  assert.ok(overHttps(new Request("https://registry.test/")));
  assert.ok(!overHttps(new Request("http://h/", { headers: { "x-forwarded-proto": "http" } })));
  assert.ok(!overHttps(new Request("http://h/", { headers: { forwarded: "proto=http" } })));
});

Deno.test("cookieOf() reads one cookie among several", () => {
  const req = new Request("http://h/", { headers: { cookie: "a=1; registry_session=xyz; b=2" } });
  assert.equal(cookieOf(req, "registry_session"), "xyz");
  assert.equal(cookieOf(req, "missing"), undefined);
});
