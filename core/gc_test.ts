import assert from "node:assert/strict";
import {
  collectGarbage,
  GC_ORPHANS_LISTED,
  type GcProgress,
  parseDuration,
  readGcGuard,
} from "./gc.ts";
import type { RegistryContext } from "./context.ts";
import { isRegistryError } from "../base/errors.ts";
import { deleteVersion } from "./lifecycle.ts";
import { nextPackageRow } from "./packages.ts";
import type { AuditRow, FileMap, VersionRow } from "./rows.ts";
import { getVersionRow, listAll, putVersionIfAbsent } from "./store.ts";
import { fileListFields } from "./files.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";
import type { BundleStorage } from "../storage/types.ts";

const enc = new TextEncoder();
const HOUR = 3_600_000;

/** A context whose clock (rows and blob `touchedAt`) the test moves. */
function makeCtx(
  make?: (now: () => Date) => { storage: RegistryContext["storage"]; bundles: BundleStorage },
) {
  const time = { t: Date.parse("2026-11-22T00:00:00.000Z") };
  const now = () => new Date(time.t);
  const made = make?.(now) ??
    { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage({ now }) };
  const ctx: RegistryContext = { ...made, clock: now };
  return { ctx, time };
}

/** Publish the way every surface does: guard, blobs, one commit. */
async function publish(
  ctx: RegistryContext,
  version: string,
  contents: string[],
  options: { beforePut?: () => Promise<void>; afterPut?: () => Promise<void> } = {},
) {
  const guard = await readGcGuard(ctx);
  await options.beforePut?.();
  const files: FileMap = {};
  for (const [i, text] of contents.entries()) {
    const info = await ctx.bundles.put(enc.encode(text));
    files[`f${i}.txt`] = { sha256: info.sha256, size: info.size, type: "text/plain" };
  }
  await options.afterPut?.();
  const ref = { namespace: "@acme", name: "pkg" };
  const row: VersionRow = {
    ...ref,
    version,
    format: "rack.registry",
    visibility: "public",
    ...(await fileListFields(ctx, files)),
    facts: {},
    publishedAt: ctx.clock().toISOString(),
    publishedBy: "ci",
  };
  return await putVersionIfAbsent(ctx.storage, {
    row,
    gc: { guard, ctx },
    updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }),
  });
}

async function blobsPresent(ctx: RegistryContext, row: VersionRow): Promise<boolean> {
  for (const e of Object.values(row.files ?? {})) {
    if (!(await ctx.bundles.stat(e.sha256))) return false;
  }
  return true;
}

Deno.test("collectGarbage() reclaims old orphans and keeps referenced and young blobs", async () => {
  const { ctx, time } = makeCtx();
  await publish(ctx, "1.0.0", ["kept-a", "kept-b"]);
  const orphan = await ctx.bundles.put(enc.encode("refused upload"));
  time.t += 2 * HOUR;
  const young = await ctx.bundles.put(enc.encode("in flight"));
  const dry = await collectGarbage(ctx, { dryRun: true });
  assert.deepEqual(dry.orphans.map((o) => o.sha256), [orphan.sha256]);
  assert.equal(dry.young, 1);
  assert.equal(dry.referenced, 2);
  assert.notEqual(await ctx.bundles.stat(orphan.sha256), null, "a dry run deletes nothing");
  const run = await collectGarbage(ctx, { actor: "ops" });
  assert.deepEqual(run.orphans.map((o) => o.sha256), [orphan.sha256]);
  assert.equal(await ctx.bundles.stat(orphan.sha256), null);
  assert.notEqual(await ctx.bundles.stat(young.sha256), null);
  const row = await getVersionRow(ctx.storage, {
    namespace: "@acme",
    name: "pkg",
    version: "1.0.0",
  });
  assert.ok(row && await blobsPresent(ctx, row));
  const audits: AuditRow[] = [];
  for await (const e of listAll<AuditRow>(ctx.storage, keys.auditPrefix())) audits.push(e.value);
  assert.deepEqual(audits.map((a) => [a.action, a.actor]), [["gc.run", "ops"]]);
});

