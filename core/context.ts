/**
 * What every core operation receives: the two seams and a clock. Nothing in
 * `core/` reaches for global state, time or I/O on its own.
 *
 * @module
 */
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";
import { randomHex } from "../base/digest.ts";

/** A clock; injected so tests control time. */
export type Clock = () => Date;

/**
 * Space held free on the store's disk (a reserve file), given up by the
 * operations that delete (GC, a failed publish's cleanup) so that the rows
 * they must write still fit on a full disk.
 */
export interface DiskReserve {
  /** Free the reserved space (idempotent). */
  release(): Promise<void>;
  /** Take the space back as far as the disk allows (a full disk is no error). */
  restore(): Promise<void>;
}

/** The dependencies of every core operation. */
export interface RegistryContext {
  /** Row storage. */
  storage: RegistryStorage;
  /** Blob storage. */
  bundles: BundleStorage;
  /** The current time. */
  clock: Clock;
  /** Space to free before deleting on a full disk (none: nothing to free). */
  reserve?: DiskReserve;
  /**
   * Queue writes of Rack's R2 mirror (`core/rack/mirror.ts`) in the commits
   * that change what Rack's read Worker must see (default off).
   */
  rackMirror?: boolean;
}

let lastIso = "";
let seq = 0;

/**
 * A sortable, unique id for audit and outbox rows: ISO time, then a counter
 * that keeps ids made by one process in the millisecond in the order they
 * were made, then random hex that keeps processes sharing a store apart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timeOrderedId } from "./context.ts";
 * const now = new Date("2026-01-01T00:00:00Z");
 * const ids = Array.from({ length: 50 }, () => timeOrderedId(now));
 * assert.deepEqual([...ids].sort(), ids);
 * assert.match(ids[0]!, /^2026-01-01T00:00:00\.000Z-[0-9a-f]{6}-[0-9a-f]{16}$/);
 * ```
 */
export function timeOrderedId(now: Date): string {
  const iso = now.toISOString();
  if (iso === lastIso) seq++;
  else {
    lastIso = iso;
    seq = 0;
  }
  return `${iso}-${seq.toString(16).padStart(6, "0")}-${randomHex(8)}`;
}
