import assert from "node:assert/strict";
import {
  deleteVersion,
  deprecateVersion,
  removeDistTag,
  setDistTag,
  undeprecateVersion,
  unyankVersion,
  yankVersion,
} from "./lifecycle.ts";
import type { RegistryContext } from "./context.ts";
import { isRegistryError } from "../base/errors.ts";
import { nextPackageRow } from "./packages.ts";
import type { AuditRow, OutboxRow, PackageRow, VersionRow, VersionState } from "./rows.ts";
import { getPackageRow, listAll, putVersionIfAbsent } from "./store.ts";
import { summaryOf } from "./formats.ts";
import * as keys from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";

function makeCtx(): RegistryContext {
  let t = Date.parse("2026-11-22T00:00:00.000Z");
  return {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(t += 1000),
  };
}

const pkg = { namespace: "@rack", name: "quality/husky" };

async function put(
  ctx: RegistryContext,
  version: string,
  visibility: "public" | "private" = "public",
) {
  const row: VersionRow = {
    ...pkg,
    version,
    format: "rack.registry",
    visibility,
    files: {},
    facts: { name: "husky", type: "registry:quality", description: `Husky ${version}` },
    publishedAt: ctx.clock().toISOString(),
    publishedBy: "rack:CI",
  };
  const r = await putVersionIfAbsent(ctx.storage, {
    row,
    updatePackage: (cur, state) =>
      nextPackageRow(cur, state, { ref: pkg, summary: summaryOf(row) }),
  });
  assert.equal(r.result, "created");
}

async function audits(ctx: RegistryContext): Promise<AuditRow[]> {
  const out: AuditRow[] = [];
  for await (const e of listAll<AuditRow>(ctx.storage, keys.auditPrefix())) out.push(e.value);
  return out;
}

async function outbox(ctx: RegistryContext): Promise<OutboxRow[]> {
  const out: OutboxRow[] = [];
  for await (const e of listAll<OutboxRow>(ctx.storage, keys.outboxPrefix())) out.push(e.value);
  return out;
}

const who = {
  actor: "ops",
  ip: "10.0.0.1",
  subscriptions: [{
    id: "s1",
    url: "https://hooks.example/x",
    events: ["version.yanked", "version.deleted", "tag.moved"],
    enabled: true,
  }],
};

Deno.test("yankVersion() moves latest to the next release and unyankVersion() moves it back", async () => {
  const ctx = makeCtx();
  await put(ctx, "1.0.0");
  await put(ctx, "1.1.0");
  await put(ctx, "2.0.0-rc.1");
  assert.equal((await getPackageRow(ctx.storage, pkg))?.latest, "1.1.0");
  const y = await yankVersion(ctx, { ...pkg, version: "1.1.0", ...who });
  assert.equal(y.changed, true);
  assert.equal(y.package.latest, "1.0.0");
  assert.equal(y.package.publicSummary?.version, "1.0.0");
  assert.equal(y.package.publicSummary?.description, "Husky 1.0.0");
  assert.equal(y.state?.yanked, true);
  const again = await yankVersion(ctx, { ...pkg, version: "1.1.0", ...who });
  assert.equal(again.changed, false);
  const u = await unyankVersion(ctx, { ...pkg, version: "1.1.0", ...who });
  assert.equal(u.package.latest, "1.1.0");
  assert.equal(u.state?.yankedAt, undefined);
  const rows = await audits(ctx);
  assert.deepEqual(rows.map((r) => r.action), ["version.yank", "version.unyank"]);
  assert.equal(rows[0]!.ip, "10.0.0.1");
  const events = await outbox(ctx);
  assert.deepEqual(events.map((o) => o.event), ["version.yanked"]);
  assert.equal(JSON.parse(events[0]!.body).version, "1.1.0");
});

Deno.test("yanking every release falls back to the prerelease as latest", async () => {
  const ctx = makeCtx();
  await put(ctx, "1.0.0");
  await put(ctx, "2.0.0-rc.1");
  const y = await yankVersion(ctx, { ...pkg, version: "1.0.0", actor: "ops" });
  assert.equal(y.package.latest, "2.0.0-rc.1");
  const y2 = await yankVersion(ctx, { ...pkg, version: "2.0.0-rc.1", actor: "ops" });
  assert.equal(y2.package.latest, undefined);
  assert.equal(y2.package.publicSummary, undefined);
});

Deno.test("deprecateVersion() stores the message and undeprecateVersion() clears it", async () => {
  const ctx = makeCtx();
  await put(ctx, "1.0.0");
  const d = await deprecateVersion(ctx, {
    ...pkg,
    version: "1.0.0",
    actor: "ops",
    message: " Use 2.x ",
  });
  assert.equal(d.state?.deprecated, "Use 2.x");
  await assert.rejects(
    deprecateVersion(ctx, { ...pkg, version: "1.0.0", actor: "ops", message: "  " }),
    (e) => isRegistryError(e, "invalid_input"),
  );
  const u = await undeprecateVersion(ctx, { ...pkg, version: "1.0.0", actor: "ops" });
  assert.equal(u.state?.deprecated, undefined);
  assert.deepEqual((await audits(ctx)).map((r) => r.action), [
    "version.deprecate",
    "version.undeprecate",
  ]);
});

