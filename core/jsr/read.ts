/**
 * JSR reads under the one access policy: the package metadata document
 * (`meta.json`), the stored version metadata (`<version>_meta.json`), the
 * files, and the API's package and version documents. A private version is
 * readable by grant readers of its namespace, its publisher and the
 * namespace owner; to everyone else it does not exist (each read answers
 * exactly what a miss answers).
 *
 * @module
 */
import type { Principal } from "../auth.ts";
import type { RegistryContext } from "../context.ts";
import { versionFiles, versionFilesNow } from "../files.ts";
import {
  type PackageView,
  readPackageView,
  readPackageViewNow,
  visibleStates,
} from "../package_view.ts";
import { cachedGetMany, peekCachedMany, rowKeysOf } from "../read_cache.ts";
import type { FileEntry, ScopeRow, VersionRow, VersionState } from "../rows.ts";
import { pickLatest, sortVersionsDescending } from "../semver.ts";
import { grantsAllow } from "../tokens.ts";
import type { PackageRef, VersionRef } from "../../base/names.ts";
import * as keys from "../../storage/keys.ts";
import type { Entry, RowKey } from "../../storage/types.ts";
import { authorizeJsrPublish, JSR_FORMAT, type JsrContext, type JsrFacts } from "./publish.ts";

/** Who reads: a principal, or `null` for an anonymous caller. */
export type JsrReader = Principal | null;

/**
 * Whether `reader` may read a version with this visibility and publisher
 * (`owner`: the namespace's scope row, read beside the version's own rows
 * whoever asks, so a private version and a missing one cost the same reads).
 */
function mayRead(
  version: { visibility: string; publishedBy: string },
  namespace: string,
  reader: JsrReader,
  owner: ScopeRow | null,
): boolean {
  if (version.visibility === "public") return true;
  if (reader === null) return false;
  if (version.publishedBy === reader.subject) return true;
  if (reader.grants && grantsAllow(reader.grants, "read", namespace)) return true;
  return owner?.ownerSubject === reader.subject;
}

/** `meta.json`: the versions the reader may see, with `yanked`, and the latest. */
export interface JsrPackageMeta {
  /** Scope without `@`. */
  scope: string;
  /** Package name. */
  name: string;
  /** Highest release that is not yanked (else the highest prerelease), when any. */
  latest: string | null;
  /** Every visible version, newest first, `{yanked: true}` when yanked. */
  versions: Record<string, { yanked?: true }>;
}

/** A read that found something, and whether what it shows this reader is private (cache headers). */
export interface JsrRead<T> {
  /** What was found. */
  value: T;
  /** Whether what it shows holds private data (answer `private`; never set by what is hidden). */
  private: boolean;
  /** When what it shows was published, for a version's files (their `Last-Modified`). */
  publishedAt?: string;
}

/** The visible versions of a JSR package; `null` when it has none for this reader. */
async function readableStates(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): Promise<JsrRead<readonly VersionState[]> | null> {
  // The same reads for every package, present or not (core/package_view.ts).
  return statesOf(await readPackageView(ctx.storage, ref), ref, reader);
}

/** The versions of a package view `reader` may see (see {@linkcode readableStates}). */
function statesOf(
  view: PackageView,
  ref: PackageRef,
  reader: JsrReader,
): JsrRead<readonly VersionState[]> | null {
  const visible = visibleOf(view, ref, reader);
  return visible && { value: visible, private: showsPrivate(visible) };
}

/** The states a reader sees of a JSR package; `null` when none. */
function visibleOf(
  view: PackageView,
  ref: PackageRef,
  reader: JsrReader,
): readonly VersionState[] | null {
  if (view.row?.format !== JSR_FORMAT) return null;
  const visible = visibleStates(view, ref.namespace, reader);
  return visible.length === 0 ? null : visible;
}

/**
 * Private when what this reader sees holds a private version; versions it
 * may not see change nothing, not even the cache headers.
 */
function showsPrivate(visible: readonly VersionState[]): boolean {
  return visible.some((s) => s.visibility === "private");
}

/**
 * The package metadata document Deno resolves versions from; `null` when the
 * package does not exist for this reader.
 *
 * @example
 * ```ts ignore
 * const meta = await jsrPackageMeta(ctx, { namespace: "@acme", name: "util" }, null);
 * console.log(meta?.value.latest);
 * ```
 */
export async function jsrPackageMeta(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): Promise<JsrRead<JsrPackageMeta> | null> {
  return metaOf(ref, await readPackageView(ctx.storage, ref), reader);
}

