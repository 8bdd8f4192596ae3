import assert from "node:assert/strict";
import { isRegistryError } from "../../base/errors.ts";
import { rackCodeOf } from "./errors.ts";
import { itemSegments, normalizeRackFilePath, parseRegistryPath } from "./paths.ts";

function invalid(raw: string): void {
  assert.throws(() => parseRegistryPath(raw), (err) => {
    assert.ok(isRegistryError(err));
    assert.equal(rackCodeOf(err), "INVALID_PATH");
    assert.equal(err.message, "Invalid registry resource path");
    return true;
  }, raw);
}

Deno.test("parseRegistryPath() reads the four resource kinds of the spec examples", () => {
  assert.deepEqual(parseRegistryPath("@rack/quality/husky/versions"), {
    kind: "versions",
    namespace: "@rack",
    segments: ["quality", "husky"],
  });
  assert.deepEqual(parseRegistryPath("@rack/quality/husky"), {
    kind: "latest",
    namespace: "@rack",
    segments: ["quality", "husky"],
  });
  assert.deepEqual(parseRegistryPath("@rack/quality/husky/1.0.0"), {
    kind: "versioned",
    namespace: "@rack",
    segments: ["quality", "husky"],
    version: "1.0.0",
  });
  assert.deepEqual(
    parseRegistryPath("@rack/quality/husky/1.0.0/files/templates/.husky/commit-msg"),
    {
      kind: "file",
      namespace: "@rack",
      segments: ["quality", "husky"],
      version: "1.0.0",
      filePath: "templates/.husky/commit-msg",
    },
  );
});

Deno.test("parseRegistryPath() decodes percent-encoding and collapses repeated slashes", () => {
  assert.deepEqual(parseRegistryPath("%40rack//husky"), parseRegistryPath("@rack/husky"));
  assert.equal(parseRegistryPath("@rack/husky/2.0.0-beta.1+build.5").kind, "versioned");
  // A single segment named "versions" is a registry called versions (latest).
  assert.equal(parseRegistryPath("@rack/versions").kind, "latest");
  // Only the first SemVer part is the version.
  const r = parseRegistryPath("@rack/x/1.0.0/files/2.0.0/a.txt");
  assert.equal(r.kind === "file" && r.filePath, "2.0.0/a.txt");
  assert.equal(parseRegistryPath("@rack/x/1.0.0/files/./a.txt").kind, "file");
});

Deno.test("parseRegistryPath() rejects everything the grammar does not allow", () => {
  for (
    const raw of [
      "@rack",
      "rack/husky",
      "@Rack/husky",
      "@rack/husky/1.0.0/readme",
      "@rack/husky/1.0.0/files",
      "@rack/1.0.0",
      "@rack/Husky",
      "@rack/hus_ky",
      "@rack/husky/v1.0.0/files/a",
      "@rack/husky/1.0.0/files/../a",
      "@rack/husky/1.0.0/files/a%5Cb",
      "@rack/husky/1.0.0/files/a%3Fb",
      "@rack/husky/%E0%A4%A",
      "@rack/a/b/c/d/e/f/g/h/i",
    ]
  ) invalid(raw);
});

Deno.test("normalizeRackFilePath() strips ./ and refuses unsafe paths", () => {
  assert.equal(normalizeRackFilePath("./a/b.ts"), "a/b.ts");
  assert.equal(normalizeRackFilePath("a/.env.example"), "a/.env.example");
  for (
    const bad of ["", "/etc/passwd", "a//b", "a/./b", "../a", "a\\b", "a%b", "a?b", "a#b", "a b"]
  ) {
    assert.equal(normalizeRackFilePath(bad), null, bad);
  }
});

Deno.test("itemSegments() follows path, then the type category, then the name", () => {
  assert.deepEqual(itemSegments({ name: "my-tool", type: "registry:feature" }), [
    "features",
    "my-tool",
  ]);
  assert.deepEqual(itemSegments({ name: "node", type: "registry:runtime" }), ["runtimes", "node"]);
  assert.deepEqual(itemSegments({ name: "vite", type: "registry:build" }), ["build", "vite"]);
  assert.deepEqual(itemSegments({ name: "x", type: "registry:unknown" }), ["x"]);
  assert.deepEqual(itemSegments({ name: "x", type: "registry:quality", path: "custom/x" }), [
    "custom",
    "x",
  ]);
});
