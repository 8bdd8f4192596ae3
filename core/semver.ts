/**
 * Version ordering by SemVer 2.0 precedence, prereleases below their release.
 *
 * Our own few lines, not npm `semver`: ordering is all a server needs at
 * start and on every read, and the CommonJS package cost ~50 ms of start-up
 * CPU (docs/bench.md). Range matching, which only `main.ts mirror` needs,
 * is in `semver_range.ts`.
 *
 * @module
 */
import { SEMVER_RE } from "../base/names.ts";

/** A version split for comparison: the three numbers as digit strings, and the prerelease identifiers. */
interface Parsed {
  core: [string, string, string];
  pre: string[];
}

/** Parsed versions, reused: sorting a long version list compares each many times. */
const parsed = new Map<string, Parsed>();

/** Split a valid version; `null` when `version` is not SemVer 2.0. */
function tryParse(version: string): Parsed | null {
  let v = parsed.get(version);
  if (v !== undefined) return v;
  const m = SEMVER_RE.exec(version);
  if (m === null) return null;
  v = { core: [m[1]!, m[2]!, m[3]!], pre: m[4] === undefined ? [] : m[4].split(".") };
  if (parsed.size >= 10_000) parsed.delete(parsed.keys().next().value!);
  parsed.set(version, v);
  return v;
}

function parse(version: string): Parsed {
  const v = tryParse(version);
  if (v === null) throw new TypeError(`Invalid version '${version}'`);
  return v;
}

const NUMERIC = /^\d+$/;

/** Compare digit strings without leading zeros as numbers of any size. */
function compareDigits(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SemVer §11.4: numeric identifiers by value and below alphanumeric ones, the rest in ASCII order. */
function compareIdentifiers(a: string, b: string): number {
  const an = NUMERIC.test(a);
  const bn = NUMERIC.test(b);
  if (an && bn) return compareDigits(a, b);
  if (an !== bn) return an ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SemVer precedence of two parsed versions (build metadata ignored). */
function comparePrecedence(a: Parsed, b: Parsed): number {
  for (let i = 0; i < 3; i++) {
    const c = compareDigits(a.core[i]!, b.core[i]!);
    if (c !== 0) return Math.sign(c);
  }
  // A version without a prerelease is above the same version with one.
  if (a.pre.length === 0 || b.pre.length === 0) return Math.sign(b.pre.length - a.pre.length);
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const c = compareIdentifiers(a.pre[i]!, b.pre[i]!);
    if (c !== 0) return Math.sign(c);
  }
  return Math.sign(a.pre.length - b.pre.length);
}

/**
 * Compare two versions by SemVer precedence: negative when `a < b`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareVersions } from "./semver.ts";
 * assert(compareVersions("1.10.0", "1.2.0") > 0);
 * assert(compareVersions("1.0.0-rc.1", "1.0.0") < 0);
 * assert(compareVersions("1.0.0", "1.0.0") === 0);
 * ```
 */
export function compareVersions(a: string, b: string): number {
  const c = comparePrecedence(parse(a), parse(b));
  // Equal precedence (build metadata differs): keep a total order.
  return c !== 0 ? c : a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The precedence of a version: the version without its build metadata (what
 * follows `+`). SemVer ignores build metadata for precedence, so versions with
 * the same precedence are one version to every client: the registry keeps at
 * most one of them per package.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { precedenceOf } from "./semver.ts";
 * assert(precedenceOf("1.0.0+build.1") === "1.0.0");
 * assert(precedenceOf("1.0.0-rc.1+a") === "1.0.0-rc.1");
 * assert(precedenceOf("1.0.0") === "1.0.0");
 * ```
 */
export function precedenceOf(version: string): string {
  const plus = version.indexOf("+");
  return plus < 0 ? version : version.slice(0, plus);
}

/**
 * Sort versions newest first (SemVer precedence descending).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sortVersionsDescending } from "./semver.ts";
 * const sorted = sortVersionsDescending(["1.2.0", "1.10.0", "1.10.0-rc.1"]);
 * assert(sorted.join() === "1.10.0,1.10.0-rc.1,1.2.0");
 * ```
 */
export function sortVersionsDescending(versions: readonly string[]): string[] {
  // Each parsed once here: a list longer than the shared parse cache would
  // otherwise parse on every comparison (10,000 versions: ~20× slower).
  const decorated = versions.map((v) => ({ v, p: parse(v) }));
  decorated.sort((a, b) => {
    const c = comparePrecedence(b.p, a.p);
    return c !== 0 ? c : a.v < b.v ? 1 : a.v > b.v ? -1 : 0;
  });
  return decorated.map((d) => d.v);
}

/** Whether a version has a prerelease part (`false` for text that is not a version). */
export function isPrerelease(version: string): boolean {
  return (tryParse(version)?.pre.length ?? 0) > 0;
}

/**
 * Pick "latest": the highest release, or the highest prerelease when no release
 * exists; on equal precedence the one without build metadata. `undefined` for
 * an empty list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pickLatest } from "./semver.ts";
 * assert.ok(pickLatest(["1.0.0", "2.0.0-rc.1"]) === "1.0.0");
 * assert.ok(pickLatest(["2.0.0-rc.1", "2.0.0-rc.2"]) === "2.0.0-rc.2");
 * assert.ok(pickLatest(["1.0.0", "1.0.0+build.2"]) === "1.0.0");
 * assert.ok(pickLatest(["1.0.0+build.2", "1.0.0"]) === "1.0.0");
 * ```
 */
export function pickLatest(versions: Iterable<string>): string | undefined {
  let release: string | undefined;
  let pre: string | undefined;
  for (const v of versions) {
    if (isPrerelease(v)) {
      if (pre === undefined || newer(v, pre)) pre = v;
    } else if (release === undefined || newer(v, release)) {
      release = v;
    }
  }
  return release ?? pre;
}

/**
 * Whether `v` beats `current` for latest: higher precedence; on equal
 * precedence (versions differing only in build metadata) the one without
 * build metadata, then the smaller text. Never the order they come in, so
 * every path that picks latest agrees: `1.0.0+build` never displaces `1.0.0`.
 */
function newer(v: string, current: string): boolean {
  const c = comparePrecedence(parse(v), parse(current));
  if (c !== 0) return c > 0;
  const vBuild = v.includes("+");
  const currentBuild = current.includes("+");
  if (vBuild !== currentBuild) return !vBuild;
  return v < current;
}
