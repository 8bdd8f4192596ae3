/**
 * Rack's R2 mirror: the bucket key layout Rack's read Worker serves from,
 * written as derived state after each commit.
 *
 * ```text
 * <ns>/<segs…>/<version>/<file path>     every file of a version, registry.json LAST
 * <ns>/<segs…>/versions.json             {"versions":[…]}, newest first, as the server serves it
 * presets/<name>/preset.json             each preset
 * schema/{rack,preset,registry-item}.json what /schemas/:file serves (server/rack_mirror.ts)
 * .auth/auth.json                        a copy of auth.json (server/rack_mirror.ts)
 * ```
 *
 * The store stays the one source of truth. A commit that changes what the
 * Worker must see (a Rack upload, a hard delete of a Rack version, a preset
 * change) writes an item into a durable outbox (`["rack_mirror", id]`) in the
 * same atomic commit; {@linkcode drainRackMirror}, run by any process sharing
 * the store, takes due items under a lease, writes the objects, and deletes
 * the item once done — or puts it back with a growing delay when the bucket
 * failed. Items never expire: the mirror catches up whenever the bucket
 * answers again. {@linkcode rebuildRackMirror} writes everything again from
 * the store (an operator command).
 *
 * `registry.json` is the publish marker, as in the original's R2 mode: it is
 * written only after every other file of its version, and removed first when
 * a version is deleted. `versions.json` is written after that, rendered from
 * the version records exactly as the server's own `…/versions` route renders
 * it (SemVer order, newest first, yanked versions included: they stay
 * downloadable). A yank changes nothing in the bucket; a hard delete removes
 * the version's objects and its entry in `versions.json` (the whole file when
 * no version is left).
 *
 * @module
 */
import type { RegistryContext } from "../context.ts";
import { sha256Hex } from "../../base/digest.ts";
import { isRegistryError } from "../../base/errors.ts";
import { versionFiles } from "../files.ts";
import { isVersion } from "../../base/names.ts";
import type { PackageRow } from "../rows.ts";
import { getVersionRow, listAll, listVersionStates } from "../store.ts";
import { claimLease, isDue } from "../_lease.ts";
import * as keys from "../../storage/keys.ts";
import type { JsonValue } from "../../storage/types.ts";
import { rackMimeType } from "./mime.ts";
import { PRESET_KIND, type RackPackageRef, readPreset, versionsJsonAt } from "./read.ts";
import { RACK_FORMAT } from "./upload.ts";
import { RACK_SCHEMA_FILES, type RackSchemaFile } from "./schema.ts";
import type { RackMirrorItem, RackMirrorWork } from "./mirror_queue.ts";
import type { RackMirrorBacklog } from "../metrics.ts";

export { rackMirrorMutation } from "./mirror_queue.ts";
export type { RackMirrorItem, RackMirrorWork } from "./mirror_queue.ts";

/**
 * Where the mirror writes: objects by key in one bucket. `S3BundleStorage`
 * (its `putObject`, `deleteObject`, `listObjects`) is one.
 */
export interface RackMirrorTarget {
  /** Write (or replace) an object. */
  putObject(
    key: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
    options?: { contentType?: string },
  ): Promise<unknown>;
  /** Delete an object; absent is no error. */
  deleteObject(key: string): Promise<void>;
  /** Every key under a prefix, in key order. */
  listObjects(prefix: string): AsyncIterable<{ key: string }>;
}

/** The key of Rack's `auth.json` copy, read by the Worker. */
export const AUTH_COPY_KEY = ".auth/auth.json";

/** Delay before retry n (1-based): 1 s doubling, at most one minute. */
const retryDelayMs = (attempts: number) => Math.min(60_000, 1000 * 2 ** (attempts - 1));

/** The key prefix of a package, `<ns>/<segs…>/`. */
function packagePrefix(ref: { namespace: string; name: string }): string {
  return `${ref.namespace}/${ref.name}/`;
}

function segmentsOf(ref: { namespace: string; name: string }): RackPackageRef {
  return { namespace: ref.namespace, segments: ref.name.split("/") };
}

