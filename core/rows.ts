/**
 * The rows both surfaces share, as zod schemas (the single source of their
 * types). Rows are small JSON values; anything that can grow (a long manifest, a
 * long file list) is kept as a content-addressed blob and referenced by digest.
 *
 * Immutable: {@linkcode VersionRow}. Mutable and read fresh: everything else.
 *
 * @module
 */
import { z } from "zod";
import { NAMESPACE_RE, SEMVER_RE, SHA256_RE } from "../base/names.ts";

const iso = z.string().min(1);
const sha256 = z.string().regex(SHA256_RE);
const json: z.ZodType<unknown> = z.json();

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

/** One file of a version: where its bytes are and what they are. */
export const FileEntrySchema: z.ZodType<FileEntry> = z.strictObject({
  sha256,
  size: z.number().int().nonnegative(),
  type: z.string().min(1),
});
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
export const FileMapSchema: z.ZodType<FileMap> = z.record(z.string().min(1), FileEntrySchema);
/** A version's files by relative path. */
export type FileMap = Record<string, FileEntry>;

/**
 * The immutable record of one published version. Never changes after commit,
 * so it may be cached in process forever.
 */
export const VersionRowSchema: z.ZodType<VersionRow> = z.strictObject({
  namespace: z.string().regex(NAMESPACE_RE),
  name: z.string().min(1),
  version: z.string().regex(SEMVER_RE),
  format: z.enum(FORMATS),
  visibility: z.enum(VISIBILITIES),
  /** Files inline when the list is small… */
  files: FileMapSchema.optional(),
  /** …otherwise the digest of a JSON blob holding the {@linkcode FileMap}. */
  filesSha256: sha256.optional(),
  /** Small format-specific facts needed on every read (e.g. `bundleSri`, `compiledDigest`). */
  facts: z.record(z.string(), json).default({}),
  publishedAt: iso,
  publishedBy: z.string().min(1),
});
/** The immutable record of one published version. */
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

/** The mutable lifecycle of a version, small and listed per package. */
export const VersionStateSchema: z.ZodType<VersionState> = z.strictObject({
  version: z.string().regex(SEMVER_RE),
  format: z.enum(FORMATS),
  visibility: z.enum(VISIBILITIES),
  publishedAt: iso,
  publishedBy: z.string().min(1),
  yanked: z.boolean(),
  yankedAt: iso.optional(),
  deprecated: z.string().optional(),
});
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
export const PackageRowSchema: z.ZodType<PackageRow> = z.strictObject({
  namespace: z.string().regex(NAMESPACE_RE),
  name: z.string().min(1),
  format: z.enum(FORMATS),
  createdAt: iso,
  createdBy: z.string().min(1),
  updatedAt: iso,
  versionCount: z.number().int().nonnegative(),
  /** Highest visible-to-anyone-who-can-see-it version by the "latest" rule. */
  latest: z.string().optional(),
  /** The search entry of the best PUBLIC version (format-specific fields). */
  publicSummary: z.record(z.string(), json).optional(),
  /** Dist-tags other than the computed `latest`. */
  tags: z.record(z.string(), z.string()).default({}),
});
/** One row per package. */
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
  /** Dist-tags other than the computed `latest`. */
  tags: Record<string, string>;
}

/** A tombstone: the version was hard-deleted and its string can never be reused. */
export const TombstoneSchema: z.ZodType<Tombstone> = z.strictObject({
  deletedAt: iso,
  deletedBy: z.string().min(1),
});
/** A tombstone row. */
export interface Tombstone {
  /** When the version was deleted. */
  deletedAt: string;
  /** Who deleted it. */
  deletedBy: string;
}

/** Who owns a namespace (ggui scope ownership). */
export const ScopeRowSchema: z.ZodType<ScopeRow> = z.strictObject({
  scope: z.string().regex(NAMESPACE_RE),
  ownerSubject: z.string().min(1),
  claimedAt: iso,
  verification: z.enum(["unverified", "verified"]),
  verifiedDomain: z.string().optional(),
  verifiedAt: iso.optional(),
  sanAllowlist: z.union([z.array(z.string()), z.literal("corrupt")]).optional(),
});
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

/** A registered Ed25519 author key. */
export const AuthorKeyRowSchema: z.ZodType<AuthorKeyRow> = z.strictObject({
  subject: z.string().min(1),
  keyId: z.string().min(1),
  publicKeyBase64: z.string().min(1),
  createdAt: iso.optional(),
  label: z.string().optional(),
});
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

/** A grant: actions on a namespace, or on every namespace matching a `*` pattern. */
export const GrantSchema: z.ZodType<Grant> = z.strictObject({
  namespace: z.string().regex(GRANT_NAMESPACE_RE),
  actions: z.array(z.enum(ACTIONS)).min(1),
});
/** A grant. */
export interface Grant {
  /** A namespace, a `*` pattern such as `@team-*`, or `*` for all. */
  namespace: string;
  /** What it allows there. */
  actions: Action[];
}

/** A stored token: only its SHA-256 is kept. */
export const TokenRowSchema: z.ZodType<TokenRow> = z.strictObject({
  id: z.string().min(1),
  sha256,
  subject: z.string().min(1),
  label: z.string(),
  grants: z.array(GrantSchema),
  createdAt: iso,
  createdBy: z.string().min(1),
  expiresAt: iso.optional(),
  revokedAt: iso.optional(),
});
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

/** A pending or finished webhook delivery (the outbox). */
export const OutboxRowSchema: z.ZodType<OutboxRow> = z.strictObject({
  id: z.string().min(1),
  event: z.string().min(1),
  url: z.string().min(1),
  subscription: z.string().min(1),
  body: z.string(),
  createdAt: iso,
  attempts: z.number().int().nonnegative(),
  nextAttemptAt: iso,
  status: z.enum(["pending", "delivered", "dead"]),
  lastError: z.string().optional(),
  lastStatus: z.number().int().optional(),
  leaseUntil: iso.optional(),
  finishedAt: iso.optional(),
});
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

/** One append-only audit record. */
export const AuditRowSchema: z.ZodType<AuditRow> = z.strictObject({
  id: z.string().min(1),
  at: iso,
  actor: z.string().min(1),
  action: z.string().min(1),
  target: z.string(),
  outcome: z.enum(["ok", "refused"]),
  ip: z.string().optional(),
  detail: z.record(z.string(), json).optional(),
});
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
