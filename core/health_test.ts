import assert from "node:assert/strict";
import { checkStoreHealth } from "./health.ts";
import { KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";
import { healthKey } from "../storage/keys.ts";

Deno.test("parallel health checks on a real KV file all pass and leave no probe row", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/registry.kv`;
  // Two handles on one file: two instances sharing the store.
  const kvs = [await Deno.openKv(path), await Deno.openKv(path)];
  try {
    const contexts = kvs.map((kv) => ({
      storage: new KvRegistryStorage(kv),
      bundles: new KvBundleStorage(kv),
      clock: () => new Date(),
    }));
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) => checkStoreHealth(contexts[i % 2]!)),
    );
    assert.deepEqual(results.filter((r) => r.status === "rejected"), []);
    const left = await Array.fromAsync(kvs[0]!.list({ prefix: healthKey("x").slice(0, 1) }));
    assert.deepEqual(left, []);
  } finally {
    for (const kv of kvs) kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a failing store fails the check, and the next check runs afresh", async () => {
  const dir = await Deno.makeTempDir();
  const kv = await Deno.openKv(`${dir}/registry.kv`);
  const ctx = {
    storage: new KvRegistryStorage(kv),
    bundles: new KvBundleStorage(kv),
    clock: () => new Date(),
  };
  await checkStoreHealth(ctx);
  kv.close();
  await assert.rejects(checkStoreHealth(ctx));
  await assert.rejects(checkStoreHealth(ctx), "not a remembered answer: a new check");
  await Deno.remove(dir, { recursive: true });
});
