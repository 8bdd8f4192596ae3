/**
 * `@x/registry`: a self-hosted artifact registry for Deno.
 *
 * One core (publish, read, list versions, search, yank, conformance, tokens,
 * webhooks) over two storage seams — row storage ({@linkcode RegistryStorage})
 * and content-addressed blob storage ({@linkcode BundleStorage}) — served over
 * the wire protocols of the ggui and Rack registries, and of JSR (so stock
 * `deno add`, `deno run` and `deno publish` use it as a private JSR).
 *
 * @example Publish-if-absent over the in-memory backends
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   MemoryRegistryStorage,
 *   nextPackageRow,
 *   putVersionIfAbsent,
 * } from "@x/registry";
 *
 * const storage = new MemoryRegistryStorage();
 * const ref = { namespace: "@acme", name: "quality/husky" };
 * const row = {
 *   ...ref,
 *   version: "1.0.0",
 *   format: "rack.registry" as const,
 *   visibility: "public" as const,
 *   files: {},
 *   facts: {},
 *   publishedAt: new Date().toISOString(),
 *   publishedBy: "ci",
 * };
 * const updatePackage = (cur: Parameters<typeof nextPackageRow>[0], st: Parameters<typeof nextPackageRow>[1]) =>
 *   nextPackageRow(cur, st, { ref });
 * assert.ok((await putVersionIfAbsent(storage, { row, updatePackage })).result === "created");
 * assert.ok((await putVersionIfAbsent(storage, { row, updatePackage })).result === "exists");
 * ```
 *
 * @module
 */

export { ERROR_CODES, type ErrorCode, isRegistryError, RegistryError } from "./base/errors.ts";
export type { RegistryErrorOptions } from "./base/errors.ts";
export {
  isNamespace,
  isPackageName,
  isSha256,
  isVersion,
  normalizeFilePath,
  type PackageRef,
  type VersionRef,
} from "./base/names.ts";
export {
  compareVersions,
  pickLatest,
  precedenceOf,
  sortVersionsDescending,
} from "./core/semver.ts";
export type { Clock, DiskReserve, RegistryContext } from "./core/context.ts";
export {
  type ClaimResult,
  claimScope,
  listAll,
  listVersionStates,
  putVersionIfAbsent,
  type PutVersionResult,
  updateRow,
  type VersionCommit,
  versionHolder,
} from "./core/store.ts";
export type { GcCommitGuard, GcGuard } from "./core/_gc_guard.ts";
export { nextPackageRow, recomputePackageRow } from "./core/packages.ts";
export { ACTIONS, FORMATS, VISIBILITIES } from "./core/rows.ts";
export type {
  Action,
  AuditRow,
  AuthorKeyRow,
  FileEntry,
  FileMap,
  Format,
  Grant,
  OutboxRow,
  PackageRow,
  ScopeRow,
  TokenRow,
  VersionRow,
  VersionState,
  Visibility,
} from "./core/rows.ts";
export type {
  BlobBody,
  BlobInfo,
  BundleStorage,
  ByteRange,
  Check,
  Commit,
  CommitResult,
  Entry,
  JsonValue,
  KeyPart,
  ListOptions,
  Mutation,
  Page,
  PutBlobOptions,
  PutBlobResult,
  RegistryStorage,
  RowKey,
} from "./storage/types.ts";
export { LIMITS } from "./storage/types.ts";
export { MemoryBundleStorage, MemoryRegistryStorage } from "./storage/memory.ts";
export { FsBundleStorage, FsRegistryStorage } from "./storage/fs.ts";
export type { FsBundleStorageOptions, FsRegistryStorageOptions } from "./storage/fs.ts";
export { KvBundleStorage, KvRegistryStorage } from "./storage/kv.ts";
export { S3BundleStorage } from "./storage/s3.ts";
export type { S3BundleStorageOptions } from "./storage/s3.ts";
export type { KvStorageOptions } from "./storage/kv.ts";
export {
  createRegistryApp,
  type GguiUpstreamConfig,
  type RegistryApp,
  type RegistryAppOptions,
} from "./routes/app.ts";
export type { JsrUpstreamConfig } from "./core/jsr/upstream.ts";
export type { DocRun, DocRunner } from "./routes/ui/_api_docs.ts";
export {
  createRegistryServer,
  type RegistryServer,
  type RegistryServerOptions,
} from "./server/serve.ts";
export {
  type Authenticator,
  defaultSubjectForToken,
  type Principal,
  staticTokenAuthenticator,
  type StaticTokenOptions,
} from "./core/auth.ts";
export {
  authenticateStoredToken,
  chainAuthenticators,
  type CreatedToken,
  createToken,
  type CreateTokenInput,
  generateTokenSecret,
  grantsAllow,
  listTokens,
  principalCan,
  revokeToken,
  storedTokenAuthenticator,
  TOKEN_PREFIX,
  type TokenEventOptions,
} from "./core/tokens.ts";
export { listTokenPage } from "./core/token_pages.ts";
export { decodeListCursor, encodeListCursor, pageSizeOf } from "./core/cursor.ts";
export {
  type AuditFilter,
  type AuditInput,
  auditMutation,
  auditRow,
  exportAudit,
  listAudit,
  recordAudit,
} from "./core/audit.ts";
export {
  buildDeliveryRequest,
  deliverDue,
  deliveryId,
  type DeliveryOptions,
  type DeliveryReport,
  eventMutations,
  type EventSubscription,
  listDeliveries,
  newOutboxRows,
  nextDueAt,
  type OutboxInput,
  outboxMutations,
  type WebhookTarget,
} from "./core/webhooks.ts";
export {
  checkTarget,
  isNonPublicAddress,
  type PinnedHost,
  refuseTarget,
  type Resolver,
  type TargetCheck,
  type TargetGuard,
} from "./core/net_guard.ts";
export {
  EXPORTED_ROW_FAMILIES,
  exportStore,
  type ImportOptions,
  type ImportReport,
  importStore,
  readLines,
  type TransferReport,
  verifyExport,
} from "./core/transfer.ts";
export {
  ensureSearchIndex,
  type RebuildReport,
  rebuildSearchIndex,
  SEARCH_GROUPS,
  type SearchDoc,
  type SearchGroup,
  searchIndexMutations,
} from "./core/search_index.ts";
export {
  type PackageHit,
  type PackageSearchPage,
  type PackageSearchQuery,
  SEARCH_SCAN_BUDGET,
  searchPackages,
  type SearchViewer,
} from "./core/search.ts";
export {
  fixedRackAuth,
  parseAuthConfig,
  type ParsedAuthConfig,
  type RackAuth,
  type RackAuthProvider,
  type RackNamespacePolicy,
  type RackTokenEntry,
  type RejectedNamespace,
} from "./core/rack/auth.ts";
export {
  checkWebhookTargets,
  parseWebhookConfig,
  type WebhookSubscription,
} from "./core/rack/webhooks.ts";
export {
  createWebhookSubscription,
  deleteWebhookSubscription,
  listWebhookSubscriptions,
  LiveSubscriptions,
  type StoredSubscription,
  type SubscriptionInput,
  subscriptionTargetRefusal,
} from "./core/webhook_subscriptions.ts";
export * from "./core/ggui/mod.ts";
export * from "./core/jsr/mod.ts";

// `deno run -A jsr:@x/registry` runs this module: start the server.
if (import.meta.main) {
  const { runMain } = await import("./main.ts");
  await runMain();
}
