import assert from "node:assert/strict";
import { costClass, isRackPath, pathOfUrl } from "./_cost_class.ts";

Deno.test("costClass() puts files, bundles and version documents in the immutable class", () => {
  for (
    const path of [
      "/@std/path/1.0.0/mod.ts",
      "/@std/path/1.0.0/deep/dir/file.ts",
      "/@std/path/1.0.0_meta.json",
      "/pkg/acme/map/1.0.0",
      "/pkg/@acme/map/1.0.0",
      "/bundles/public/@acme/map/1.0.0/bundle.js",
    ]
  ) {
    assert.equal(costClass("GET", path), "immutable", path);
    assert.equal(costClass("HEAD", path), "immutable", path);
  }
});

Deno.test("costClass() puts listings and package documents in the metadata class", () => {
  for (
    const path of [
      "/@std/path/meta.json",
      "/@std/path",
      "/pkg/acme/map",
      "/api/scopes/std/packages/path",
      "/admin/tokens",
      "/author-keys",
      "/healthz",
      "/",
    ]
  ) assert.equal(costClass("GET", path), "metadata", path);
  assert.equal(costClass("POST", "/publish"), "metadata", "uploads have their own budget too");
  assert.equal(costClass("DELETE", "/admin/packages/x"), "metadata");
});

Deno.test("costClass() puts search and conformance checks in the query class", () => {
  assert.equal(costClass("GET", "/search"), "query");
  assert.equal(
    costClass("OPTIONS", "/search"),
    "query",
    "a preflight spends what its request would",
  );
  assert.equal(costClass("GET", "/api/packages"), "query");
  assert.equal(costClass("POST", "/conformance/check"), "query");
  assert.equal(costClass("GET", "/", "http://h/?q=greet&format=jsr"), "query", "the home page's");
  assert.equal(costClass("GET", "/", "http://h/"), "metadata");
});

Deno.test("costClass() keeps every Rack route in the Rack class, whatever it reads", () => {
  for (
    const path of [
      "/registries/@acme/ui/1.0.0/registry.json",
      "/registries/@acme/ui/versions",
      "/namespaces",
      "/presets/web",
      "/schemas/registry-item.json",
      "/health",
      "/metrics",
    ]
  ) assert.equal(costClass("GET", path), "rack", path);
  assert.equal(costClass("POST", "/registries"), "rack");
  assert.ok(!isRackPath("/healthz"));
  assert.ok(!isRackPath("/registriesx"));
  assert.ok(!isRackPath("/healthy"));
});

Deno.test("pathOfUrl() takes the path without the query or fragment", () => {
  assert.equal(pathOfUrl("http://h:9/a/b?c=/d"), "/a/b");
  assert.equal(pathOfUrl("http://h/a#x"), "/a");
  assert.equal(pathOfUrl("http://h"), "/");
  assert.equal(pathOfUrl("https://h/"), "/");
});
