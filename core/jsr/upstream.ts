/**
 * The JSR upstream: packages this registry does not own are read from a
 * public JSR (jsr.io by default) and cached in our own stores.
 *
 * - `<version>_meta.json` is fetched once, checked (every file path and
 *   checksum), stored as a blob and served byte-identical forever: Deno's
 *   lockfile pins its SHA-256. The first fetch writes the version's cache row,
 *   a namespace marker and an audit record in one commit.
 * - Files are fetched on first read, streamed into blob storage against the
 *   SHA-256 the version metadata lists (a mismatch stores nothing), and
 *   served from there after.
 * - `meta.json` is cached with its ETag: served from the cache while fresh
 *   (`freshMs`), revalidated with `If-None-Match` after, and served stale
 *   (flagged) when the upstream fails.
 * - Dependency confusion cannot happen: a namespace that exists here in any
 *   way, or that the operator denies (or does not allow), is never looked up
 *   upstream (see {@linkcode mayProxyNamespace} and docs/jsr.md).
 *
 * @module
 */
import { auditMutation, auditRow } from "../audit.ts";
import type { RegistryContext } from "../context.ts";
import type { RegistryError } from "../../base/errors.ts";
import type { PackageRef, VersionRef } from "../../base/names.ts";
import { isVersion } from "../../base/names.ts";
import {
  type UpstreamClient,
  upstreamGet,
  upstreamReadsTotal,
  upstreamStaleTotal,
  upstreamUnavailable,
} from "../upstream_fetch.ts";
import { listAll } from "../store.ts";
import * as keys from "../../storage/keys.ts";
import { mediaTypeOf } from "./publish.ts";

/** How this registry reads from its JSR upstream. */
export interface JsrUpstreamConfig {
  /** The upstream's `JSR_URL` (trailing slash), e.g. `https://jsr.io/`. */
  url: string;
  /** Namespaces that are never proxied (`@acme`, `@internal-*`). */
  deny?: readonly string[];
  /** When set, the only namespaces that may be proxied. */
  allow?: readonly string[];
  /** Deadline of one upstream fetch in ms (default 10 000). */
  timeoutMs?: number;
  /** How long a cached `meta.json` is served without asking the upstream, in ms (default 60 000). */
  freshMs?: number;
  /** Largest `meta.json` or `_meta.json` accepted (default 4 MiB). */
  maxMetaBytes?: number;
  /** Largest file accepted (default JSR's 20 MB). */
  maxFileBytes?: number;
}

/** The JSR upstream with what it needs at run time. */
export interface JsrUpstream extends JsrUpstreamConfig {
  /** Whether a namespace exists here in any way (auth.json, claimed, granted, any package). */
  ownsNamespace: (namespace: string) => Promise<boolean>;
  /** The HTTP client (default the global `fetch`). */
  fetch?: typeof fetch;
  /** Receives one event per upstream fetch (the request log). */
  onFetch?: UpstreamClient["onFetch"];
}

/** A cached `meta.json`. */
export interface UpstreamMetaRow {
  /** SHA-256 of the stored bytes. */
  sha256: string;
  /** Their size. */
  size: number;
  /** The upstream's ETag, for revalidation. */
  etag?: string;
  /** When the upstream last confirmed it (ISO-8601). */
  fetchedAt: string;
}

/** A cached upstream version: its `_meta.json` blob. */
export interface UpstreamVersionRow {
  /** SHA-256 of the stored `_meta.json` bytes. */
  sha256: string;
  /** Their size. */
  size: number;
  /** When it entered the cache. */
  fetchedAt: string;
  /** The upstream it came from. */
  upstream: string;
}

/** Something served from the upstream cache: a blob and how to label it. */
export interface UpstreamBlob {
  /** Blob digest. */
  sha256: string;
  /** Blob size. */
  size: number;
  /** Media type. */
  contentType: string;
  /** Served from a stale cache entry because the upstream failed. */
  stale?: boolean;
}

const DEFAULTS = {
  timeoutMs: 10_000,
  freshMs: 60_000,
  maxMetaBytes: 4 * 1024 * 1024,
  maxFileBytes: 20 * 1024 * 1024,
};

