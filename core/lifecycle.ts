/**
 * The mutable lifecycle of versions, for every surface: yank and unyank,
 * deprecate and undeprecate, dist-tags, and hard delete with a tombstone.
 *
 * Each change is ONE atomic commit: compare-and-set on the version's lifecycle
 * row and on the package row (recomputed from every version state with the
 * format's summary function), plus its audit record, webhook outbox rows and search index rows.
 * A lost race retries from a fresh read; a change that changes nothing (yank
 * a yanked version) commits nothing and records nothing.
 *
 * Yanked versions stay downloadable by exact version; `latest` skips them.
 * A hard delete removes the version row and its lifecycle row and writes a
 * tombstone, so the version string can never be published again; its blobs
 * become orphans for GC.
 *
 * @module
 */
import { auditMutation, auditRow } from "./audit.ts";
import type { RegistryContext } from "./context.ts";
import { RegistryError } from "../base/errors.ts";
import { summaryOf } from "./formats.ts";
import {
  isVersion,
  packageId,
  type PackageRef,
  versionId,
  type VersionRef,
} from "../base/names.ts";
import { recomputePackageRow } from "./packages.ts";
import { searchIndexMutations } from "./search_index.ts";
import type { PackageRow, Tombstone, VersionRow, VersionState } from "./rows.ts";
import { pickLatest } from "./semver.ts";
import { getVersionRow, listVersionStates } from "./store.ts";
import { newOutboxRows, outboxMutations } from "./webhooks.ts";
import { rackMirrorMutation } from "./rack/mirror_queue.ts";
import { RACK_FORMAT } from "./rack/upload.ts";
import * as keys from "../storage/keys.ts";
import type { Check, JsonValue, Mutation } from "../storage/types.ts";

/** A webhook subscription as lifecycle events need it (Rack `webhooks.json` entries fit). */
export interface LifecycleSubscription {
  /** Stable id. */
  id: string;
  /** Target URL. */
  url: string;
  /** Events it wants. */
  events: readonly string[];
  /** Disabled subscriptions get nothing. */
  enabled: boolean;
}

/** Who acts, from where, and who hears about it. */
export interface LifecycleActor {
  /** The acting subject (audit `actor`). */
  actor: string;
  /** Client IP for the audit record. */
  ip?: string;
  /** Webhook subscriptions to write outbox rows for. */
  subscriptions?: readonly LifecycleSubscription[];
}

/** Lifecycle events sent to webhooks. */
export const LIFECYCLE_EVENTS = [
  "version.yanked",
  "version.unyanked",
  "version.deprecated",
  "version.undeprecated",
  "version.deleted",
  "tag.moved",
] as const;

/** The outcome of a lifecycle change. */
export interface LifecycleResult {
  /** Whether anything changed (and was recorded). */
  changed: boolean;
  /** The package row after the change. */
  package: PackageRow;
  /** The version's lifecycle after the change (absent after a delete). */
  state?: VersionState;
}

/** How many times a lifecycle commit that lost a race is retried. */
const MAX_ATTEMPTS = 64;

function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.min(50, attempt * 2) * Math.random()));
}

function notFound(message: string): RegistryError {
  return new RegistryError("not_found", message);
}

function assertRef(ref: PackageRef & { version?: string }): void {
  if (typeof ref.namespace !== "string" || typeof ref.name !== "string") {
    throw new RegistryError("invalid_input", "A package needs a namespace and a name");
  }
  if (ref.version !== undefined && !isVersion(ref.version)) {
    throw new RegistryError("invalid_version", `Invalid version '${ref.version}'`);
  }
}

/** The package row recomputed from `states`, with the best public version's summary. */
async function recompute(
  ctx: RegistryContext,
  pkg: PackageRow,
  states: readonly VersionState[],
): Promise<PackageRow> {
  const live = states.filter((s) => !s.yanked);
  // The entries search keeps: the best public version's, and the best version's
  // of any visibility (readers of the namespace search it when it is private).
  const wanted = new Set(
    [
      pickLatest(live.filter((s) => s.visibility === "public").map((s) => s.version)),
      pickLatest(live.map((s) => s.version)),
    ].filter((v): v is string => v !== undefined),
  );
  const summaries = new Map<string, Record<string, JsonValue>>();
  for (const version of wanted) {
    const row = await getVersionRow(ctx.storage, { ...pkg, version });
    if (row) summaries.set(version, { publishedAt: row.publishedAt, ...summaryOf(row) });
  }
  return recomputePackageRow(pkg, states, (v) => summaries.get(v), ctx.clock().toISOString());
}