Deno.test("collectGarbage() keeps file-list blobs and the files they list", async () => {
  const { ctx, time } = makeCtx();
  const many = Array.from({ length: 400 }, (_, i) => `file number ${i} `.padEnd(60, "x"));
  await publish(ctx, "1.0.0", many);
  const row = await getVersionRow(ctx.storage, {
    namespace: "@acme",
    name: "pkg",
    version: "1.0.0",
  });
  assert.ok(row?.filesSha256, "the file list went to a blob");
  time.t += 2 * HOUR;
  const run = await collectGarbage(ctx);
  assert.equal(run.orphans.length, 0);
  assert.equal(run.referenced, 401);
  assert.notEqual(await ctx.bundles.stat(row.filesSha256), null);
});

Deno.test("collectGarbage() reclaims the blobs of a hard-deleted version", async () => {
  const { ctx, time } = makeCtx();
  await publish(ctx, "1.0.0", ["shared", "only-in-1"]);
  await publish(ctx, "1.1.0", ["shared", "only-in-1.1"]);
  await deleteVersion(ctx, { namespace: "@acme", name: "pkg", version: "1.0.0", actor: "ops" });
  time.t += 2 * HOUR;
  const run = await collectGarbage(ctx);
  assert.equal(run.orphans.length, 1);
  const left = await ctx.bundles.list({ limit: 100 });
  assert.equal(left.items.length, 2);
});

Deno.test("a second collectGarbage() while one runs answers conflict", async () => {
  const { ctx } = makeCtx();
  let inner: Promise<unknown> | undefined;
  await collectGarbage(ctx, {
    graceMs: 0,
    onBeforeDelete: () => {
      inner = collectGarbage(ctx, { graceMs: 0 }).catch((e) => e);
    },
  });
  const err = await inner;
  assert.ok(isRegistryError(err, "conflict"));
});

Deno.test("a publish that re-puts an old orphan between GC's check and its delete never commits a dangling row", async () => {
  const { ctx, time } = makeCtx();
  const text = "bytes a refused upload left behind";
  const old = await ctx.bundles.put(enc.encode(text));
  time.t += 2 * HOUR;
  // The worst interleaving, forced: the publish's put lands right before the
  // GC's delete of the same blob.
  let putDone: () => void;
  const put = new Promise<void>((r) => putDone = r);
  let deleting: () => void;
  const deleteStarted = new Promise<void>((r) => deleting = r);
  // The guard is read before the run starts; the put waits for the delete.
  const publishing = publish(ctx, "1.0.0", [text], {
    beforePut: () => deleteStarted,
    afterPut: () => Promise.resolve(putDone()),
  }).catch((e) => e);
  await new Promise((r) => setTimeout(r, 5));
  const inner = ctx.bundles;
  const racing: BundleStorage = {
    put: (b, o) => inner.put(b, o),
    get: (s, r) => inner.get(s, r),
    stat: (s) => inner.stat(s),
    list: (o) => inner.list(o),
    close: () => inner.close(),
    async delete(sha256) {
      if (sha256 === old.sha256) {
        deleting();
        await put;
      }
      return await inner.delete(sha256);
    },
  };
  const gcCtx = { ...ctx, bundles: racing };
  const report = await collectGarbage(gcCtx, { graceMs: HOUR });
  assert.equal(report.orphans.length, 1, "GC deleted the blob the publish re-put");
  const outcome = await publishing;
  assert.ok(isRegistryError(outcome, "conflict"), `expected conflict, got ${String(outcome)}`);
  assert.equal(
    await getVersionRow(ctx.storage, { namespace: "@acme", name: "pkg", version: "1.0.0" }),
    null,
  );
  // The retry puts the bytes again and commits a complete version.
  const retry = await publish(ctx, "1.0.0", [text]);
  assert.equal(retry.result, "created");
  const row = await getVersionRow(ctx.storage, {
    namespace: "@acme",
    name: "pkg",
    version: "1.0.0",
  });
  assert.ok(row && await blobsPresent(ctx, row));
});

