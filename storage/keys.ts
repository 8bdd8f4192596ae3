/**
 * Every row key, built in one place: one function per key, always tuples.
 * Secondary indexes are `<thing>_by_<field>` and hold pointers, not copies.
 *
 * @module
 */
import type { PackageRef, VersionRef } from "../base/names.ts";
import type { RowKey } from "./types.ts";

/** Prefix of every package row. */
export function packagesPrefix(): RowKey {
  return ["pkg"];
}
/** Prefix of the package rows of one namespace. */
export function packagesInNamespace(namespace: string): RowKey {
  return ["pkg", namespace];
}
/** The package row. */
export function packageKey(ref: PackageRef): RowKey {
  return ["pkg", ref.namespace, ref.name];
}
/** The immutable version row. */
export function versionKey(ref: VersionRef): RowKey {
  return ["ver", ref.namespace, ref.name, ref.version];
}
/** Prefix of every immutable version row (GC walks it). */
export function allVersionsPrefix(): RowKey {
  return ["ver"];
}
/** Prefix of the immutable version rows of one package. */
export function versionsPrefix(ref: PackageRef): RowKey {
  return ["ver", ref.namespace, ref.name];
}
/** The mutable lifecycle row of a version. */
export function versionStateKey(ref: VersionRef): RowKey {
  return ["vstate", ref.namespace, ref.name, ref.version];
}
/** Prefix of the lifecycle rows of one package (the version list). */
export function versionStatesPrefix(ref: PackageRef): RowKey {
  return ["vstate", ref.namespace, ref.name];
}
/** The tombstone of a hard-deleted version. */
export function tombstoneKey(ref: VersionRef): RowKey {
  return ["tomb", ref.namespace, ref.name, ref.version];
}
/** Prefix of the tombstones of one package. */
export function tombstonesPrefix(ref: PackageRef): RowKey {
  return ["tomb", ref.namespace, ref.name];
}
/**
 * Pointer from a precedence (a version without build metadata) to the one
 * version of the package that holds it; kept when that version is deleted.
 */
export function versionByPrecedenceKey(ref: PackageRef, precedence: string): RowKey {
  return ["ver_by_precedence", ref.namespace, ref.name, precedence];
}
/** Marks a package whose every version has its precedence pointer (older stores lack it). */
export function precedenceIndexedKey(ref: PackageRef): RowKey {
  return ["ver_by_precedence_indexed", ref.namespace, ref.name];
}
/** The owner row of a namespace. */
export function scopeKey(namespace: string): RowKey {
  return ["scope", namespace];
}
/** Prefix of every namespace owner row. */
export function scopesPrefix(): RowKey {
  return ["scope"];
}
/** An author key of a subject. */
export function authorKeyKey(subject: string, keyId: string): RowKey {
  return ["akey", subject, keyId];
}
/** Prefix of one subject's author keys (whole-part match: no `team` vs `team/alice` bleed). */
export function authorKeysOf(subject: string): RowKey {
  return ["akey", subject];
}
/** A stored token, by the SHA-256 of its secret. */
export function tokenKey(sha256: string): RowKey {
  return ["token", sha256];
}
/** Prefix of every stored token. */
export function tokensPrefix(): RowKey {
  return ["token"];
}
/** Pointer from a token id to its hash key. */
export function tokenByIdKey(id: string): RowKey {
  return ["token_by_id", id];
}
/** Pointer from a token's creation time (then id) to its hash key: the token listing's order. */
export function tokenByTimeKey(createdAt: string, id: string): RowKey {
  return ["token_by_time", createdAt, id];
}
/** Prefix of every token, oldest first. */
export function tokensByTimePrefix(): RowKey {
  return ["token_by_time"];
}
/** Pointer from a token's subject, creation time and id to its hash key. */
export function tokenBySubjectKey(subject: string, createdAt: string, id: string): RowKey {
  return ["token_by_subject", subject, createdAt, id];
}
/** Prefix of one subject's tokens, oldest first. */
export function tokensBySubjectPrefix(subject: string): RowKey {
  return ["token_by_subject", subject];
}
/** Marks a store whose every token has its time and subject pointers (older stores lack them). */
export function tokensIndexedKey(): RowKey {
  return ["token_by_time_indexed"];
}
/** A webhook delivery. */
export function outboxKey(id: string): RowKey {
  return ["outbox", id];
}
/** Prefix of every webhook delivery. */
export function outboxPrefix(): RowKey {
  return ["outbox"];
}
/** A delivered webhook delivery (moved out of the pending outbox). */
export function outboxDoneKey(id: string): RowKey {
  return ["outbox_done", id];
}
/** Prefix of delivered webhook deliveries. */
export function outboxDonePrefix(): RowKey {
  return ["outbox_done"];
}
/** A dead-lettered webhook delivery. */
export function outboxDeadKey(id: string): RowKey {
  return ["outbox_dead", id];
}
/** Prefix of dead-lettered webhook deliveries. */
export function outboxDeadPrefix(): RowKey {
  return ["outbox_dead"];
}
/** A pending write of Rack's R2 mirror (derived state: not exported). */
export function rackMirrorKey(id: string): RowKey {
  return ["rack_mirror", id];
}
/** Prefix of the pending writes of Rack's R2 mirror. */
export function rackMirrorPrefix(): RowKey {
  return ["rack_mirror"];
}
/** What Rack's R2 mirror last wrote of a document kept outside the store (`auth`). */
export function rackMirrorStateKey(name: string): RowKey {
  return ["rack_mirror_state", name];
}
/** An audit record; ids sort by time. */
export function auditKey(id: string): RowKey {
  return ["audit", id];
}
/** Prefix of every audit record. */
export function auditPrefix(): RowKey {
  return ["audit"];
}
/** An import in progress into this store: the export it comes from (never exported itself). */
export function importStateKey(): RowKey {
  return ["import_state"];
}

