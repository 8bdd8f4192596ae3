/**
 * Durable webhooks: deliveries are outbox rows written in the same atomic
 * commit as the change that causes them, so they survive crashes and restarts
 * and are sent at least once. Any process may run {@linkcode deliverDue}; a
 * lease taken by compare-and-set makes sure only one sends a given delivery at
 * a time. Retries follow the original Rack schedule (2 s, 4 s, 8 s; 4 attempts)
 * and end in a dead letter kept for operators. Redirects are never followed: a
 * 3xx answer is a failed attempt, so a receiver cannot bounce a signed delivery
 * to a host the target guard would refuse.
 *
 * Signatures: `X-Webhook-Signature: sha256=<hex HMAC(secret, body)>` exactly as
 * the original, plus `X-Webhook-Signature-Timestamped: sha256=<hex HMAC(secret,
 * timestamp + "." + body)>` with `X-Webhook-Timestamp`, so receivers can refuse
 * replays.
 *
 * @module
 */
import type { RegistryContext } from "./context.ts";
import { timeOrderedId } from "./context.ts";
import type { PinnedHost, TargetCheck } from "./net_guard.ts";
import { decodeListCursor, encodeListCursor, pageSizeOf } from "./cursor.ts";
import { sha256Hex, toHex } from "../base/digest.ts";
import type { OutboxRow } from "./rows.ts";
import { listAll } from "./store.ts";
import { claimLease, isDue } from "./_lease.ts";
import * as keys from "../storage/keys.ts";
import type { JsonValue, Mutation } from "../storage/types.ts";

/** Where and how to sign one subscription's deliveries. */
export interface WebhookTarget {
  /** The URL to POST to. */
  url: string;
  /** The HMAC-SHA256 key. */
  secret: string;
}

/** What {@linkcode deliverDue} needs besides the store. */
export interface DeliveryOptions {
  /**
   * The HTTP client (injected). `pin` is what `checkTarget` answered for the
   * URL's host name: the client must connect to one of its addresses and no
   * other, never resolving the name again (`null`: connect as usual).
   */
  fetch: (input: Request, pin: PinnedHost | null) => Promise<Response>;
  /** The current target of a subscription, or `null` when it no longer exists. */
  resolveSubscription: (id: string) => Promise<WebhookTarget | null> | WebhookTarget | null;
  /**
   * Whether a URL may be called (not on a private network) and the checked
   * addresses to connect to: `checkTarget` of `net_guard.ts`. Asked once per
   * attempt, before the request is sent.
   */
  checkTarget?: (url: string) => Promise<TargetCheck>;
  /** Delays before retries 2, 3, 4… in ms (default 2000, 4000, 8000). */
  retryDelaysMs?: readonly number[];
  /** Per-attempt timeout in ms (default 30 000). */
  timeoutMs?: number;
  /** How long a claimed delivery is left to its sender (default 60 000 ms). */
  leaseMs?: number;
  /** Most deliveries attempted in one call (default 100). */
  batch?: number;
  /** Told about every attempt (metrics, logs). */
  onAttempt?: (row: OutboxRow, outcome: "delivered" | "retry" | "dead") => void;
  /**
   * Aborting it ends the call promptly (a server shutting down): an attempt it
   * cuts short is not counted and its row goes back to the outbox unchanged,
   * lease released, to be sent again by the next sender.
   */
  signal?: AbortSignal;
}

/** What one {@linkcode deliverDue} call did. */
export interface DeliveryReport {
  /** Attempts made. */
  attempted: number;
  /** Deliveries that succeeded. */
  delivered: number;
  /** Failed attempts that will be retried. */
  retried: number;
  /** Deliveries moved to the dead letters. */
  dead: number;
}

const DEFAULT_DELAYS = [2000, 4000, 8000] as const;

