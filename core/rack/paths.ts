/**
 * The Rack `/registries/*` path grammar (spec §3) and its name rules.
 *
 * @module
 */
import { isVersion } from "../../base/names.ts";
import { rackError } from "./errors.ts";

/** A Rack namespace: `@` then lowercase letters, digits, `_`, `-`, alphanumeric at both ends. */
export const RACK_NAMESPACE_RE: RegExp = /^@[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$/;
/** One segment of a registry path (kebab-case). Preset names follow it too. */
export const RACK_SEGMENT_RE: RegExp = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** One segment of a template file path. */
const FILE_SEGMENT_RE = /^[A-Za-z0-9._@+-]+$/;
/** Longest namespace accepted by the store (`@` + 64). */
const MAX_NAMESPACE_LENGTH = 65;
/** Most registry path segments (the store's package path limit). */
export const MAX_REGISTRY_SEGMENTS = 8;

/** A parsed `/registries/*` resource. */
export type RegistryResource =
  | { kind: "versions"; namespace: string; segments: string[] }
  | { kind: "latest"; namespace: string; segments: string[] }
  | { kind: "versioned"; namespace: string; segments: string[]; version: string }
  | { kind: "file"; namespace: string; segments: string[]; version: string; filePath: string };

/** Whether `value` is a Rack namespace such as `@rack`. */
export function isRackNamespace(value: unknown): value is string {
  return typeof value === "string" && value.length <= MAX_NAMESPACE_LENGTH &&
    RACK_NAMESPACE_RE.test(value);
}

/** Whether `value` is one kebab-case segment (registry path part or preset name). */
export function isRackSegment(value: unknown): value is string {
  return typeof value === "string" && value.length <= 64 && RACK_SEGMENT_RE.test(value);
}

/**
 * Normalise a template file path by the Rack rule (relative POSIX, optional
 * leading `./`, segments `[A-Za-z0-9._@+-]+`, no `.`/`..`), or `null`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeRackFilePath } from "./paths.ts";
 * assert.ok(normalizeRackFilePath("./templates/.husky/commit-msg") === "templates/.husky/commit-msg");
 * assert.ok(normalizeRackFilePath("a/../b") === null);
 * ```
 */
export function normalizeRackFilePath(value: unknown): string | null {
  if (typeof value !== "string") return null;
  const path = value.startsWith("./") ? value.slice(2) : value;
  if (path.length === 0 || path.length > 512 || path.startsWith("/")) return null;
  for (const segment of path.split("/")) {
    if (segment === "" || segment === "." || segment === "..") return null;
    if (!FILE_SEGMENT_RE.test(segment)) return null;
  }
  return path;
}

function invalidPath(): Error {
  return rackError("INVALID_PATH", "Invalid registry resource path");
}

/**
 * Parse the part of a URL path after `/registries/` (still percent-encoded).
 * Throws `INVALID_PATH` for anything the grammar rejects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRegistryPath } from "./paths.ts";
 * const r = parseRegistryPath("@rack/quality/husky/1.0.0/files/templates/.husky/commit-msg");
 * assert.ok(r.kind === "file" && r.filePath === "templates/.husky/commit-msg");
 * assert.ok(parseRegistryPath("%40rack//husky").kind === "latest");
 * ```
 */
export function parseRegistryPath(raw: string): RegistryResource {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw invalidPath();
  }
  const parts = decoded.split("/").filter((p) => p.length > 0);
  if (parts.length < 2) throw invalidPath();
  const namespace = parts[0]!;
  if (!isRackNamespace(namespace)) throw invalidPath();
  const rest = parts.slice(1);
  const versionIndex = rest.findIndex((p) => isVersion(p));
  let resource: RegistryResource;
  if (versionIndex === -1) {
    if (rest.length >= 2 && rest[rest.length - 1] === "versions") {
      resource = { kind: "versions", namespace, segments: rest.slice(0, -1) };
    } else {
      resource = { kind: "latest", namespace, segments: rest };
    }
  } else {
    const segments = rest.slice(0, versionIndex);
    const version = rest[versionIndex]!;
    const after = rest.slice(versionIndex + 1);
    if (segments.length === 0) throw invalidPath();
    if (after.length === 0) {
      resource = { kind: "versioned", namespace, segments, version };
    } else if (after[0] === "files" && after.length >= 2) {
      const filePath = normalizeRackFilePath(after.slice(1).join("/"));
      if (filePath === null) throw invalidPath();
      resource = { kind: "file", namespace, segments, version, filePath };
    } else {
      throw invalidPath();
    }
  }
  if (
    resource.segments.length > MAX_REGISTRY_SEGMENTS || !resource.segments.every(isRackSegment)
  ) {
    throw invalidPath();
  }
  return resource;
}

/** Category folder of each registry type (spec §6.3). */
const TYPE_CATEGORY: Record<string, string> = {
  "registry:runtime": "runtimes",
  "registry:framework": "frameworks",
  "registry:build": "build",
  "registry:feature": "features",
  "registry:testing": "testing",
  "registry:quality": "quality",
};

/**
 * The storage segments of an item: its explicit `path`, else `[category, name]`
 * by type, else `[name]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { itemSegments } from "./paths.ts";
 * assert.ok(itemSegments({ name: "husky", type: "registry:quality" }).join("/") === "quality/husky");
 * assert.ok(itemSegments({ name: "x", path: "a/b/x" }).join("/") === "a/b/x");
 * ```
 */
export function itemSegments(item: { name: string; type?: unknown; path?: unknown }): string[] {
  if (typeof item.path === "string" && item.path.length > 0) return item.path.split("/");
  const category = typeof item.type === "string" && Object.hasOwn(TYPE_CATEGORY, item.type)
    ? TYPE_CATEGORY[item.type]
    : undefined;
  return category ? [category, item.name] : [item.name];
}