/**
 * Write `versions.json` as the server renders it now, or delete it when the
 * package has no version left; again while the package changed meanwhile, so
 * that of two writers the one that writes last has written the newest list.
 */
export async function syncVersionsJson(
  ctx: RegistryContext,
  target: RackMirrorTarget,
  ref: { namespace: string; name: string },
): Promise<void> {
  const key = `${packagePrefix(ref)}versions.json`;
  for (let round = 0; round < 5; round++) {
    const { doc, stamp } = await versionsJsonAt(ctx, segmentsOf(ref));
    if (doc === null) await target.deleteObject(key);
    else await target.putObject(key, doc.bytes, { contentType: "application/json" });
    const now = await ctx.storage.get(keys.packageKey(ref));
    if ((now?.stamp ?? null) === stamp) return;
  }
}

/**
 * Write one version's files, `registry.json` last. `false` when the store no
 * longer holds it as a Rack version (deleted since).
 */
export async function writeVersionFiles(
  ctx: RegistryContext,
  target: RackMirrorTarget,
  ref: { namespace: string; name: string; version: string },
  onFile?: () => Promise<void>,
): Promise<boolean> {
  const row = await getVersionRow(ctx.storage, ref);
  if (!row || row.format !== RACK_FORMAT) return false;
  const files = await versionFiles(ctx, row);
  const base = `${packagePrefix(ref)}${ref.version}/`;
  const paths = Object.keys(files).filter((p) => p !== "registry.json").sort();
  if (Object.hasOwn(files, "registry.json")) paths.push("registry.json");
  for (const path of paths) {
    const entry = files[path]!;
    const blob = await ctx.bundles.get(entry.sha256);
    if (!blob) throw new Error(`Blob ${entry.sha256} of ${base}${path} is missing`);
    await target.putObject(`${base}${path}`, blob.stream, { contentType: rackMimeType(path) });
    await onFile?.();
  }
  return true;
}

/** Remove a version's objects: `registry.json` first, so a half-removed version is never served. */
async function removeVersionFiles(
  target: RackMirrorTarget,
  ref: { namespace: string; name: string; version: string },
): Promise<void> {
  const base = `${packagePrefix(ref)}${ref.version}/`;
  await target.deleteObject(`${base}registry.json`);
  const left: string[] = [];
  for await (const o of target.listObjects(base)) left.push(o.key);
  for (const key of left) await target.deleteObject(key);
}

/** Do what one item asks. */
export async function applyRackMirrorWork(
  ctx: RegistryContext,
  target: RackMirrorTarget,
  work: RackMirrorWork,
  onFile?: () => Promise<void>,
): Promise<void> {
  if (work.kind === "preset") {
    const key = `presets/${work.preset}/preset.json`;
    try {
      const doc = await readPreset(ctx, work.preset);
      await target.putObject(key, doc.bytes, { contentType: "application/json" });
    } catch (err) {
      if (!isRegistryError(err, "not_found")) throw err;
      await target.deleteObject(key);
    }
    return;
  }
  const written = work.kind === "version" && await writeVersionFiles(ctx, target, work, onFile);
  // The list goes up once the version is complete (or gone).
  await syncVersionsJson(ctx, target, work);
  if (!written) await removeVersionFiles(target, work);
}

/** Options of {@linkcode drainRackMirror}. */
export interface RackMirrorDrainOptions {
  /**
   * How long a taken item is left to its worker (default 30 000 ms); renewed
   * as its files go up, so a long version keeps it and a worker that died
   * holding it delays it by at most this much.
   */
  leaseMs?: number;
  /** Most items attempted in one call (default 100). */
  batch?: number;
  /** Aborting it ends the call after the item in hand (a server stopping). */
  signal?: AbortSignal;
  /** Told about each failed attempt (logs). */
  onFailure?: (item: RackMirrorItem, error: unknown) => void;
}

/** What one {@linkcode drainRackMirror} call did. */
export interface RackMirrorReport {
  /** Items done (and removed from the outbox). */
  done: number;
  /** Items that failed and wait for a retry. */
  failed: number;
}

