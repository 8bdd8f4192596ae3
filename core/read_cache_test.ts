import assert from "node:assert/strict";
import { MemoryRegistryStorage } from "../storage/memory.ts";
import { cachedGet, cachedGetMany, CachingRegistryStorage } from "./read_cache.ts";
import { updateRow } from "./store.ts";

function setup(ttlMs = 1000) {
  let now = 0;
  const inner = new MemoryRegistryStorage();
  const storage = new CachingRegistryStorage(inner, { ttlMs, now: () => now });
  return { inner, storage, advance: (ms: number) => void (now += ms) };
}

Deno.test("cachedGet() serves a row read within the TTL and refreshes after it", async () => {
  const { inner, storage, advance } = setup();
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["a"], value: 1 }] });
  assert.equal((await cachedGet(storage, ["a"]))?.value, 1);
  // Another process changes the row behind this one's back.
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["a"], value: 2 }] });
  assert.equal((await cachedGet(storage, ["a"]))?.value, 1, "stale within the TTL");
  advance(1001);
  assert.equal((await cachedGet(storage, ["a"]))?.value, 2, "fresh after the TTL");
});

Deno.test("this process's own commits evict the rows they touch at once", async () => {
  const { storage } = setup();
  await storage.commit({ checks: [], mutations: [{ type: "set", key: ["a"], value: 1 }] });
  assert.equal((await cachedGet(storage, ["a"]))?.value, 1);
  await updateRow<number>(storage, ["a"], (n) => (n ?? 0) + 1);
  assert.equal((await cachedGet(storage, ["a"]))?.value, 2);
  await storage.commit({ checks: [], mutations: [{ type: "delete", key: ["a"] }] });
  assert.equal(await cachedGet(storage, ["a"]), null);
});

Deno.test("misses are never cached and plain reads always go to the store", async () => {
  const { inner, storage } = setup();
  assert.equal(await cachedGet(storage, ["new"]), null);
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["new"], value: "v" }] });
  assert.equal((await cachedGet(storage, ["new"]))?.value, "v", "a new row is seen at once");
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["new"], value: "w" }] });
  assert.equal((await storage.get(["new"]))?.value, "w", "get() is never cached");
  const [x, y] = await cachedGetMany(storage, [["new"], ["none"]]);
  assert.equal(x?.value, "v");
  assert.equal(y, null);
});

Deno.test("a TTL of 0 disables the cache and the size bound evicts the oldest", async () => {
  const off = setup(0);
  await off.inner.commit({ checks: [], mutations: [{ type: "set", key: ["a"], value: 1 }] });
  await cachedGet(off.storage, ["a"]);
  await off.inner.commit({ checks: [], mutations: [{ type: "set", key: ["a"], value: 2 }] });
  assert.equal((await cachedGet(off.storage, ["a"]))?.value, 2);

  let now = 0;
  const inner = new MemoryRegistryStorage();
  const small = new CachingRegistryStorage(inner, { ttlMs: 1000, maxEntries: 2, now: () => now });
  for (const k of ["a", "b", "c"]) {
    await inner.commit({ checks: [], mutations: [{ type: "set", key: [k], value: 1 }] });
    await cachedGet(small, [k]);
  }
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["a"], value: 9 }] });
  assert.equal((await cachedGet(small, ["a"]))?.value, 9, "the oldest row was evicted");
  now += 0;
});
