// Every paged core listing (audit, webhook deliveries, tokens) seeks: a deep
// page reads only its own rows, on memory and on a KV file; and every bad
// cursor or page size is invalid_input before anything is read.
import assert from "node:assert/strict";
import { CountingRegistryStorage } from "../tests/_counting_storage.ts";
import { KvRegistryStorage } from "../storage/kv.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import * as keys from "../storage/keys.ts";
import type { RegistryStorage } from "../storage/types.ts";
import { listAudit, recordAudit } from "./audit.ts";
import type { RegistryContext } from "./context.ts";
import { encodeListCursor } from "./cursor.ts";
import { isRegistryError } from "../base/errors.ts";
import { listTokenPage } from "./token_pages.ts";
import { createToken } from "./tokens.ts";
import { listDeliveries, newOutboxRows, outboxMutations } from "./webhooks.ts";

const ADMIN = { subject: "root", admin: true };

/** Run `fn` against a memory store and a KV file. */
async function onBackends(fn: (storage: RegistryStorage) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cursor_test_" });
  const kv = await KvRegistryStorage.open(`${dir}/rows.kv`);
  try {
    await fn(new MemoryRegistryStorage());
    await fn(kv);
  } finally {
    await kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A context whose clock moves one second per call, and a counting view of it. */
function contexts(storage: RegistryStorage) {
  let now = Date.parse("2026-11-22T00:00:00Z");
  const ctx: RegistryContext = {
    storage,
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(now += 1000),
  };
  const counting = new CountingRegistryStorage(storage);
  return { ctx, counting, counted: { ...ctx, storage: counting } };
}

const rowsRead = (c: CountingRegistryStorage) => c.reads.reduce((n, r) => n + r.found, 0);

/** Every way a cursor or a page size can be wrong, for a listing whose good cursor is `good`. */
function badInputs(good: string, other: string) {
  return [
    { cursor: other }, // another listing's
    { cursor: "garbage" },
    { cursor: good.replace(/~.*/, "~!!!") },
    { cursor: good.replace(/~.*/, "~") + btoa('["../../x"]').replaceAll("=", "") },
    { cursor: good.replace(/~.*/, "~") + btoa('{"a":1}').replaceAll("=", "") },
    { cursor: good + "A" }, // tampered
    { limit: 0 },
    { limit: -1 },
    { limit: 1e9 },
    { limit: 2.5 },
  ];
}

async function assertRefusedUnread(
  counting: CountingRegistryStorage,
  run: () => Promise<unknown>,
  label: string,
): Promise<void> {
  counting.reads = [];
  await assert.rejects(run, (err) => isRegistryError(err) && err.code === "invalid_input", label);
  assert.deepEqual(counting.reads.filter((r) => r.op === "list"), [], `${label}: nothing listed`);
}

Deno.test("listDeliveries() from a deep cursor reads only its page's rows, on memory and KV", async () => {
  await onBackends(async (storage) => {
    const { ctx, counting, counted } = contexts(storage);
    const rows = Array.from(
      { length: 600 },
      (_, i) =>
        newOutboxRows([{
          event: "uploaded",
          url: "https://h.example/",
          subscription: "s",
          body: `${i}`,
        }], ctx.clock())[0]!,
    );
    for (let at = 0; at < rows.length; at += 200) {
      await storage.commit({ checks: [], mutations: outboxMutations(rows.slice(at, at + 200)) });
    }
    // Newest first: a cursor at the 580th newest leaves the 20 oldest.
    const deep = encodeListCursor("deliveries.pending", [rows[20]!.id]);
    const page = await listDeliveries(counted, "pending", { limit: 10, cursor: deep });
    assert.deepEqual(
      page.items.map((r) => r.body),
      Array.from({ length: 10 }, (_, i) => `${19 - i}`),
    );
    assert.ok(rowsRead(counting) <= 11, `a deep page read ${rowsRead(counting)} rows`);
    // Walked to the end, page by page, every row once.
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const p = await listDeliveries(ctx, "pending", { limit: 250, ...(cursor ? { cursor } : {}) });
      seen.push(...p.items.map((r) => r.id));
      cursor = p.cursor;
    } while (cursor);
    assert.deepEqual(seen, rows.map((r) => r.id).reverse());
    // A stale cursor (its delivery moved on since) is still a position.
    await storage.commit({
      checks: [],
      mutations: [{ type: "delete", key: keys.outboxKey(rows[20]!.id) }],
    });
    const stale = await listDeliveries(ctx, "pending", { limit: 5, cursor: deep });
    assert.equal(stale.items[0]!.body, "19");
    const first = await listDeliveries(ctx, "pending", { limit: 2 });
    const audit = encodeListCursor("audit", ["2026-11-22T00:00:01.000Z-abc"]);
    for (const bad of badInputs(first.cursor!, audit)) {
      await assertRefusedUnread(
        counting,
        () => listDeliveries(counted, "pending", bad),
        `deliveries ${JSON.stringify(bad)}`,
      );
    }
    // Each state is a listing of its own.
    await assertRefusedUnread(
      counting,
      () => listDeliveries(counted, "dead", { cursor: first.cursor! }),
      "a pending cursor for dead deliveries",
    );
  });
});

Deno.test("listAudit() refuses cursors of other listings, forged cursors and absurd limits before reading", async () => {
  await onBackends(async (storage) => {
    const { ctx, counting, counted } = contexts(storage);
    for (let i = 0; i < 30; i++) {
      await recordAudit(ctx, { actor: "ci", action: "publish", target: `p${i}` });
    }
    const first = await listAudit(ctx, { limit: 5 });
    assert.match(first.cursor!, /^audit~/);
    const tokens = encodeListCursor("tokens", ["2026-01-01T00:00:00.000Z", "tok_x"]);
    for (const bad of badInputs(first.cursor!, tokens)) {
      await assertRefusedUnread(
        counting,
        () => listAudit(counted, bad),
        `audit ${JSON.stringify(bad)}`,
      );
    }
    // A bare record id (what a cursor used to be) is not a cursor of this listing either.
    await assertRefusedUnread(
      counting,
      () => listAudit(counted, { cursor: first.items[4]!.id }),
      "a bare id",
    );
  });
});

Deno.test("listTokenPage() from a deep cursor reads only its page's pointers and tokens, on memory and KV", async () => {
  await onBackends(async (storage) => {
    const { ctx, counting, counted } = contexts(storage);
    const made: string[] = [];
    for (let i = 0; i < 120; i++) {
      const { token } = await createToken(
        ctx,
        { subject: i % 3 ? "ci" : "bot", grants: [] },
        ADMIN,
      );
      made.push(token.id);
    }
    // Oldest first, page by page, every token once.
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const p = await listTokenPage(ctx, { limit: 50, ...(cursor ? { cursor } : {}) });
      seen.push(...p.items.map((t) => t.id));
      cursor = p.cursor;
    } while (cursor);
    assert.deepEqual(seen, made);
    // A deep page: the pointers of ten tokens and those ten tokens (the index marker: one more).
    const page100 = await listTokenPage(ctx, { limit: 100 });
    counting.reads = [];
    const deep = await listTokenPage(counted, { limit: 10, cursor: page100.cursor! });
    assert.deepEqual(deep.items.map((t) => t.id), made.slice(100, 110));
    assert.ok(rowsRead(counting) <= 21, `a deep page read ${rowsRead(counting)} rows`);
    // One subject's, and a cursor that carries the subject.
    const ci = await listTokenPage(ctx, { subject: "ci", limit: 30 });
    assert.ok(ci.items.every((t) => t.subject === "ci"));
    const ciRest = await listTokenPage(ctx, { subject: "ci", limit: 100, cursor: ci.cursor! });
    assert.equal(ci.items.length + ciRest.items.length, 80);
    for (const bad of badInputs(page100.cursor!, ci.cursor!)) {
      await assertRefusedUnread(
        counting,
        () => listTokenPage(counted, bad),
        `tokens ${JSON.stringify(bad)}`,
      );
    }
    // Another subject's cursor is another listing's.
    await assertRefusedUnread(
      counting,
      () => listTokenPage(counted, { subject: "bot", cursor: ci.cursor! }),
      "another subject's cursor",
    );
  });
});

Deno.test("listTokenPage() indexes the tokens of a store from before the pointers, once", async () => {
  const { ctx } = contexts(new MemoryRegistryStorage());
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) {
    ids.push((await createToken(ctx, { subject: "ci", grants: [] }, ADMIN)).token.id);
  }
  // What an older store holds: tokens without pointers or marker.
  for (const prefix of [keys.tokensByTimePrefix(), ["token_by_subject"]]) {
    const page = await ctx.storage.list(prefix, { limit: 1000 });
    await ctx.storage.commit({
      checks: [],
      mutations: page.items.map((e) => ({ type: "delete" as const, key: e.key })),
    });
  }
  await ctx.storage.commit({
    checks: [],
    mutations: [{ type: "delete", key: keys.tokensIndexedKey() }],
  });
  assert.equal((await ctx.storage.list(keys.tokensByTimePrefix())).items.length, 0);
  assert.deepEqual((await listTokenPage(ctx, { subject: "ci" })).items.map((t) => t.id), ids);
  assert.deepEqual((await listTokenPage(ctx)).items.map((t) => t.id), ids);
  assert.ok(await ctx.storage.get(keys.tokensIndexedKey()));
});