/**
 * The mutations that enqueue outbox rows: add them to the commit of the change
 * that causes the events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { newOutboxRows, outboxMutations } from "./webhooks.ts";
 * const storage = new MemoryRegistryStorage();
 * const rows = newOutboxRows([{ event: "version.created", url: "https://hooks.example.com/", subscription: "s1", body: "{}" }], new Date());
 * const res = await storage.commit({ checks: [], mutations: outboxMutations(rows) });
 * assert(res.ok && (await storage.list(["outbox"])).items.length === 1);
 * ```
 */
export function outboxMutations(rows: readonly OutboxRow[]): Mutation[] {
  return rows.map((row) => ({
    type: "set",
    key: keys.outboxKey(row.id),
    value: row as unknown as JsonValue,
  }));
}

/** What one delivery carries. */
export interface OutboxInput {
  /** Event name (`X-Webhook-Event`). */
  event: string;
  /** Target URL at enqueue time. */
  url: string;
  /** Subscription id (its secret is looked up at send time). */
  subscription: string;
  /** Exact body text. */
  body: string;
}

/**
 * Build pending outbox rows whose ids sort in the given order (events of one change).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newOutboxRows } from "./webhooks.ts";
 * const base = { url: "https://hooks.example.com/", subscription: "s1", body: "{}" };
 * const rows = newOutboxRows([{ ...base, event: "uploaded" }, { ...base, event: "version.created" }], new Date());
 * assert(rows[0]!.id < rows[1]!.id && rows[0]!.status === "pending" && rows[0]!.attempts === 0);
 * ```
 */
export function newOutboxRows(inputs: readonly OutboxInput[], now: Date): OutboxRow[] {
  const at = now.toISOString();
  const base = timeOrderedId(now);
  return inputs.map((input, seq) => ({
    id: `${base}-${String(seq).padStart(4, "0")}`,
    ...input,
    createdAt: at,
    attempts: 0,
    nextAttemptAt: at,
    status: "pending" as const,
  }));
}

/** What an event's outbox rows need of a subscription. */
export interface EventSubscription {
  /** Its id (the delivery looks up URL and secret by it). */
  id: string;
  /** Where deliveries go. */
  url: string;
  /** The events it listens to. */
  events: readonly string[];
  /** Disabled subscriptions get nothing. */
  enabled: boolean;
}

/**
 * The outbox rows of one event: one per enabled subscription listing it, the
 * same body (`{"event", …facts, "timestamp"}`) for each. Written in the same
 * commit as the change they report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventMutations } from "./webhooks.ts";
 * const subs = [{ id: "s1", url: "https://hooks.example.com/", enabled: true, events: ["token.created"] }];
 * assert.equal(eventMutations(subs, "token.created", { tokenId: "t1" }, new Date()).length, 1);
 * assert.equal(eventMutations(subs, "token.revoked", { tokenId: "t1" }, new Date()).length, 0);
 * ```
 */
export function eventMutations(
  subscriptions: readonly EventSubscription[],
  event: string,
  facts: Record<string, JsonValue>,
  now: Date,
): Mutation[] {
  const subs = subscriptions.filter((s) => s.enabled && s.events.includes(event));
  if (subs.length === 0) return [];
  const body = JSON.stringify({ event, ...facts, timestamp: now.toISOString() });
  return outboxMutations(newOutboxRows(
    subs.map((s) => ({ event, url: s.url, subscription: s.id, body })),
    now,
  ));
}

/**
 * The `package.published` outbox rows of a publish on any surface (see
 * {@linkcode eventMutations}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { publishedEventMutations } from "./webhooks.ts";
 * const subs = [{ id: "s1", url: "https://hooks.example.com/", enabled: true, events: ["package.published"] }];
 * const [m] = publishedEventMutations(subs, { namespace: "@acme", name: "map", version: "1.0.0" }, new Date());
 * assert.equal(m?.type, "set");
 * assert.equal(publishedEventMutations([], { name: "map" }, new Date()).length, 0);
 * ```
 */
export function publishedEventMutations(
  subscriptions: readonly EventSubscription[],
  facts: Record<string, JsonValue>,
  now: Date,
): Mutation[] {
  return eventMutations(subscriptions, "package.published", facts, now);
}