function eventRows(
  ctx: RegistryContext,
  who: LifecycleActor,
  event: typeof LIFECYCLE_EVENTS[number],
  payload: Record<string, JsonValue>,
): Mutation[] {
  const now = ctx.clock();
  const subs = (who.subscriptions ?? []).filter((s) => s.enabled && s.events.includes(event));
  if (subs.length === 0) return [];
  const body = JSON.stringify({
    event,
    ...payload,
    actor: who.actor,
    timestamp: now.toISOString(),
  });
  return outboxMutations(
    newOutboxRows(subs.map((s) => ({ event, url: s.url, subscription: s.id, body })), now),
  );
}

function audit(
  ctx: RegistryContext,
  who: LifecycleActor,
  action: string,
  target: string,
  detail?: Record<string, unknown>,
): Mutation {
  return auditMutation(auditRow(ctx, {
    actor: who.actor,
    action,
    target,
    ...(who.ip ? { ip: who.ip } : {}),
    ...(detail ? { detail } : {}),
  }));
}

/** One CAS change of a version's lifecycle row, recomputing the package row. */
async function changeState(
  ctx: RegistryContext,
  input: VersionRef & LifecycleActor,
  change: {
    next: (current: VersionState) => VersionState | undefined;
    action: string;
    event: typeof LIFECYCLE_EVENTS[number];
    detail?: Record<string, JsonValue>;
  },
): Promise<LifecycleResult> {
  assertRef(input);
  const ref = { namespace: input.namespace, name: input.name, version: input.version };
  const sKey = keys.versionStateKey(ref);
  const pKey = keys.packageKey(ref);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const [s, p] = await ctx.storage.getMany<unknown>([sKey, pKey]);
    if (!s || !p) throw notFound(`Version '${versionId(ref)}' not found`);
    const current = s.value as VersionState;
    const pkg = p.value as PackageRow;
    const next = change.next(current);
    if (next === undefined) return { changed: false, package: pkg, state: current };
    const states = (await listVersionStates(ctx.storage, ref)).map((st) =>
      st.version === ref.version ? next : st
    );
    const pkgNext = await recompute(ctx, pkg, states);
    const payload: Record<string, JsonValue> = {
      namespace: ref.namespace,
      name: ref.name,
      version: ref.version,
      ...(change.detail ?? {}),
    };
    const res = await ctx.storage.commit({
      checks: [{ key: sKey, stamp: s.stamp }, { key: pKey, stamp: p.stamp }],
      mutations: [
        { type: "set", key: sKey, value: next as unknown as JsonValue },
        { type: "set", key: pKey, value: pkgNext as unknown as JsonValue },
        ...searchIndexMutations(pkg, pkgNext),
        audit(ctx, input, change.action, versionId(ref), change.detail),
        ...eventRows(ctx, input, change.event, payload),
      ],
    });
    if (res.ok) return { changed: true, package: pkgNext, state: next };
    await backoff(attempt);
  }
  throw new RegistryError(
    "conflict",
    `Could not change '${versionId(ref)}' under contention; retry`,
  );
}

/**
 * Yank a version: hidden from `latest`, still downloadable by exact version
 * (ggui reads answer 410). Idempotent.
 *
 * @example
 * ```ts ignore
 * await yankVersion(ctx, { namespace: "@acme", name: "map", version: "1.0.0", actor: "alice" });
 * ```
 */
export function yankVersion(
  ctx: RegistryContext,
  input: VersionRef & LifecycleActor,
): Promise<LifecycleResult> {
  return changeState(ctx, input, {
    next: (cur) =>
      cur.yanked ? undefined : { ...cur, yanked: true, yankedAt: ctx.clock().toISOString() },
    action: "version.yank",
    event: "version.yanked",
  });
}

