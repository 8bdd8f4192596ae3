/**
 * Race-free operations built once on the row seam's atomic commit: every
 * surface publishes, claims and updates through these, never by read-then-write.
 *
 * @module
 */
import { timeOrderedId } from "./context.ts";
import { RegistryError } from "../base/errors.ts";
import {
  type GcCommitGuard,
  gcRunning,
  type GcStateRow,
  versionBlobsPresent,
} from "./_gc_guard.ts";
import { assertVersionRef, type PackageRef, type VersionRef } from "../base/names.ts";
import { formatConflict } from "./packages.ts";
import type { PackageRow, ScopeRow, VersionRow, VersionState } from "./rows.ts";
import { ownerIndexMutation, searchIndexMutations } from "./search_index.ts";
import { compareVersions, precedenceOf } from "./semver.ts";
import * as keys from "../storage/keys.ts";
import type {
  Check,
  Entry,
  JsonValue,
  Mutation,
  RegistryStorage,
  RowKey,
} from "../storage/types.ts";

/** How many times a commit that lost a race on a mutable row is retried. */
const MAX_ATTEMPTS = 64;
/** How many 50 ms rounds a publish waits for a running GC (one minute). */
const GC_WAIT_ROUNDS = 1200;

/** Back off briefly between contended retries (jittered, grows with attempts). */
function backoff(attempt: number): Promise<void> {
  const ms = Math.min(50, attempt * 2) * Math.random();
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A version to commit, with everything that must land in the same atomic step. */
export interface VersionCommit {
  /** The immutable row. */
  row: VersionRow;
  /** Compute the package row from the current one (`null` on first publish). Pure; may throw a {@linkcode RegistryError}. */
  updatePackage: (current: PackageRow | null, state: VersionState) => PackageRow;
  /** Claim the namespace for this subject in the same commit when it is unowned. */
  claimScope?: ScopeRow;
  /** Further rows to write in the same commit (outbox deliveries, audit record). */
  extra?: (ctx: { packageCreated: boolean }) => Mutation[];
  /**
   * The GC guard read before the first blob (see `core/gc.ts`). Absent: the
   * commit proceeds only while no GC has ever run (stamp `null`), else
   * refuses with `conflict` since it cannot re-verify its blobs.
   */
  gc?: GcCommitGuard;
}

/** The outcome of {@linkcode putVersionIfAbsent}. */
export type PutVersionResult =
  | { result: "created"; package: PackageRow; claimed: boolean }
  /**
   * `existing` is the version that holds the place: the version itself, or
   * another one of the same precedence (differing only in build metadata).
   */
  | { result: "exists"; existing: string }
  | { result: "scope_taken"; owner: ScopeRow };

/** The pointer row of a precedence: the version of the package that holds it. */
interface PrecedenceRow {
  version: string;
}

/** Pointer rows written per commit when indexing an older package. */
const INDEX_BATCH = 200;

/**
 * Commit a version if and only if it (and its tombstone) are absent and no
 * version of the same precedence (the same version but for build metadata)
 * exists or existed: the version row, its lifecycle row, its precedence
 * pointer, the package row, an optional scope claim and any extra rows land
 * together or not at all. A lost race is `exists`, never an error; a package
 * of another format is `format_conflict`, whatever the version.
 *
 * @example
 * ```ts ignore
 * const r = await putVersionIfAbsent(storage, { row, updatePackage });
 * if (r.result === "exists") console.log("409");
 * ```
 */
export async function putVersionIfAbsent(
  storage: RegistryStorage,
  commit: VersionCommit,
): Promise<PutVersionResult> {
  const { row } = commit;
  assertVersionRef(row);
  const state: VersionState = {
    version: row.version,
    format: row.format,
    visibility: row.visibility,
    publishedAt: row.publishedAt,
    publishedBy: row.publishedBy,
    yanked: false,
  };
  const vKey = keys.versionKey(row);
  const tKey = keys.tombstoneKey(row);
  const pKey = keys.packageKey(row);
  const gKey = keys.gcStateKey();
  const cKey = keys.versionByPrecedenceKey(row, precedenceOf(row.version));
  const mKey = keys.precedenceIndexedKey(row);
  let gcStamp = commit.gc?.guard.stamp ?? null;
  const recentId = timeOrderedId(new Date(row.publishedAt));
  let gcWaits = 0;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const sKey = commit.claimScope ? keys.scopeKey(row.namespace) : undefined;
    const [version, tomb, pkg, gc, held, indexed, scope] = await storage.getMany<unknown>(
      sKey ? [vKey, tKey, pKey, gKey, cKey, mKey, sKey] : [vKey, tKey, pKey, gKey, cKey, mKey],
    );
    const current = (pkg?.value ?? null) as PackageRow | null;
    // The format comes first: a version of another format's package is never "exists".
    if (current && current.format !== row.format) {
      throw formatConflict(row, current.format, row.format);
    }
    if (version || tomb) return { result: "exists", existing: row.version };
    if (held) return { result: "exists", existing: (held.value as PrecedenceRow).version };
    if (current && !indexed) {
      // A package from before precedence pointers: index it once, then decide.
      await indexPrecedence(storage, row, row.publishedAt);
      continue;
    }
    if ((gc?.stamp ?? null) !== gcStamp) {
      // A GC run started since the guard: wait for it to end, then make sure it
      // left every blob of this version in place before committing against it.
      if (commit.gc && gcRunning(gc?.value as GcStateRow | undefined, commit.gc.ctx.clock())) {
        if (++gcWaits > GC_WAIT_ROUNDS) break;
        attempt--;
        await new Promise((resolve) => setTimeout(resolve, 50));
        continue;
      }
      if (!commit.gc || !(await versionBlobsPresent(commit.gc.ctx, row))) {
        throw new RegistryError(
          "conflict",
          `Files of '${row.namespace}/${row.name}@${row.version}' were garbage-collected during the publish; retry`,
        );
      }
      gcStamp = gc?.stamp ?? null;
    }
    let claim: ScopeRow | undefined;
    if (commit.claimScope && scope) {
      const owner = scope.value as ScopeRow;
      if (owner.ownerSubject !== commit.claimScope.ownerSubject) {
        return { result: "scope_taken", owner };
      }
    } else if (commit.claimScope) {
      claim = commit.claimScope;
    }
    const next = commit.updatePackage(current, state);
    const checks: Check[] = [
      { key: vKey, stamp: null },
      { key: tKey, stamp: null },
      { key: cKey, stamp: null },
      { key: mKey, stamp: indexed?.stamp ?? null },
      { key: pKey, stamp: pkg?.stamp ?? null },
      { key: gKey, stamp: gcStamp },
    ];
    const pointer: PrecedenceRow = { version: row.version };
    const mutations: Mutation[] = [
      { type: "set", key: vKey, value: row as unknown as JsonValue },
      { type: "set", key: keys.versionStateKey(row), value: state as unknown as JsonValue },
      { type: "set", key: cKey, value: pointer as unknown as JsonValue },
      { type: "set", key: pKey, value: next as unknown as JsonValue },
      // For a failed publish deciding whether a blob it stored is now another's (core/_blob_hold.ts).
      { type: "set", key: keys.recentVersionKey(recentId), value: vKey as JsonValue },
      // The search index moves in the same commit as the package row it derives from.
      ...searchIndexMutations(current, next),
    ];
    // A new package is indexed from its first version on.
    if (!indexed) mutations.push({ type: "set", key: mKey, value: { at: row.publishedAt } });
    if (sKey && claim) {
      checks.push({ key: sKey, stamp: null });
      mutations.push(
        { type: "set", key: sKey, value: claim as unknown as JsonValue },
        ownerIndexMutation(claim),
      );
    } else if (sKey && scope) {
      checks.push({ key: sKey, stamp: scope.stamp });
    }
    mutations.push(...(commit.extra?.({ packageCreated: current === null }) ?? []));
    const res = await storage.commit({ checks, mutations });
    if (res.ok) return { result: "created", package: next, claimed: claim !== undefined };
    await backoff(attempt);
  }
  throw new RegistryError(
    "conflict",
    `Could not publish '${row.namespace}/${row.name}@${row.version}' under contention; retry`,
  );
}

