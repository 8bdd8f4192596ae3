/**
 * Webhook subscriptions managed through the admin API, stored as rows beside
 * the ones `webhooks.json` declares. Every process keeps one live list of both
 * ({@linkcode LiveSubscriptions}): the surfaces write outbox rows for the
 * subscriptions in that list in the same commit as the change, and the sender
 * looks up a delivery's URL and secret there.
 *
 * @module
 */
import { auditMutation, auditRow } from "./audit.ts";
import type { RegistryContext } from "./context.ts";
import { randomHex } from "../base/digest.ts";
import { RegistryError } from "../base/errors.ts";
import type { WebhookSubscription } from "./rack/webhooks.ts";
import { listAll } from "./store.ts";
import { LIFECYCLE_EVENTS } from "./lifecycle.ts";
import { checkTarget, type TargetGuard } from "./net_guard.ts";
import { configKey, configPrefix } from "../storage/keys.ts";
import type { JsonValue } from "../storage/types.ts";

const KIND = "webhook";

/**
 * Every event the registry emits (docs/lifecycle.md): what a subscription
 * may name. Rack's `uploaded` and `version.created` keep the original's names.
 */
export const WEBHOOK_EVENTS: readonly string[] = [
  "uploaded",
  "version.created",
  "package.published",
  ...LIFECYCLE_EVENTS,
  "token.created",
  "token.revoked",
  "scope.claimed",
];

/** A subscription created through the admin API. */
export interface StoredSubscription extends WebhookSubscription {
  /** When it was created. */
  createdAt: string;
  /** Who created it. */
  createdBy: string;
}

/** What {@linkcode createWebhookSubscription} takes. */
export interface SubscriptionInput {
  /** Where deliveries are POSTed (http or https, no credentials). */
  url?: unknown;
  /** Event names, e.g. `package.published`, `uploaded`, `version.yanked`. */
  events?: unknown;
  /** The HMAC key (at least 16 characters); generated when absent. */
  secret?: unknown;
  /** Default true. */
  enabled?: unknown;
  /** Free text (at most 200 characters). */
  description?: unknown;
}

function invalid(message: string): RegistryError {
  return new RegistryError("invalid_input", message);
}

function validate(input: SubscriptionInput): Omit<WebhookSubscription, "id"> {
  if (typeof input.url !== "string") throw invalid("`url` must be a string");
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw invalid(`\`url\` is not a URL: '${input.url}'`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalid("`url` must be an http or https URL");
  }
  if (url.username || url.password) {
    throw invalid("`url` must not carry credentials: sign with `secret` instead");
  }
  const events = input.events;
  if (
    !Array.isArray(events) || events.length === 0 || events.length > 32 ||
    !events.every((e) => typeof e === "string" && /^[a-z][a-z0-9._-]{0,63}$/.test(e))
  ) {
    throw invalid(
      '`events` must be a list of 1–32 event names, e.g. ["package.published", "version.yanked"]',
    );
  }
  const unknown = (events as string[]).find((e) => !WEBHOOK_EVENTS.includes(e));
  if (unknown !== undefined) {
    throw invalid(`Unknown event '${unknown}': the events are ${WEBHOOK_EVENTS.join(", ")}`);
  }
  let secret: string;
  if (input.secret === undefined) {
    secret = randomHex(32);
  } else if (typeof input.secret === "string" && input.secret.length >= 16) {
    secret = input.secret;
  } else {
    throw invalid(
      "`secret` must be a string of at least 16 characters (or left out to generate one)",
    );
  }
  if (input.enabled !== undefined && typeof input.enabled !== "boolean") {
    throw invalid("`enabled` must be true or false");
  }
  if (
    input.description !== undefined &&
    (typeof input.description !== "string" || input.description.length > 200)
  ) {
    throw invalid("`description` must be a string of at most 200 characters");
  }
  return {
    url: url.href,
    secret,
    events: [...new Set(events as string[])],
    enabled: input.enabled ?? true,
    ...(input.description === undefined ? {} : { description: input.description as string }),
  };
}

/** Resolves nothing: without a resolver only IP literals and `localhost` names are judged. */
const NO_DNS: TargetGuard = { allowHosts: [], resolve: () => Promise.resolve([]) };

/**
 * Why a subscription's URL is refused when it is made, or `null`: private,
 * loopback and other non-public targets (an IP literal in any spelling, or a
 * name that resolves to one) unless allow-listed. A name that does not
 * resolve yet is accepted: each delivery checks again before it connects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subscriptionTargetRefusal } from "./webhook_subscriptions.ts";
 * const guard = { allowHosts: [], resolve: () => Promise.resolve(["10.0.0.7"]) };
 * assert.match((await subscriptionTargetRefusal("http://[2002:a00:7::1]/", guard))!, /private/);
 * assert.match((await subscriptionTargetRefusal("https://hooks.internal/", guard))!, /'10\.0\.0\.7'/);
 * ```
 */