/**
 * `X-Webhook-Delivery`: `<epoch ms>-<6 base36 chars>`, stable across retries of one row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deliveryId, newOutboxRows } from "./webhooks.ts";
 * const now = new Date("2026-01-01T00:00:00Z");
 * const [row] = newOutboxRows([{ event: "uploaded", url: "https://hooks.example.com/", subscription: "s1", body: "{}" }], now);
 * assert(/^1767225600000-[0-9a-z]{6}$/.test(deliveryId(row!)));
 * assert(deliveryId({ ...row!, attempts: 2 }) === deliveryId(row!));
 * ```
 */
export function deliveryId(row: OutboxRow): string {
  const ms = Date.parse(row.createdAt);
  const tail = parseInt(sha256Hex(row.id).slice(0, 8), 16).toString(36).padStart(6, "0").slice(-6);
  return `${Number.isFinite(ms) ? ms : 0}-${tail}`;
}

async function hmacHex(secret: string, data: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const sig = new Uint8Array(
    await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(data)),
  );
  return toHex(sig);
}

/** The timestamp a delivery is signed with: the payload's `timestamp`, else its creation time. */
function signedTimestamp(row: OutboxRow): string {
  try {
    const ts = (JSON.parse(row.body) as { timestamp?: unknown }).timestamp;
    if (typeof ts === "string") return ts;
  } catch {
    // not JSON: fall through
  }
  return row.createdAt;
}

/**
 * The request of one delivery attempt, headers and signatures included.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildDeliveryRequest, newOutboxRows } from "./webhooks.ts";
 * const [row] = newOutboxRows([{ event: "uploaded", url: "https://h/x", subscription: "s", body: "{}" }], new Date());
 * const req = await buildDeliveryRequest(row!, { url: "https://h/x", secret: "k" });
 * assert.ok(req.headers.get("x-webhook-signature")?.startsWith("sha256="));
 * assert.equal(req.redirect, "manual");
 * ```
 */
export async function buildDeliveryRequest(
  row: OutboxRow,
  target: WebhookTarget,
  signal?: AbortSignal,
): Promise<Request> {
  const timestamp = signedTimestamp(row);
  const headers = new Headers({
    "content-type": "application/json",
    "user-agent": "Rack-Registry-Webhook/1.0",
    "x-webhook-event": row.event,
    "x-webhook-signature": `sha256=${await hmacHex(target.secret, row.body)}`,
    "x-webhook-signature-timestamped": `sha256=${await hmacHex(
      target.secret,
      `${timestamp}.${row.body}`,
    )}`,
    "x-webhook-timestamp": timestamp,
    "x-webhook-delivery": deliveryId(row),
  });
  return new Request(target.url, {
    method: "POST",
    headers,
    body: row.body,
    // Never follow a redirect: its target was not checked by the target guard.
    redirect: "manual",
    ...(signal ? { signal } : {}),
  });
}

/** Take the lease of a due delivery; `null` when another process holds it or it is done. */
function claim(ctx: RegistryContext, id: string, leaseMs: number): Promise<OutboxRow | null> {
  return claimLease<OutboxRow>(ctx, keys.outboxKey(id), {
    leaseMs,
    eligible: (row) => row.status === "pending",
  });
}

/** Record an attempt's outcome: done and dead rows leave the pending outbox. */
async function settle(ctx: RegistryContext, row: OutboxRow): Promise<void> {
  const key = keys.outboxKey(row.id);
  const next = { ...row };
  delete next.leaseUntil;
  const mutations: Mutation[] = next.status === "pending"
    ? [{ type: "set", key, value: next as unknown as JsonValue }]
    : [
      { type: "delete", key },
      {
        type: "set",
        key: next.status === "delivered" ? keys.outboxDoneKey(row.id) : keys.outboxDeadKey(row.id),
        value: next as unknown as JsonValue,
      },
    ];
  await ctx.storage.commit({ checks: [], mutations });
}

