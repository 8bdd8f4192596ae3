/**
 * `GET /pkg/:scope/:name/:version`: one version's read body.
 *
 * Order: row lookup → private gate → yank check. A miss, a package of another
 * format and a private row the caller may not read all answer the same 404
 * bytes; a yanked row the caller may read answers 410 with the full body.
 *
 * @module
 */
import { toBase64 } from "../../base/digest.ts";
import { readVersionFile } from "../files.ts";
import { cachedGetMany, peekCachedMany } from "../read_cache.ts";
import type { ScopeRow, VersionRow, VersionState } from "../rows.ts";
import * as keys from "../../storage/keys.ts";
import type { RowKey } from "../../storage/types.ts";
import {
  type AuthnContext,
  blobUrl,
  errorResult,
  type GguiContext,
  type GguiErrorBody,
  gguiFacts,
  type GguiResult,
  kindOfFormat,
  mayReadPrivateNow,
  verificationFields,
} from "./_common.ts";
import { MANIFEST_VERSION_RE, NAME_RE, SCOPE_RE } from "./manifest_grammar.ts";

/** The read body (200, or 410 when yanked). */
export interface ReadBody {
  /** The manifest as stored. */
  manifest: Record<string, unknown>;
  /** Bundle URL (gadgets). */
  bundleUrl?: string;
  /** `sha384-…` of the bundle (gadgets). */
  bundleSri?: string;
  /** Signature envelope URL (gadgets). */
  signatureUrl?: string;
  /** Lowercase hex SHA-256 of the compiled blueprint. */
  compiledDigest?: string;
  /** Standard base64 of the compiled blueprint. */
  compiledBytes?: string;
  /** The pinned author key. */
  authorPublicKey?: string;
  /** When it was published. */
  publishedAt: string;
  /** Who published it. */
  publishedBy: string;
  /** Whether the scope owner is verified (present iff an owner row exists). */
  scopeVerification?: "unverified" | "verified";
  /** The verified domain. */
  verifiedDomain?: string;
}

/** Parsed manifests by blob digest: immutable, so cached for the process. */
const manifestCache = new Map<string, Record<string, unknown>>();
const MANIFEST_CACHE_ENTRIES = 512;
const MANIFEST_CACHE_MAX_BYTES = 256 * 1024;

/** Freeze a parsed JSON value all the way down (cached values are shared). */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** The stored manifest of a version (cached by digest, frozen). */
export async function readManifest(
  ctx: GguiContext,
  row: VersionRow,
): Promise<Record<string, unknown> | null> {
  const entry = row.files?.["manifest.json"];
  const cached = entry ? manifestCache.get(entry.sha256) : undefined;
  if (cached) return cached;
  const bytes = await readVersionFile(ctx, row, "manifest.json");
  if (bytes === null) return null;
  const manifest = deepFreeze(JSON.parse(new TextDecoder().decode(bytes))) as Record<
    string,
    unknown
  >;
  if (entry && entry.size <= MANIFEST_CACHE_MAX_BYTES) {
    if (manifestCache.size >= MANIFEST_CACHE_ENTRIES) {
      manifestCache.delete(manifestCache.keys().next().value!);
    }
    manifestCache.set(entry.sha256, manifest);
  }
  return manifest;
}

/** Read results by row stamps, per row storage (stamps are only unique within one store). */
const bodyCaches = new WeakMap<object, Map<string, GguiResult<ReadBody>>>();
const BODY_CACHE_ENTRIES = 1024;

function bodyCacheOf(ctx: GguiContext): Map<string, GguiResult<ReadBody>> {
  let cache = bodyCaches.get(ctx.storage);
  if (!cache) bodyCaches.set(ctx.storage, cache = new Map());
  return cache;
}

/** Whether path parameters can name a ggui version at all. */
export function isVersionRef(ref: { scope: string; name: string; version: string }): boolean {
  return SCOPE_RE.test(ref.scope) && NAME_RE.test(ref.name) &&
    ref.version.length <= 256 && MANIFEST_VERSION_RE.test(ref.version);
}

/** What {@linkcode readArtifact} reads: the caller and the version's path parameters. */
export interface ReadRequest {
  /** The caller (`undefined`: anonymous). */
  authn: AuthnContext;
  /** The scope, with its `@`. */
  scope: string;
  /** The artifact name. */
  name: string;
  /** The version. */
  version: string;
}

/** What {@linkcode readArtifact} answers: the read body (200, 410) or the spec's error. */
export type ReadResult = GguiResult<ReadBody | GguiErrorBody>;

function notFound(request: ReadRequest): ReadResult {
  const { scope, name, version } = request;
  return errorResult(404, "not_found", `package ${scope}/${name}@${version} not found`);
}

/** The row keys of recent reads, frozen (the read cache then works out their ids once). */
const keptRowKeys = new Map<string, readonly RowKey[]>();
/** Most versions whose row keys are kept (past that they are made again). */
const MAX_KEPT_ROW_KEYS = 4096;

