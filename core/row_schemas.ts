/**
 * The zod schemas of the rows in `rows.ts`, each typed by its row's
 * interface so the two cannot drift apart. In a module of their own so a
 * server loads zod when it first checks a row (a created token's grants, a
 * version's file list), not at start-up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GrantSchema } from "./row_schemas.ts";
 * assert.ok(GrantSchema.safeParse({ namespace: "@acme", actions: ["read"] }).success);
 * assert.ok(!GrantSchema.safeParse({ namespace: "acme", actions: [] }).success);
 * ```
 *
 * @module
 */
import { z } from "zod";
import { NAMESPACE_RE, SEMVER_RE, SHA256_RE } from "../base/names.ts";
import {
  ACTIONS,
  type AuditRow,
  type AuthorKeyRow,
  type FileEntry,
  type FileMap,
  FORMATS,
  type Grant,
  GRANT_NAMESPACE_RE,
  type OutboxRow,
  type PackageRow,
  type ScopeRow,
  type TokenRow,
  type Tombstone,
  type VersionRow,
  type VersionState,
  VISIBILITIES,
} from "./rows.ts";

const iso = z.string().min(1);
const sha256 = z.string().regex(SHA256_RE);
const json: z.ZodType<unknown> = z.json();

/** One file of a version: where its bytes are and what they are. */
export const FileEntrySchema: z.ZodType<FileEntry> = z.strictObject({
  sha256,
  size: z.number().int().nonnegative(),
  type: z.string().min(1),
});

/** A version's files by relative path. */
export const FileMapSchema: z.ZodType<FileMap> = z.record(z.string().min(1), FileEntrySchema);

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
  /** The search entry of the best version of any visibility, when that version is private. */
  privateSummary: z.record(z.string(), json).optional(),
  /** Dist-tags other than the computed `latest`. */
  tags: z.record(z.string(), z.string()).default({}),
});

/** A tombstone: the version was hard-deleted and its string can never be reused. */
export const TombstoneSchema: z.ZodType<Tombstone> = z.strictObject({
  deletedAt: iso,
  deletedBy: z.string().min(1),
});

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

/** A registered Ed25519 author key. */
export const AuthorKeyRowSchema: z.ZodType<AuthorKeyRow> = z.strictObject({
  subject: z.string().min(1),
  keyId: z.string().min(1),
  publicKeyBase64: z.string().min(1),
  createdAt: iso.optional(),
  label: z.string().optional(),
});

/** A grant: actions on a namespace, or on every namespace matching a `*` pattern. */
export const GrantSchema: z.ZodType<Grant> = z.strictObject({
  namespace: z.string().regex(GRANT_NAMESPACE_RE),
  actions: z.array(z.enum(ACTIONS)).min(1),
});

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
