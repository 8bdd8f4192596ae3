import assert from "node:assert/strict";
import {
  compareVersions,
  isPrerelease,
  pickLatest,
  precedenceOf,
  sortVersionsDescending,
} from "./semver.ts";
import { satisfies } from "./semver_range.ts";

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

Deno.test("compareVersions() orders exactly as npm semver over SemVer 2.0's edge cases", async () => {
  const { default: semver } = await import("semver");
  const ids = [
    "0",
    "1",
    "2",
    "10",
    "9007199254740993",
    "alpha",
    "alpha1",
    "beta",
    "rc",
    "-",
    "0a",
    "A",
  ];
  const versions = ["0.0.0", "1.0.0", "1.2.3", "1.10.3", "10.0.0", "1.2.30"];
  for (const base of ["1.0.0", "1.2.3"]) {
    for (const a of ids) {
      versions.push(`${base}-${a}`);
      for (const b of ids.slice(0, 5)) versions.push(`${base}-${a}.${b}`);
    }
  }
  for (const a of versions) {
    for (const b of versions) {
      assert.equal(
        Math.sign(compareVersions(a, b)),
        semver.compare(a, b),
        `${a} vs ${b}`,
      );
    }
  }
});

Deno.test("compareVersions() compares numbers past 2^53 exactly and refuses what is not a version", () => {
  assert.ok(compareVersions("1.0.0-9007199254740993", "1.0.0-9007199254740992") > 0);
  assert.ok(compareVersions("99999999999999999999.0.0", "99999999999999999998.0.0") > 0);
  assert.throws(() => compareVersions("v1.0.0", "1.0.0"), TypeError);
  assert.throws(() => compareVersions("1.0", "1.0.0"), /Invalid version '1.0'/);
});

Deno.test("isPrerelease() and precedenceOf() read the prerelease and the build metadata", () => {
  assert.ok(isPrerelease("1.0.0-rc.1+b"));
  assert.ok(!isPrerelease("1.0.0+rc"));
  assert.ok(!isPrerelease("not a version"));
  assert.equal(precedenceOf("1.0.0-rc.1+b.2"), "1.0.0-rc.1");
});

Deno.test("satisfies() matches npm ranges, prereleases only when the range names one", () => {
  assert.ok(satisfies("1.4.0", "^1.2"));
  assert.ok(satisfies("1.2.9", "~1.2.3"));
  assert.ok(!satisfies("1.3.0", "~1.2.3"));
  assert.ok(satisfies("3.1.0", ">=1 <2 || 3.x"));
  assert.ok(!satisfies("2.0.0-rc.1", "^1.0.0"));
  assert.ok(satisfies("2.0.0-rc.2", ">=2.0.0-rc.1"));
  assert.ok(!satisfies("v1.0.0", "*"));
});