/**
 * Index the precedence of every version (and tombstone) of a package written
 * before precedence pointers existed, then mark the package indexed. Packages
 * already holding two versions of one precedence keep both; the pointer names
 * the one without build metadata, else the smallest string, so concurrent
 * indexers write the same rows and need no checks. Until the mark lands no
 * version of the package commits (its commit checks the mark), so the listing
 * cannot miss one.
 */
async function indexPrecedence(
  storage: RegistryStorage,
  ref: PackageRef,
  at: string,
): Promise<void> {
  const holders = new Map<string, string>();
  for (const prefix of [keys.versionStatesPrefix(ref), keys.tombstonesPrefix(ref)]) {
    for await (const entry of listAll(storage, prefix)) {
      const version = entry.key[entry.key.length - 1]!;
      const precedence = precedenceOf(version);
      const held = holders.get(precedence);
      if (held === undefined || holdsBefore(version, held)) holders.set(precedence, version);
    }
  }
  const pointers: Mutation[] = [...holders].map(([precedence, version]) => ({
    type: "set",
    key: keys.versionByPrecedenceKey(ref, precedence),
    value: { version },
  }));
  for (let i = 0; i < pointers.length; i += INDEX_BATCH) {
    await storage.commit({ checks: [], mutations: pointers.slice(i, i + INDEX_BATCH) });
  }
  const mKey = keys.precedenceIndexedKey(ref);
  // Another process may have marked it meanwhile: the same rows, so either way is done.
  await storage.commit({
    checks: [{ key: mKey, stamp: null }],
    mutations: [{ type: "set", key: mKey, value: { at } }],
  });
}