export async function subscriptionTargetRefusal(
  url: string,
  guard: TargetGuard = NO_DNS,
): Promise<string | null> {
  const checked = await checkTarget(url, guard);
  return checked.ok || checked.unresolved ? null : checked.refusal;
}

/**
 * Store a subscription and its audit record in one commit. Answers it with
 * its secret (the only time the API shows it). A private target is refused
 * ({@linkcode subscriptionTargetRefusal}) with `guard`'s allow list and
 * resolver; without one, IP literals and `localhost` names are still judged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { createWebhookSubscription, listWebhookSubscriptions } from "./webhook_subscriptions.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const sub = await createWebhookSubscription(ctx, { url: "https://hooks.example/x", events: ["package.published"] }, "admin");
 * assert.equal((await listWebhookSubscriptions(ctx))[0]!.id, sub.id);
 * ```
 */
export async function createWebhookSubscription(
  ctx: RegistryContext,
  input: SubscriptionInput,
  actor: string,
  ip?: string,
  guard?: TargetGuard,
): Promise<StoredSubscription> {
  const fields = validate(input);
  const refusal = await subscriptionTargetRefusal(fields.url, guard);
  if (refusal) throw invalid(`\`url\` is refused: ${refusal}`);
  const id = `wh_${randomHex(8)}`;
  const row: StoredSubscription = {
    id,
    ...fields,
    createdAt: ctx.clock().toISOString(),
    createdBy: actor,
  };
  const audit = auditRow(ctx, {
    actor,
    action: "webhook.create",
    target: id,
    detail: { host: new URL(fields.url).host, events: fields.events },
    ...(ip ? { ip } : {}),
  });
  await ctx.storage.commit({
    checks: [{ key: configKey(KIND, id), stamp: null }],
    mutations: [
      { type: "set", key: configKey(KIND, id), value: row as unknown as JsonValue },
      auditMutation(audit),
    ],
  });
  return row;
}

/** Every stored subscription, secrets included (callers redact what they show). */
export async function listWebhookSubscriptions(
  ctx: Pick<RegistryContext, "storage">,
): Promise<StoredSubscription[]> {
  const out: StoredSubscription[] = [];
  for await (const entry of listAll<StoredSubscription>(ctx.storage, configPrefix(KIND))) {
    out.push(entry.value);
  }
  return out;
}

/**
 * Delete a stored subscription; `false` when there is none. Its pending
 * deliveries are not sent: they end dead-lettered, "Subscription no longer exists".
 */
export async function deleteWebhookSubscription(
  ctx: RegistryContext,
  id: string,
  actor: string,
  ip?: string,
): Promise<boolean> {
  const current = await ctx.storage.get(configKey(KIND, id));
  if (current === null) return false;
  const audit = auditRow(ctx, {
    actor,
    action: "webhook.delete",
    target: id,
    ...(ip ? { ip } : {}),
  });
  const result = await ctx.storage.commit({
    checks: [{ key: configKey(KIND, id), stamp: current.stamp }],
    mutations: [{ type: "delete", key: configKey(KIND, id) }, auditMutation(audit)],
  });
  return result.ok;
}

/**
 * One process's list of subscriptions: the fixed ones (`webhooks.json`) and
 * the stored ones, kept in one array that is updated in place, so everything
 * handed `list` sees each refresh.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { createWebhookSubscription, LiveSubscriptions } from "./webhook_subscriptions.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const live = new LiveSubscriptions(ctx, []);
 * await createWebhookSubscription(ctx, { url: "https://hooks.example/x", events: ["uploaded"] }, "admin");
 * await live.refresh();
 * assert.equal(live.list.length, 1);
 * ```
 */
export class LiveSubscriptions {
  /** The current subscriptions (the same array for the life of the object). */
  readonly list: WebhookSubscription[];
  /** The fixed subscriptions (`webhooks.json`). */
  readonly fixed: readonly WebhookSubscription[];
  #ctx: Pick<RegistryContext, "storage">;
  #started = 0;
  #applied = 0;

  /** A list of `fixed` until the first {@linkcode LiveSubscriptions.refresh}. */
  constructor(ctx: Pick<RegistryContext, "storage">, fixed: readonly WebhookSubscription[]) {
    this.#ctx = ctx;
    this.fixed = fixed;
    this.list = [...fixed];
  }

  /** Read the stored subscriptions again (a refresh started later always wins). */
  async refresh(): Promise<void> {
    const ticket = ++this.#started;
    const stored = await listWebhookSubscriptions(this.#ctx);
    if (ticket < this.#applied) return;
    this.#applied = ticket;
    this.list.splice(0, this.list.length, ...this.fixed, ...stored);
  }
}
