/**
 * What every core operation receives: the two seams and a clock. Nothing in
 * `core/` reaches for global state, time or I/O on its own.
 *
 * @module
 */
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";
import { randomHex } from "./digest.ts";

/** A clock; injected so tests control time. */
export type Clock = () => Date;

/** The dependencies of every core operation. */
export interface RegistryContext {
  /** Row storage. */
  storage: RegistryStorage;
  /** Blob storage. */
  bundles: BundleStorage;
  /** The current time. */
  clock: Clock;
}

/** A sortable, unique id: ISO time then random hex (for audit and outbox rows). */
export function timeOrderedId(now: Date): string {
  return `${now.toISOString()}-${randomHex(8)}`;
}
