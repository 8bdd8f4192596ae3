/**
 * The rows both surfaces share, as types. Their zod schemas are in
 * `row_schemas.ts`, loaded where a row is checked, not at start-up (zod costs
 * ~40 ms of start-up CPU a server does not need before its first answer).
 * Rows are small JSON values; anything that can grow (a long manifest, a long
 * file list) is kept as a content-addressed blob and referenced by digest.
 *
 * Immutable: {@linkcode VersionRow}. Mutable and read fresh: everything else.
 *
 * @module
 */

/**
 * Formats a package can have; fixed at its first publish.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FORMATS } from "./rows.ts";
 * assert(FORMATS.includes("jsr"));
 * assert(FORMATS.includes("ggui.gadget"));
 * ```
 */
export const FORMATS = [
  "ggui.gadget",
  "ggui.blueprint",
  "rack.registry",
  "rack.preset",
  "jsr",
] as const;
/** A package format. */
export type Format = typeof FORMATS[number];

/**
 * Who may read a version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VISIBILITIES } from "./rows.ts";
 * assert(VISIBILITIES.join() === "public,private");
 * ```
 */
export const VISIBILITIES = ["public", "private"] as const;
/** A version's visibility. */
export type Visibility = typeof VISIBILITIES[number];

/** One file of a version. */
export interface FileEntry {
  /** Lowercase hex SHA-256 of the bytes (the blob's address). */
  sha256: string;
  /** Size in bytes. */
  size: number;
  /** Content type served for the file. */
  type: string;
}

/** A version's files by relative path. */
export type FileMap = Record<string, FileEntry>;

/**
 * The immutable record of one published version. Never changes after commit,
 * so it may be cached in process forever.
 */
export interface VersionRow {
  /** Namespace with `@`. */
  namespace: string;
  /** Package path. */
  name: string;
  /** SemVer 2.0 version. */
  version: string;
  /** The package's format. */
  format: Format;
  /** Who may read it. */
  visibility: Visibility;
  /** Files inline when the list is small… */
  files?: FileMap;
  /** …otherwise the digest of a JSON blob holding the {@linkcode FileMap}. */
  filesSha256?: string;
  /** Small format-specific facts needed on every read (e.g. `bundleSri`, `compiledDigest`). */
  facts: Record<string, unknown>;
  /** ISO-8601 commit time. */
  publishedAt: string;
  /** The publishing subject. */
  publishedBy: string;
}

/** The mutable lifecycle of a version. */
export interface VersionState {
  /** SemVer 2.0 version. */
  version: string;
  /** The package's format. */
  format: Format;
  /** Who may read it. */
  visibility: Visibility;
  /** ISO-8601 commit time. */
  publishedAt: string;
  /** The publishing subject. */
  publishedBy: string;
  /** Hidden from latest and ranges, still downloadable by exact version. */
  yanked: boolean;
  /** When it was yanked. */
  yankedAt?: string;
  /** A deprecation message. */
  deprecated?: string;
}

/**
 * One row per package: its format (fixed at first publish), and summaries
 * recomputed atomically with every version commit or lifecycle change.
 */
export interface PackageRow {
  /** Namespace with `@`. */
  namespace: string;
  /** Package path. */
  name: string;
  /** Fixed at first publish. */
  format: Format;
  /** First publish time. */
  createdAt: string;
  /** First publisher. */
  createdBy: string;
  /** Last change. */
  updatedAt: string;
  /** How many versions exist. */
  versionCount: number;
  /** The "latest" version: highest non-yanked release, else prerelease. */
  latest?: string;
  /** The search entry of the best PUBLIC version (format-specific fields plus `version`). */
  publicSummary?: Record<string, unknown>;
  /**
   * The search entry of the best non-yanked version of any visibility, present
   * only when that version is private (its namespace's readers search it).
   */
  privateSummary?: Record<string, unknown>;
  /** Dist-tags other than the computed `latest`. */
  tags: Record<string, string>;
}

