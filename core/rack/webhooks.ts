/**
 * Rack webhooks (spec §8): the `webhooks.json` configuration and the outbox
 * rows written in the same commit as a new version. Delivery (HMAC signing,
 * retries, dead letters) reads these rows later.
 *
 * @module
 */
import { newOutboxRows, type OutboxInput } from "../webhooks.ts";
import { sha256Hex } from "../../base/digest.ts";
import { RegistryError } from "../../base/errors.ts";
import type { OutboxRow } from "../rows.ts";
import { checkTarget, type TargetGuard } from "../net_guard.ts";

/** One webhook subscription. */
export interface WebhookSubscription {
  /** Stable id: the first 16 hex digits of the SHA-256 of the URL. */
  id: string;
  /** Where deliveries are POSTed. */
  url: string;
  /** The HMAC-SHA256 key. */
  secret: string;
  /** Event names (not validated; uploads fire `uploaded`, `version.created`, `package.published`). */
  events: string[];
  /** Disabled subscriptions get no rows. */
  enabled: boolean;
  /** Free text. */
  description?: string;
}

/**
 * The events of one upload, in emission order: the original two, then ours
 * (`package.published`, also fired by ggui publishes; only subscriptions
 * listing it receive it).
 */
export const UPLOAD_EVENTS = ["uploaded", "version.created", "package.published"] as const;

function invalid(message: string): RegistryError {
  return new RegistryError("invalid_input", `Could not load webhooks.json: ${message}`);
}

/**
 * Parse `webhooks.json` (`null` = missing file: no webhooks). Anything invalid
 * throws `invalid_input` (the server must not start with it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseWebhookConfig } from "./webhooks.ts";
 * const subs = parseWebhookConfig('{"webhooks":[{"url":"https://ci.example/hook","secret":"s","events":["uploaded"],"enabled":true}]}');
 * assert.ok(subs.length === 1 && subs[0]?.id.length === 16);
 * ```
 */
export function parseWebhookConfig(text: string | null): WebhookSubscription[] {
  if (text === null) return [];
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw invalid("invalid JSON");
  }
  const list = (doc as { webhooks?: unknown } | null)?.webhooks;
  if (typeof doc !== "object" || doc === null || !Array.isArray(list)) {
    throw invalid("'webhooks' must be an array");
  }
  return list.map((raw: unknown, i) => {
    const w = raw as Record<string, unknown> | null;
    if (typeof w !== "object" || w === null) throw invalid(`entry ${i} is not an object`);
    if (typeof w.url !== "string" || w.url === "") throw invalid(`entry ${i} has no 'url'`);
    if (typeof w.secret !== "string" || w.secret === "") {
      throw invalid(`entry ${i} has no 'secret'`);
    }
    if (!Array.isArray(w.events)) throw invalid(`entry ${i} has no 'events' array`);
    if (typeof w.enabled !== "boolean") throw invalid(`entry ${i} has no boolean 'enabled'`);
    const sub: WebhookSubscription = {
      id: sha256Hex(w.url).slice(0, 16),
      url: w.url,
      secret: w.secret,
      events: w.events.filter((e): e is string => typeof e === "string"),
      enabled: w.enabled,
    };
    if (typeof w.description === "string") sub.description = w.description;
    return sub;
  });
}

/**
 * Refuse a `webhooks.json` whose entries call a private, loopback or
 * otherwise non-public target (or are not http(s) URLs), naming the first
 * such entry: `invalid_input`, and the server does not start. Hosts in
 * `guard.allowHosts` pass; a name that does not resolve yet passes too (every
 * delivery checks again before it connects, and a DNS outage must not keep
 * the server from starting).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkWebhookTargets, parseWebhookConfig } from "./webhooks.ts";
 * const subs = parseWebhookConfig('{"webhooks":[{"url":"http://0x7f.1:9/hook","secret":"s","events":["uploaded"],"enabled":true}]}');
 * const guard = { allowHosts: [], resolve: () => Promise.resolve([]) };
 * await assert.rejects(checkWebhookTargets(subs, guard), /entry 0 \('http:\/\/0x7f\.1:9\/hook'\)/);
 * await checkWebhookTargets(subs, { ...guard, allowHosts: ["127.0.0.1"] });
 * ```
 */
export async function checkWebhookTargets(
  subscriptions: readonly WebhookSubscription[],
  guard: TargetGuard,
): Promise<void> {
  for (const [i, sub] of subscriptions.entries()) {
    const checked = await checkTarget(sub.url, guard);
    if (!checked.ok && !checked.unresolved) {
      throw invalid(`entry ${i} ('${sub.url}') is refused: ${checked.refusal}`);
    }
  }
}

/** What an upload event reports. */
export interface UploadEventFacts {
  /** Leaf `name` from registry.json. */
  name: string;
  /** The version. */
  version: string;
  /** The namespace with `@`. */
  namespace: string;
  /** `<ns>/<segs>/<version>`. */
  path: string;
}

/**
 * The outbox rows of one upload: for every enabled subscription listing an
 * event, one pending row per event, `uploaded` before `version.created` (ids
 * sort in that order). Payload: compact `{event,name,version,namespace,timestamp,path}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { uploadOutboxRows } from "./webhooks.ts";
 * const rows = uploadOutboxRows(
 *   [{ id: "a", url: "https://h", secret: "s", events: ["uploaded", "version.created"], enabled: true }],
 *   { name: "husky", version: "1.0.0", namespace: "@rack", path: "@rack/quality/husky/1.0.0" },
 *   new Date("2026-01-01T00:00:00Z"),
 * );
 * assert.ok(rows.length === 2 && rows[0]!.event === "uploaded" && rows[0]!.id < rows[1]!.id);
 * ```
 */
export function uploadOutboxRows(
  subscriptions: readonly WebhookSubscription[],
  facts: UploadEventFacts,
  now: Date,
): OutboxRow[] {
  const timestamp = now.toISOString();
  const inputs: OutboxInput[] = [];
  for (const event of UPLOAD_EVENTS) {
    for (const sub of subscriptions) {
      if (!sub.enabled || !sub.events.includes(event)) continue;
      const body = JSON.stringify({
        event,
        name: facts.name,
        version: facts.version,
        namespace: facts.namespace,
        timestamp,
        path: facts.path,
      });
      inputs.push({ event, url: sub.url, subscription: sub.id, body });
    }
  }
  return newOutboxRows(inputs, now);
}
