import assert from "node:assert/strict";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { Seeder, type SeedPackage, seedPackage } from "../bench/_scale_seed.ts";
import { jsrPackageMeta } from "../core/jsr/read.ts";

const PKG: SeedPackage = {
  namespace: "@big",
  name: "deno",
  format: "jsr",
  versions: Array.from({ length: 10_500 }, (_, i) => `${i % 7}.${Math.floor(i / 7)}.0`),
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
  // Newest first by SemVer precedence, over more versions than the shared parse cache holds.
  const versions = Object.keys(first.value.versions);
  assert.equal(versions.length, 10_500);
  assert.deepEqual(versions.slice(0, 3), ["6.1499.0", "6.1498.0", "6.1497.0"]);
  assert.equal(versions.at(-1), "0.0.0");
  assert.equal(first.value.latest, "6.1499.0");
  // A publish changes the package row: the next read renders again.
  await seeder.add(seedPackage({ ...PKG, versions: ["7.0.0"] }, { claimScope: false }));
  await seeder.flush();
  const third = await jsrPackageMeta(ctx, ref, null);
  assert.notEqual(third!.value, first.value);
  assert.equal(third!.value.latest, "7.0.0");
});