/** The configuration with its defaults filled in. */
function settings(up: JsrUpstreamConfig): Required<Omit<JsrUpstreamConfig, "deny" | "allow">> {
  return {
    url: up.url,
    timeoutMs: up.timeoutMs ?? DEFAULTS.timeoutMs,
    freshMs: up.freshMs ?? DEFAULTS.freshMs,
    maxMetaBytes: up.maxMetaBytes ?? DEFAULTS.maxMetaBytes,
    maxFileBytes: up.maxFileBytes ?? DEFAULTS.maxFileBytes,
  };
}

function clientOf(up: JsrUpstream): UpstreamClient {
  return {
    name: "jsr",
    base: new URL(up.url),
    timeoutMs: settings(up).timeoutMs,
    ...(up.fetch ? { fetch: up.fetch } : {}),
    ...(up.onFetch ? { onFetch: up.onFetch } : {}),
  };
}

/**
 * Whether a namespace pattern list matches: `@acme` exactly, `@internal-*`
 * by prefix (`*` matches any run of characters).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { namespaceMatches } from "./upstream.ts";
 * assert.ok(namespaceMatches(["@internal-*"], "@internal-tools"));
 * assert.ok(!namespaceMatches(["@acme"], "@acme-2"));
 * ```
 */
export function namespaceMatches(patterns: readonly string[], namespace: string): boolean {
  return patterns.some((p) => {
    const re = new RegExp(
      `^${p.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`,
    );
    return re.test(namespace);
  });
}

/**
 * The dependency-confusion rule: whether a read in `namespace` may go to the
 * upstream. Never when the operator denies it or does not allow it, and never
 * when the namespace exists here in any way, even for a name or version it
 * lacks (the answer is then our own 404).
 */
export async function mayProxyNamespace(up: JsrUpstream, namespace: string): Promise<boolean> {
  if (up.deny && namespaceMatches(up.deny, namespace)) return false;
  if (up.allow && !namespaceMatches(up.allow, namespace)) return false;
  return !(await up.ownsNamespace(namespace));
}

/** `@scope/name` of a reference, as URLs hold it. */
function pkgPath(ref: PackageRef): string {
  return `${ref.namespace}/${ref.name}`;
}

/** Versions whose fetch failed: stale answers are served without waiting on the upstream again. */
const downUntil = new Map<string, number>();

/**
 * The upstream's `meta.json` for a package we do not own: from the cache while
 * fresh, revalidated after, stale when the upstream fails. `null` when the
 * namespace may not be proxied or the upstream has no such package.
 */
export async function upstreamPackageMeta(
  ctx: RegistryContext,
  up: JsrUpstream,
  ref: PackageRef,
): Promise<UpstreamBlob | null> {
  if (!(await mayProxyNamespace(up, ref.namespace))) return null;
  const s = settings(up);
  const key = keys.upstreamJsrMetaKey(ref);
  const row = await ctx.storage.get<UpstreamMetaRow>(key);
  const now = ctx.clock().getTime();
  const json = "application/json";
  const cached = row && (await ctx.bundles.stat(row.value.sha256)) ? row.value : null;
  const count = (result: string) =>
    upstreamReadsTotal.inc({ upstream: "jsr", kind: "meta", result });
  if (cached && now - Date.parse(cached.fetchedAt) < s.freshMs) {
    count("hit");
    return { sha256: cached.sha256, size: cached.size, contentType: json };
  }
  const stale = () => {
    count("stale");
    upstreamStaleTotal.inc({ upstream: "jsr" });
    return { sha256: cached!.sha256, size: cached!.size, contentType: json, stale: true };
  };
  // After a failure, serve stale at once for a while instead of waiting on a dead upstream.
  if (cached && (downUntil.get(up.url) ?? 0) > now) return stale();
  let answer;
  try {
    answer = await upstreamGet(clientOf(up), `${pkgPath(ref)}/meta.json`, {
      kind: "meta",
      maxBytes: s.maxMetaBytes,
      ...(cached?.etag ? { etag: cached.etag } : {}),
    });
  } catch (err) {
    count("error");
    if (!cached) throw err;
    downUntil.set(up.url, now + Math.min(s.freshMs, 30_000));
    return stale();
  }
  downUntil.delete(up.url);
  if (answer.status === 404) {
    count("not_found");
    return null;
  }
  const fetchedAt = ctx.clock().toISOString();
  if (answer.status === 304) {
    if (!cached) throw upstreamUnavailable(clientOf(up), "answered 304 to an unconditional read");
    await ctx.storage.commit({
      checks: [],
      mutations: [{ type: "set", key, value: { ...cached, fetchedAt } as never }],
    });
    count("revalidated");
    return { sha256: cached.sha256, size: cached.size, contentType: json };
  }
  if (!("bytes" in answer)) throw new TypeError("meta.json is read into memory");
  checkPackageMeta(up, ref, answer.bytes);
  const blob = await ctx.bundles.put(answer.bytes);
  const value: UpstreamMetaRow = {
    sha256: blob.sha256,
    size: blob.size,
    fetchedAt,
    ...(answer.etag ? { etag: answer.etag } : {}),
  };
  await ctx.storage.commit({
    checks: [],
    mutations: [
      { type: "set", key, value: value as never },
      namespaceMarker(ref.namespace, up.url, fetchedAt),
    ],
  });
  count("miss");
  return { sha256: blob.sha256, size: blob.size, contentType: json };
}

