/**
 * The blob routes' core: find which stored file a
 * `/bundles/{public|private}/@scope/name/version/<file>` URL names, applying
 * the prefix rule (a blob is reachable only under the visibility it was
 * published with) and, for the private prefix, the private-read rule.
 *
 * Public blobs ignore yank state (installs pin exact versions). Every private
 * denial (missing row, public row, stranger) is the same 404.
 *
 * @module
 */
import { cachedGet, cachedGetMany, peekCachedMany } from "../read_cache.ts";
import type { FileEntry, ScopeRow, VersionRow } from "../rows.ts";
import * as keys from "../../storage/keys.ts";
import {
  type AuthnContext,
  type BundleFile,
  errorResult,
  type GguiContext,
  type GguiErrorBody,
  type GguiResult,
  kindOfFormat,
  mayReadPrivateNow,
} from "./_common.ts";
import { isVersionRef } from "./read.ts";

/**
 * The 404 message of each file on a miss.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { MISS_MESSAGES, locateBundleFile } from "./bundles.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date(), bundleHost: "http://127.0.0.1:9001", registryHostname: "127.0.0.1:9001" };
 * const req = { visibility: "public", authn: undefined, scope: "@acme", name: "map", version: "1.0.0" } as const;
 * const res = await locateBundleFile(ctx, { ...req, file: "manifest.json" });
 * assert(res.status === 404 && "message" in res.body && res.body.message === MISS_MESSAGES["manifest.json"]);
 * ```
 */
export const MISS_MESSAGES: Record<BundleFile, string> = {
  "bundle.js": "bundle not found",
  "bundle.js.sig": "signature not found",
  "manifest.json": "manifest not found",
};

/**
 * The private prefix's 401 message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { locateBundleFile, PRIVATE_BUNDLE_UNAUTHORIZED } from "./bundles.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date(), bundleHost: "http://127.0.0.1:9001", registryHostname: "127.0.0.1:9001" };
 * const req = { visibility: "private", authn: null, scope: "@acme", name: "map", version: "1.0.0", file: "bundle.js" } as const;
 * const res = await locateBundleFile(ctx, req);
 * assert(res.status === 401 && "message" in res.body && res.body.message === PRIVATE_BUNDLE_UNAUTHORIZED);
 * ```
 */
export const PRIVATE_BUNDLE_UNAUTHORIZED =
  "private bundles require a valid bearer token in the Authorization header";

/** What {@linkcode locateBundleFile} looks for, and for whom. */
export interface BundleFileRequest {
  /** The URL prefix: `public` or `private`. */
  visibility: "public" | "private";
  /** The caller: `null` on the private prefix without a valid bearer, `undefined` on the public one. */
  authn: AuthnContext | null;
  /** The scope, with its `@`. */
  scope: string;
  /** The artifact name. */
  name: string;
  /** The version. */
  version: string;
  /** Which of the version's files. */
  file: BundleFile;
}

/** A located file: its entry (digest, size, type) in the version. */
export interface LocatedFile {
  /** The file's entry. */
  entry: FileEntry;
  /** When its version was published (the file's `Last-Modified`). */
  publishedAt: string;
}

/**
 * Locate one blob for a caller. `{status: 200, body: {entry}}` when it may be
 * served; otherwise the spec's error result. `authn` is `null` for a private
 * request without a valid bearer, `undefined` on the public prefix.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { nextPackageRow } from "../packages.ts";
 * import { putVersionIfAbsent } from "../store.ts";
 * import { locateBundleFile } from "./bundles.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date(), bundleHost: "http://127.0.0.1:9001", registryHostname: "127.0.0.1:9001" };
 * const ref = { namespace: "@acme", name: "map" };
 * const { sha256, size } = await ctx.bundles.put(new TextEncoder().encode("export default 1;"));
 * const row = { ...ref, version: "1.0.0", format: "ggui.gadget" as const, visibility: "public" as const, files: { "bundle.js": { sha256, size, type: "text/javascript" } }, facts: {}, publishedAt: new Date().toISOString(), publishedBy: "alice" };
 * await putVersionIfAbsent(ctx.storage, { row, updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }) });
 * const hit = await locateBundleFile(ctx, { visibility: "public", authn: undefined, scope: "@acme", name: "map", version: "1.0.0", file: "bundle.js" });
 * assert(hit.status === 200 && "entry" in hit.body && hit.body.entry.sha256 === sha256);
 * ```
 */
