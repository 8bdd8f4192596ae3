import assert from "node:assert/strict";
import { compareVersions, pickLatest, sortVersionsDescending } from "./semver.ts";

Deno.test("sortVersionsDescending() puts prereleases below their release", () => {
  assert.deepEqual(
    sortVersionsDescending([
      "0.9.0",
      "1.0.0-alpha",
      "2.0.0-rc.1",
      "1.0.0",
      "1.0.0-alpha.1",
      "10.0.0",
    ]),
    ["10.0.0", "2.0.0-rc.1", "1.0.0", "1.0.0-alpha.1", "1.0.0-alpha", "0.9.0"],
  );
});

Deno.test("compareVersions() keeps a total order across build metadata", () => {
  assert.ok(compareVersions("1.0.0+a", "1.0.0+b") < 0);
  assert.equal(compareVersions("1.0.0", "1.0.0"), 0);
});

Deno.test("pickLatest() prefers the highest release over a higher prerelease", () => {
  assert.equal(pickLatest(["1.0.0", "2.0.0-beta.1", "1.9.0"]), "1.9.0");
  assert.equal(pickLatest(["2.0.0-beta.1", "2.0.0-beta.2"]), "2.0.0-beta.2");
  assert.equal(pickLatest([]), undefined);
});
