/**
 * The append-only audit log: one record per state change (publish, yank,
 * deprecate, delete, tag move, scope claim, token create/revoke, configuration
 * reload, refused admin attempt), written in the same atomic commit as the
 * change it records. Reads are never audited.
 *
 * @module
 */
import type { RegistryContext } from "./context.ts";
import { timeOrderedId } from "./context.ts";
import { decodeListCursor, encodeListCursor, pageSizeOf } from "./cursor.ts";
import type { AuditRow } from "./rows.ts";
import { listAll } from "./store.ts";
import * as keys from "../storage/keys.ts";
import type { JsonValue, Mutation } from "../storage/types.ts";

/** What to record. */
export interface AuditInput {
  /** Who (a subject, `anonymous`, or `system`). */
  actor: string;
  /** What, e.g. `publish`, `yank`, `token.create`. */
  action: string;
  /** On what, e.g. `@acme/map@1.0.0`. */
  target: string;
  /** Whether it happened. */
  outcome?: "ok" | "refused";
  /** From where. */
  ip?: string;
  /** More facts (never secrets). */
  detail?: Record<string, unknown>;
}

/**
 * Build an audit record dated by the context's clock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { auditRow } from "./audit.ts";
 * const clock = () => new Date("2026-01-01T00:00:00Z");
 * const row = auditRow({ clock }, { actor: "ci", action: "publish", target: "@acme/widget@1.0.0" });
 * assert(row.at === "2026-01-01T00:00:00.000Z" && row.outcome === "ok");
 * ```
 */
export function auditRow(ctx: Pick<RegistryContext, "clock">, input: AuditInput): AuditRow {
  const at = ctx.clock();
  const row: AuditRow = {
    id: timeOrderedId(at),
    at: at.toISOString(),
    actor: input.actor,
    action: input.action,
    target: input.target,
    outcome: input.outcome ?? "ok",
  };
  if (input.ip !== undefined) row.ip = input.ip;
  if (input.detail !== undefined) row.detail = input.detail;
  return row;
}

/**
 * The mutation that appends a record: add it to the change's own commit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { auditMutation, auditRow, listAudit } from "./audit.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const row = auditRow(ctx, { actor: "ci", action: "yank", target: "@acme/widget@1.0.0" });
 * await ctx.storage.commit({ checks: [], mutations: [auditMutation(row)] });
 * assert((await listAudit(ctx)).items[0]?.id === row.id);
 * ```
 */
export function auditMutation(row: AuditRow): Mutation {
  return { type: "set", key: keys.auditKey(row.id), value: row as unknown as JsonValue };
}

/**
 * Append a record on its own (refused attempts, which change nothing else).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { listAudit, recordAudit } from "./audit.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * await recordAudit(ctx, { actor: "anonymous", action: "token.create", target: "ci", outcome: "refused" });
 * const { items } = await listAudit(ctx, { outcome: "refused" });
 * assert(items.length === 1 && items[0]!.actor === "anonymous");
 * ```
 */
export async function recordAudit(ctx: RegistryContext, input: AuditInput): Promise<AuditRow> {
  const row = auditRow(ctx, input);
  await ctx.storage.commit({ checks: [], mutations: [auditMutation(row)] });
  return row;
}

/** Filters for {@linkcode listAudit}. */
export interface AuditFilter {
  /** Only this actor. */
  actor?: string;
  /** Only this action. */
  action?: string;
  /** Only targets starting with this (e.g. `@acme/`). */
  targetPrefix?: string;
  /** Only this outcome. */
  outcome?: "ok" | "refused";
  /** Only records at or after this ISO time. */
  since?: string;
  /** Only records before this ISO time. */
  until?: string;
}

/** What an audit record id looks like (see `timeOrderedId`). */
/** The listing name of audit cursors. */
const AUDIT_LISTING = "audit";
const AUDIT_ID_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]+(?:-[0-9a-f]+)?$/;

