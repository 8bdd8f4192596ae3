// A package's version list (JSR meta.json, the ggui listing) is rendered once
// per package state and visibility class, not per request.
import assert from "node:assert/strict";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { Seeder, type SeedPackage, seedPackage } from "../bench/_scale_seed.ts";
import { jsrPackageMeta } from "../core/jsr/read.ts";
import { listArtifactVersions } from "../core/ggui/list_versions.ts";

const PKG: SeedPackage = {
  namespace: "@big",
  name: "deno",
  format: "jsr",
  versions: Array.from({ length: 2_100 }, (_, i) => `${i % 7}.${Math.floor(i / 7)}.0`),
  description: "A long history",
  firstAt: Date.parse("2026-01-01T00:00:00.000Z"),
  publisher: "alice",
};

Deno.test("jsrPackageMeta() renders a package's document once per package state and visibility class", async () => {
  const ctx = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(),
  };
  const seeder = new Seeder(ctx.storage, ctx.bundles);
  await seeder.add(seedPackage(PKG, { claimScope: true }));
  await seeder.flush();
  const ref = { namespace: "@big", name: "deno" };
  const first = await jsrPackageMeta(ctx, ref, null);
  const second = await jsrPackageMeta(ctx, ref, null);
  assert.ok(first && second);
  assert.equal(second.value, first.value, "the second anonymous read reuses the document");
  // Newest first by SemVer precedence.
  const versions = Object.keys(first.value.versions);
  assert.equal(versions.length, 2_100);
  assert.deepEqual(versions.slice(0, 3), ["6.299.0", "6.298.0", "6.297.0"]);
  assert.equal(versions.at(-1), "0.0.0");
  assert.equal(first.value.latest, "6.299.0");
  // A publish changes the package row: the next read renders again.
  await seeder.add(seedPackage({ ...PKG, versions: ["7.0.0"] }, { claimScope: false }));
  await seeder.flush();
  const third = await jsrPackageMeta(ctx, ref, null);
  assert.notEqual(third!.value, first.value);
  assert.equal(third!.value.latest, "7.0.0");
});

Deno.test("listArtifactVersions() answers one frozen result per package state and visibility class", async () => {
  const ctx = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(),
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
  };
  const gadget: SeedPackage = {
    ...PKG,
    name: "huge",
    format: "ggui.gadget",
    versions: PKG.versions.slice(0, 50),
  };
  const seeder = new Seeder(ctx.storage, ctx.bundles);
  await seeder.add(seedPackage(gadget, { claimScope: true }));
  await seeder.flush();
  const request = { authn: undefined, scope: "@big", name: "huge" };
  const first = await listArtifactVersions(ctx, request);
  const second = await listArtifactVersions(ctx, request);
  assert.equal(first.status, 200);
  assert.equal(second, first, "the second anonymous read reuses the result");
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.body), "routes serialize it once");
  await seeder.add(seedPackage({ ...gadget, versions: ["9.0.0"] }, { claimScope: false }));
  await seeder.flush();
  const third = await listArtifactVersions(ctx, request);
  assert.notEqual(third, first);
  assert.equal((third.body as { versions: { version: string }[] }).versions[0]!.version, "9.0.0");
});