/** A named configuration document (webhook subscriptions, presets, schemas…). */
export function configKey(kind: string, name: string): RowKey {
  return ["config", kind, name];
}
/** Prefix of the configuration documents of one kind. */
export function configPrefix(kind: string): RowKey {
  return ["config", kind];
}
/**
 * A rate-limit counter of one limiter, window and client. The window (a
 * zero-padded window index) comes before the client so stale windows sort
 * first and a sweep stops at the first live one.
 */
export function rateCounterKey(limiter: string, window: string, client: string): RowKey {
  return ["rate", limiter, window, client];
}
/** Prefix of every counter of one rate limiter, oldest window first. */
export function rateCountersPrefix(limiter: string): RowKey {
  return ["rate", limiter];
}
/** The row of one health probe (concurrent probes never overwrite each other's). */
export function healthKey(probe: string): RowKey {
  return ["health", probe];
}

// The KV bundle backend (storage/kv.ts): blob metadata, upload journal and chunks.

/** The metadata record of a stored blob (KV bundle backend). */
export function blobKey(sha256: string): RowKey {
  return ["blob", sha256];
}
/** Prefix of every blob metadata record (KV bundle backend). */
export function blobsPrefix(): RowKey {
  return ["blob"];
}
/** The journal row of an upload whose chunks are not yet owned by a blob (KV bundle backend). */
export function blobUploadKey(uploadId: string): RowKey {
  return ["blob_upload", uploadId];
}
/** Prefix of every upload journal row (KV bundle backend). */
export function blobUploadsPrefix(): RowKey {
  return ["blob_upload"];
}
/** One chunk of an upload; the index is zero-padded so keys sort numerically (KV bundle backend). */
export function blobChunkKey(uploadId: string, index: number): RowKey {
  return ["blob_chunk", uploadId, String(index).padStart(10, "0")];
}
/** Prefix of the chunks of one upload (KV bundle backend). */
export function blobChunksPrefix(uploadId: string): RowKey {
  return ["blob_chunk", uploadId];
}

// Garbage collection.

/** The garbage-collection state row: idle or running, with the current run's lease. */
export function gcStateKey(): RowKey {
  return ["gc", "state"];
}
/** The hold of one publish in flight: GC keeps every blob touched since it began. */
export function blobHoldKey(id: string): RowKey {
  return ["gc_hold", id];
}
/**
 * A version committed recently, by commit time (`<ISO time>-<id>`), pointing
 * to its version key: a failed publish checks these before it drops a blob.
 */
export function recentVersionKey(id: string): RowKey {
  return ["gc_recent", id];
}
/** Prefix of the recently committed versions. */
export function recentVersionsPrefix(): RowKey {
  return ["gc_recent"];
}
/** Prefix of every blob hold (GC lists them once its lease is taken). */
export function blobHoldsPrefix(): RowKey {
  return ["gc_hold"];
}

// ggui blueprint compilation.

/** The compiled-blob row of a blueprint compilation (refCount), by lowercase hex SHA-256. */
export function compiledBlobKey(digest: string): RowKey {
  return ["ggui_compiled", digest];
}
/** A JSR publishing task (`deno publish` polls it by id). */
export function jsrTaskKey(id: string): RowKey {
  return ["jsrtask", id];
}

// The shared search index (core/search_index.ts): public packages only.

/** The search entry of a public package: the row every index pointer leads to. */
export function searchDocKey(namespace: string, name: string): RowKey {
  return ["search_doc", namespace, name];
}
/** Prefix of every search entry (artifact order), or of one namespace's. */
export function searchDocsPrefix(namespace?: string): RowKey {
  return namespace === undefined ? ["search_doc"] : ["search_doc", namespace];
}
/** A pointer from an index term (a word prefix or a `field:value`) to a package. */
export function searchTermKey(term: string, namespace: string, name: string): RowKey {
  return ["search_by_term", term, namespace, name];
}
/** Prefix of the packages one term points to, in artifact order. */
export function searchTermPrefix(term: string): RowKey {
  return ["search_by_term", term];
}
/**
 * A posting of an exact term (`fmt:`, `kind:`, `tag:`, `hook:`, `tool:`, an
 * `@` namespace prefix, or `*`: every package) by inverted publish time.
 */