async function raceRepeatedly(ctx: RegistryContext, time: { t: number }, rounds: number) {
  let created = 0;
  let conflicts = 0;
  for (let round = 0; round < rounds; round++) {
    // Orphans that publishes of this round will re-put, old enough to be swept.
    const texts = Array.from({ length: 6 }, (_, i) => `round ${round} blob ${i}`);
    for (const t of texts) await ctx.bundles.put(enc.encode(t));
    time.t += 2 * HOUR;
    const jitter = () => new Promise<void>((r) => setTimeout(r, Math.random() * 3));
    const publishes = texts.slice(0, 4).map(async (t, i) => {
      await jitter();
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          return await publish(ctx, `${round}.${i}.0`, [t, texts[5]!], {
            beforePut: () => new Promise<void>((r) => setTimeout(r, Math.random() * 8)),
            afterPut: jitter,
          });
        } catch (err) {
          if (!isRegistryError(err, "conflict")) throw err;
          conflicts++;
        }
      }
      return null;
    });
    const gc = (async () => {
      await jitter();
      try {
        // Slow deletes widen the window between GC's last check and its delete,
        // where a publish's re-put of the same bytes would be lost.
        const inner = ctx.bundles;
        const slow: BundleStorage = {
          put: (b, o) => inner.put(b, o),
          get: (d, r) => inner.get(d, r),
          stat: (d) => inner.stat(d),
          list: (o) => inner.list(o),
          close: () => inner.close(),
          delete: async (d) => {
            await jitter();
            return await inner.delete(d);
          },
        };
        await collectGarbage({ ...ctx, bundles: slow }, { graceMs: HOUR, onBeforeDelete: jitter });
      } catch (err) {
        if (!isRegistryError(err, "conflict")) throw err;
      }
    })();
    const results = await Promise.all([...publishes, gc]);
    for (const r of results.slice(0, 4)) {
      if (r && "result" in r && r.result === "created") created++;
    }
    // The invariant: every committed version's blobs exist.
    for await (const e of listAll<VersionRow>(ctx.storage, keys.allVersionsPrefix())) {
      assert.ok(await blobsPresent(ctx, e.value), `${e.value.version} lost a blob`);
    }
  }
  return { created, conflicts };
}

Deno.test("publishes racing GC over memory storage never leave a version without its blobs", async () => {
  const { ctx, time } = makeCtx();
  const { created, conflicts } = await raceRepeatedly(ctx, time, 60);
  // The dangerous interleaving happened (and was caught) many times.
  assert.ok(conflicts > 0, "the race window was hit");
  assert.equal(created, 240, "every publish committed within its retries");
});

