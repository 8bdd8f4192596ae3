/**
 * Garbage collection of blobs no version references (left by failed or
 * refused uploads, hard deletes, replaced file lists).
 *
 * A blob is swept when no version row references it (its files, its file-list
 * blob, digests in its facts such as a compiled blueprint or a Rack archive)
 * AND its `touchedAt` is older than the grace period (`put()` of existing bytes
 * refreshes `touchedAt`).
 *
 * Racing publishes are safe by a protocol, not by timing:
 *
 * 1. A run takes the GC state row (`["gc", "state"]`, compare-and-set) to
 *    `running` with a lease, BEFORE it lists references or blobs.
 * 2. A publish reads that row before its first blob (its guard) and its commit
 *    checks the row's stamp. Unchanged stamp → no run started since the guard,
 *    so nothing it put or read since was deleted. Changed → the commit waits
 *    while a run is `running`, then stats every blob its row references and
 *    commits against the new stamp (or answers `conflict`, retry).
 * 3. Versions committed before the run's step 1 are listed by the run; none
 *    can commit while it runs. So no committed version ever points at a
 *    deleted blob.
 *
 * 4. A publish also holds what it stores: a hold row taken (against an idle
 *    GC row) before its first blob keeps every blob touched since it began,
 *    whatever the grace period, until the publish ends or the hold expires
 *    (an hour: a crashed publish). A run that starts later lists the holds
 *    and never passes the oldest. A failed or refused publish drops the blobs
 *    it created itself, under this same lease (see `core/_blob_hold.ts`).
 *
 * The grace period (default one hour) keeps blobs stored by anything that
 * holds nothing (an import) and spares publishes the re-verification.
 *
 * @module
 */
import { auditMutation, auditRow } from "./audit.ts";
import type { RegistryContext } from "./context.ts";
import { timeOrderedId } from "./context.ts";
import { echo, RegistryError } from "../base/errors.ts";
import type { VersionRow } from "./rows.ts";
import { listAll } from "./store.ts";
import { endGcLease, takeGcLease, versionBlobRefs } from "./_gc_guard.ts";
import { heldSince, sweepHolds } from "./_blob_hold.ts";
import { DigestSet } from "./_digest_set.ts";
import { upstreamCacheRefs } from "./jsr/upstream.ts";
import * as keys from "../storage/keys.ts";
import type { BlobInfo } from "../storage/types.ts";

export { type GcGuard, readGcGuard } from "./_gc_guard.ts";

/** The default grace period: one hour. */
export const DEFAULT_GC_GRACE_MS = 60 * 60 * 1000;
/** How long a run may take before others treat it as crashed. */
const DEFAULT_LEASE_MS = 10 * 60 * 1000;

/** How far a run is (see {@linkcode GcOptions.onProgress}). */
export interface GcProgress {
  /** Version rows read for references. */
  versions: number;
  /** Blobs listed. */
  scanned: number;
  /** Bytes of the blobs listed. */
  scannedBytes: number;
  /** Orphans deleted (or found, on a dry run). */
  orphans: number;
  /** Bytes of those orphans. */
  bytes: number;
}

/** Options of {@linkcode collectGarbage}. */
export interface GcOptions {
  /** Only list what would go; change nothing. */
  dryRun?: boolean;
  /** Blobs touched within this many ms are kept (default one hour). */
  graceMs?: number;
  /** The run's lease (default ten minutes). */
  leaseMs?: number;
  /** Who runs it (audit actor; default `system`). */
  actor?: string;
  /** Called between the reference listing and the deletions (tests widen the race window here). */
  onBeforeDelete?: () => Promise<void> | void;
  /** Told the counts as the run goes (every 500 versions or blobs, and at the end). */
  onProgress?: (progress: GcProgress) => void;
}

/** How many orphans a report names; the rest are counted in `orphanCount` and `bytes`. */
export const GC_ORPHANS_LISTED = 1000;