Deno.test("setDistTag() points a tag at an existing version and refuses latest and unknown versions", async () => {
  const ctx = makeCtx();
  await put(ctx, "1.0.0");
  await put(ctx, "2.0.0-beta.1");
  const s = await setDistTag(ctx, { ...pkg, version: "2.0.0-beta.1", tag: "beta", ...who });
  assert.deepEqual(s.package.tags, { beta: "2.0.0-beta.1" });
  assert.equal(s.package.latest, "1.0.0");
  await assert.rejects(
    setDistTag(ctx, { ...pkg, version: "1.0.0", tag: "latest", actor: "ops" }),
    (e) => isRegistryError(e, "invalid_input"),
  );
  await assert.rejects(
    setDistTag(ctx, { ...pkg, version: "1.0.0", tag: "1.0.0", actor: "ops" }),
    (e) => isRegistryError(e, "invalid_input"),
  );
  await assert.rejects(
    setDistTag(ctx, { ...pkg, version: "9.9.9", tag: "next", actor: "ops" }),
    (e) => isRegistryError(e, "not_found"),
  );
  const r = await removeDistTag(ctx, { ...pkg, tag: "beta", ...who });
  assert.deepEqual(r.package.tags, {});
  assert.equal((await removeDistTag(ctx, { ...pkg, tag: "beta", actor: "ops" })).changed, false);
  assert.deepEqual((await audits(ctx)).map((a) => a.action), ["tag.set", "tag.remove"]);
  assert.deepEqual((await outbox(ctx)).map((o) => o.event), ["tag.moved", "tag.moved"]);
});

Deno.test("deleteVersion() removes the rows, writes a tombstone, drops its tags and refuses republish", async () => {
  const ctx = makeCtx();
  await put(ctx, "1.0.0");
  await put(ctx, "1.1.0");
  await setDistTag(ctx, { ...pkg, version: "1.1.0", tag: "stable", actor: "ops" });
  const d = await deleteVersion(ctx, { ...pkg, version: "1.1.0", ...who });
  assert.equal(d.package.latest, "1.0.0");
  assert.equal(d.package.versionCount, 1);
  assert.deepEqual(d.package.tags, {});
  const ref = { ...pkg, version: "1.1.0" };
  const [v, s, t] = await ctx.storage.getMany([
    keys.versionKey(ref),
    keys.versionStateKey(ref),
    keys.tombstoneKey(ref),
  ]);
  assert.equal(v, null);
  assert.equal(s, null);
  assert.equal((t?.value as { deletedBy: string }).deletedBy, "ops");
  await assert.rejects(
    deleteVersion(ctx, { ...ref, actor: "ops" }),
    (e) => isRegistryError(e, "not_found"),
  );
  const again = await putVersionIfAbsent(ctx.storage, {
    row: {
      ...ref,
      format: "rack.registry",
      visibility: "public",
      files: {},
      facts: {},
      publishedAt: "2026-11-22T02:00:00.000Z",
      publishedBy: "x",
    },
    updatePackage: (cur, st) => nextPackageRow(cur, st, { ref: pkg }),
  });
  assert.equal(again.result, "exists");
  assert.deepEqual((await outbox(ctx)).map((o) => o.event), ["version.deleted"]);
});

Deno.test("deleting the last version keeps the package row with no latest", async () => {
  const ctx = makeCtx();
  await put(ctx, "1.0.0");
  const d = await deleteVersion(ctx, { ...pkg, version: "1.0.0", actor: "ops" });
  const row = (await getPackageRow(ctx.storage, pkg)) as PackageRow;
  assert.equal(row.versionCount, 0);
  assert.equal(row.latest, undefined);
  assert.equal(d.package.format, "rack.registry");
});

Deno.test("concurrent yanks of different versions both land in the package row", async () => {
  const ctx = makeCtx();
  for (const v of ["1.0.0", "1.1.0", "1.2.0", "1.3.0"]) await put(ctx, v);
  await Promise.all(
    ["1.1.0", "1.2.0", "1.3.0"].map((version) =>
      yankVersion(ctx, { ...pkg, version, actor: "ops" })
    ),
  );
  const row = (await getPackageRow(ctx.storage, pkg))!;
  assert.equal(row.latest, "1.0.0");
  const states: VersionState[] = [];
  for await (const e of listAll<VersionState>(ctx.storage, keys.versionStatesPrefix(pkg))) {
    states.push(e.value);
  }
  assert.deepEqual(states.filter((s) => s.yanked).map((s) => s.version).sort(), [
    "1.1.0",
    "1.2.0",
    "1.3.0",
  ]);
  assert.equal((await audits(ctx)).length, 3);
});

Deno.test("lifecycle changes of a missing version answer not_found and record nothing", async () => {
  const ctx = makeCtx();
  await assert.rejects(
    yankVersion(ctx, { ...pkg, version: "1.0.0", actor: "ops" }),
    (e) => isRegistryError(e, "not_found"),
  );
  await assert.rejects(
    yankVersion(ctx, { ...pkg, version: "v1", actor: "ops" }),
    (e) => isRegistryError(e, "invalid_version"),
  );
  assert.equal((await audits(ctx)).length, 0);
});