/** Which of two versions of one precedence holds it: no build metadata first, then the smaller string. */
function holdsBefore(version: string, held: string): boolean {
  const build = version.includes("+");
  if (build !== held.includes("+")) return !build;
  return version < held;
}

/**
 * The version that holds `ref`'s place, or `null`: `ref.version` itself when
 * it exists or was deleted, else a version of the same precedence. A cheap
 * early answer for a publish; the commit of {@linkcode putVersionIfAbsent}
 * decides (it also finds duplicates in packages not yet indexed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { nextPackageRow } from "./packages.ts";
 * import { putVersionIfAbsent, versionHolder } from "./store.ts";
 * const storage = new MemoryRegistryStorage();
 * const ref = { namespace: "@acme", name: "widget" };
 * const row = { ...ref, version: "1.0.0+a", format: "jsr" as const, visibility: "public" as const, files: {}, facts: {}, publishedAt: new Date().toISOString(), publishedBy: "ci" };
 * await putVersionIfAbsent(storage, { row, updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }) });
 * assert((await versionHolder(storage, { ...ref, version: "1.0.0+b" })) === "1.0.0+a");
 * assert((await versionHolder(storage, { ...ref, version: "1.0.1" })) === null);
 * ```
 */
export async function versionHolder(
  storage: RegistryStorage,
  ref: VersionRef,
): Promise<string | null> {
  const [version, tomb, held] = await storage.getMany<unknown>([
    keys.versionKey(ref),
    keys.tombstoneKey(ref),
    keys.versionByPrecedenceKey(ref, precedenceOf(ref.version)),
  ]);
  if (version || tomb) return ref.version;
  return (held?.value as PrecedenceRow | undefined)?.version ?? null;
}

/** The outcome of {@linkcode claimScope}. */
export type ClaimResult = { claimed: boolean; owner: ScopeRow };

/**
 * Claim a namespace, first writer wins: two concurrent claims end with exactly
 * one owner, and each caller learns who it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { claimScope } from "./store.ts";
 * const storage = new MemoryRegistryStorage();
 * const claim = (ownerSubject: string) =>
 *   claimScope(storage, { scope: "@acme", ownerSubject, claimedAt: new Date().toISOString(), verification: "unverified" });
 * assert((await claim("alice")).claimed);
 * const second = await claim("bob");
 * assert(!second.claimed && second.owner.ownerSubject === "alice");
 * ```
 */
export async function claimScope(storage: RegistryStorage, row: ScopeRow): Promise<ClaimResult> {
  const key = keys.scopeKey(row.scope);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = await storage.get<ScopeRow>(key);
    if (existing) return { claimed: false, owner: existing.value };
    const res = await storage.commit({
      checks: [{ key, stamp: null }],
      mutations: [
        { type: "set", key, value: row as unknown as JsonValue },
        ownerIndexMutation(row),
      ],
    });
    if (res.ok) return { claimed: true, owner: row };
  }
  throw new RegistryError("conflict", `Could not claim '${row.scope}' under contention; retry`);
}

