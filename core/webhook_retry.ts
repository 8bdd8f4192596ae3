/**
 * Retrying a dead letter: an operator sends one failed delivery again. The
 * row leaves the dead letters and goes back to the pending outbox with its
 * attempts reset and due now, in one commit with its audit record, checked
 * against the dead row's stamp (two operators retrying it at once re-queue
 * it once). Any sender then delivers it as any other (`core/webhooks.ts`).
 *
 * @module
 */
import { auditMutation, auditRow } from "./audit.ts";
import type { RegistryContext } from "./context.ts";
import type { OutboxRow } from "./rows.ts";
import * as keys from "../storage/keys.ts";
import type { JsonValue } from "../storage/types.ts";

/** The shape of a delivery id (as {@linkcode listDeliveries} cursors accept). */
const DELIVERY_ID_RE = /^[0-9A-Za-z:._-]{1,200}$/;

/**
 * Move the dead letter `id` back to the pending outbox, due now; `false`
 * when there is no such dead letter (never was, or already retried).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { listDeliveries } from "./webhooks.ts";
 * import { retryDeadLetter } from "./webhook_retry.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const at = ctx.clock().toISOString();
 * const row = { id: "d1", event: "uploaded", url: "https://hooks.example/", subscription: "s1", body: "{}", createdAt: at, attempts: 4, nextAttemptAt: at, status: "dead" as const, lastError: "Receiver answered 500", finishedAt: at };
 * await ctx.storage.commit({ checks: [], mutations: [{ type: "set", key: ["outbox_dead", "d1"], value: row }] });
 * assert.equal(await retryDeadLetter(ctx, "d1", "ops"), true);
 * assert.equal((await listDeliveries(ctx, "pending")).items[0]!.attempts, 0);
 * assert.equal(await retryDeadLetter(ctx, "d1", "ops"), false);
 * ```
 */
export async function retryDeadLetter(
  ctx: RegistryContext,
  id: string,
  actor: string,
  ip?: string,
): Promise<boolean> {
  if (!DELIVERY_ID_RE.test(id)) return false;
  const deadKey = keys.outboxDeadKey(id);
  const entry = await ctx.storage.get<OutboxRow>(deadKey);
  if (entry === null) return false;
  const now = ctx.clock().toISOString();
  const { lastError: _e, finishedAt: _f, leaseUntil: _l, ...kept } = entry.value;
  const pending: OutboxRow = { ...kept, status: "pending", attempts: 0, nextAttemptAt: now };
  const audit = auditRow(ctx, {
    actor,
    action: "webhook.retry",
    target: id,
    detail: { event: pending.event, subscription: pending.subscription },
    ...(ip ? { ip } : {}),
  });
  const res = await ctx.storage.commit({
    checks: [{ key: deadKey, stamp: entry.stamp }],
    mutations: [
      { type: "delete", key: deadKey },
      { type: "set", key: keys.outboxKey(id), value: pending as unknown as JsonValue },
      auditMutation(audit),
    ],
  });
  return res.ok;
}
