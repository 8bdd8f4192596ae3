/**
 * The webhook sender loop of one server process: it wakes when deliveries
 * are due and sends them through the durable outbox (`core/webhooks.ts`).
 * Several processes may run it on one store; leases keep each delivery with
 * one sender at a time.
 *
 * @module
 */
import type { RegistryContext } from "../core/context.ts";
import { startPollLoop } from "./_poll_loop.ts";
import { webhookDeliveriesTotal } from "../core/metrics.ts";
import { checkTarget, type Resolver } from "../core/net_guard.ts";
import { type Connect, pinnedFetch, resolveHost } from "./pinned_fetch.ts";
import {
  deliverDue,
  type DeliveryOptions,
  nextDueAt,
  type WebhookTarget,
} from "../core/webhooks.ts";

/** Options of {@linkcode startWebhookSender}. */
export interface SenderOptions {
  /** Current subscriptions (file and admin-managed) by id. */
  subscriptions: () => Promise<{ id: string; url: string; secret: string }[]> | {
    id: string;
    url: string;
    secret: string;
  }[];
  /**
   * Read the subscriptions again from the store: called (at most once a
   * second) when a delivery names a subscription the list does not hold,
   * which another process may have created since this one last looked.
   */
  refreshSubscriptions?: () => Promise<void>;
  /** Hosts on private networks that may still be called. */
  allowHosts?: readonly string[];
  /** Resolves webhook host names (default DNS A and AAAA through `Deno.resolveDns`). */
  resolve?: Resolver;
  /** Opens the connection to a checked address (default `Deno.connect`; tests inject). */
  connect?: Connect;
  /** Delays before retries 2, 3, 4… in ms (default the original's 2000, 4000, 8000). */
  retryDelaysMs?: readonly number[];
  /** Longest sleep between polls (other processes may enqueue), default 1000 ms. */
  pollMs?: number;
  /** Told about every attempt. */
  onAttempt?: DeliveryOptions["onAttempt"];
  /** Told about sender faults (store unavailable…). */
  onError?: (err: unknown) => void;
}

/**
 * Start the loop. `stop()` aborts the attempt in flight, if any (its delivery
 * stays pending in the outbox, the attempt not counted, for the next start or
 * another process), and resolves once the loop has ended.
 */
export function startWebhookSender(
  ctx: RegistryContext,
  options: SenderOptions,
): { stop(): Promise<void> } {
  const stopping = new AbortController();
  const guard = {
    allowHosts: options.allowHosts ?? [],
    resolve: options.resolve ?? ((host: string) => resolveHost(host, stopping.signal)),
  };
  const connect = options.connect ? { connect: options.connect } : {};
  let refreshedAt = 0;
  const delivery: DeliveryOptions = {
    // Never follow redirects (the request says so too): the guard checked only this URL.
    // A host name goes to the addresses the guard checked, never resolved again.
    fetch: (req, pin) => pin ? pinnedFetch(req, pin, connect) : fetch(req, { redirect: "manual" }),
    signal: stopping.signal,
    resolveSubscription: async (id): Promise<WebhookTarget | null> => {
      let sub = (await options.subscriptions()).find((s) => s.id === id);
      if (!sub && options.refreshSubscriptions && Date.now() - refreshedAt >= 1000) {
        // Unknown here: created by another process after our last refresh?
        refreshedAt = Date.now();
        await options.refreshSubscriptions();
        sub = (await options.subscriptions()).find((s) => s.id === id);
      }
      return sub ? { url: sub.url, secret: sub.secret } : null;
    },
    ...(options.retryDelaysMs ? { retryDelaysMs: options.retryDelaysMs } : {}),
    checkTarget: (url) => checkTarget(url, guard),
    onAttempt: (row, outcome) => {
      webhookDeliveriesTotal.inc({ result: outcome });
      options.onAttempt?.(row, outcome);
    },
  };
  return startPollLoop({
    pollMs: options.pollMs ?? 1000,
    now: () => ctx.clock().getTime(),
    step: async () => {
      await deliverDue(ctx, delivery);
      return await nextDueAt(ctx);
    },
    onError: (err) => options.onError?.(err),
    stopping,
  });
}