/**
 * Compare-and-set update of one row: `update` sees the current value (or
 * `null`) and returns the next value, `null` to delete, or `undefined` to
 * leave it. Retried on contention; `extra` rows land in the same commit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { updateRow } from "./store.ts";
 * const storage = new MemoryRegistryStorage();
 * const key = ["counters", "downloads"];
 * await updateRow<number>(storage, key, (n) => (n ?? 0) + 1);
 * const { value } = await updateRow<number>(storage, key, (n) => (n ?? 0) + 1);
 * assert(value === 2);
 * ```
 */
export async function updateRow<T>(
  storage: RegistryStorage,
  key: RowKey,
  update: (current: T | null) => T | null | undefined,
  options: { extra?: (next: T | null) => Mutation[]; checks?: Check[] } = {},
): Promise<{ changed: boolean; value: T | null }> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await storage.get<T>(key);
    const next = update(current?.value ?? null);
    if (next === undefined) return { changed: false, value: current?.value ?? null };
    const mutations: Mutation[] = [
      next === null
        ? { type: "delete", key }
        : { type: "set", key, value: next as unknown as JsonValue },
      ...(options.extra?.(next) ?? []),
    ];
    const res = await storage.commit({
      checks: [{ key, stamp: current?.stamp ?? null }, ...(options.checks ?? [])],
      mutations,
    });
    if (res.ok) return { changed: true, value: next };
    await backoff(attempt);
  }
  throw new RegistryError("conflict", "Could not update a row under contention; retry");
}

/**
 * Walk every row under a prefix, page by page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { listAll } from "./store.ts";
 * const storage = new MemoryRegistryStorage();
 * const mutations = [1, 2, 3].map((n) => ({ type: "set" as const, key: ["items", `${n}`], value: n }));
 * await storage.commit({ checks: [], mutations });
 * const values: number[] = [];
 * for await (const e of listAll<number>(storage, ["items"], { pageSize: 2 })) values.push(e.value);
 * assert(values.join() === "1,2,3");
 * ```
 */
export async function* listAll<T>(
  storage: RegistryStorage,
  prefix: RowKey,
  options: { pageSize?: number; reverse?: boolean; after?: RowKey } = {},
): AsyncGenerator<Entry<T>> {
  let cursor: string | undefined;
  let after = options.after;
  do {
    const page = await storage.list<T>(prefix, {
      limit: options.pageSize ?? 500,
      reverse: options.reverse ?? false,
      ...(cursor === undefined ? {} : { cursor }),
      // Seek on the first page only: later pages follow the backend's cursor.
      ...(after === undefined ? {} : { after }),
    });
    after = undefined;
    yield* page.items;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/**
 * Every version of a package with its lifecycle, newest (SemVer) first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { nextPackageRow } from "./packages.ts";
 * import { listVersionStates, putVersionIfAbsent } from "./store.ts";
 * const storage = new MemoryRegistryStorage();
 * const ref = { namespace: "@acme", name: "widget" };
 * for (const version of ["1.0.0", "1.10.0", "1.2.0"]) {
 *   const row = { ...ref, version, format: "jsr" as const, visibility: "public" as const, files: {}, facts: {}, publishedAt: new Date().toISOString(), publishedBy: "ci" };
 *   await putVersionIfAbsent(storage, { row, updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }) });
 * }
 * const states = await listVersionStates(storage, ref);
 * assert(states.map((s) => s.version).join() === "1.10.0,1.2.0,1.0.0");
 * ```
 */
export async function listVersionStates(
  storage: RegistryStorage,
  ref: PackageRef,
): Promise<VersionState[]> {
  const states: VersionState[] = [];
  for await (const e of listAll<VersionState>(storage, keys.versionStatesPrefix(ref))) {
    states.push(e.value);
  }
  return states.sort((a, b) => compareVersions(b.version, a.version));
}

/** Read an immutable version row, or `null`. */
export async function getVersionRow(
  storage: RegistryStorage,
  ref: VersionRef,
): Promise<VersionRow | null> {
  return (await storage.get<VersionRow>(keys.versionKey(ref)))?.value ?? null;
}

/** Read a package row, or `null`. */
export async function getPackageRow(
  storage: RegistryStorage,
  ref: PackageRef,
): Promise<PackageRow | null> {
  return (await storage.get<PackageRow>(keys.packageKey(ref)))?.value ?? null;
}
