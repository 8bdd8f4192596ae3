import assert from "node:assert/strict";
import { holdBlobs, SWEEP_BATCH, sweepHolds } from "./_blob_hold.ts";
import { readGcGuard } from "./_gc_guard.ts";
import { collectGarbage } from "./gc.ts";
import type { VersionRow } from "./rows.ts";
import { putVersionIfAbsent } from "./store.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import * as keys from "../storage/keys.ts";
import type { Commit, CommitResult, Entry, ListOptions, Page, RowKey } from "../storage/types.ts";

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

Deno.test("sweepHolds() deletes stale recent-version rows as it lists them, a batch at a time", async () => {
  const events: string[] = [];
  /** Rows that record each page listed under the recent-version prefix, and each commit. */
  class Recording extends MemoryRegistryStorage {
    override list<T = unknown>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> {
      if (prefix[0] === keys.recentVersionsPrefix()[0]) events.push("page");
      return super.list<T>(prefix, options);
    }
    override commit(commit: Commit): Promise<CommitResult> {
      events.push(`commit ${commit.mutations.length}`);
      return super.commit(commit);
    }
  }
  const storage = new Recording();
  const old = Date.parse("2025-01-01T00:00:00.000Z");
  const rows = 3 * SWEEP_BATCH + 7;
  for (let i = 0; i < rows; i += 100) {
    await storage.commit({
      checks: [],
      mutations: Array.from({ length: Math.min(100, rows - i) }, (_, j) => ({
        type: "set" as const,
        key: keys.recentVersionKey(`${new Date(old + (i + j) * 1000).toISOString()}-${i + j}`),
        value: { namespace: "@acme", name: "widget", version: `1.0.${i + j}` },
      })),
    });
  }
  events.length = 0;
  await sweepHolds({ storage, clock: () => new Date("2026-12-01T00:00:00.000Z") });
  const seen = events.splice(0);
  assert.equal((await storage.list(keys.recentVersionsPrefix())).items.length, 0);
  const commits = seen.filter((e) => e.startsWith("commit")).map((e) => Number(e.slice(7)));
  assert.deepEqual(commits, [SWEEP_BATCH, SWEEP_BATCH, SWEEP_BATCH, 7]);
  // The first batch goes before the listing ends: the run never holds every stale key.
  assert.ok(seen.indexOf(`commit ${SWEEP_BATCH}`) < seen.lastIndexOf("page"), seen.join());
});
