// A publish's hold on the blobs it stores (the publish side of core/gc.ts).
//
// A publish takes a hold row before its first blob, committed against an idle
// GC state row: every GC run that starts later sees the hold and keeps every
// blob touched since the hold began (a run's cutoff never passes the oldest
// live hold). So a GC with a grace period of zero, in a loop, cannot take the
// archive a Rack upload is still extracting or the tarball a JSR publish is
// still reading.
//
// When the publish fails or is refused, the hold drops what it created (bytes
// that were not stored before its put): under the GC lease, and only blobs
// nothing touched again since and no version committed since refers to (each
// version commit leaves a `gc_recent` row for this). A blob that was stored
// already may belong to a committed version and is never dropped.
import type { RegistryContext } from "./context.ts";
import { timeOrderedId } from "./context.ts";
import { RegistryError } from "../base/errors.ts";
import {
  endGcLease,
  gcRunning,
  type GcStateRow,
  takeGcLease,
  versionBlobRefs,
} from "./_gc_guard.ts";
import type { VersionRow } from "./rows.ts";
import { listAll } from "./store.ts";
import * as keys from "../storage/keys.ts";
import type { BundleStorage, JsonValue, PutBlobResult, RowKey } from "../storage/types.ts";

/** A hold row. */
export interface BlobHoldRow {
  /** When the publish began: blobs touched since are kept. */
  since: string;
  /** A hold past this time was left by a crashed process and is ignored. */
  until: string;
}

/** How long a hold lasts at most (a crashed publish's hold ends by itself). */
export const HOLD_MS = 60 * 60 * 1000;
/**
 * Blobs touched this long before a hold began are kept too: blob storage
 * dates `touchedAt` by its own clock (a file's mtime), not the registry's.
 */
export const HOLD_SKEW_MS = 60 * 1000;
/** How many 50 ms rounds a hold waits for a running GC (one minute). */
const WAIT_ROUNDS = 1200;
/** How many 50 ms rounds a failed publish waits for the GC lease to drop its blobs. */
const DROP_WAIT_ROUNDS = 100;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function live(row: BlobHoldRow, now: Date): boolean {
  return Date.parse(row.until) > now.getTime();
}

/**
 * The oldest time a blob may have been touched and still be held, or `null`
 * when no hold is live (`except`: a hold to leave out).
 */
export async function heldSince(
  ctx: Pick<RegistryContext, "storage" | "clock">,
  except?: string,
): Promise<number | null> {
  const now = ctx.clock();
  let oldest: number | null = null;
  for await (const e of listAll<BlobHoldRow>(ctx.storage, keys.blobHoldsPrefix())) {
    if (e.key[1] === except || !live(e.value, now)) continue;
    const since = Date.parse(e.value.since) - HOLD_SKEW_MS;
    if (oldest === null || since < oldest) oldest = since;
  }
  return oldest;
}

/** Stale rows deleted per commit by {@linkcode sweepHolds} (and the most it holds at once). */
export const SWEEP_BATCH = 500;

/**
 * Delete the hold rows that have expired (crashed publishes) and the
 * recent-version rows no publish can need any more. Called by GC under its lease.
 * Deletes as it lists, {@linkcode SWEEP_BATCH} rows a commit: a store whose
 * every version is old (a first run after an import or a migration: a million
 * recent-version rows) costs one batch of keys in memory, not all of them.
 */
export async function sweepHolds(ctx: Pick<RegistryContext, "storage" | "clock">): Promise<void> {
  const now = ctx.clock();
  const stale: RowKey[] = [];
  const flush = async (atLeast: number) => {
    if (stale.length < atLeast) return;
    const mutations = stale.splice(0).map((key) => ({ type: "delete" as const, key }));
    await ctx.storage.commit({ checks: [], mutations });
  };
  for await (const e of listAll<BlobHoldRow>(ctx.storage, keys.blobHoldsPrefix())) {
    if (!live(e.value, now)) stale.push(e.key);
    await flush(SWEEP_BATCH);
  }
  // A publish lives at most HOLD_MS, so it never looks further back than that.
  const horizon = now.getTime() - 2 * HOLD_MS;
  for await (const e of listAll(ctx.storage, keys.recentVersionsPrefix())) {
    if (!(Date.parse(recentTime(e.key)) < horizon)) break;
    stale.push(e.key);
    // Listing pages go on from the last key read: deleting what was read is safe.
    await flush(SWEEP_BATCH);
  }
  await flush(1);
}

/** The commit time of a recent-version row (its id starts with an ISO time). */
function recentTime(key: RowKey): string {
  return (key[1] ?? "").slice(0, 24);
}

/** Every blob the versions committed since `since` (ms) refer to. */
async function recentRefs(ctx: RegistryContext, since: number): Promise<Set<string>> {
  const refs = new Set<string>();
  const rows = listAll<RowKey>(ctx.storage, keys.recentVersionsPrefix(), { reverse: true });
  for await (const e of rows) {
    if (Date.parse(recentTime(e.key)) < since) break;
    const version = await ctx.storage.get<VersionRow>(e.value);
    if (version === null) continue;
    for (const digest of await versionBlobRefs(ctx, version.value)) refs.add(digest);
  }
  return refs;
}

