import assert from "node:assert/strict";
import {
  assertPackageRef,
  assertVersionRef,
  isNamespace,
  isPackageName,
  isSha256,
  isVersion,
  normalizeFilePath,
} from "./names.ts";
import { isRegistryError } from "./errors.ts";

Deno.test("isNamespace() accepts both surfaces' scopes and refuses the rest", () => {
  for (const ok of ["@a", "@acme", "@acme-corp", "@my_org", "@x1"]) assert.ok(isNamespace(ok), ok);
  for (
    const bad of [
      "acme",
      "@",
      "@-a",
      "@a-",
      "@Acme",
      "@a/b",
      "@a.b",
      "@" + "a".repeat(65),
      "@../x",
      1,
    ]
  ) {
    assert.ok(!isNamespace(bad), String(bad));
  }
});

Deno.test("isPackageName() accepts one or more segments and refuses traversal", () => {
  for (const ok of ["widget", "quality/husky", "a/b/c", "x1-y"]) assert.ok(isPackageName(ok), ok);
  for (const bad of ["", "/a", "a/", "a//b", "..", "a/../b", "A", "a b", "a/b/c/d/e/f/g/h/i"]) {
    assert.ok(!isPackageName(bad), bad);
  }
});

Deno.test("isVersion() follows SemVer 2.0 exactly", () => {
  for (const ok of ["0.0.1", "1.2.3", "1.0.0-alpha.1", "1.0.0+build.5", "2.0.0-rc-1"]) {
    assert.ok(isVersion(ok), ok);
  }
  for (
    const bad of ["1.0", "v1.0.0", "01.0.0", "1.0.0-01", "1.0.0-", "1.0.0+", "../1.0.0", "1.0.0/x"]
  ) {
    assert.ok(!isVersion(bad), bad);
  }
});

Deno.test("isSha256() wants 64 lowercase hex characters", () => {
  assert.ok(isSha256("a".repeat(64)));
  assert.ok(!isSha256("A".repeat(64)));
  assert.ok(!isSha256("a".repeat(63)));
});

Deno.test("normalizeFilePath() strips ./ and refuses unsafe paths", () => {
  assert.equal(normalizeFilePath("./a/b.txt"), "a/b.txt");
  assert.equal(normalizeFilePath("templates/.husky/commit-msg"), "templates/.husky/commit-msg");
  for (
    const bad of [
      "",
      "/etc/passwd",
      "../x",
      "a/../b",
      "a/./b",
      "a\\b",
      "a%2f",
      "a?b",
      "a#b",
      "a//b",
      "a\u0000b",
    ]
  ) {
    assert.equal(normalizeFilePath(bad), null, bad);
  }
});

Deno.test("assertVersionRef() throws typed errors naming the bad part", () => {
  assert.throws(
    () => assertPackageRef({ namespace: "acme", name: "x" }),
    (e) => isRegistryError(e, "invalid_name"),
  );
  assert.throws(
    () => assertVersionRef({ namespace: "@acme", name: "x", version: "1.0" }),
    (e) => isRegistryError(e, "invalid_version") && e.message === "Invalid version '1.0'",
  );
});