/** Undo a yank. Idempotent. */
export function unyankVersion(
  ctx: RegistryContext,
  input: VersionRef & LifecycleActor,
): Promise<LifecycleResult> {
  return changeState(ctx, input, {
    next: (cur) => {
      if (!cur.yanked) return undefined;
      const next = { ...cur, yanked: false };
      delete next.yankedAt;
      return next;
    },
    action: "version.unyank",
    event: "version.unyanked",
  });
}

/** Largest deprecation message. */
export const MAX_DEPRECATION_CHARS = 1024;

/** Deprecate a version with a message (a new message replaces the old one). */
export async function deprecateVersion(
  ctx: RegistryContext,
  input: VersionRef & LifecycleActor & { message: string },
): Promise<LifecycleResult> {
  const message = typeof input.message === "string" ? input.message.trim() : "";
  if (message.length === 0 || message.length > MAX_DEPRECATION_CHARS) {
    throw new RegistryError(
      "invalid_input",
      `A deprecation message must have 1 to ${MAX_DEPRECATION_CHARS} characters`,
    );
  }
  return await changeState(ctx, input, {
    next: (cur) => cur.deprecated === message ? undefined : { ...cur, deprecated: message },
    action: "version.deprecate",
    event: "version.deprecated",
    detail: { message },
  });
}

/** Remove a deprecation. Idempotent. */
export function undeprecateVersion(
  ctx: RegistryContext,
  input: VersionRef & LifecycleActor,
): Promise<LifecycleResult> {
  return changeState(ctx, input, {
    next: (cur) => {
      if (cur.deprecated === undefined) return undefined;
      const next = { ...cur };
      delete next.deprecated;
      return next;
    },
    action: "version.undeprecate",
    event: "version.undeprecated",
  });
}

/** Dist-tag names: lowercase, not a version, and never `latest` (computed). */
export const TAG_RE: RegExp = /^[a-z][a-z0-9._-]{0,63}$/;

function assertTag(tag: string): void {
  if (tag === "latest") {
    throw new RegistryError(
      "invalid_input",
      "The 'latest' tag is computed (highest non-yanked release) and cannot be set or removed",
    );
  }
  if (typeof tag !== "string" || !TAG_RE.test(tag) || isVersion(tag)) {
    throw new RegistryError("invalid_input", `Invalid tag '${String(tag)}'`);
  }
}

/**
 * Point a dist-tag at a version (which must exist). The package row is
 * compared-and-set; the version's lifecycle row is checked so a concurrent
 * delete cannot leave a tag pointing at nothing.
 */
export async function setDistTag(
  ctx: RegistryContext,
  input: VersionRef & LifecycleActor & { tag: string },
): Promise<LifecycleResult> {
  assertRef(input);
  assertTag(input.tag);
  return await changeTags(ctx, input, input.tag, input.version);
}

/** Remove a dist-tag. Idempotent. */
export async function removeDistTag(
  ctx: RegistryContext,
  input: PackageRef & LifecycleActor & { tag: string },
): Promise<LifecycleResult> {
  assertRef(input);
  assertTag(input.tag);
  return await changeTags(ctx, input, input.tag, undefined);
}