/** Settle a taken item: gone when done, else back with a later time and the reason. */
async function settle(
  ctx: RegistryContext,
  item: RackMirrorItem,
  error: unknown,
): Promise<void> {
  const key = keys.rackMirrorKey(item.id);
  if (error === undefined) {
    await ctx.storage.commit({ checks: [], mutations: [{ type: "delete", key }] });
    return;
  }
  const attempts = item.attempts + 1;
  const next: RackMirrorItem = {
    ...item,
    attempts,
    nextAttemptAt: new Date(ctx.clock().getTime() + retryDelayMs(attempts)).toISOString(),
    lastError: (error instanceof Error ? error.message : String(error)).slice(0, 500),
  };
  delete next.leaseUntil;
  await ctx.storage.commit({
    checks: [],
    mutations: [{ type: "set", key, value: next as unknown as JsonValue }],
  });
}

/** The item's lease went to another worker: it is theirs to settle. */
class LostLease extends Error {
  constructor() {
    super("Lost the lease of this mirror item to another worker");
  }
}

/**
 * A renewal of a taken item's lease, called after each file: once a third of
 * the lease has passed, push it out again — only while the item is still ours
 * (the same `leaseUntil`), so a worker that lost it never takes it back.
 */
function renewer(
  ctx: RegistryContext,
  item: RackMirrorItem,
  leaseMs: number,
): () => Promise<void> {
  let renewedAt = ctx.clock().getTime();
  return async () => {
    const now = ctx.clock().getTime();
    if (now - renewedAt < leaseMs / 3) return;
    const key = keys.rackMirrorKey(item.id);
    const entry = await ctx.storage.get<RackMirrorItem>(key);
    if (!entry || entry.value.leaseUntil !== item.leaseUntil) {
      throw new LostLease();
    }
    item.leaseUntil = new Date(now + leaseMs).toISOString();
    const res = await ctx.storage.commit({
      checks: [{ key, stamp: entry.stamp }],
      mutations: [{ type: "set", key, value: item as unknown as JsonValue }],
    });
    if (!res.ok) throw new Error("Lost the lease of this mirror item to another worker");
    renewedAt = now;
  };
}

/**
 * Work every due mirror item once, oldest first: take its lease, write, and
 * remove it, or schedule a retry (1 s doubling up to a minute, for ever).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { drainRackMirror, rackMirrorMutation } from "./mirror.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * await ctx.storage.commit({ checks: [], mutations: [rackMirrorMutation({ kind: "preset", preset: "web" }, ctx.clock())] });
 * const deleted: string[] = [];
 * const target = {
 *   putObject: () => Promise.resolve(),
 *   deleteObject: (key: string) => (deleted.push(key), Promise.resolve()),
 *   listObjects: async function* () {},
 * };
 * assert.deepEqual(await drainRackMirror(ctx, target), { done: 1, failed: 0 });
 * assert.deepEqual(deleted, ["presets/web/preset.json"]); // no such preset: not in the bucket either
 * ```
 */
export async function drainRackMirror(
  ctx: RegistryContext,
  target: RackMirrorTarget,
  options: RackMirrorDrainOptions = {},
): Promise<RackMirrorReport> {
  const report: RackMirrorReport = { done: 0, failed: 0 };
  const leaseMs = options.leaseMs ?? 30_000;
  const nowMs = ctx.clock().getTime();
  const due: string[] = [];
  for await (const e of listAll<RackMirrorItem>(ctx.storage, keys.rackMirrorPrefix())) {
    if (!isDue(e.value, nowMs)) continue;
    due.push(e.value.id);
    if (due.length >= (options.batch ?? 100)) break;
  }
  for (const id of due) {
    if (options.signal?.aborted) break;
    const item = await claimLease<RackMirrorItem>(ctx, keys.rackMirrorKey(id), { leaseMs });
    if (!item) continue;
    let error: unknown = undefined;
    try {
      await applyRackMirrorWork(ctx, target, item, renewer(ctx, item, leaseMs));
    } catch (err) {
      if (err instanceof LostLease) continue;
      error = err ?? new Error("Mirror write failed");
      options.onFailure?.(item, err);
    }
    await settle(ctx, item, error);
    if (error === undefined) report.done++;
    else report.failed++;
  }
  return report;
}

