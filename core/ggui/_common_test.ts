import assert from "node:assert/strict";
import { hostScheme, installCommand, scopeParam } from "./_common.ts";

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