export async function locateBundleFile(
  ctx: GguiContext,
  request: BundleFileRequest,
): Promise<GguiResult<LocatedFile | GguiErrorBody>> {
  const { visibility, authn, scope, name, version, file } = request;
  const miss = () => errorResult(404, "not_found", MISS_MESSAGES[file]);
  if (visibility === "private") {
    const deny = () => errorResult(404, "not_found", "bundle not found");
    if (authn === null || authn === undefined) {
      return errorResult(401, "unauthorized", PRIVATE_BUNDLE_UNAUTHORIZED);
    }
    if (!isVersionRef(request)) return deny();
    let row: VersionRow | null;
    let owner: ScopeRow | null;
    try {
      // The scope row in the same batch, whoever asks: a version the caller
      // may not read and a missing one cost the same reads and cache decisions.
      const [r, o] = await cachedGetMany<unknown>(ctx.storage, [
        keys.versionKey({ namespace: scope, name, version }),
        keys.scopeKey(scope),
      ]);
      row = (r?.value ?? null) as VersionRow | null;
      owner = (o?.value ?? null) as ScopeRow | null;
    } catch {
      return errorResult(500, "server_error", "internal error");
    }
    if (row === null || row.visibility !== "private" || kindOfFormat(row.format) === undefined) {
      return deny();
    }
    if (!mayReadPrivateNow(row, authn, owner)) return deny();
    const entry = row.files?.[file];
    return entry ? { status: 200, body: { entry, publishedAt: row.publishedAt } } : miss();
  }
  if (!isVersionRef(request)) return miss();
  let row: VersionRow | null;
  try {
    row = await getRow(ctx, { namespace: scope, name, version });
  } catch {
    return errorResult(500, "server_error", "failed to read bundle");
  }
  if (row === null || row.visibility !== "public" || kindOfFormat(row.format) === undefined) {
    return miss();
  }
  const entry = row.files?.[file];
  return entry ? { status: 200, body: { entry, publishedAt: row.publishedAt } } : miss();
}

/**
 * The file {@linkcode locateBundleFile} would answer 200 for, found without
 * waiting (its rows are in the read cache); `undefined` for anything else
 * (a refusal, a miss, or rows only a store read can give), which
 * {@linkcode locateBundleFile} then answers.
 */
export function locateBundleFileNow(
  ctx: GguiContext,
  request: BundleFileRequest,
): LocatedFile | undefined {
  const { visibility, authn, scope, name, version, file } = request;
  if (visibility === "private" && (authn === null || authn === undefined)) return undefined;
  if (!isVersionRef(request)) return undefined;
  const rows = peekCachedMany<VersionRow>(ctx.storage, [
    keys.versionKey({ namespace: scope, name, version }),
  ]);
  const row = rows?.[0]?.value;
  if (!row || row.visibility !== visibility || kindOfFormat(row.format) === undefined) {
    return undefined;
  }
  if (visibility === "private" && !mayReadPrivateNow(row, authn ?? undefined, null)) {
    // Not the publisher nor a grant reader: the scope owner may still read it.
    const owner = peekCachedMany<ScopeRow>(ctx.storage, [keys.scopeKey(scope)]);
    if (owner === undefined || !mayReadPrivateNow(row, authn ?? undefined, owner[0]!.value)) {
      return undefined;
    }
  }
  const entry = row.files?.[file];
  return entry ? { entry, publishedAt: row.publishedAt } : undefined;
}

async function getRow(
  ctx: GguiContext,
  ref: { namespace: string; name: string; version: string },
): Promise<VersionRow | null> {
  return (await cachedGet<VersionRow>(ctx.storage, keys.versionKey(ref)))?.value ?? null;
}