/** The pending mirror items, oldest first (at most `limit`, default 1000). */
export async function pendingRackMirror(
  ctx: Pick<RegistryContext, "storage">,
  limit = 1000,
): Promise<RackMirrorItem[]> {
  const page = await ctx.storage.list<RackMirrorItem>(keys.rackMirrorPrefix(), { limit });
  return page.items.map((e) => e.value);
}

/** The outbox at a glance: what waits, since when, and when the next item is due. */
export interface RackMirrorBacklogView extends RackMirrorBacklog {
  /** The earliest time a waiting item is due, for a worker loop to sleep until. */
  nextDueAt: Date | null;
}

/** Read the outbox once: its size, its retrying items, its oldest item and its next due time. */
export async function rackMirrorBacklog(
  ctx: Pick<RegistryContext, "storage">,
): Promise<RackMirrorBacklogView> {
  let next: number | null = null;
  let oldest: number | null = null;
  let queued = 0;
  let retrying = 0;
  for await (const e of listAll<RackMirrorItem>(ctx.storage, keys.rackMirrorPrefix())) {
    const r = e.value;
    queued++;
    if (r.attempts > 0) retrying++;
    const at = Math.max(Date.parse(r.nextAttemptAt), r.leaseUntil ? Date.parse(r.leaseUntil) : 0);
    if (next === null || at < next) next = at;
    const created = Date.parse(r.createdAt);
    if (oldest === null || created < oldest) oldest = created;
  }
  return {
    queued,
    retrying,
    oldestCreatedAt: oldest === null ? null : new Date(oldest),
    nextDueAt: next === null ? null : new Date(next),
  };
}

/** A document kept outside the store, mirrored when its bytes change. */
interface MirrorStateRow {
  /** The digest of the bytes copied, or `absent` when the object was deleted. */
  sha256: string;
  at: string;
}

/**
 * Make the object `key` hold `bytes` (or delete it for `null`) unless the last
 * copy, recorded in the store under `state`, was the same. Answers whether it
 * wrote. A failure leaves the record as it was, so the next call tries again.
 */
async function syncDocumentCopy(
  ctx: RegistryContext,
  target: RackMirrorTarget,
  doc: { state: string; key: string; bytes: Uint8Array | null; force?: boolean },
): Promise<boolean> {
  const sha256 = doc.bytes === null ? "absent" : sha256Hex(doc.bytes);
  const key = keys.rackMirrorStateKey(doc.state);
  const last = await ctx.storage.get<MirrorStateRow>(key);
  if (!doc.force && last?.value.sha256 === sha256) return false;
  if (doc.bytes === null) await target.deleteObject(doc.key);
  else await target.putObject(doc.key, doc.bytes, { contentType: "application/json" });
  const row: MirrorStateRow = { sha256, at: ctx.clock().toISOString() };
  await ctx.storage.commit({
    checks: [],
    mutations: [{ type: "set", key, value: row as unknown as JsonValue }],
  });
  return true;
}

/**
 * Copy `auth.json` (its exact bytes, already checked by the caller) to
 * `.auth/auth.json` unless the last copy, recorded in the store, had the same
 * digest. Answers whether it wrote. A failure leaves the record as it was, so
 * the next call tries again.
 */
export async function syncAuthCopy(
  ctx: RegistryContext,
  target: RackMirrorTarget,
  bytes: Uint8Array,
  options: { force?: boolean } = {},
): Promise<boolean> {
  return await syncDocumentCopy(ctx, target, {
    state: "auth",
    key: AUTH_COPY_KEY,
    bytes,
    ...(options.force ? { force: true } : {}),
  });
}

