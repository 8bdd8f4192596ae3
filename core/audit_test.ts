import assert from "node:assert/strict";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { RegistryContext } from "./context.ts";
import { exportAudit, listAudit, recordAudit } from "./audit.ts";

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
