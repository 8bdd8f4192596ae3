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
import { NAMESPACE_RE, SEMVER_RE, SHA256_RE } from "./names.ts";

const iso = z.string().min(1);
const sha256 = z.string().regex(SHA256_RE);
const json: z.ZodType<unknown> = z.json();

/** Formats a package can have; fixed at its first publish. */
export const FORMATS = [
  "ggui.gadget",
  "ggui.blueprint",
  "rack.registry",
  "rack.preset",
  "jsr",
] as const;
/** A package format. */
export type Format = typeof FORMATS[number];

/** Who may read a version. */
export const VISIBILITIES = ["public", "private"] as const;
/** A version's visibility. */
export type Visibility = typeof VISIBILITIES[number];

/** One file of a version: where its bytes are and what they are. */
export const FileEntrySchema = z.strictObject({
  sha256,
  size: z.number().int().nonnegative(),
  type: z.string().min(1),
});
/** One file of a version. */
export type FileEntry = z.infer<typeof FileEntrySchema>;

/** A version's files by relative path. */
export const FileMapSchema = z.record(z.string().min(1), FileEntrySchema);
/** A version's files by relative path. */
export type FileMap = z.infer<typeof FileMapSchema>;

/**
 * The immutable record of one published version. Never changes after commit,
 * so it may be cached in process forever.
 */
export const VersionRowSchema = z.strictObject({
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
export type VersionRow = z.infer<typeof VersionRowSchema>;

/** The mutable lifecycle of a version, small and listed per package. */
export const VersionStateSchema = z.strictObject({
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
export type VersionState = z.infer<typeof VersionStateSchema>;

/**
 * One row per package: its format (fixed at first publish), and summaries
 * recomputed atomically with every version commit or lifecycle change.
 */
export const PackageRowSchema = z.strictObject({
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
export type PackageRow = z.infer<typeof PackageRowSchema>;

/** A tombstone: the version was hard-deleted and its string can never be reused. */
export const TombstoneSchema = z.strictObject({ deletedAt: iso, deletedBy: z.string().min(1) });
/** A tombstone row. */
export type Tombstone = z.infer<typeof TombstoneSchema>;

/** Who owns a namespace (ggui scope ownership). */
export const ScopeRowSchema = z.strictObject({
  scope: z.string().regex(NAMESPACE_RE),
  ownerSubject: z.string().min(1),
  claimedAt: iso,
  verification: z.enum(["unverified", "verified"]),
  verifiedDomain: z.string().optional(),
  verifiedAt: iso.optional(),
  sanAllowlist: z.union([z.array(z.string()), z.literal("corrupt")]).optional(),
});
/** Who owns a namespace. */
export type ScopeRow = z.infer<typeof ScopeRowSchema>;

/** A registered Ed25519 author key. */
export const AuthorKeyRowSchema = z.strictObject({
  subject: z.string().min(1),
  keyId: z.string().min(1),
  publicKeyBase64: z.string().min(1),
  createdAt: iso.optional(),
  label: z.string().optional(),
});
/** A registered author key. */
export type AuthorKeyRow = z.infer<typeof AuthorKeyRowSchema>;

/** Actions a grant may allow. */
export const ACTIONS = ["read", "publish", "yank", "admin"] as const;
/** An action. */
export type Action = typeof ACTIONS[number];

/** A grant: actions on a namespace, or on every namespace matching a `*` pattern. */
export const GrantSchema = z.strictObject({
  namespace: z.string().regex(/^(\*|@[a-z0-9_*-]{1,64})$/),
  actions: z.array(z.enum(ACTIONS)).min(1),
});
/** A grant. */
export type Grant = z.infer<typeof GrantSchema>;

/** A stored token: only its SHA-256 is kept. */
export const TokenRowSchema = z.strictObject({
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
export type TokenRow = z.infer<typeof TokenRowSchema>;

/** A pending or finished webhook delivery (the outbox). */
export const OutboxRowSchema = z.strictObject({
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
});
/** A webhook delivery. */
export type OutboxRow = z.infer<typeof OutboxRowSchema>;

/** One append-only audit record. */
export const AuditRowSchema = z.strictObject({
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
export type AuditRow = z.infer<typeof AuditRowSchema>;
