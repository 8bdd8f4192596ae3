/**
 * npm range matching (`^1.2`, `~1.2.3`, `>=1 <2 || 3.x`), through npm
 * `semver`. Only `main.ts mirror` needs it, so the server does not load the
 * CommonJS package at start (ordering is `semver.ts`, our own code).
 *
 * @module
 */
import semver from "semver";
import { isVersion } from "../base/names.ts";

/**
 * Whether `range` matches `version` (npm range syntax; a prerelease matches
 * only a range that names a prerelease of the same version).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { satisfies } from "./semver_range.ts";
 * assert.ok(satisfies("1.4.0", "^1.2"));
 * assert.ok(!satisfies("2.0.0", "^1.2"));
 * assert.ok(!satisfies("1.5.0-rc.1", "^1.2"));
 * ```
 */
export function satisfies(version: string, range: string): boolean {
  return isVersion(version) && semver.satisfies(version, range, { includePrerelease: false });
}
