/**
 * The queue side of Rack's R2 mirror (`mirror.ts`): what an item asks for and
 * the mutation that puts one in a commit. Apart from the writer so that the
 * operations whose commits queue items (upload, delete, presets) need none of
 * what the writer needs.
 *
 * @module
 */
import { timeOrderedId } from "../context.ts";
import * as keys from "../../storage/keys.ts";
import type { JsonValue, Mutation } from "../../storage/types.ts";

/** What a mirror item asks for. */
export type RackMirrorWork =
  | { kind: "version"; namespace: string; name: string; version: string }
  | { kind: "delete"; namespace: string; name: string; version: string }
  | { kind: "preset"; preset: string };

/** A pending mirror item, as stored. */
export type RackMirrorItem = RackMirrorWork & {
  /** Time-ordered id (its key). */
  id: string;
  /** When the change committed. */
  createdAt: string;
  /** Failed attempts so far. */
  attempts: number;
  /** Not before this time. */
  nextAttemptAt: string;
  /** Held by a worker until this time. */
  leaseUntil?: string;
  /** Why the last attempt failed. */
  lastError?: string;
};

/**
 * The mutation that queues a mirror write: add it to the commit of the change.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rackMirrorMutation } from "./mirror_queue.ts";
 * const m = rackMirrorMutation({ kind: "preset", preset: "web" }, new Date());
 * assert.equal(m.type, "set");
 * assert.equal(m.key[0], "rack_mirror");
 * ```
 */
export function rackMirrorMutation(work: RackMirrorWork, now: Date): Mutation {
  const at = now.toISOString();
  const item = { ...work, id: timeOrderedId(now), createdAt: at, attempts: 0, nextAttemptAt: at };
  return { type: "set", key: keys.rackMirrorKey(item.id), value: item as unknown as JsonValue };
}
