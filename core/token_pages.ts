/**
 * Stored tokens a page at a time, oldest first, optionally one subject's: a
 * seek in a key order, never a skip. Two pointer indexes, written in the same
 * commit as the token (`createToken`), give the orders: `token_by_time`
 * (creation time, then id) and `token_by_subject` (subject, creation time,
 * id). A store from before them is indexed once, by the first listing, and
 * marked so (`token_by_time_indexed`).
 *
 * A page reads its pointers and the token rows they name, nothing else. Its
 * cursor is a `tokens` cursor (or `tokens.subject`, whose position starts
 * with the subject, so it cannot continue another subject's listing): see
 * `core/cursor.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { createToken } from "./tokens.ts";
 * import { listTokenPage } from "./token_pages.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const admin = { subject: "root", admin: true };
 * for (const subject of ["ci", "ci", "bot"]) await createToken(ctx, { subject, grants: [] }, admin);
 * const first = await listTokenPage(ctx, { limit: 2 });
 * const rest = await listTokenPage(ctx, { limit: 2, cursor: first.cursor });
 * assert(first.items.length === 2 && rest.items.length === 1 && rest.cursor === undefined);
 * assert((await listTokenPage(ctx, { subject: "ci" })).items.length === 2);
 * ```
 *
 * @module
 */
import type { RegistryContext } from "./context.ts";
import { badCursor, decodeListCursor, encodeListCursor, pageSizeOf } from "./cursor.ts";
import type { TokenRow } from "./rows.ts";
import { listAll } from "./store.ts";
import * as keys from "../storage/keys.ts";
import type { Mutation, RowKey } from "../storage/types.ts";

const ISO_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const TOKEN_ID_RE = /^tok_[A-Za-z0-9_-]{1,64}$/;
const SUBJECT_RE = /^[A-Za-z0-9@._:/-]{1,128}$/;

/** The pointer rows that index a token (set in the commit that creates it). */
export function tokenIndexMutations(row: TokenRow): Mutation[] {
  return [
    { type: "set", key: keys.tokenByTimeKey(row.createdAt, row.id), value: row.sha256 },
    {
      type: "set",
      key: keys.tokenBySubjectKey(row.subject, row.createdAt, row.id),
      value: row.sha256,
    },
  ];
}

/** Index the tokens of a store written before the pointers existed (once; idempotent). */
async function ensureTokenIndex(ctx: RegistryContext): Promise<void> {
  if (await ctx.storage.get(keys.tokensIndexedKey())) return;
  let batch: Mutation[] = [];
  const flush = async () => {
    if (batch.length > 0) await ctx.storage.commit({ checks: [], mutations: batch });
    batch = [];
  };
  for await (const e of listAll<TokenRow>(ctx.storage, keys.tokensPrefix())) {
    batch.push(...tokenIndexMutations(e.value));
    if (batch.length >= 200) await flush();
  }
  await flush();
  await ctx.storage.commit({
    checks: [],
    mutations: [{ type: "set", key: keys.tokensIndexedKey(), value: true }],
  });
}

/**
 * One page of stored tokens (without hashes), oldest first; one subject's
 * when `subject` is given. A cursor of another listing (or of another
 * subject's), of the wrong shape, or a limit outside 1–1000 is `invalid_input`.
 */
export async function listTokenPage(
  ctx: RegistryContext,
  options: { subject?: string; limit?: number; cursor?: string | undefined } = {},
): Promise<{ items: Omit<TokenRow, "sha256">[]; cursor?: string }> {
  const limit = pageSizeOf(options.limit, { fallback: 100, max: 1000 });
  const { subject } = options;
  const listing = subject === undefined ? "tokens" : "tokens.subject";
  const prefix = subject === undefined
    ? keys.tokensByTimePrefix()
    : keys.tokensBySubjectPrefix(subject);
  let after: RowKey | undefined;
  if (options.cursor !== undefined) {
    const position = subject === undefined
      ? decodeListCursor(listing, options.cursor, 2, [ISO_RE, TOKEN_ID_RE])
      : decodeListCursor(listing, options.cursor, 3, [SUBJECT_RE, ISO_RE, TOKEN_ID_RE]);
    // Another subject's cursor is another listing's.
    if (subject !== undefined && position[0] !== subject) throw badCursor(options.cursor);
    after = [...prefix, ...position.slice(position.length - 2)];
  }
  await ensureTokenIndex(ctx);
  const page = await ctx.storage.list<string>(prefix, {
    limit,
    ...(after === undefined ? {} : { after }),
  });
  const items: Omit<TokenRow, "sha256">[] = [];
  for (let at = 0; at < page.items.length; at += 10) {
    const pointers = page.items.slice(at, at + 10);
    const rows = await ctx.storage.getMany<TokenRow>(pointers.map((p) => keys.tokenKey(p.value)));
    for (const row of rows) {
      if (row === null) continue; // a pointer whose token is gone (never written: a lost race)
      const { sha256: _hash, ...rest } = row.value;
      items.push(rest);
    }
  }
  const last = page.items.at(-1)?.key;
  if (page.cursor === undefined || last === undefined) return { items };
  const position = last.slice(prefix.length);
  return {
    items,
    cursor: encodeListCursor(listing, subject === undefined ? position : [subject, ...position]),
  };
}
