import assert from "node:assert/strict";
import { fromBase64, toBase64 } from "../digest.ts";
import { decodeBase64Strict, hostScheme, installCommand, scopeParam } from "./_common.ts";

Deno.test("decodeBase64Strict() accepts and refuses exactly what fromBase64() does", () => {
  const samples = [
    "",
    "A",
    "AA",
    "AA=",
    "AA==",
    "AA===",
    "AAA",
    "AAAA",
    "YWJj",
    "YWJjZA",
    "YWJjZA==",
    "YWJjZB==", // non-canonical trailing bits
    "YW Jj\nZA==",
    "YWJj-_",
    "YWJj=YWJj",
    "abc$",
    "////",
    "++++",
    toBase64(crypto.getRandomValues(new Uint8Array(1000))),
  ];
  for (const s of samples) {
    const a = fromBase64(s);
    const b = decodeBase64Strict(s);
    assert.deepEqual(b === null ? null : [...b], a === null ? null : [...a], JSON.stringify(s));
  }
});

Deno.test("installCommand() uses http only for loopback hosts", () => {
  assert.equal(hostScheme("localhost"), "http");
  assert.equal(hostScheme("127.0.0.1:9001"), "http");
  assert.equal(hostScheme("0.0.0.0:1"), "http");
  assert.equal(hostScheme("localhost-evil.com"), "https");
  assert.equal(hostScheme("registry.example.com"), "https");
  assert.equal(
    installCommand({
      kind: "blueprint",
      artifactId: "@a/b",
      version: "1.0.0-rc.1",
      registryHostname: "r.example",
    }),
    "ggui blueprint install @a/b@1.0.0-rc.1 --registry=https://r.example",
  );
});

Deno.test("scopeParam() re-prefixes exactly one @", () => {
  assert.equal(scopeParam("acme"), "@acme");
  assert.equal(scopeParam("@acme"), "@acme");
  assert.equal(scopeParam("@@acme"), "@@acme");
});