/**
 * {@linkcode jsrPackageMeta} without waiting, when the package view is in
 * memory (`readPackageViewNow`); `undefined` when only `jsrPackageMeta` can
 * tell. A miss and a package this reader may not see answer the same `null`.
 */
export function jsrPackageMetaNow(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): JsrRead<JsrPackageMeta> | null | undefined {
  const view = readPackageViewNow(ctx.storage, ref);
  return view === undefined ? undefined : metaOf(ref, view, reader);
}

function metaOf(
  ref: PackageRef,
  view: PackageView,
  reader: JsrReader,
): JsrRead<JsrPackageMeta> | null {
  const visible = visibleOf(view, ref, reader);
  if (!visible) return null;
  // Rendered once per list of states: the package view hands every reader of
  // one visibility class the same list until the package row changes.
  const cached = rendered.get(visible);
  if (cached) return cached;
  const meta = Object.freeze({ value: renderMeta(ref, visible), private: showsPrivate(visible) });
  rendered.set(visible, meta);
  return meta;
}

/**
 * Meta documents, and whether they show a private version, by the list of
 * states they were rendered from (see {@linkcode jsrPackageMeta}).
 */
const rendered = new WeakMap<readonly VersionState[], Readonly<JsrRead<JsrPackageMeta>>>();

function renderMeta(ref: PackageRef, states: readonly VersionState[]): JsrPackageMeta {
  const byVersion = new Map(states.map((s) => [s.version, s]));
  const versions: JsrPackageMeta["versions"] = {};
  for (const v of sortVersionsDescending([...byVersion.keys()])) {
    const s = byVersion.get(v)!;
    // Only `yanked`: Deno 2.9's `deno add` finds no usable version when the
    // entries carry a `createdAt` (checked with the real client).
    versions[v] = s.yanked ? { yanked: true } : {};
  }
  const latest = pickLatest(states.filter((s) => !s.yanked).map((s) => s.version)) ?? null;
  // Frozen: shared by every reader of the class, and serialized once by the routes.
  for (const entry of Object.values(versions)) Object.freeze(entry);
  Object.freeze(versions);
  return Object.freeze({ scope: ref.namespace.slice(1), name: ref.name, latest, versions });
}

/** A readable JSR version row with its lifecycle. */
export interface JsrVersion {
  /** The immutable row. */
  row: VersionRow;
  /** Its facts. */
  facts: JsrFacts;
  /** Its lifecycle (yank). */
  state: VersionState;
}

/**
 * One version the reader may read; `null` when it does not exist for them.
 * Immutable rows come through the read cache.
 */
export async function jsrVersion(
  ctx: RegistryContext,
  ref: VersionRef,
  reader: JsrReader,
): Promise<JsrRead<JsrVersion> | null> {
  // One batch with the scope row, whoever asks: a private version and a
  // missing one cost the same reads and the same cache decisions.
  return versionOf(ref, await cachedGetMany<unknown>(ctx.storage, versionRowKeys(ref)), reader);
}

/**
 * {@linkcode jsrVersion} without waiting, when its three rows are in the read
 * cache; `undefined` when only `jsrVersion` can tell. A private version the
 * reader may not read and a missing one answer the same `null`, from the
 * same cached rows (misses are cached like rows).
 */
export function jsrVersionNow(
  ctx: RegistryContext,
  ref: VersionRef,
  reader: JsrReader,
): JsrRead<JsrVersion> | null | undefined {
  const rows = peekCachedMany<unknown>(ctx.storage, versionRowKeys(ref));
  return rows === undefined ? undefined : versionOf(ref, rows, reader);
}

/** The rows of a version read: the version, its lifecycle and its scope. */
function versionRowKeys(ref: VersionRef): readonly RowKey[] {
  return rowKeysOf(ref, VERSION_ROWS);
}

/** How a version's row keys are made, and those of frozen references kept (see `rowKeysOf`). */
const VERSION_ROWS = {
  kept: new WeakMap<VersionRef, readonly RowKey[]>(),
  make: (
    r: VersionRef,
  ) => [keys.versionKey(r), keys.versionStateKey(r), keys.scopeKey(r.namespace)],
};

function versionOf(
  ref: VersionRef,
  rows: readonly (Entry<unknown> | null)[],
  reader: JsrReader,
): JsrRead<JsrVersion> | null {
  const [row, state, scope] = rows as [
    Entry<VersionRow> | null,
    Entry<VersionState> | null,
    Entry<ScopeRow> | null,
  ];
  if (!row || !state || row.value.format !== JSR_FORMAT) return null;
  if (!mayRead(row.value, ref.namespace, reader, scope?.value ?? null)) return null;
  return {
    value: { row: row.value, facts: row.value.facts as unknown as JsrFacts, state: state.value },
    private: row.value.visibility === "private",
  };
}

