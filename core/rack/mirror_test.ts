import assert from "node:assert/strict";
import type { RegistryContext } from "../context.ts";
import { sha256Hex } from "../../base/digest.ts";
import { deleteVersion, yankVersion } from "../lifecycle.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
import { makeItem, makePackage, TEMPLATE_FILES } from "../../tests/_rack_fixtures.ts";
import { identifyCaller, parseAuthConfig } from "./auth.ts";
import {
  drainRackMirror,
  pendingRackMirror,
  rackMirrorBacklog,
  type RackMirrorTarget,
  rebuildRackMirror,
  syncAuthCopy,
  syncSchemaCopies,
} from "./mirror.ts";
import { builtinSchemaBytes, type RackSchemaFile } from "./schema.ts";
import { putPreset } from "./read.ts";
import { publishRackArchive, storeArchive } from "./upload.ts";

/** A bucket in memory that records the order of writes and can fail a key's writes. */
class MemoryBucket implements RackMirrorTarget {
  objects = new Map<string, Uint8Array>();
  writes: string[] = [];
  failing: ((key: string) => boolean) | undefined;
  async putObject(key: string, body: ReadableStream<Uint8Array> | Uint8Array) {
    const bytes = body instanceof Uint8Array
      ? body
      : new Uint8Array(await new Response(body).arrayBuffer());
    if (this.failing?.(key)) throw new Error(`bucket refused ${key}`);
    this.objects.set(key, bytes);
    this.writes.push(key);
  }
  deleteObject(key: string) {
    if (this.failing?.(key)) return Promise.reject(new Error(`bucket refused ${key}`));
    this.objects.delete(key);
    this.writes.push(`-${key}`);
    return Promise.resolve();
  }
  async *listObjects(prefix: string) {
    for (const key of [...this.objects.keys()].sort()) if (key.startsWith(prefix)) yield { key };
  }
  text(key: string): string | undefined {
    const b = this.objects.get(key);
    return b && new TextDecoder().decode(b);
  }
}

const { auth } = parseAuthConfig('{"@rack":[]}', { adminToken: "root" });
const caller = identifyCaller(auth, "root");

function mirroredCtx(now: { t: number }): RegistryContext {
  return {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(now.t),
    rackMirror: true,
  };
}

async function publish(ctx: RegistryContext, version: string) {
  const archive = await makePackage({ item: makeItem({ version }) });
  const stored = await storeArchive(ctx, new Blob([archive as BlobPart]).stream());
  return await publishRackArchive(ctx, {
    archive: stored,
    checksum: sha256Hex(archive),
    auth,
    caller,
  });
}

const BASE = "@rack/quality/husky";

Deno.test("a mirrored upload writes its files, registry.json last, then versions.json", async () => {
  const now = { t: Date.parse("2026-05-01T00:00:00Z") };
  const ctx = mirroredCtx(now);
  await publish(ctx, "1.0.0");
  assert.equal((await pendingRackMirror(ctx)).length, 1, "queued in the version's commit");
  const bucket = new MemoryBucket();
  assert.deepEqual(await drainRackMirror(ctx, bucket), { done: 1, failed: 0 });
  assert.deepEqual(bucket.writes, [
    `${BASE}/1.0.0/templates/.husky/commit-msg`,
    `${BASE}/1.0.0/templates/setup.ts`,
    `${BASE}/1.0.0/registry.json`,
    `${BASE}/versions.json`,
  ]);
  assert.equal(
    bucket.text(`${BASE}/1.0.0/templates/setup.ts`),
    TEMPLATE_FILES["templates/setup.ts"],
  );
  assert.equal(bucket.text(`${BASE}/versions.json`), '{\n  "versions": [\n    "1.0.0"\n  ]\n}\n');
  assert.equal((await pendingRackMirror(ctx)).length, 0);
});

Deno.test("a bucket failing between files leaves no registry.json, and the retry completes the version", async () => {
  const now = { t: Date.parse("2026-05-01T00:00:00Z") };
  const ctx = mirroredCtx(now);
  await publish(ctx, "1.0.0");
  const bucket = new MemoryBucket();
  bucket.failing = (key) => key.endsWith("setup.ts");
  assert.deepEqual(await drainRackMirror(ctx, bucket), { done: 0, failed: 1 });
  assert.ok(
    bucket.objects.has(`${BASE}/1.0.0/templates/.husky/commit-msg`),
    "the first file went up",
  );
  assert.ok(!bucket.objects.has(`${BASE}/1.0.0/registry.json`), "no publish marker");
  assert.ok(!bucket.objects.has(`${BASE}/versions.json`), "not listed");
  const [item] = await pendingRackMirror(ctx);
  assert.equal(item?.attempts, 1);
  assert.match(item?.lastError ?? "", /setup\.ts/);
  // Not due yet (backoff), then due.
  bucket.failing = undefined;
  assert.deepEqual(await drainRackMirror(ctx, bucket), { done: 0, failed: 0 });
  now.t += 1000;
  assert.deepEqual(await drainRackMirror(ctx, bucket), { done: 1, failed: 0 });
  assert.ok(bucket.objects.has(`${BASE}/1.0.0/registry.json`));
  assert.ok(bucket.objects.has(`${BASE}/versions.json`));
});