/** The bucket key of a schema file, as in the original's layout (`schema/<file>`). */
export function schemaCopyKey(file: RackSchemaFile): string {
  return `schema/${file}`;
}

/**
 * Copy the three schema files the server serves at `/schemas/:file` (`read`
 * answers their bytes, or `null` for one the server answers 404) to
 * `schema/<file>`, each only when it changed since its last copy; a file the
 * server no longer serves is deleted. Answers how many objects were written
 * or deleted.
 */
export async function syncSchemaCopies(
  ctx: RegistryContext,
  target: RackMirrorTarget,
  read: (file: RackSchemaFile) => Promise<Uint8Array | null>,
  options: { force?: boolean } = {},
): Promise<number> {
  let changed = 0;
  for (const file of RACK_SCHEMA_FILES) {
    const doc = { state: schemaCopyKey(file), key: schemaCopyKey(file), bytes: await read(file) };
    if (
      await syncDocumentCopy(ctx, target, { ...doc, ...(options.force ? { force: true } : {}) })
    ) {
      changed++;
    }
  }
  return changed;
}

/** What {@linkcode rebuildRackMirror} did. */
export interface RackMirrorRebuildReport {
  /** Packages whose versions.json was written. */
  packages: number;
  /** Versions whose files were written. */
  versions: number;
  /** Presets written. */
  presets: number;
  /** Objects deleted by `prune`. */
  pruned: number;
}

/**
 * Write the whole mirror again from the store: every Rack version's files
 * (`registry.json` last), every `versions.json`, every preset. With `prune`,
 * also delete objects under `@…/` that belong to no version or package the
 * store holds (a bucket shared with the original's uploads keeps them without it).
 */
export async function rebuildRackMirror(
  ctx: RegistryContext,
  target: RackMirrorTarget,
  options: { prune?: boolean; onProgress?: (r: RackMirrorRebuildReport) => void } = {},
): Promise<RackMirrorRebuildReport> {
  const report: RackMirrorRebuildReport = { packages: 0, versions: 0, presets: 0, pruned: 0 };
  const live = new Set<string>();
  for await (const e of listAll<PackageRow>(ctx.storage, keys.packagesPrefix())) {
    const pkg = e.value;
    if (pkg.format !== RACK_FORMAT) continue;
    for (const state of await listVersionStates(ctx.storage, pkg)) {
      if (state.format !== RACK_FORMAT) continue;
      const ref = { namespace: pkg.namespace, name: pkg.name, version: state.version };
      if (await writeVersionFiles(ctx, target, ref)) {
        live.add(`${packagePrefix(ref)}${ref.version}/`);
        report.versions++;
      }
    }
    await syncVersionsJson(ctx, target, pkg);
    live.add(`${packagePrefix(pkg)}versions.json`);
    report.packages++;
    options.onProgress?.(report);
  }
  for await (
    const e of listAll<{ preset: JsonValue }>(ctx.storage, keys.configPrefix(PRESET_KIND))
  ) {
    const name = e.key.at(-1)!;
    await applyRackMirrorWork(ctx, target, { kind: "preset", preset: name });
    report.presets++;
  }
  if (options.prune) report.pruned = await prune(target, live);
  return report;
}

/** The version folder (`<ns>/<segs…>/<version>/`) a key belongs to, or the key itself. */
function ownerOf(key: string): string {
  const parts = key.split("/");
  const at = parts.findIndex((p, i) => i >= 2 && isVersion(p));
  return at === -1 ? key : `${parts.slice(0, at + 1).join("/")}/`;
}

/** Delete every `@…` object whose version folder or versions.json is not live. */
async function prune(target: RackMirrorTarget, live: Set<string>): Promise<number> {
  const stale: string[] = [];
  for await (const o of target.listObjects("@")) {
    if (!live.has(ownerOf(o.key))) stale.push(o.key);
  }
  // Markers first: a version half pruned is never served.
  stale.sort((a, b) => Number(b.endsWith("/registry.json")) - Number(a.endsWith("/registry.json")));
  for (const key of stale) await target.deleteObject(key);
  return stale.length;
}