/** A tombstone row. */
export interface Tombstone {
  /** When the version was deleted. */
  deletedAt: string;
  /** Who deleted it. */
  deletedBy: string;
}

/** Who owns a namespace. */
export interface ScopeRow {
  /** The namespace with `@`. */
  scope: string;
  /** Its owner. */
  ownerSubject: string;
  /** When it was claimed. */
  claimedAt: string;
  /** Domain verification state. */
  verification: "unverified" | "verified";
  /** The verified domain. */
  verifiedDomain?: string;
  /** When it was verified. */
  verifiedAt?: string;
  /** Certificate SANs allowed to publish, or a corrupt marker (fail closed). */
  sanAllowlist?: string[] | "corrupt";
}

/** A registered author key. */
export interface AuthorKeyRow {
  /** The owning subject. */
  subject: string;
  /** First 16 chars of base64url(SHA-256(key)). */
  keyId: string;
  /** Standard base64 of the raw 32-byte Ed25519 key. */
  publicKeyBase64: string;
  /** When it was registered. */
  createdAt?: string;
  /** A label. */
  label?: string;
}

/**
 * Actions a grant may allow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ACTIONS } from "./rows.ts";
 * assert(ACTIONS.includes("publish"));
 * assert(!(ACTIONS as readonly string[]).includes("delete"));
 * ```
 */
export const ACTIONS = ["read", "publish", "yank", "admin"] as const;
/** An action. */
export type Action = typeof ACTIONS[number];

/** What a grant may name: a namespace, a `*` pattern such as `@team-*`, or `*` for all. */
export const GRANT_NAMESPACE_RE: RegExp = /^(\*|@[a-z0-9_*-]{1,64})$/;

/** A grant. */
export interface Grant {
  /** A namespace, a `*` pattern such as `@team-*`, or `*` for all. */
  namespace: string;
  /** What it allows there. */
  actions: Action[];
}

/** A stored token. */
export interface TokenRow {
  /** Public id (safe to show and log). */
  id: string;
  /** SHA-256 of the secret; the secret itself is never stored. */
  sha256: string;
  /** Who the token acts as. */
  subject: string;
  /** A human label. */
  label: string;
  /** What it may do. */
  grants: Grant[];
  /** When it was created. */
  createdAt: string;
  /** Who created it. */
  createdBy: string;
  /** When it stops working. */
  expiresAt?: string;
  /** When it was revoked. */
  revokedAt?: string;
}

/** A webhook delivery. */
export interface OutboxRow {
  /** Delivery id (sent as `X-Webhook-Delivery`). */
  id: string;
  /** Event name. */
  event: string;
  /** Target URL. */
  url: string;
  /** The subscription it came from. */
  subscription: string;
  /** Exact body bytes (as text) to send and sign. */
  body: string;
  /** When it was enqueued. */
  createdAt: string;
  /** Attempts made. */
  attempts: number;
  /** When the next attempt is due. */
  nextAttemptAt: string;
  /** Delivery state. */
  status: "pending" | "delivered" | "dead";
  /** Last failure. */
  lastError?: string;
  /** Last HTTP status received. */
  lastStatus?: number;
  /** While a process is sending it, others leave it alone until this time. */
  leaseUntil?: string;
  /** When it was delivered or dead-lettered. */
  finishedAt?: string;
}

/** One audit record. */
export interface AuditRow {
  /** Time-ordered id. */
  id: string;
  /** When. */
  at: string;
  /** Who. */
  actor: string;
  /** What, e.g. `publish`, `yank`, `token.create`. */
  action: string;
  /** On what, e.g. `@acme/map@1.0.0`. */
  target: string;
  /** Whether it happened. */
  outcome: "ok" | "refused";
  /** From where. */
  ip?: string;
  /** More facts. */
  detail?: Record<string, unknown>;
}
