// The publish side of the garbage-collection protocol (see core/gc.ts).
//
// A publish reads the GC state row BEFORE it puts or reads its first blob (its
// guard). Its commit checks that row's stamp. While the stamp is unchanged no
// GC run has started since the guard, so every blob the publish put or read
// after it is still there. When the stamp changed, a run happened: the commit
// waits for it to end, checks every blob the row references still exists, and
// then commits against the new stamp (or refuses with `conflict`, retry).
import type { RegistryContext } from "./context.ts";
import { RegistryError } from "../base/errors.ts";
import { versionFiles } from "./files.ts";
import { SHA256_RE } from "../base/names.ts";
import type { VersionRow } from "./rows.ts";
import * as keys from "../storage/keys.ts";
import type { JsonValue, Mutation } from "../storage/types.ts";

/** The GC state row. */
export interface GcStateRow {
  /** Whether a run is deleting blobs now. */
  state: "idle" | "running";
  /** The current or last run. */
  runId: string;
  /** When it started. */
  startedAt: string;
  /** A running state past this time is a crashed run, treated as idle. */
  leaseUntil: string;
  /** Blobs touched before this time and unreferenced are deleted. */
  cutoff: string;
  /** When the last run ended. */
  finishedAt?: string;
}

/** What a publish observed before its first blob: the GC row's stamp (`null`: never ran). */
export interface GcGuard {
  /** The stamp of the idle GC row. */
  stamp: string | null;
}

/** Whether a GC row means "deleting now" at `now`. */
export function gcRunning(row: GcStateRow | null | undefined, now: Date): boolean {
  return row?.state === "running" && Date.parse(row.leaseUntil) > now.getTime();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** How long a publish waits for a running GC before answering `conflict`. */
export const GC_WAIT_MS = 60_000;

/**
 * Read the guard: wait while a GC run is deleting, then answer the idle
 * row's stamp. Call before the first blob of a publish is put or read.
 */
export async function readGcGuard(
  ctx: Pick<RegistryContext, "storage" | "clock">,
): Promise<GcGuard> {
  // Counted in rounds, not by the clock: an injected clock may stand still.
  for (let waited = 0;; waited += 50) {
    const entry = await ctx.storage.get<GcStateRow>(keys.gcStateKey());
    if (!gcRunning(entry?.value, ctx.clock())) return { stamp: entry?.stamp ?? null };
    if (waited > GC_WAIT_MS) {
      throw new RegistryError("conflict", "A garbage collection is running; retry");
    }
    await sleep(50);
  }
}

/**
 * Every blob a version row references: its files, its file-list blob, and any
 * fact that is a SHA-256 digest (compiled blueprints, Rack archives).
 */
export async function versionBlobRefs(
  ctx: Pick<RegistryContext, "storage" | "bundles" | "clock">,
  row: VersionRow,
): Promise<Set<string>> {
  const refs = new Set<string>();
  if (row.filesSha256) refs.add(row.filesSha256);
  for (const entry of Object.values(await versionFiles(ctx as RegistryContext, row))) {
    refs.add(entry.sha256);
  }
  for (const value of Object.values(row.facts)) {
    if (typeof value === "string" && SHA256_RE.test(value)) refs.add(value);
  }
  return refs;
}

/** Whether every blob a row references is stored. */
export async function versionBlobsPresent(
  ctx: Pick<RegistryContext, "storage" | "bundles" | "clock">,
  row: VersionRow,
): Promise<boolean> {
  for (const digest of await versionBlobRefs(ctx, row)) {
    if ((await ctx.bundles.stat(digest)) === null) return false;
  }
  return true;
}

/** The GC part of a version commit: the check and, after a run, the re-verification. */
export interface GcCommitGuard {
  /** From {@linkcode readGcGuard}, before the first blob. */
  guard: GcGuard;
  /** Where the blobs live (for re-verification) and the clock. */
  ctx: Pick<RegistryContext, "storage" | "bundles" | "clock">;
}

/** What {@linkcode takeGcLease} needs. */
export interface GcLease {
  /** The run's id (the row's `runId`). */
  runId: string;
  /** Blobs touched before this and unreferenced are deleted. */
  cutoff: string;
  /** How long the run may take before others treat it as crashed. */
  leaseMs: number;
}

/**
 * Take the GC state row to `running` (compare-and-set), or refuse with
 * `conflict` while another run holds it. Every deletion of blobs (a GC run, a
 * failed publish dropping what it stored) happens under this lease.
 */
export async function takeGcLease(
  ctx: Pick<RegistryContext, "storage" | "clock">,
  lease: GcLease,
): Promise<void> {
  const key = keys.gcStateKey();
  const now = ctx.clock();
  const current = await ctx.storage.get<GcStateRow>(key);
  if (gcRunning(current?.value, now)) {
    throw new RegistryError("conflict", "A garbage collection is already running; retry later");
  }
  const row: GcStateRow = {
    state: "running",
    runId: lease.runId,
    startedAt: now.toISOString(),
    leaseUntil: new Date(now.getTime() + lease.leaseMs).toISOString(),
    cutoff: lease.cutoff,
  };
  const res = await ctx.storage.commit({
    checks: [{ key, stamp: current?.stamp ?? null }],
    mutations: [{ type: "set", key, value: row as unknown as JsonValue }],
  });
  if (!res.ok) {
    throw new RegistryError("conflict", "A garbage collection is already running; retry later");
  }
}

/** Set the GC state row back to idle if run `runId` still holds it, with `extra` rows in the same commit. */
export async function endGcLease(
  ctx: Pick<RegistryContext, "storage" | "clock">,
  end: { runId: string; extra?: Mutation[] },
): Promise<void> {
  const key = keys.gcStateKey();
  const current = await ctx.storage.get<GcStateRow>(key);
  if (current?.value.runId !== end.runId) return;
  const row: GcStateRow = {
    ...current.value,
    state: "idle",
    finishedAt: ctx.clock().toISOString(),
  };
  await ctx.storage.commit({
    checks: [{ key, stamp: current.stamp }],
    mutations: [{ type: "set", key, value: row as unknown as JsonValue }, ...(end.extra ?? [])],
  });
}