Deno.test("publishes racing GC over a KV file never leave a version without its blobs", async () => {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/gc.kv`);
  try {
    const { ctx, time } = makeCtx((now) => ({
      storage: new KvRegistryStorage(kv),
      bundles: new KvBundleStorage(kv, { now }),
    }));
    const { created } = await raceRepeatedly(ctx, time, 15);
    assert.equal(created, 60);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseDuration() reads ms, s, m, h and d and refuses anything else", () => {
  assert.equal(parseDuration("250"), 250);
  assert.equal(parseDuration("90s"), 90_000);
  assert.equal(parseDuration("15m"), 900_000);
  assert.equal(parseDuration("2d"), 172_800_000);
  assert.throws(() => parseDuration("1 hour"), (e) => isRegistryError(e, "invalid_input"));
});

Deno.test("parseDuration() refuses a duration too long to be a number of milliseconds", () => {
  assert.equal(parseDuration("36500d"), 36_500 * 86_400_000);
  assert.throws(
    () => parseDuration("99999999999999999999d"),
    (e) =>
      isRegistryError(e, "invalid_input") && /'99999999999999999999d': too long/.test(e.message),
  );
  assert.throws(() => parseDuration("9".repeat(400)), (e) => isRegistryError(e, "invalid_input"));
});

Deno.test("collectGarbage() refuses a grace period that gives no valid cutoff with invalid_input and changes nothing", async () => {
  const { ctx, time } = makeCtx();
  const orphan = await ctx.bundles.put(enc.encode("orphan"));
  time.t += 2 * HOUR;
  // 9999999999999d as the admin API's ?grace= once read it: finite, but
  // reaching back past the earliest date a Date can hold.
  for (const graceMs of [9_999_999_999_999 * 86_400_000, Number.MAX_SAFE_INTEGER]) {
    for (const dryRun of [false, true]) {
      await assert.rejects(
        collectGarbage(ctx, { graceMs, dryRun }),
        (e) =>
          isRegistryError(e, "invalid_input") &&
          /cutoff it gives is not a valid date/.test(e.message),
      );
    }
  }
  // No lease was left behind and the orphan is still there: a valid run works and finds it.
  assert.equal(await ctx.storage.get(keys.gcStateKey()), null);
  assert.ok(await ctx.bundles.stat(orphan.sha256));
  const report = await collectGarbage(ctx, { graceMs: HOUR });
  assert.deepEqual(report.orphans.map((o) => o.sha256), [orphan.sha256]);
});

Deno.test("collectGarbage() on KV bundle storage also sweeps an abandoned chunked upload", async () => {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/gc.kv`);
  try {
    const { ctx, time } = makeCtx((now) => ({
      storage: new KvRegistryStorage(kv),
      bundles: new KvBundleStorage(kv, { now }),
    }));
    // A client that sends most of a large blob and then goes silent.
    let resume!: () => void;
    const stalled = new Promise<void>((r) => resume = r);
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          return controller.enqueue(new Uint8Array(2 * 1024 * 1024).fill(7));
        }
        await stalled;
        controller.close();
      },
    });
    const upload = ctx.bundles.put(body).catch((e) => e);
    const chunks = async () => {
      let n = 0;
      for await (const _ of kv.list({ prefix: ["blob_chunk"] })) n++;
      return n;
    };
    for (let i = 0; await chunks() < 12; i++) {
      assert.ok(i < 500, "the stalled upload wrote its first chunks");
      await new Promise((r) => setTimeout(r, 10));
    }
    const young = await collectGarbage(ctx, { graceMs: HOUR });
    assert.equal(young.uploadsSwept, 0, "a recent upload is spared");
    time.t += 2 * HOUR;
    const report = await collectGarbage(ctx, { graceMs: HOUR });
    assert.equal(report.uploadsSwept, 1);
    assert.equal(await chunks(), 0);
    resume();
    assert.ok(isRegistryError(await upload, "storage_failure"));
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("collectGarbage() deletes page by page, names at most GC_ORPHANS_LISTED orphans and counts them all", async () => {
  const { ctx, time } = makeCtx();
  await publish(ctx, "1.0.0", ["kept"]);
  const orphans = GC_ORPHANS_LISTED + 700; // two listing pages of 1,000
  for (let i = 0; i < orphans; i++) await ctx.bundles.put(enc.encode(`orphan ${i}`));
  time.t += 2 * HOUR;
  // Record the order of the run's listing pages and deletes.
  const events: string[] = [];
  const inner = ctx.bundles;
  const watched: BundleStorage = {
    put: (b, o) => inner.put(b, o),
    get: (d, r) => inner.get(d, r),
    stat: (d) => inner.stat(d),
    close: () => inner.close(),
    list: (o) => (events.push("list"), inner.list(o)),
    delete: (d) => (events.push("delete"), inner.delete(d)),
  };
  const seen: GcProgress[] = [];
  const report = await collectGarbage({ ...ctx, bundles: watched }, {
    onProgress: (p) => void seen.push(p),
  });
  assert.equal(report.orphanCount, orphans);
  assert.equal(report.orphans.length, GC_ORPHANS_LISTED);
  assert.equal(report.scanned, orphans + 1);
  assert.equal((await inner.list({ limit: 10 })).items.length, 1, "only the referenced blob stays");
  // The first page's orphans go before the second page is listed: the run
  // never holds more than a page of candidates.
  assert.ok(events.indexOf("delete") < events.lastIndexOf("list"), events.slice(0, 5).join());
  const last = seen.at(-1)!;
  assert.deepEqual(
    { versions: last.versions, scanned: last.scanned, orphans: last.orphans },
    { versions: 1, scanned: orphans + 1, orphans },
  );
  assert.ok(seen.length >= 3, "progress is told as the run goes");
});