function matches(row: AuditRow, f: AuditFilter): boolean {
  return (f.actor === undefined || row.actor === f.actor) &&
    (f.action === undefined || row.action === f.action) &&
    // Targets are text; a record from before that was enforced may hold
    // something else, and must not break the filter.
    (f.targetPrefix === undefined ||
      (typeof row.target === "string" && row.target.startsWith(f.targetPrefix))) &&
    (f.outcome === undefined || row.outcome === f.outcome) &&
    (f.since === undefined || row.at >= f.since) &&
    (f.until === undefined || row.at < f.until);
}

/** Whether a filter may skip records (an unfiltered page reads exactly what it shows). */
function hasFilter(f: AuditFilter): boolean {
  return f.actor !== undefined || f.action !== undefined || f.targetPrefix !== undefined ||
    f.outcome !== undefined;
}

/**
 * One page of audit records, newest first, filtered. The cursor (an `audit`
 * cursor, `core/cursor.ts`) names the id of the last record returned; records
 * are immutable, so it never goes stale. A cursor of another listing or of
 * the wrong shape, or a limit outside 1–1000, is `invalid_input`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { listAudit, recordAudit } from "./audit.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * for (const v of ["1.0.0", "1.1.0", "1.2.0"]) {
 *   await recordAudit(ctx, { actor: "ci", action: "publish", target: `@acme/widget@${v}` });
 * }
 * const first = await listAudit(ctx, { targetPrefix: "@acme/", limit: 2 });
 * const rest = await listAudit(ctx, { targetPrefix: "@acme/", limit: 2, cursor: first.cursor! });
 * assert(first.items.length === 2 && rest.items.length === 1 && rest.cursor === undefined);
 * ```
 */
export async function listAudit(
  ctx: RegistryContext,
  options: AuditFilter & { limit?: number; cursor?: string } = {},
): Promise<{ items: AuditRow[]; cursor?: string }> {
  const limit = pageSizeOf(options.limit, { fallback: 100, max: 1000 });
  // A cursor names a record id (ISO time first): anything else was not given out here.
  const after = options.cursor === undefined
    ? undefined
    : decodeListCursor(AUDIT_LISTING, options.cursor, 1, AUDIT_ID_RE)[0]!;
  const items: AuditRow[] = [];
  // Seek, never skip: a page from a cursor (or below `until`) starts where the
  // key order puts it, so its cost does not grow with the records above it.
  // Ids begin with their record's ISO time, so `until` is a key position too.
  const seek = after ?? options.until;
  const walk = listAll<AuditRow>(ctx.storage, keys.auditPrefix(), {
    reverse: true,
    // Unfiltered pages need one row more than they show (to know if more follow).
    // (A backend lists at most 1000 rows a page: a 1000-record page reads two.)
    pageSize: hasFilter(options) ? 500 : Math.min(limit + 1, 1000),
    ...(seek === undefined ? {} : { after: keys.auditKey(seek) }),
  });
  for await (const e of walk) {
    const row = e.value;
    if (after !== undefined && row.id >= after) continue;
    if (options.since !== undefined && row.at < options.since) break;
    if (!matches(row, options)) continue;
    items.push(row);
    if (items.length > limit) break;
  }
  if (items.length > limit) {
    items.length = limit;
    return { items, cursor: encodeListCursor(AUDIT_LISTING, [items[limit - 1]!.id]) };
  }
  return { items };
}

/**
 * Every record, oldest first, as JSON lines (for export).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { exportAudit, recordAudit } from "./audit.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * await recordAudit(ctx, { actor: "ci", action: "publish", target: "@acme/widget@1.0.0" });
 * const lines: string[] = [];
 * for await (const line of exportAudit(ctx, { action: "publish" })) lines.push(line);
 * assert(lines.length === 1 && JSON.parse(lines[0]!).actor === "ci");
 * ```
 */
export async function* exportAudit(
  ctx: RegistryContext,
  filter: AuditFilter = {},
): AsyncGenerator<string> {
  for await (const e of listAll<AuditRow>(ctx.storage, keys.auditPrefix())) {
    if (matches(e.value, filter)) yield JSON.stringify(e.value) + "\n";
  }
}
