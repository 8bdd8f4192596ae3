import assert from "node:assert/strict";
import { holdBlobs } from "./_blob_hold.ts";
import { readGcGuard } from "./_gc_guard.ts";
import { collectGarbage } from "./gc.ts";
import type { VersionRow } from "./rows.ts";
import { putVersionIfAbsent } from "./store.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

/** One store whose clocks stand still: every put of a blob gets the same `touchedAt`. */
function still() {
  const at = new Date("2026-12-01T00:00:00.000Z");
  const clock = () => at;
  return {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage({ now: clock }),
    clock,
  };
}

function versionRow(version: string, sha256: string): VersionRow {
  return {
    namespace: "@acme",
    name: "widget",
    version,
    format: "ggui.gadget",
    visibility: "public",
    files: { "bundle.js": { sha256, size: 17, type: "text/javascript" } },
    facts: {},
    publishedAt: "2026-12-01T00:00:00.000Z",
    publishedBy: "alice",
  } as VersionRow;
}

Deno.test("collectGarbage() with no grace period keeps the blobs of a publish in flight", async () => {
  const ctx = { ...still(), clock: () => new Date() };
  ctx.bundles = new MemoryBundleStorage();
  const orphan = await ctx.bundles.put(bytes("left by a crash"));
  {
    await using hold = await holdBlobs(ctx);
    const mine = await hold.context.bundles.put(bytes("being published"));
    const report = await collectGarbage(ctx, { graceMs: 0 });
    assert.ok(report.held);
    assert.notEqual(await ctx.bundles.stat(mine.sha256), null);
    hold.keep();
  }
  // The hold ended: the next run may take both.
  const report = await collectGarbage(ctx, { graceMs: 0 });
  assert.equal(report.held, false);
  assert.equal(await ctx.bundles.stat(orphan.sha256), null);
});

Deno.test("a failed publish drops the blobs it created, never bytes stored before", async () => {
  const ctx = still();
  const before = await ctx.bundles.put(bytes("stored before"));
  {
    await using hold = await holdBlobs(ctx);
    await hold.context.bundles.put(bytes("stored before"));
    await hold.context.bundles.put(bytes("new"));
  }
  assert.deepEqual((await ctx.bundles.list()).items.map((b) => b.sha256), [before.sha256]);
  assert.equal((await ctx.storage.list(["gc_hold"])).items.length, 0, "the hold ended");
});

Deno.test("a failed publish keeps a blob it created that a version committed since refers to", async () => {
  // Both publishes store the same bytes with the same touchedAt (a clock
  // standing still): only the committed version tells the blob is taken.
  const ctx = still();
  const loser = await holdBlobs(ctx);
  const shared = await loser.context.bundles.put(bytes("export default 1;"));
  assert.equal(shared.created, true);
  {
    await using winner = await holdBlobs(ctx);
    const guard = await readGcGuard(winner.context);
    await winner.context.bundles.put(bytes("export default 1;"));
    const result = await putVersionIfAbsent(ctx.storage, {
      row: versionRow("1.0.0", shared.sha256),
      gc: { guard, ctx: winner.context },
      updatePackage: () => ({ namespace: "@acme", name: "widget" }) as never,
    });
    assert.equal(result.result, "created");
    winner.keep();
  }
  await loser[Symbol.asyncDispose]();
  assert.notEqual(await ctx.bundles.stat(shared.sha256), null);
});