/** What a run found and did. */
export interface GcReport {
  /** Whether nothing was changed. */
  dryRun: boolean;
  /** Blobs present. */
  scanned: number;
  /** Distinct blobs referenced by versions. */
  referenced: number;
  /** Unreferenced blobs younger than the cutoff or a publish in flight (kept). */
  young: number;
  /** Whether a publish in flight held blobs past the cutoff (see `core/_blob_hold.ts`). */
  held: boolean;
  /**
   * The unreferenced blobs older than the cutoff: deleted, or listed on a dry
   * run; the first {@linkcode GC_ORPHANS_LISTED} of them (memory stays bounded).
   */
  orphans: Pick<BlobInfo, "sha256" | "size" | "touchedAt">[];
  /** How many orphans were deleted (or found, on a dry run), all of them. */
  orphanCount: number;
  /** Bytes of all the orphans. */
  bytes: number;
  /** Abandoned chunked uploads swept (KV bundle storage). */
  uploadsSwept: number;
  /** Blobs touched after this are kept. */
  cutoff: string;
}

/** Blob storage that can also sweep abandoned chunked uploads (KV). */
interface SweepsUploads {
  sweepUploads(olderThan: Date): Promise<number>;
}

function sweepsUploads(bundles: unknown): bundles is SweepsUploads {
  return typeof (bundles as Partial<SweepsUploads>).sweepUploads === "function";
}

/**
 * Every blob a committed version references: the run's live set, the one
 * thing that grows with the store (16–32 bytes per referenced blob, see
 * `core/_digest_set.ts`).
 */
async function referencedBlobs(
  ctx: RegistryContext,
  progress: GcProgress,
  tell: (force?: boolean) => void,
): Promise<DigestSet> {
  const refs = new DigestSet();
  for await (const e of listAll<VersionRow>(ctx.storage, keys.allVersionsPrefix())) {
    for (const digest of await versionBlobRefs(ctx, e.value)) refs.add(digest);
    progress.versions++;
    tell();
  }
  // The upstream cache is served like our own packages (offline included).
  for await (const digest of upstreamCacheRefs(ctx)) refs.add(digest);
  return refs;
}

async function releaseLease(ctx: RegistryContext, runId: string, report: GcReport, actor: string) {
  const audit = auditRow(ctx, {
    actor,
    action: "gc.run",
    target: "blobs",
    detail: {
      deleted: report.orphanCount,
      bytes: report.bytes,
      uploadsSwept: report.uploadsSwept,
      cutoff: report.cutoff,
    },
  });
  await endGcLease(ctx, { runId, extra: [auditMutation(audit)] });
}

/**
 * Find (dry run) or delete unreferenced blobs older than the grace period,
 * and sweep abandoned chunked uploads on KV bundle storage.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectGarbage } from "./gc.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * const bundles = new MemoryBundleStorage();
 * await bundles.put(new TextEncoder().encode("orphan")); // referenced by no version
 * // An hour later, past a one-minute grace period:
 * const later = () => new Date(Date.now() + 3_600_000);
 * const ctx = { storage: new MemoryRegistryStorage(), bundles, clock: later };
 * const report = await collectGarbage(ctx, { dryRun: true, graceMs: 60_000 });
 * assert.equal(report.orphans.length, 1);
 * ```
 */