async function changeTags(
  ctx: RegistryContext,
  input: PackageRef & LifecycleActor,
  tag: string,
  version: string | undefined,
): Promise<LifecycleResult> {
  const ref = { namespace: input.namespace, name: input.name };
  const pKey = keys.packageKey(ref);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const sKey = version === undefined ? undefined : keys.versionStateKey({ ...ref, version });
    const [p, s] = await ctx.storage.getMany<unknown>(sKey ? [pKey, sKey] : [pKey]);
    if (!p) throw notFound(`Package '${packageId(ref)}' not found`);
    if (sKey && !s) {
      throw notFound(`Version '${versionId({ ...ref, version: version! })}' not found`);
    }
    const pkg = p.value as PackageRow;
    // Own tags only: `constructor` and the like are not tags.
    const from = Object.hasOwn(pkg.tags, tag) ? pkg.tags[tag] : undefined;
    if (from === version) return { changed: false, package: pkg };
    const tags = { ...pkg.tags };
    if (version === undefined) delete tags[tag];
    else tags[tag] = version;
    const next: PackageRow = { ...pkg, tags, updatedAt: ctx.clock().toISOString() };
    const checks: Check[] = [{ key: pKey, stamp: p.stamp }];
    if (sKey && s) checks.push({ key: sKey, stamp: s.stamp });
    const detail: Record<string, JsonValue> = { tag };
    if (from !== undefined) detail.from = from;
    if (version !== undefined) detail.to = version;
    const res = await ctx.storage.commit({
      checks,
      mutations: [
        { type: "set", key: pKey, value: next as unknown as JsonValue },
        ...searchIndexMutations(pkg, next),
        audit(ctx, input, version === undefined ? "tag.remove" : "tag.set", packageId(ref), detail),
        ...eventRows(ctx, input, "tag.moved", {
          namespace: ref.namespace,
          name: ref.name,
          ...detail,
        }),
      ],
    });
    if (res.ok) return { changed: true, package: next };
    await backoff(attempt);
  }
  throw new RegistryError("conflict", `Could not move tag '${tag}' under contention; retry`);
}

/**
 * Hard-delete a version (operators only; the caller checks that): the version
 * row and lifecycle row go, a tombstone takes their place so the version string
 * can never be published again, tags pointing at it are removed and the
 * package row is recomputed — one commit. The blobs become orphans for GC.
 */
export async function deleteVersion(
  ctx: RegistryContext,
  input: VersionRef & LifecycleActor,
): Promise<LifecycleResult> {
  assertRef(input);
  const ref = { namespace: input.namespace, name: input.name, version: input.version };
  const vKey = keys.versionKey(ref);
  const sKey = keys.versionStateKey(ref);
  const pKey = keys.packageKey(ref);
  const tKey = keys.tombstoneKey(ref);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const [v, s, p, t] = await ctx.storage.getMany<unknown>([vKey, sKey, pKey, tKey]);
    if (t || !v || !p) throw notFound(`Version '${versionId(ref)}' not found`);
    const row = v.value as VersionRow;
    const pkg = p.value as PackageRow;
    const states = (await listVersionStates(ctx.storage, ref)).filter((st) =>
      st.version !== ref.version
    );
    const recomputed = await recompute(ctx, pkg, states);
    const tags = Object.fromEntries(
      Object.entries(recomputed.tags).filter(([, to]) => to !== ref.version),
    );
    const next: PackageRow = { ...recomputed, tags };
    const tomb: Tombstone = {
      deletedAt: ctx.clock().toISOString(),
      deletedBy: input.actor,
    };
    const res = await ctx.storage.commit({
      checks: [
        { key: vKey, stamp: v.stamp },
        { key: sKey, stamp: s?.stamp ?? null },
        { key: pKey, stamp: p.stamp },
        { key: tKey, stamp: null },
      ],
      mutations: [
        { type: "delete", key: vKey },
        { type: "delete", key: sKey },
        { type: "set", key: tKey, value: tomb as unknown as JsonValue },
        { type: "set", key: pKey, value: next as unknown as JsonValue },
        ...searchIndexMutations(pkg, next),
        audit(ctx, input, "version.delete", versionId(ref), {
          format: row.format,
          visibility: row.visibility,
        }),
        ...eventRows(ctx, input, "version.deleted", { ...ref }),
        // Rack's Worker must stop serving it: the bucket copy goes after this commit.
        ...(ctx.rackMirror && row.format === RACK_FORMAT
          ? [rackMirrorMutation({ kind: "delete", ...ref }, ctx.clock())]
          : []),
      ],
    });
    if (res.ok) return { changed: true, package: next };
    await backoff(attempt);
  }
  throw new RegistryError(
    "conflict",
    `Could not delete '${versionId(ref)}' under contention; retry`,
  );
}

/** The tombstone of a version, or `null`. */
export async function getTombstone(
  ctx: RegistryContext,
  ref: VersionRef,
): Promise<Tombstone | null> {
  return (await ctx.storage.get<Tombstone>(keys.tombstoneKey(ref)))?.value ?? null;
}
