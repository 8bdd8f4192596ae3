import assert from "node:assert/strict";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { RegistryContext } from "./context.ts";
import { exportAudit, listAudit, recordAudit } from "./audit.ts";
import { encodeListCursor } from "./cursor.ts";

Deno.test("listAudit() pages newest first with filters and a stable cursor", async () => {
  let now = Date.parse("2026-11-22T00:00:00Z");
  const ctx: RegistryContext = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(now),
  };
  for (let i = 0; i < 25; i++) {
    now += 1000;
    await recordAudit(ctx, {
      actor: i % 2 ? "alice" : "bob",
      action: "publish",
      target: `@acme/p${i}@1.0.0`,
    });
  }
  const first = await listAudit(ctx, { actor: "alice", limit: 5 });
  assert.equal(first.items.length, 5);
  assert.equal(first.items[0]!.target, "@acme/p23@1.0.0");
  const all = [...first.items];
  let cursor = first.cursor;
  while (cursor) {
    const page = await listAudit(ctx, { actor: "alice", limit: 5, cursor });
    all.push(...page.items);
    cursor = page.cursor;
  }
  assert.equal(all.length, 12);
  assert.ok(all.every((r) => r.actor === "alice"));
  assert.deepEqual(all.map((r) => r.at), [...all.map((r) => r.at)].sort().reverse());
  const lines: string[] = [];
  for await (const line of exportAudit(ctx, { targetPrefix: "@acme/p1" })) lines.push(line);
  assert.deepEqual(lines.map((l) => JSON.parse(l).target), [
    "@acme/p1@1.0.0",
    ...Array.from({ length: 10 }, (_, i) => `@acme/p${10 + i}@1.0.0`),
  ]);
});

Deno.test("listAudit() from a deep cursor, or below `until`, reads only its page's rows", async () => {
  const { CountingRegistryStorage } = await import("../tests/_counting_storage.ts");
  const { KvRegistryStorage } = await import("../storage/kv.ts");
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/audit.kv`);
  try {
    for (const inner of [new MemoryRegistryStorage(), new KvRegistryStorage(kv)]) {
      let now = Date.parse("2026-11-22T00:00:00Z");
      const writer: RegistryContext = {
        storage: inner,
        bundles: new MemoryBundleStorage(),
        clock: () => new Date(now),
      };
      const ids: string[] = [];
      for (let i = 0; i < 1500; i++) {
        now += 1000;
        ids.push(
          (await recordAudit(writer, { actor: "ci", action: "publish", target: `p${i}` })).id,
        );
      }
      const counting = new CountingRegistryStorage(inner);
      const ctx = { ...writer, storage: counting };
      // The oldest records: a cursor near the end of the order.
      const page = await listAudit(ctx, {
        limit: 10,
        cursor: encodeListCursor("audit", [ids[20]!]),
      });
      assert.deepEqual(
        page.items.map((r) => r.target),
        Array.from({ length: 10 }, (_, i) => `p${19 - i}`),
      );
      const read = counting.reads.reduce((n, r) => n + r.found, 0);
      assert.ok(read <= 11, `a deep page read ${read} rows`);
      counting.reads = [];
      const until = new Date(Date.parse("2026-11-22T00:00:00Z") + 31_000).toISOString();
      const before = await listAudit(ctx, { limit: 5, until });
      assert.deepEqual(before.items.map((r) => r.target), ["p29", "p28", "p27", "p26", "p25"]);
      assert.ok(counting.reads.reduce((n, r) => n + r.found, 0) <= 6);
    }
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("listAudit() answers its largest page, 1000 records, with a cursor for the rest", async () => {
  let now = Date.parse("2026-11-22T00:00:00Z");
  const ctx: RegistryContext = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(now),
  };
  for (let i = 0; i < 1001; i++) {
    now += 1000;
    await recordAudit(ctx, { actor: "ci", action: "publish", target: `p${i}` });
  }
  const page = await listAudit(ctx, { limit: 1000 });
  assert.equal(page.items.length, 1000);
  const rest = await listAudit(ctx, { limit: 1000, cursor: page.cursor! });
  assert.deepEqual(rest.items.map((r) => r.target), ["p0"]);
});
