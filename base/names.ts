/**
 * Names shared by every surface: namespaces, package paths, versions, digests
 * and file paths inside a version. Each surface may apply a stricter grammar of
 * its own on top; these rules are what the store accepts at all, so nothing a
 * caller passes can collide two keys or escape a folder.
 *
 * @module
 */
import { RegistryError } from "./errors.ts";

/** `@` then 1–64 lowercase letters, digits, `-` or `_`, starting and ending alphanumeric. */
export const NAMESPACE_RE: RegExp = /^@[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$/;
/** One segment of a package path. */
export const SEGMENT_RE: RegExp = /^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$/;
/** The official SemVer 2.0 grammar (no `v`, no leading zeros). */
export const SEMVER_RE: RegExp =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
/** A lowercase hex SHA-256 digest. */
export const SHA256_RE: RegExp = /^[0-9a-f]{64}$/;
/** One segment of a file path inside a version. */
const FILE_SEGMENT_RE = /^[A-Za-z0-9._@+~-]+$/;

/** The most segments a package path may have. */
export const MAX_PATH_SEGMENTS = 8;
/** The longest version string accepted. */
export const MAX_VERSION_LENGTH = 128;
/** The longest file path inside a version. */
export const MAX_FILE_PATH_LENGTH = 512;

/** A package: a namespace and a path of one or more segments (`quality/husky`). */
export interface PackageRef {
  /** The namespace with its `@`, e.g. `@acme`. */
  namespace: string;
  /** The package path: segments joined by `/`, e.g. `widget` or `quality/husky`. */
  name: string;
}

/** One version of a package. */
export interface VersionRef extends PackageRef {
  /** A full SemVer 2.0 string. */
  version: string;
}

/**
 * Whether `value` is a valid namespace such as `@acme`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNamespace } from "./names.ts";
 * assert(isNamespace("@acme"));
 * assert(!isNamespace("acme"));
 * assert(!isNamespace("@Acme"));
 * ```
 */
export function isNamespace(value: unknown): value is string {
  return typeof value === "string" && NAMESPACE_RE.test(value);
}

/**
 * Whether `value` is a valid package path such as `widget` or `quality/husky`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isPackageName } from "./names.ts";
 * assert(isPackageName("quality/husky"));
 * assert(!isPackageName("../etc"));
 * assert(!isPackageName(""));
 * ```
 */
export function isPackageName(value: unknown): value is string {
  if (typeof value !== "string" || value.length === 0) return false;
  const segments = value.split("/");
  return segments.length <= MAX_PATH_SEGMENTS && segments.every((s) => SEGMENT_RE.test(s));
}

/**
 * Whether `value` is a full SemVer 2.0 version string this registry can order:
 * at most {@linkcode MAX_VERSION_LENGTH} characters, MAJOR, MINOR and PATCH
 * safe integers (what npm `semver` compares; larger ones it refuses).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isVersion } from "./names.ts";
 * assert(isVersion("1.2.3-rc.1+build.5"));
 * assert(!isVersion("1.2"));
 * assert(!isVersion("v1.2.3"));
 * assert(!isVersion("9007199254740993.0.0"));
 * ```
 */
export function isVersion(value: unknown): value is string {
  if (typeof value !== "string" || value.length > MAX_VERSION_LENGTH) return false;
  const m = SEMVER_RE.exec(value);
  return m !== null && [m[1], m[2], m[3]].every((n) => Number(n) <= Number.MAX_SAFE_INTEGER);
}

/**
 * Whether `value` is a lowercase hex SHA-256 digest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSha256 } from "./names.ts";
 * assert(isSha256("ab".repeat(32)));
 * assert(!isSha256("AB".repeat(32)));
 * assert(!isSha256("abc"));
 * ```
 */
export function isSha256(value: unknown): value is string {
  return typeof value === "string" && SHA256_RE.test(value);
}

/**
 * Normalise a relative POSIX file path inside a version, or `null` when it is
 * unsafe: absolute, empty, with `.`/`..` segments, backslashes, `%`, `?`, `#`,
 * control characters, or too long. A leading `./` is stripped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeFilePath } from "./names.ts";
 * assert.ok(normalizeFilePath("./templates/.husky/commit-msg") === "templates/.husky/commit-msg");
 * assert.ok(normalizeFilePath("../etc/passwd") === null);
 * ```
 */
export function normalizeFilePath(value: unknown): string | null {
  if (typeof value !== "string") return null;
  let path = value;
  while (path.startsWith("./")) path = path.slice(2);
  if (path.length === 0 || path.length > MAX_FILE_PATH_LENGTH || path.startsWith("/")) return null;
  const segments = path.split("/");
  for (const segment of segments) {
    if (segment === "" || segment === "." || segment === "..") return null;
    if (!FILE_SEGMENT_RE.test(segment)) return null;
  }
  return path;
}

/** `@acme/widget`: the display id of a package. */
export function packageId(ref: PackageRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/** `@acme/widget@1.0.0`: the display id of a version. */
export function versionId(ref: VersionRef): string {
  return `${ref.namespace}/${ref.name}@${ref.version}`;
}

/**
 * Check a package reference, throwing a typed domain error naming the bad part.
 *
 * @example
 * ```ts
 * import { assertPackageRef } from "./names.ts";
 * assertPackageRef({ namespace: "@rack", name: "quality/husky" });
 * ```
 */
export function assertPackageRef(ref: PackageRef): void {
  if (!isNamespace(ref.namespace)) {
    throw new RegistryError("invalid_name", `Invalid namespace '${String(ref.namespace)}'`);
  }
  if (!isPackageName(ref.name)) {
    throw new RegistryError("invalid_name", `Invalid package name '${String(ref.name)}'`);
  }
}

/** Check a version reference, throwing a typed domain error naming the bad part. */
export function assertVersionRef(ref: VersionRef): void {
  assertPackageRef(ref);
  if (!isVersion(ref.version)) {
    throw new RegistryError("invalid_version", `Invalid version '${String(ref.version)}'`);
  }
}

/** Check a SHA-256 digest, throwing `invalid_digest`. */
export function assertSha256(digest: string): void {
  if (!isSha256(digest)) {
    throw new RegistryError("invalid_digest", `Invalid sha256 digest '${String(digest)}'`);
  }
}