export async function collectGarbage(
  ctx: RegistryContext,
  options: GcOptions = {},
): Promise<GcReport> {
  const graceMs = options.graceMs ?? DEFAULT_GC_GRACE_MS;
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new RegistryError("invalid_input", `Invalid grace period '${graceMs}'`);
  }
  const dryRun = options.dryRun ?? false;
  const actor = options.actor ?? "system";
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const started = ctx.clock();
  const cutoffDate = new Date(started.getTime() - graceMs);
  // A grace reaching back past the earliest representable date (±8.64e15 ms
  // around 1970) gives no cutoff at all: refuse it before taking the lease.
  if (!Number.isFinite(cutoffDate.getTime())) {
    throw new RegistryError(
      "invalid_input",
      `Invalid grace period '${graceMs}' ms: the cutoff it gives is not a valid date`,
    );
  }
  const cutoff = cutoffDate.toISOString();
  const runId = timeOrderedId(started);
  // On a full disk even the lease does not fit: give up the reserve first.
  if (!dryRun) await ctx.reserve?.release();
  try {
    if (!dryRun) await takeGcLease(ctx, { runId, cutoff, leaseMs });
  } catch (err) {
    if (!dryRun) await ctx.reserve?.restore().catch(() => {});
    throw err;
  }
  const report: GcReport = {
    dryRun,
    scanned: 0,
    referenced: 0,
    young: 0,
    orphans: [],
    orphanCount: 0,
    bytes: 0,
    uploadsSwept: 0,
    cutoff,
    held: false,
  };
  const progress: GcProgress = { versions: 0, scanned: 0, scannedBytes: 0, orphans: 0, bytes: 0 };
  const tell = (force = false) => {
    if (!options.onProgress) return;
    if (!force && (progress.versions + progress.scanned) % 500 !== 0) return;
    options.onProgress({ ...progress, orphans: report.orphanCount, bytes: report.bytes });
  };
  try {
    // Publishes in flight keep every blob touched since they began (their holds).
    if (!dryRun) await sweepHolds(ctx);
    const held = await heldSince(ctx);
    const keepAfter = held === null ? cutoffDate.getTime() : Math.min(held, cutoffDate.getTime());
    report.held = held !== null;
    const refs = await referencedBlobs(ctx, progress, tell);
    report.referenced = refs.size;
    await options.onBeforeDelete?.();
    // Page by page: what the run holds besides `refs` is one page of blobs.
    const sweep = { ctx, report, dryRun, keepAfter, until: started.getTime() + leaseMs };
    let cursor: string | undefined;
    do {
      const page = await ctx.bundles.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
      const candidates: BlobInfo[] = [];
      for (const blob of page.items) {
        report.scanned++;
        progress.scanned++;
        progress.scannedBytes += blob.size;
        tell();
        if (refs.has(blob.sha256)) continue;
        if (!(Date.parse(blob.touchedAt) < keepAfter)) report.young++;
        else candidates.push(blob);
      }
      if (!(await sweepCandidates(sweep, candidates))) break; // lease over: stop
      cursor = page.cursor;
    } while (cursor !== undefined);
    if (!dryRun && sweepsUploads(ctx.bundles)) {
      report.uploadsSwept = await ctx.bundles.sweepUploads(new Date(keepAfter));
    }
  } finally {
    if (!dryRun) {
      try {
        await releaseLease(ctx, runId, report, actor);
      } finally {
        await ctx.reserve?.restore().catch(() => {});
      }
    }
  }
  tell(true);
  return report;
}

/** Count an orphan; name it while the report names fewer than {@linkcode GC_ORPHANS_LISTED}. */
function recordOrphan(report: GcReport, blob: BlobInfo): void {
  report.orphanCount++;
  report.bytes += blob.size;
  if (report.orphans.length < GC_ORPHANS_LISTED) {
    report.orphans.push({ sha256: blob.sha256, size: blob.size, touchedAt: blob.touchedAt });
  }
}

/**
 * Delete (or, on a dry run, count) one page's unreferenced old blobs, each
 * checked again just before its delete. Answers `false` once the lease is over.
 */
async function sweepCandidates(
  sweep: {
    ctx: RegistryContext;
    report: GcReport;
    dryRun: boolean;
    keepAfter: number;
    until: number;
  },
  candidates: readonly BlobInfo[],
): Promise<boolean> {
  const { ctx, report, keepAfter } = sweep;
  for (const blob of candidates) {
    if (sweep.dryRun) {
      recordOrphan(report, blob);
      continue;
    }
    if (ctx.clock().getTime() >= sweep.until) return false;
    const fresh = await ctx.bundles.stat(blob.sha256);
    if (!fresh || !(Date.parse(fresh.touchedAt) < keepAfter)) continue;
    if (await ctx.bundles.delete(blob.sha256)) recordOrphan(report, fresh);
  }
  return true;
}

/**
 * Parse a duration such as `90s`, `15m`, `1h`, `2d` or plain milliseconds.
 * A duration of more than `Number.MAX_SAFE_INTEGER` ms (some 285,000 years)
 * is refused, as is anything else that is not a number with a unit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./gc.ts";
 * assert.ok(parseDuration("1h") === 3_600_000);
 * ```
 */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) {
    throw new RegistryError(
      "invalid_input",
      `Invalid duration '${echo(text)}': a number with ms, s, m, h or d (30m, 1h, 7d)`,
    );
  }
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? "ms"]!;
  const ms = n * unit;
  if (!Number.isSafeInteger(ms)) {
    throw new RegistryError(
      "invalid_input",
      `Invalid duration '${echo(text)}': too long (a number with ms, s, m, h or d: 30m, 1h, 7d)`,
    );
  }
  return ms;
}