/** Blob storage that notes which blobs its puts created, with the `touchedAt` they gave them. */
function recording(inner: BundleStorage, created: Map<string, string>): BundleStorage {
  return {
    async put(body, options): Promise<PutBlobResult> {
      const info = await inner.put(body, options);
      if (info.created === true) created.set(info.sha256, info.touchedAt);
      else created.delete(info.sha256); // stored before this put: not ours to drop
      return info;
    },
    get: (sha256, range) => inner.get(sha256, range),
    stat: (sha256) => inner.stat(sha256),
    delete: (sha256) => inner.delete(sha256),
    list: (options) => inner.list(options),
    close: () => inner.close(),
  };
}

/**
 * A publish's hold: {@linkcode BlobHold.context} stores blobs that GC keeps
 * while the hold lives. Dispose it (`await using`) when the publish ends;
 * unless {@linkcode BlobHold.keep} was called, the blobs it created go.
 */
export interface BlobHold<C extends RegistryContext> {
  /** The publish's context, whose bundle storage notes what it creates. */
  context: C;
  /**
   * The publish committed: its blobs stay, but for `unused` (blobs its row
   * does not refer to, such as a JSR tarball), which go like a failed
   * publish's when this hold created them.
   */
  keep(options?: { unused?: string[] }): void;
  /** End the hold, dropping what it created unless kept. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Take a hold before the first blob of a publish: waits while a GC run is
 * deleting (then `conflict`, retry, after a minute).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holdBlobs } from "./_blob_hold.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * {
 *   await using hold = await holdBlobs(ctx);
 *   await hold.context.bundles.put(new TextEncoder().encode("refused upload"));
 * } // not kept: dropped
 * assert.equal((await ctx.bundles.list()).items.length, 0);
 * ```
 */
export async function holdBlobs<C extends RegistryContext>(ctx: C): Promise<BlobHold<C>> {
  const id = timeOrderedId(ctx.clock());
  const key = keys.blobHoldKey(id);
  const gKey = keys.gcStateKey();
  for (let round = 0;; round++) {
    const gc = await ctx.storage.get<GcStateRow>(gKey);
    const now = ctx.clock();
    if (!gcRunning(gc?.value, now)) {
      const row: BlobHoldRow = {
        since: now.toISOString(),
        until: new Date(now.getTime() + HOLD_MS).toISOString(),
      };
      // Against the idle GC row: a run that starts later lists this hold.
      const res = await ctx.storage.commit({
        checks: [{ key: gKey, stamp: gc?.stamp ?? null }],
        mutations: [{ type: "set", key, value: row as unknown as JsonValue }],
      });
      if (res.ok) break;
    }
    if (round >= WAIT_ROUNDS) {
      throw new RegistryError("conflict", "A garbage collection is running; retry");
    }
    await sleep(50);
  }
  const created = new Map<string, string>();
  let drop = created;
  return {
    context: { ...ctx, bundles: recording(ctx.bundles, created) },
    keep(options = {}) {
      drop = new Map([...created].filter(([sha256]) => options.unused?.includes(sha256)));
    },
    async [Symbol.asyncDispose]() {
      // Never turns the publish's answer into an error: a hold that cannot be
      // ended (the store failing) expires, and GC sweeps what it kept.
      try {
        if (drop.size === 0) {
          await ctx.storage.commit({ checks: [], mutations: [{ type: "delete", key }] });
        } else {
          await dropCreated(ctx, { id, created: drop });
        }
      } catch { /* see above */ }
    },
  };
}

/**
 * Drop the blobs a failed publish created, under the GC lease, then end its
 * hold. A blob touched again since this publish stored it (another publish
 * stored the same bytes) stays; when the lease stays taken (a long GC run),
 * the hold just ends and GC sweeps the blobs after its grace period.
 *
 * A publish that stores the same bytes between the check and the deletion
 * read its guard before the lease was taken, so its commit sees the GC row
 * changed, finds the blob gone and answers `conflict` (retry): no version
 * ever points at a dropped blob.
 */
async function dropCreated(
  ctx: RegistryContext,
  hold: { id: string; created: Map<string, string> },
): Promise<void> {
  const key = keys.blobHoldKey(hold.id);
  const runId = `drop-${hold.id}`;
  const leaseMs = 60_000;
  let released = false;
  for (let round = 0;; round++) {
    try {
      await takeGcLease(ctx, { runId, cutoff: ctx.clock().toISOString(), leaseMs });
      break;
    } catch (err) {
      const busy = err instanceof RegistryError && err.code === "conflict";
      if (!busy && ctx.reserve && !released) {
        // The store refused the write (a full disk, most likely): give up the
        // reserve once and try again, so that a failed upload still leaves nothing.
        released = true;
        await ctx.reserve.release();
        continue;
      }
      if (!busy || round >= DROP_WAIT_ROUNDS) {
        if (released) await ctx.reserve?.restore().catch(() => {});
        await ctx.storage.commit({ checks: [], mutations: [{ type: "delete", key }] });
        return;
      }
      await sleep(50);
    }
  }
  try {
    const times = [...hold.created.values()].map((at) => Date.parse(at));
    const since = Math.min(...times) - HOLD_SKEW_MS;
    const taken = await recentRefs(ctx, since);
    for (const [sha256, touchedAt] of hold.created) {
      if (taken.has(sha256)) continue; // a version committed since refers to it
      const info = await ctx.bundles.stat(sha256);
      if (info?.touchedAt === touchedAt) await ctx.bundles.delete(sha256);
    }
  } finally {
    try {
      await endGcLease(ctx, { runId, extra: [{ type: "delete", key }] });
    } finally {
      if (released) await ctx.reserve?.restore().catch(() => {});
    }
  }
}
