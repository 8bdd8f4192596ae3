/**
 * A package's versions as one reader may see them, for the listing reads
 * (ggui `GET /pkg/:scope/:name`, JSR `meta.json` and the API's package
 * documents).
 *
 * Every read does the same work whether the package is public, private or
 * missing: one cached read of the package and scope rows (a miss is cached
 * like a row), then the version list kept for that package-row stamp (a
 * missing package's empty list is listed and kept the same way), then a view
 * picked in constant time for a reader who may see no private version. A
 * stranger's request for a private package and for a missing one therefore
 * take the same code path, the same store reads and the same cache decisions
 * (tests/private_timing_test.ts), so their timing tells nothing apart.
 *
 * Every publish and lifecycle change rewrites the package row in the same
 * commit, so a list is valid while the package row's stamp is the one it was
 * read under.
 *
 * @module
 */
import { cachedGetMany, flooredRead, peekCachedMany, rowKeysOf } from "./read_cache.ts";
import type { Grant, PackageRow, ScopeRow, VersionState } from "./rows.ts";
import type { PackageRef } from "../base/names.ts";
import { listVersionStates } from "./store.ts";
import { grantsAllow } from "./tokens.ts";
import * as keys from "../storage/keys.ts";
import type { RegistryStorage, RowKey } from "../storage/types.ts";

/** A package's rows and version lists, as read for one request. */
export interface PackageView {
  /** The package row (`null`: no such package). */
  row: PackageRow | null;
  /** The namespace's owner (`null`: unclaimed). */
  owner: ScopeRow | null;
  /** Every version, newest first. */
  states: readonly VersionState[];
  /** The public ones, newest first. */
  publicStates: readonly VersionState[];
  /** Who published the private ones. */
  privatePublishers: ReadonlySet<string>;
}

/** Who reads: a subject with optional grants, or nobody (anonymous). */
export type ViewReader = { subject: string; grants?: readonly Grant[] } | null | undefined;

interface Listed {
  stamp: string;
  states: readonly VersionState[];
  publicStates: readonly VersionState[];
  privatePublishers: ReadonlySet<string>;
}

/** Version lists by package, per row storage. */
const lists = new WeakMap<object, Map<string, Listed>>();
const LIST_ENTRIES = 1024;
/** The stamp a missing package's list is kept under. */
const ABSENT = "absent";

/**
 * Read a package's rows and version list (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { readPackageView, visibleStates } from "./package_view.ts";
 * const view = await readPackageView(new MemoryRegistryStorage(), { namespace: "@acme", name: "map" });
 * assert.ok(view.row === null && visibleStates(view, "@acme", null).length === 0);
 * ```
 */
export async function readPackageView(
  storage: RegistryStorage,
  ref: PackageRef,
): Promise<PackageView> {
  const [pkg, scope] = await cachedGetMany<unknown>(storage, packageRowKeys(ref));
  const stamp = pkg?.stamp ?? ABSENT;
  let byPackage = lists.get(storage);
  if (!byPackage) lists.set(storage, byPackage = new Map());
  const id = `${ref.namespace}/${ref.name}`;
  let listed = byPackage.get(id);
  if (!listed || listed.stamp !== stamp) {
    // Under the cold-read floor: a list of N rows costs more than an empty one.
    listed = split(stamp, await flooredRead(storage, () => listVersionStates(storage, ref)));
    byPackage.delete(id);
    if (byPackage.size >= LIST_ENTRIES) byPackage.delete(byPackage.keys().next().value!);
    byPackage.set(id, listed);
  }
  return viewOf(pkg, scope, listed);
}

/**
 * {@linkcode readPackageView} without waiting: the same view when the package
 * and scope rows are in the read cache and the list kept for the package
 * row's stamp is in memory; `undefined` when only `readPackageView` can tell.
 * A missing package and a package with only private versions are answered
 * alike (both rows cached, misses like rows; both lists kept by stamp).
 */
export function readPackageViewNow(
  storage: RegistryStorage,
  ref: PackageRef,
): PackageView | undefined {
  const rows = peekCachedMany<unknown>(storage, packageRowKeys(ref));
  if (rows === undefined) return undefined;
  const [pkg, scope] = rows;
  const listed = lists.get(storage)?.get(`${ref.namespace}/${ref.name}`);
  if (!listed || listed.stamp !== (pkg?.stamp ?? ABSENT)) return undefined;
  return viewOf(pkg, scope, listed);
}

/** A package's rows: the package and its scope. */
function packageRowKeys(ref: PackageRef): readonly RowKey[] {
  return rowKeysOf(ref, PACKAGE_ROWS);
}

/** How a package's row keys are made, and those of frozen references kept (see `rowKeysOf`). */
const PACKAGE_ROWS = {
  kept: new WeakMap<PackageRef, readonly RowKey[]>(),
  make: (r: PackageRef) => [keys.packageKey(r), keys.scopeKey(r.namespace)],
};

function viewOf(
  pkg: { value: unknown } | null | undefined,
  scope: { value: unknown } | null | undefined,
  listed: Listed,
): PackageView {
  return {
    row: (pkg?.value ?? null) as PackageRow | null,
    owner: (scope?.value ?? null) as ScopeRow | null,
    states: listed.states,
    publicStates: listed.publicStates,
    privatePublishers: listed.privatePublishers,
  };
}

function split(stamp: string, states: VersionState[]): Listed {
  const publicStates = states.filter((s) => s.visibility === "public");
  const privatePublishers = new Set(
    states.filter((s) => s.visibility === "private").map((s) => s.publishedBy),
  );
  return { stamp, states, publicStates, privatePublishers };
}

/**
 * The versions `reader` may see: public ones, and private ones to grant
 * readers of the namespace, its owner and each version's publisher. A reader
 * who may see no private version gets the public list as it is (no per-version
 * work, so the number of private versions shows in no timing).
 */
export function visibleStates(
  view: PackageView,
  namespace: string,
  reader: ViewReader,
): readonly VersionState[] {
  if (!reader) return view.publicStates;
  if (reader.grants && grantsAllow(reader.grants, "read", namespace)) {
    return view.states;
  }
  if (view.owner?.ownerSubject === reader.subject) return view.states;
  if (!view.privatePublishers.has(reader.subject)) return view.publicStates;
  return view.states.filter((s) => s.visibility === "public" || s.publishedBy === reader.subject);
}