Deno.test("a leased item is left to its worker: two drains at once write it once", async () => {
  const now = { t: Date.parse("2026-05-01T00:00:00Z") };
  const ctx = mirroredCtx(now);
  await publish(ctx, "1.0.0");
  const bucket = new MemoryBucket();
  const reports = await Promise.all([drainRackMirror(ctx, bucket), drainRackMirror(ctx, bucket)]);
  assert.equal(reports[0]!.done + reports[1]!.done, 1);
  assert.equal(bucket.writes.filter((k) => k.endsWith("/registry.json")).length, 1);
});

Deno.test("a long version renews its lease as its files go up: another worker does not take it meanwhile", async () => {
  const now = { t: Date.parse("2026-05-01T00:00:00Z") };
  const ctx = mirroredCtx(now);
  await publish(ctx, "1.0.0");
  const bucket = new MemoryBucket();
  const other = new MemoryBucket();
  const others: Promise<unknown>[] = [];
  const put = bucket.putObject.bind(bucket);
  bucket.putObject = async (key, body) => {
    now.t += 20_000; // each file takes 20 s, the lease is 30 s
    others.push(drainRackMirror(ctx, other)); // another worker looks meanwhile
    await put(key, body);
  };
  assert.deepEqual(await drainRackMirror(ctx, bucket), { done: 1, failed: 0 });
  await Promise.all(others);
  assert.deepEqual(other.writes, [], "the other worker never took it");
  assert.ok(bucket.objects.has(`${BASE}/1.0.0/registry.json`));
});

Deno.test("a hard delete removes the version's objects, marker first; a yank changes nothing", async () => {
  const now = { t: Date.parse("2026-05-01T00:00:00Z") };
  const ctx = mirroredCtx(now);
  await publish(ctx, "1.0.0");
  await publish(ctx, "1.1.0");
  const bucket = new MemoryBucket();
  await drainRackMirror(ctx, bucket);
  const ref = { namespace: "@rack", name: "quality/husky", actor: "root" };
  await yankVersion(ctx, { ...ref, version: "1.1.0" });
  assert.equal((await pendingRackMirror(ctx)).length, 0, "a yank queues nothing");
  await deleteVersion(ctx, { ...ref, version: "1.1.0" });
  bucket.writes = [];
  assert.deepEqual(await drainRackMirror(ctx, bucket), { done: 1, failed: 0 });
  assert.deepEqual(bucket.writes, [
    `${BASE}/versions.json`,
    `-${BASE}/1.1.0/registry.json`,
    `-${BASE}/1.1.0/templates/.husky/commit-msg`,
    `-${BASE}/1.1.0/templates/setup.ts`,
  ]);
  assert.equal(bucket.text(`${BASE}/versions.json`), '{\n  "versions": [\n    "1.0.0"\n  ]\n}\n');
  await deleteVersion(ctx, { ...ref, version: "1.0.0" });
  await drainRackMirror(ctx, bucket);
  assert.deepEqual([...bucket.objects.keys()], [], "the last version takes versions.json with it");
});

Deno.test("presets and auth.json are mirrored; rebuild writes everything again and prunes on request", async () => {
  const now = { t: Date.parse("2026-05-01T00:00:00Z") };
  const ctx = mirroredCtx(now);
  await publish(ctx, "1.0.0");
  const preset = { name: "web", version: "1.0.0", registries: ["@rack/quality/husky"] };
  await putPreset(ctx, "web", { preset, actor: "root" });
  const bucket = new MemoryBucket();
  await drainRackMirror(ctx, bucket);
  assert.deepEqual(JSON.parse(bucket.text("presets/web/preset.json")!), preset);

  const authBytes = new TextEncoder().encode('{"@rack":[]}\n');
  assert.equal(await syncAuthCopy(ctx, bucket, authBytes), true);
  assert.equal(await syncAuthCopy(ctx, bucket, authBytes), false, "unchanged: not written again");
  assert.equal(bucket.text(".auth/auth.json"), '{"@rack":[]}\n');

  const fresh = new MemoryBucket();
  fresh.objects.set("@rack/gone/1.0.0/registry.json", new Uint8Array([1]));
  fresh.objects.set("@rack/gone/versions.json", new Uint8Array([1]));
  const report = await rebuildRackMirror(ctx, fresh);
  assert.deepEqual(report, { packages: 1, versions: 1, presets: 1, pruned: 0 });
  for (const [key, bytes] of bucket.objects) {
    if (key !== ".auth/auth.json") assert.deepEqual(fresh.objects.get(key), bytes, key);
  }
  assert.ok(fresh.objects.has("@rack/gone/versions.json"), "kept without --prune");
  assert.equal((await rebuildRackMirror(ctx, fresh, { prune: true })).pruned, 2);
  assert.ok(!fresh.objects.has("@rack/gone/versions.json"));
  assert.ok(fresh.objects.has(`${BASE}/1.0.0/registry.json`));
});