export function searchRecentKey(
  term: string,
  invertedTime: string,
  namespace: string,
  name: string,
): RowKey {
  return ["search_by_recent", term, invertedTime, namespace, name];
}
/** Prefix of one exact term's packages (or `*`: all), most recently published first. */
export function searchRecentPrefix(term: string): RowKey {
  return ["search_by_recent", term];
}
// Readers' private search entries, apart from the shared index: one namespace's
// rows are read only for a viewer who may read that namespace.

/** A package's reader entry (its best version is private), in artifact order within its namespace. */
export function searchPrivateNameKey(namespace: string, name: string): RowKey {
  return ["search_private", namespace, "name", name];
}
/** The same entry, most recently published first within its namespace. */
export function searchPrivateRecentKey(
  namespace: string,
  invertedTime: string,
  name: string,
): RowKey {
  return ["search_private", namespace, "recent", invertedTime, name];
}
/** Prefix of one namespace's reader entries in one order (`name` or `recent`), or of them all. */
export function searchPrivatePrefix(namespace?: string, order?: "name" | "recent"): RowKey {
  if (namespace === undefined) return ["search_private"];
  return order === undefined ? ["search_private", namespace] : ["search_private", namespace, order];
}
/** A pointer from a subject to a namespace it owns (whose private entries it may search). */
export function searchOwnerKey(subject: string, namespace: string): RowKey {
  return ["search_owner", subject, namespace];
}
/** Prefix of the namespaces one subject owns (every owner's without a subject). */
export function searchOwnerPrefix(subject?: string): RowKey {
  return subject === undefined ? ["search_owner"] : ["search_owner", subject];
}
/** The search index's build marker (its layout version). */
export function searchMetaKey(): RowKey {
  return ["search_meta", "index"];
}

// Upstream caches (core/jsr/upstream.ts): never under a package's own keys, so
// nothing cached from an upstream makes a namespace exist here.

/** The cached `meta.json` of an upstream JSR package. */
export function upstreamJsrMetaKey(ref: PackageRef): RowKey {
  return ["upstream_jsr_meta", ref.namespace, ref.name];
}
/** Prefix of every cached upstream `meta.json`. */
export function upstreamJsrMetasPrefix(): RowKey {
  return ["upstream_jsr_meta"];
}
/** A JSR package version cached from the upstream (its `_meta.json` blob). */
export function upstreamJsrVersionKey(ref: VersionRef): RowKey {
  return ["upstream_jsr_version", ref.namespace, ref.name, ref.version];
}
/** Prefix of every JSR version cached from the upstream. */
export function upstreamJsrVersionsPrefix(): RowKey {
  return ["upstream_jsr_version"];
}
/** Marks a namespace whose packages were served from the JSR upstream (publishing there is refused). */
export function upstreamJsrNamespaceKey(namespace: string): RowKey {
  return ["upstream_jsr_namespace", namespace];
}
/** A ggui read (`/pkg/:scope/:name/:version`) cached from the ggui upstream. */
export function upstreamGguiReadKey(ref: { scope: string; name: string; version: string }): RowKey {
  return ["upstream_ggui_read", ref.scope, ref.name, ref.version];
}
/** A ggui version list cached from the ggui upstream. */
export function upstreamGguiListKey(ref: { scope: string; name: string }): RowKey {
  return ["upstream_ggui_list", ref.scope, ref.name];
}
/** A public bundle file cached from the ggui upstream (its blob digest). */
export function upstreamGguiFileKey(
  ref: { scope: string; name: string; version: string },
  file: string,
): RowKey {
  return ["upstream_ggui_file", ref.scope, ref.name, ref.version, file];
}
/** Prefix of every ggui read and version list cached from the ggui upstream. */
export function upstreamGguiDocPrefixes(): RowKey[] {
  return [["upstream_ggui_read"], ["upstream_ggui_list"]];
}
/** Prefix of every bundle file cached from the ggui upstream. */
export function upstreamGguiFilesPrefix(): RowKey {
  return ["upstream_ggui_file"];
}

/** A web session, by the SHA-256 of its cookie secret (routes/ui). */
export function uiSessionKey(sha256: string): RowKey {
  return ["ui_session", sha256];
}
/** A web session's expiry pointer (sorted by expiry, for the sweep of expired sessions). */
export function uiSessionByExpiryKey(expiresAt: string, sha256: string): RowKey {
  return ["ui_session_by_expiry", expiresAt, sha256];
}
/** Prefix of every web session's expiry pointer. */
export function uiSessionByExpiryPrefix(): RowKey {
  return ["ui_session_by_expiry"];
}
/** The head row of a JSR version's API docs computed by `deno doc` (routes/ui). */
export function uiApiDocsKey(ref: VersionRef): RowKey {
  return ["ui_api_docs", ref.namespace, ref.name, ref.version];
}
/** One chunk of a JSR version's API docs (their JSON, cut in pieces under the value limit). */
export function uiApiDocsChunkKey(ref: VersionRef, index: number): RowKey {
  return [
    "ui_api_docs_chunk",
    ref.namespace,
    ref.name,
    ref.version,
    String(index).padStart(4, "0"),
  ];
}
