// Leases on queue rows (webhook outbox, Rack mirror outbox): any process may
// work a queue on a shared store; a row is taken by compare-and-set of its
// `leaseUntil`, so one process at a time works it, and a process that dies
// holding a lease only delays the row until the lease runs out.
import type { RegistryContext } from "./context.ts";
import type { JsonValue, RowKey } from "../storage/types.ts";

/** What a leased queue row carries. */
export interface Leasable {
  /** Not before this time (ISO-8601). */
  nextAttemptAt: string;
  /** Held by a worker until this time (ISO-8601). */
  leaseUntil?: string;
}

/** Whether a row may be taken at `nowMs`: due, and no live lease on it. */
export function isDue(row: Leasable, nowMs: number): boolean {
  if (Date.parse(row.nextAttemptAt) > nowMs) return false;
  return !(row.leaseUntil && Date.parse(row.leaseUntil) > nowMs);
}

/**
 * Take the lease of the row at `key` for `leaseMs`: the leased row, or `null`
 * when it is gone, not due, leased by another worker, refused by `eligible`,
 * or taken by another worker in between.
 */
export async function claimLease<T extends Leasable>(
  ctx: Pick<RegistryContext, "storage" | "clock">,
  key: RowKey,
  options: { leaseMs: number; eligible?: (row: T) => boolean },
): Promise<T | null> {
  const entry = await ctx.storage.get<T>(key);
  if (!entry) return null;
  const now = ctx.clock();
  if (options.eligible && !options.eligible(entry.value)) return null;
  if (!isDue(entry.value, now.getTime())) return null;
  const leased: T = {
    ...entry.value,
    leaseUntil: new Date(now.getTime() + options.leaseMs).toISOString(),
  };
  const res = await ctx.storage.commit({
    checks: [{ key, stamp: entry.stamp }],
    mutations: [{ type: "set", key, value: leased as unknown as JsonValue }],
  });
  return res.ok ? leased : null;
}