/** Send one delivery; what went wrong, if anything, and the receiver's status. */
async function attempt(
  row: OutboxRow,
  target: WebhookTarget | null,
  options: DeliveryOptions,
  timeoutMs: number,
): Promise<{ error?: string; status?: number }> {
  if (!target) return { error: "Subscription no longer exists" };
  const checked: TargetCheck = await options.checkTarget?.(target.url) ?? { ok: true, pin: null };
  if (!checked.ok) return { error: checked.refusal };
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  try {
    const res = await options.fetch(await buildDeliveryRequest(row, target, signal), checked.pin);
    await res.body?.cancel();
    const status = res.status;
    // 3xx as Deno answers with `redirect: "manual"`, an opaque redirect as other runtimes
    // do, or a followed one from an injected client that ignores the mode.
    if (res.redirected || res.type === "opaqueredirect" || (status >= 300 && status <= 399)) {
      const answered = res.redirected ? "with a redirect" : status;
      return {
        error:
          `Receiver answered ${answered} (redirects are not followed); point the subscription at the final URL`,
        ...(status ? { status } : {}),
      };
    }
    if (status < 200 || status > 299) return { error: `Receiver answered ${status}`, status };
    return { status };
  } catch (err) {
    return {
      error: timeout.aborted
        ? `No answer within ${timeoutMs} ms`
        : `Could not reach receiver: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/**
 * Attempt every due delivery once (in id order, so `uploaded` goes before
 * `version.created`), recording each outcome.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { deliverDue, newOutboxRows, outboxMutations } from "./webhooks.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const rows = newOutboxRows([{ event: "uploaded", url: "https://hooks.example.com/", subscription: "s1", body: "{}" }], ctx.clock());
 * await ctx.storage.commit({ checks: [], mutations: outboxMutations(rows) });
 * const received: Request[] = [];
 * const fetch = (req: Request) => (received.push(req), Promise.resolve(new Response(null, { status: 204 })));
 * const report = await deliverDue(ctx, { fetch, resolveSubscription: () => ({ url: "https://hooks.example.com/", secret: "s3cret" }) });
 * assert(report.delivered === 1 && received[0]!.headers.get("X-Webhook-Event") === "uploaded");
 * ```
 */
export async function deliverDue(
  ctx: RegistryContext,
  options: DeliveryOptions,
): Promise<DeliveryReport> {
  const report: DeliveryReport = { attempted: 0, delivered: 0, retried: 0, dead: 0 };
  const delays = options.retryDelaysMs ?? DEFAULT_DELAYS;
  const maxAttempts = delays.length + 1;
  const leaseMs = options.leaseMs ?? 60_000;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const batch = options.batch ?? 100;
  const nowMs = ctx.clock().getTime();
  const due: string[] = [];
  for await (const e of listAll<OutboxRow>(ctx.storage, keys.outboxPrefix())) {
    const r = e.value;
    if (r.status !== "pending" || !isDue(r, nowMs)) continue;
    due.push(r.id);
    if (due.length >= batch) break;
  }
  for (const id of due) {
    if (options.signal?.aborted) break;
    const row = await claim(ctx, id, leaseMs);
    if (!row) continue;
    const target = await options.resolveSubscription(row.subscription);
    const { error, status } = await attempt(row, target, options, timeoutMs);
    if (error !== undefined && options.signal?.aborted) {
      // Stopped mid-attempt (shutdown), not the receiver's failure: give the row
      // back as it was, no attempt counted, so the next sender sends it at once.
      await settle(ctx, row);
      break;
    }
    report.attempted++;
    const attempts = row.attempts + 1;
    const now = ctx.clock();
    const next: OutboxRow = { ...row, attempts };
    if (status !== undefined) next.lastStatus = status;
    if (error === undefined) {
      next.status = "delivered";
      next.finishedAt = now.toISOString();
      delete next.lastError;
      report.delivered++;
    } else if (attempts >= maxAttempts || !target) {
      next.status = "dead";
      next.lastError = error;
      next.finishedAt = now.toISOString();
      report.dead++;
    } else {
      next.lastError = error;
      next.nextAttemptAt = new Date(now.getTime() + (delays[attempts - 1] ?? 0)).toISOString();
      report.retried++;
    }
    await settle(ctx, next);
    options.onAttempt?.(next, next.status === "pending" ? "retry" : next.status);
  }
  return report;
}

/**
 * The earliest time any pending delivery is due, for a sender loop to sleep until.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { newOutboxRows, nextDueAt, outboxMutations } from "./webhooks.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * assert(await nextDueAt(ctx) === null);
 * const now = ctx.clock();
 * const rows = newOutboxRows([{ event: "uploaded", url: "https://hooks.example.com/", subscription: "s1", body: "{}" }], now);
 * await ctx.storage.commit({ checks: [], mutations: outboxMutations(rows) });
 * assert((await nextDueAt(ctx))?.getTime() === now.getTime());
 * ```
 */
export async function nextDueAt(ctx: RegistryContext): Promise<Date | null> {
  let best: number | null = null;
  for await (const e of listAll<OutboxRow>(ctx.storage, keys.outboxPrefix())) {
    const r = e.value;
    if (r.status !== "pending") continue;
    const at = Math.max(Date.parse(r.nextAttemptAt), r.leaseUntil ? Date.parse(r.leaseUntil) : 0);
    if (best === null || at < best) best = at;
  }
  return best === null ? null : new Date(best);
}

/**
 * The shape of an outbox id in a cursor: today a time-ordered id and the
 * event's sequence in its change; any id of the same alphabet (older rows) is
 * only a seek position, so the shape need not be tighter.
 */
const OUTBOX_ID_RE = /^[0-9A-Za-z:._-]{1,200}$/;

/**
 * Deliveries by state, newest first, for the admin route. Each state is a
 * listing of its own (`deliveries.pending`, …): its cursor names the id of
 * the last delivery shown, and the next page seeks past it. A cursor of
 * another listing or of the wrong shape, or a limit outside 1–1000, is
 * `invalid_input`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { listDeliveries, newOutboxRows, outboxMutations } from "./webhooks.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const rows = newOutboxRows([{ event: "uploaded", url: "https://hooks.example.com/", subscription: "s1", body: "{}" }], ctx.clock());
 * await ctx.storage.commit({ checks: [], mutations: outboxMutations(rows) });
 * const pending = await listDeliveries(ctx, "pending", { limit: 10 });
 * assert(pending.items.length === 1 && (await listDeliveries(ctx, "dead")).items.length === 0);
 * ```
 */
export async function listDeliveries(
  ctx: RegistryContext,
  state: "pending" | "delivered" | "dead",
  options: { limit?: number; cursor?: string } = {},
): Promise<{ items: OutboxRow[]; cursor?: string }> {
  const limit = pageSizeOf(options.limit, { fallback: 50, max: 1000 });
  // Each state is its own listing: a cursor of another is refused, not reinterpreted.
  const listing = `deliveries.${state}`;
  const after = options.cursor === undefined
    ? undefined
    : decodeListCursor(listing, options.cursor, 1, OUTBOX_ID_RE)[0]!;
  const prefix = state === "pending"
    ? keys.outboxPrefix()
    : state === "delivered"
    ? keys.outboxDonePrefix()
    : keys.outboxDeadPrefix();
  // A seek to the id (which need not exist any more: delivered meanwhile).
  const page = await ctx.storage.list<OutboxRow>(prefix, {
    limit,
    reverse: true,
    ...(after === undefined ? {} : { after: [...prefix, after] }),
  });
  const items = page.items.map((e) => e.value);
  const last = items.at(-1)?.id;
  return page.cursor === undefined || last === undefined
    ? { items }
    : { items, cursor: encodeListCursor(listing, [last]) };
}