Deno.test("without rackMirror nothing is queued", async () => {
  const now = { t: Date.parse("2026-05-01T00:00:00Z") };
  const ctx = { ...mirroredCtx(now), rackMirror: false };
  await publish(ctx, "1.0.0");
  assert.equal((await pendingRackMirror(ctx)).length, 0);
});

Deno.test("syncSchemaCopies() writes schema/<file> as served, again only when a file changed, and deletes one no longer served", async () => {
  const now = { t: Date.parse("2026-05-01T00:00:00Z") };
  const ctx = mirroredCtx(now);
  const bucket = new MemoryBucket();
  const served = new Map<RackSchemaFile, Uint8Array | null>([
    ["rack.json", builtinSchemaBytes("rack.json")],
    ["preset.json", builtinSchemaBytes("preset.json")],
    ["registry-item.json", builtinSchemaBytes("registry-item.json")],
  ]);
  const read = (file: RackSchemaFile) => Promise.resolve(served.get(file) ?? null);
  assert.equal(await syncSchemaCopies(ctx, bucket, read), 3);
  for (const [file, bytes] of served) assert.deepEqual(bucket.objects.get(`schema/${file}`), bytes);
  assert.equal(await syncSchemaCopies(ctx, bucket, read), 0, "unchanged: nothing written");

  served.set("preset.json", new TextEncoder().encode('{"title":"edited"}\n'));
  bucket.writes.length = 0;
  assert.equal(await syncSchemaCopies(ctx, bucket, read), 1);
  assert.deepEqual(bucket.writes, ["schema/preset.json"]);
  assert.equal(bucket.text("schema/preset.json"), '{"title":"edited"}\n');

  served.set("rack.json", null); // SCHEMA_DIR without it: the server answers 404
  assert.equal(await syncSchemaCopies(ctx, bucket, read), 1);
  assert.ok(!bucket.objects.has("schema/rack.json"));
  assert.equal(await syncSchemaCopies(ctx, bucket, read), 0);

  // A failed write is tried again on the next call.
  served.set("registry-item.json", new TextEncoder().encode("{}\n"));
  bucket.failing = (key) => key === "schema/registry-item.json";
  await assert.rejects(syncSchemaCopies(ctx, bucket, read), /bucket refused/);
  bucket.failing = undefined;
  assert.equal(await syncSchemaCopies(ctx, bucket, read), 1);
  assert.equal(bucket.text("schema/registry-item.json"), "{}\n");
  assert.equal(await syncSchemaCopies(ctx, bucket, read, { force: true }), 3, "force writes all");
});

Deno.test("rackMirrorBacklog() counts waiting and retrying items, the oldest one's commit time and the next due time", async () => {
  const t0 = Date.parse("2026-05-01T00:00:00Z");
  const now = { t: t0 };
  const ctx = mirroredCtx(now);
  assert.deepEqual(await rackMirrorBacklog(ctx), {
    queued: 0,
    retrying: 0,
    oldestCreatedAt: null,
    nextDueAt: null,
  });
  await publish(ctx, "1.0.0");
  now.t += 5000;
  await publish(ctx, "1.1.0");
  const bucket = new MemoryBucket();
  bucket.failing = (key) => key.includes("/1.0.0/");
  assert.deepEqual(await drainRackMirror(ctx, bucket), { done: 1, failed: 1 });
  const backlog = await rackMirrorBacklog(ctx);
  assert.equal(backlog.queued, 1);
  assert.equal(backlog.retrying, 1);
  assert.equal(backlog.oldestCreatedAt?.getTime(), t0, "the failing 1.0.0 is the oldest");
  assert.equal(backlog.nextDueAt?.getTime(), now.t + 1000, "its retry, one second on");
});