/** One file of a readable version (`path` with its leading slash); `null` on a miss. */
export async function jsrFile(
  ctx: RegistryContext,
  ref: VersionRef,
  path: string,
  reader: JsrReader,
): Promise<JsrRead<FileEntry> | null> {
  const version = await jsrVersion(ctx, ref, reader);
  if (!version || !path.startsWith("/")) return null;
  return fileOf(version, path, await versionFiles(ctx, version.value.row));
}

/**
 * {@linkcode jsrFile} without waiting, when the version's rows and its file
 * map are in memory; `undefined` when only `jsrFile` can tell.
 */
export function jsrFileNow(
  ctx: RegistryContext,
  ref: VersionRef,
  path: string,
  reader: JsrReader,
): JsrRead<FileEntry> | null | undefined {
  const version = jsrVersionNow(ctx, ref, reader);
  if (version === undefined) return undefined;
  if (!version || !path.startsWith("/")) return null;
  const files = versionFilesNow(version.value.row);
  return files === undefined ? undefined : fileOf(version, path, files);
}

function fileOf(
  version: JsrRead<JsrVersion>,
  path: string,
  files: Readonly<Record<string, FileEntry>>,
): JsrRead<FileEntry> | null {
  const rel = path.slice(1);
  const entry = Object.hasOwn(files, rel) ? files[rel] : undefined;
  return entry
    ? { value: entry, private: version.private, publishedAt: version.value.row.publishedAt }
    : null;
}

/** The API's version document (`GET /api/scopes/:scope/packages/:package/versions/:version`). */
export function versionDocument(v: JsrVersion): Record<string, unknown> {
  return {
    scope: v.row.namespace.slice(1),
    package: v.row.name,
    version: v.row.version,
    yanked: v.state.yanked,
    usesNpm: false,
    newerVersionsCount: 0,
    rekorLogId: null,
    readmePath: null,
    exports: v.facts.exports,
    createdAt: v.row.publishedAt,
    updatedAt: v.state.yankedAt ?? v.row.publishedAt,
  };
}

/**
 * The API's package document; `null` when the package does not exist for
 * this reader.
 */
export async function jsrPackageDocument(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): Promise<Record<string, unknown> | null> {
  const found = await readableStates(ctx, ref, reader);
  return found ? packageDocument(ref, found.value) : null;
}

/** The API's package document over the versions a caller sees (none: a package yet to be made). */
function packageDocument(
  ref: PackageRef,
  versions: readonly VersionState[],
): Record<string, unknown> {
  const latest = pickLatest(versions.filter((s) => !s.yanked).map((s) => s.version)) ?? null;
  return {
    scope: ref.namespace.slice(1),
    name: ref.name,
    description: "",
    runtimeCompat: {},
    isArchived: false,
    githubRepository: null,
    latestVersion: latest,
    versionCount: versions.length,
    createdAt: versions.map((s) => s.publishedAt).sort()[0] ?? null,
    updatedAt: versions.map((s) => s.yankedAt ?? s.publishedAt).sort().at(-1) ?? null,
  };
}

/**
 * The package as `deno publish` asks for it before uploading (it stops on a
 * 404 and tells the user to create the package first). Packages here are
 * created by their first publish, so a caller who may publish gets the
 * package as it will be; others get `actorNotScopeMember` (a valid token) or
 * `null` (a miss: no token, nothing visible).
 */
export async function jsrPackageForPublish(
  ctx: JsrContext,
  ref: PackageRef,
  reader: JsrReader,
): Promise<Record<string, unknown> | null> {
  const doc = await jsrPackageDocument(ctx, ref, reader);
  if (doc || reader === null) return doc;
  await authorizeJsrPublish(ctx, reader, ref.namespace);
  return packageDocument(ref, []);
}

/** The API's version list, newest first. */
export async function jsrVersionList(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): Promise<Record<string, unknown>[] | null> {
  const found = await readableStates(ctx, ref, reader);
  if (!found) return null;
  const byVersion = new Map(found.value.map((s) => [s.version, s]));
  return sortVersionsDescending([...byVersion.keys()]).map((v) => {
    const s = byVersion.get(v)!;
    return {
      scope: ref.namespace.slice(1),
      package: ref.name,
      version: v,
      yanked: s.yanked,
      createdAt: s.publishedAt,
      updatedAt: s.yankedAt ?? s.publishedAt,
    };
  });
}