function rowKeys(request: ReadRequest): readonly RowKey[] {
  const { scope, name, version } = request;
  const id = `${scope}\u0000${name}\u0000${version}`;
  let found = keptRowKeys.get(id);
  if (found === undefined) {
    const ref = { namespace: scope, name, version };
    found = Object.freeze(
      [keys.versionKey(ref), keys.versionStateKey(ref), keys.scopeKey(scope)].map((k) =>
        Object.freeze(k)
      ),
    );
    if (keptRowKeys.size >= MAX_KEPT_ROW_KEYS) keptRowKeys.clear();
    keptRowKeys.set(id, found);
  }
  return found;
}

/** What the gate passed on to building a body. */
interface Admitted {
  row: VersionRow;
  state: VersionState;
  owner: ScopeRow | null;
  kind: "gadget" | "blueprint";
  cacheKey: string;
}

/**
 * Row checks, the private gate and the body cache over the three rows: a
 * finished answer (a miss, a denial, a cached body), or what building the body needs.
 */
function gate(
  ctx: GguiContext,
  request: ReadRequest,
  rows: readonly ({ value: unknown; stamp: string } | null)[],
): ReadResult | Admitted {
  const [r, s, o] = rows;
  const row = (r?.value ?? null) as VersionRow | null;
  const state = (s?.value ?? null) as VersionState | null;
  const owner = (o?.value ?? null) as ScopeRow | null;
  if (row === null || state === null) return notFound(request);
  const kind = kindOfFormat(row.format);
  if (kind === undefined) return notFound(request);
  if (row.visibility === "private" && !mayReadPrivateNow(row, request.authn, owner)) {
    return notFound(request);
  }
  // The body depends only on the three rows read above (the private gate has
  // passed): reuse it while none of them changed.
  const { scope, name, version } = request;
  const stamps = `${r?.stamp}|${s?.stamp}|${o?.stamp ?? "-"}`;
  const cacheKey = `${scope}/${name}@${version}|${stamps}|${ctx.bundleHost}`;
  const hit = bodyCacheOf(ctx).get(cacheKey);
  if (hit) return hit;
  return { row, state, owner, kind, cacheKey };
}

/**
 * {@linkcode readArtifact} without waiting, when its rows and body are in
 * memory (the read cache and the body cache): the same answer, or
 * `undefined` when only {@linkcode readArtifact} can give it.
 */
export function readArtifactNow(ctx: GguiContext, request: ReadRequest): ReadResult | undefined {
  if (!isVersionRef(request)) return notFound(request);
  const rows = peekCachedMany<unknown>(ctx.storage, rowKeys(request));
  if (rows === undefined) return undefined;
  const gated = gate(ctx, request, rows);
  return "status" in gated ? gated : undefined;
}

/**
 * Read one version for the caller.
 *
 * @example
 * ```ts ignore
 * const res = await readArtifact(ctx, { authn: undefined, scope: "@acme", name: "map", version: "1.0.0" });
 * console.log(res.status); // 200, 404 or 410
 * ```
 */
export async function readArtifact(
  ctx: GguiContext,
  request: ReadRequest,
): Promise<ReadResult> {
  const { scope, name, version } = request;
  if (!isVersionRef(request)) return notFound(request);
  let rows: ({ value: unknown; stamp: string } | null)[];
  try {
    rows = await cachedGetMany<unknown>(ctx.storage, rowKeys(request));
  } catch {
    return errorResult(500, "server_error", "failed to read package");
  }
  const gated = gate(ctx, request, rows);
  if ("status" in gated) return gated;
  const { row, state, owner, kind, cacheKey } = gated;
  const cache = bodyCacheOf(ctx);
  let manifest: Record<string, unknown> | null;
  const facts = gguiFacts(row);
  let compiledBytes: Uint8Array | null = null;
  try {
    manifest = await readManifest(ctx, row);
    // The compiled blob is content-addressed by its digest; a row naming a
    // digest with no blob is a 500 (spec §3.3).
    if (kind === "blueprint" && facts.compiledDigest !== undefined) {
      const blob = await ctx.bundles.get(facts.compiledDigest);
      if (blob !== null) {
        compiledBytes = new Uint8Array(await new Response(blob.stream).arrayBuffer());
      }
      if (compiledBytes === null) throw new Error("compiled blob missing");
    }
  } catch {
    return errorResult(500, "server_error", "failed to read package");
  }
  if (manifest === null) return errorResult(500, "server_error", "failed to read package");
  // Field order follows the original's bodies.
  const body = { manifest } as ReadBody;
  const urlRef = { visibility: row.visibility, scope, name, version };
  if (kind === "gadget") {
    body.bundleUrl = blobUrl(ctx, urlRef, "bundle.js");
    if (facts.bundleSri !== undefined) body.bundleSri = facts.bundleSri;
    body.signatureUrl = blobUrl(ctx, urlRef, "bundle.js.sig");
  } else if (facts.compiledDigest !== undefined && compiledBytes !== null) {
    body.compiledDigest = facts.compiledDigest;
    body.compiledBytes = toBase64(compiledBytes);
  }
  if (facts.authorPublicKey !== undefined) body.authorPublicKey = facts.authorPublicKey;
  body.publishedAt = row.publishedAt;
  body.publishedBy = row.publishedBy;
  Object.assign(body, verificationFields(owner));
  const result = Object.freeze({ status: state.yanked ? 410 : 200, body: Object.freeze(body) });
  if (cache.size >= BODY_CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  cache.set(cacheKey, result);
  return result;
}
