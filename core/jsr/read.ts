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
import { versionFiles } from "../files.ts";
import { cachedGet } from "../read_cache.ts";
import type { FileEntry, PackageRow, ScopeRow, VersionRow, VersionState } from "../rows.ts";
import { pickLatest, sortVersionsDescending } from "../semver.ts";
import { listVersionStates } from "../store.ts";
import { grantsAllow } from "../tokens.ts";
import type { PackageRef, VersionRef } from "../names.ts";
import * as keys from "../../storage/keys.ts";
import { authorizeJsrPublish, JSR_FORMAT, type JsrContext, type JsrFacts } from "./publish.ts";

/** Who reads: a principal, or `null` for an anonymous caller. */
export type JsrReader = Principal | null;

/**
 * Whether `reader` may read a version with this visibility and publisher.
 * `owner` is looked up at most once per call site, lazily.
 */
async function mayRead(
  version: { visibility: string; publishedBy: string },
  namespace: string,
  reader: JsrReader,
  owner: () => Promise<ScopeRow | null>,
): Promise<boolean> {
  if (version.visibility === "public") return true;
  if (reader === null) return false;
  if (version.publishedBy === reader.subject) return true;
  if (reader.grants && grantsAllow(reader.grants, "read", namespace)) return true;
  try {
    return (await owner())?.ownerSubject === reader.subject;
  } catch {
    return false;
  }
}

function ownerLookup(ctx: RegistryContext, namespace: string): () => Promise<ScopeRow | null> {
  let p: Promise<ScopeRow | null> | undefined;
  return () =>
    p ??= ctx.storage.get<ScopeRow>(keys.scopeKey(namespace)).then((r) => r?.value ?? null);
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

/** Version lists by package, per row storage, with the package row stamp they belong to. */
const stateLists = new WeakMap<object, Map<string, { stamp: string; states: VersionState[] }>>();
const STATE_LIST_ENTRIES = 1024;

/**
 * The lifecycle rows of a package. Every publish and every lifecycle change
 * rewrites the package row in the same commit, so a list is reused while the
 * package row's stamp is the one it was read under.
 */
async function statesOf(
  ctx: RegistryContext,
  ref: PackageRef,
  packageStamp: string,
): Promise<VersionState[]> {
  let lists = stateLists.get(ctx.storage);
  if (!lists) stateLists.set(ctx.storage, lists = new Map());
  const id = `${ref.namespace}/${ref.name}`;
  const hit = lists.get(id);
  if (hit && hit.stamp === packageStamp) return hit.states;
  const states = await listVersionStates(ctx.storage, ref);
  if (lists.size >= STATE_LIST_ENTRIES) lists.delete(lists.keys().next().value!);
  lists.set(id, { stamp: packageStamp, states });
  return states;
}

/** The visible versions of a JSR package; `null` when it has none for this reader. */
async function visibleStates(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): Promise<JsrRead<VersionState[]> | null> {
  const pkg = await cachedGet<PackageRow>(ctx.storage, keys.packageKey(ref));
  if (!pkg || pkg.value.format !== JSR_FORMAT) return null;
  const owner = ownerLookup(ctx, ref.namespace);
  const visible: VersionState[] = [];
  // Private when what this reader sees holds a private version; versions it
  // may not see change nothing, not even the cache headers.
  let shown = false;
  for (const state of await statesOf(ctx, ref, pkg.stamp)) {
    if (!(await mayRead(state, ref.namespace, reader, owner))) continue;
    visible.push(state);
    if (state.visibility === "private") shown = true;
  }
  if (visible.length === 0) return null;
  return { value: visible, private: shown };
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
  const found = await visibleStates(ctx, ref, reader);
  if (!found) return null;
  const byVersion = new Map(found.value.map((s) => [s.version, s]));
  const versions: JsrPackageMeta["versions"] = {};
  for (const v of sortVersionsDescending([...byVersion.keys()])) {
    const s = byVersion.get(v)!;
    // Only `yanked`: Deno 2.9's `deno add` finds no usable version when the
    // entries carry a `createdAt` (checked with the real client).
    versions[v] = s.yanked ? { yanked: true } : {};
  }
  const latest = pickLatest(found.value.filter((s) => !s.yanked).map((s) => s.version)) ?? null;
  return {
    value: { scope: ref.namespace.slice(1), name: ref.name, latest, versions },
    private: found.private,
  };
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
  const [row, state] = await Promise.all([
    cachedGet<VersionRow>(ctx.storage, keys.versionKey(ref)),
    cachedGet<VersionState>(ctx.storage, keys.versionStateKey(ref)),
  ]);
  if (!row || !state || row.value.format !== JSR_FORMAT) return null;
  if (!(await mayRead(row.value, ref.namespace, reader, ownerLookup(ctx, ref.namespace)))) {
    return null;
  }
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
  const files = await versionFiles(ctx, version.value.row);
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
  const found = await visibleStates(ctx, ref, reader);
  return found ? packageDocument(ref, found.value) : null;
}

/** The API's package document over the versions a caller sees (none: a package yet to be made). */
function packageDocument(ref: PackageRef, versions: VersionState[]): Record<string, unknown> {
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
  const found = await visibleStates(ctx, ref, reader);
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