function namespaceMarker(namespace: string, upstream: string, at: string) {
  return {
    type: "set" as const,
    key: keys.upstreamJsrNamespaceKey(namespace),
    value: { namespace, upstream, at },
  };
}

function malformed(up: JsrUpstream, what: string): RegistryError {
  return upstreamUnavailable(clientOf(up), `sent ${what}`);
}

function parseJson(up: JsrUpstream, bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw malformed(up, `${what} that is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw malformed(up, `${what} that is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** A `meta.json` must name this package and list valid versions. */
function checkPackageMeta(up: JsrUpstream, ref: PackageRef, bytes: Uint8Array): void {
  const what = `a malformed meta.json for ${pkgPath(ref)}`;
  const meta = parseJson(up, bytes, `a meta.json for ${pkgPath(ref)}`);
  const versions = meta.versions;
  if (meta.scope !== ref.namespace.slice(1) || meta.name !== ref.name) throw malformed(up, what);
  if (typeof versions !== "object" || versions === null || Array.isArray(versions)) {
    throw malformed(up, what);
  }
  if (!Object.keys(versions).every(isVersion)) throw malformed(up, what);
}

/** Characters JSR does not allow in a path. */
// deno-lint-ignore no-control-regex
const BAD_PATH_CHARS = /[\\:*?"<>|#%\x00-\x1f\x7f]/;

/**
 * Whether a manifest key is a path JSR could have published: `/` then
 * segments that are not empty, `.`/`..`, and hold no forbidden character.
 */
function isSafeManifestPath(path: string): boolean {
  if (!path.startsWith("/") || path.length > 512 || BAD_PATH_CHARS.test(path)) return false;
  return path.slice(1).split("/").every((seg) =>
    seg !== "" && !seg.endsWith(".") && !seg.endsWith(" ")
  );
}

/** One file of a version's manifest. */
export interface ManifestEntry {
  /** Size in bytes. */
  size: number;
  /** Lowercase hex SHA-256. */
  sha256: string;
}

/** Check a `_meta.json` and answer its manifest (paths with a leading slash). */
function checkVersionMeta(
  up: JsrUpstream,
  ref: VersionRef,
  bytes: Uint8Array,
): Map<string, ManifestEntry> {
  const id = `${pkgPath(ref)}@${ref.version}`;
  const meta = parseJson(up, bytes, `version metadata for ${id}`);
  const manifest = meta.manifest;
  if (typeof manifest !== "object" || manifest === null || Array.isArray(manifest)) {
    throw malformed(up, `version metadata for ${id} without a manifest`);
  }
  const out = new Map<string, ManifestEntry>();
  const max = settings(up).maxFileBytes;
  for (const [path, entry] of Object.entries(manifest as Record<string, unknown>)) {
    if (!isSafeManifestPath(path)) {
      throw malformed(up, `version metadata for ${id} with an unsafe path`);
    }
    const e = entry as { size?: unknown; checksum?: unknown } | null;
    const sum = typeof e?.checksum === "string" ? /^sha256-([0-9a-f]{64})$/.exec(e.checksum) : null;
    const size = e?.size;
    if (!sum || typeof size !== "number" || !Number.isSafeInteger(size) || size < 0 || size > max) {
      throw malformed(up, `version metadata for ${id} with a bad size or checksum`);
    }
    out.set(path, { size, sha256: sum[1]! });
  }
  return out;
}

/** Parsed manifests by `_meta.json` digest (immutable, so never stale). */
const manifests = new Map<string, Map<string, ManifestEntry>>();
const MANIFEST_ENTRIES = 256;

async function manifestOf(
  ctx: RegistryContext,
  up: JsrUpstream,
  ref: VersionRef,
  row: UpstreamVersionRow,
): Promise<Map<string, ManifestEntry> | null> {
  const hit = manifests.get(row.sha256);
  if (hit) return hit;
  const body = await ctx.bundles.get(row.sha256);
  if (!body) return null;
  const bytes = body.bytes ?? new Uint8Array(await new Response(body.stream).arrayBuffer());
  if (body.bytes) await body.stream.cancel();
  const parsed = checkVersionMeta(up, ref, bytes);
  if (manifests.size >= MANIFEST_ENTRIES) manifests.delete(manifests.keys().next().value!);
  manifests.set(row.sha256, parsed);
  return parsed;
}

/** Fetches in flight in this process, so concurrent first reads fetch once. */
const inflight = new Map<string, Promise<UpstreamVersionRow | null>>();

/**
 * The cached row of an upstream version, fetching and storing its
 * `_meta.json` on first read. `null` when the namespace may not be proxied
 * or the upstream has no such version.
 */
export async function upstreamVersion(
  ctx: RegistryContext,
  up: JsrUpstream,
  ref: VersionRef,
): Promise<UpstreamVersionRow | null> {
  if (!(await mayProxyNamespace(up, ref.namespace))) return null;
  const key = keys.upstreamJsrVersionKey(ref);
  const row = await ctx.storage.get<UpstreamVersionRow>(key);
  if (row && (await ctx.bundles.stat(row.value.sha256))) {
    upstreamReadsTotal.inc({ upstream: "jsr", kind: "version", result: "hit" });
    return row.value;
  }
  const id = `${pkgPath(ref)}@${ref.version}`;
  let pending = inflight.get(id);
  if (!pending) {
    pending = fetchVersion(ctx, up, ref, row?.value).finally(() => inflight.delete(id));
    inflight.set(id, pending);
  }
  return await pending;
}

async function fetchVersion(
  ctx: RegistryContext,
  up: JsrUpstream,
  ref: VersionRef,
  known: UpstreamVersionRow | undefined,
): Promise<UpstreamVersionRow | null> {
  const count = (result: string) =>
    upstreamReadsTotal.inc({ upstream: "jsr", kind: "version", result });
  let answer;
  try {
    answer = await upstreamGet(clientOf(up), `${pkgPath(ref)}/${ref.version}_meta.json`, {
      kind: "version",
      maxBytes: settings(up).maxMetaBytes,
    });
  } catch (err) {
    count("error");
    throw err;
  }
  if (answer.status !== 200 || !("bytes" in answer)) {
    count("not_found");
    if (answer.status === 404) return null;
    throw upstreamUnavailable(clientOf(up), "answered 304 to an unconditional read");
  }
  checkVersionMeta(up, ref, answer.bytes);
  const blob = await ctx.bundles.put(answer.bytes);
  if (known) {
    // The blob of a cached version went missing (swept): it must come back identical.
    if (known.sha256 !== blob.sha256) {
      throw malformed(up, `different version metadata for ${pkgPath(ref)}@${ref.version}`);
    }
    count("miss");
    return known;
  }
  const at = ctx.clock().toISOString();
  const value: UpstreamVersionRow = {
    sha256: blob.sha256,
    size: blob.size,
    fetchedAt: at,
    upstream: up.url,
  };
  const audit = auditRow(ctx, {
    actor: "system",
    action: "jsr.upstream.cache",
    target: `${pkgPath(ref)}@${ref.version}`,
    detail: { upstream: up.url, sha256: blob.sha256, size: blob.size },
  });
  const key = keys.upstreamJsrVersionKey(ref);
  const result = await ctx.storage.commit({
    // Nothing from the upstream is stored under a namespace claimed meanwhile.
    checks: [{ key, stamp: null }, { key: keys.scopeKey(ref.namespace), stamp: null }],
    mutations: [
      { type: "set", key, value: value as never },
      namespaceMarker(ref.namespace, up.url, at),
      auditMutation(audit),
    ],
  });
  count("miss");
  if (result.ok) return value;
  // Another process cached it first (its bytes win, forever), or the namespace was claimed.
  const winner = await ctx.storage.get<UpstreamVersionRow>(key);
  return winner?.value ?? null;
}

/**
 * One file of an upstream version (`path` with its leading slash): from blob
 * storage when present, else fetched and checked against the checksum the
 * version metadata lists. `null` when the version or the path does not exist.
 */
export async function upstreamFile(
  ctx: RegistryContext,
  up: JsrUpstream,
  ref: VersionRef,
  path: string,
): Promise<UpstreamBlob | null> {
  const version = await upstreamVersion(ctx, up, ref);
  if (!version) return null;
  const manifest = await manifestOf(ctx, up, ref, version);
  const entry = manifest?.get(path);
  if (!entry) return null;
  const contentType = mediaTypeOf(path);
  const count = (result: string) =>
    upstreamReadsTotal.inc({ upstream: "jsr", kind: "file", result });
  const have = await ctx.bundles.stat(entry.sha256);
  if (have) {
    count("hit");
    return { sha256: entry.sha256, size: entry.size, contentType };
  }
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  let answer;
  try {
    answer = await upstreamGet(clientOf(up), `${pkgPath(ref)}/${ref.version}${encoded}`, {
      kind: "file",
      maxBytes: entry.size,
      into: ctx.bundles,
      expectedSha256: entry.sha256,
    });
  } catch (err) {
    count("error");
    throw err;
  }
  if (answer.status === 404) {
    count("error");
    throw upstreamUnavailable(clientOf(up), `has no ${path} in ${pkgPath(ref)}@${ref.version}`);
  }
  if (!("blob" in answer) || answer.blob.size !== entry.size) {
    count("error");
    throw malformed(up, `${path} of ${pkgPath(ref)}@${ref.version} with the wrong size`);
  }
  count("miss");
  return { sha256: entry.sha256, size: entry.size, contentType };
}

/**
 * Every blob the upstream cache holds: cached `meta.json` and `_meta.json`
 * bytes and the files their manifests list (garbage collection keeps them).
 */
export async function* upstreamCacheRefs(ctx: RegistryContext): AsyncGenerator<string> {
  for await (const e of listAll<UpstreamMetaRow>(ctx.storage, keys.upstreamJsrMetasPrefix())) {
    yield e.value.sha256;
  }
  for (const prefix of [keys.upstreamGguiFilesPrefix(), ...keys.upstreamGguiDocPrefixes()]) {
    for await (const e of listAll<{ sha256: string }>(ctx.storage, prefix)) yield e.value.sha256;
  }
  for await (
    const e of listAll<UpstreamVersionRow>(ctx.storage, keys.upstreamJsrVersionsPrefix())
  ) {
    yield e.value.sha256;
    const body = await ctx.bundles.get(e.value.sha256);
    if (!body) continue;
    const bytes = body.bytes ?? new Uint8Array(await new Response(body.stream).arrayBuffer());
    if (body.bytes) await body.stream.cancel();
    try {
      const manifest = JSON.parse(new TextDecoder().decode(bytes)).manifest ?? {};
      for (const entry of Object.values(manifest) as { checksum?: unknown }[]) {
        const m = typeof entry?.checksum === "string"
          ? /^sha256-([0-9a-f]{64})$/.exec(entry.checksum)
          : null;
        if (m) yield m[1]!;
      }
    } catch {
      // Checked when it was cached; a blob that no longer parses keeps only itself.
    }
  }
}
