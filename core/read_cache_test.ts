import assert from "node:assert/strict";
import { MemoryRegistryStorage } from "../storage/memory.ts";
import {
  cachedGet,
  cachedGetMany,
  CachingBundleStorage,
  CachingRegistryStorage,
  peekCachedMany,
} from "./read_cache.ts";
import { MemoryBundleStorage } from "../storage/memory.ts";
import { isRegistryError } from "../base/errors.ts";
import { updateRow } from "./store.ts";
import type { RegistryStorage, RowKey } from "../storage/types.ts";

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

Deno.test("misses are cached like rows, and this process's commits end them at once", async () => {
  const { inner, storage, advance } = setup();
  assert.equal(await cachedGet(storage, ["new"]), null);
  // Another process creates the row: a cached miss holds within the TTL, as a row would.
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["new"], value: "v" }] });
  assert.equal(await cachedGet(storage, ["new"]), null, "the miss is served from memory");
  assert.deepEqual(peekCachedMany(storage, [["new"]]), [null], "and peeked without a read");
  advance(1001);
  assert.equal((await cachedGet(storage, ["new"]))?.value, "v", "seen after the TTL");
  // This process's own commit evicts a cached miss.
  assert.equal(await cachedGet(storage, ["mine"]), null);
  await storage.commit({ checks: [], mutations: [{ type: "set", key: ["mine"], value: 1 }] });
  assert.equal((await cachedGet(storage, ["mine"]))?.value, 1, "a new row is seen at once");
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["new"], value: "w" }] });
  assert.equal((await storage.get(["new"]))?.value, "w", "get() is never cached");
});

Deno.test("a read that overlapped a commit keeps nothing (no stale row or miss outlives it)", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const inner = new MemoryRegistryStorage();
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["v"], value: 1 }] });
  const slow: RegistryStorage = {
    get: (key) => inner.get(key),
    // The read sees the store before the commit and answers after it.
    getMany: async <T>(keys: readonly RowKey[]) => {
      const rows = await inner.getMany<T>(keys);
      await gate;
      return rows;
    },
    list: (prefix, options) => inner.list(prefix, options),
    commit: (c) => inner.commit(c),
    close: () => inner.close(),
  };
  const storage = new CachingRegistryStorage(slow, { ttlMs: 60_000 });
  const reading = cachedGet(storage, ["v"]);
  await storage.commit({ checks: [], mutations: [{ type: "set", key: ["v"], value: 2 }] });
  release();
  assert.equal((await reading)?.value, 1, "the overlapping read answers what it saw");
  assert.equal(peekCachedMany(storage, [["v"]]), undefined, "but did not cache it");
});

Deno.test("a store read answers when the floor's timer, started before it, fires: a row and a miss alike", async () => {
  const log: string[] = [];
  let release!: () => void;
  const inner = new MemoryRegistryStorage();
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["row"], value: 1 }] });
  const logged: RegistryStorage = {
    get: (key) => inner.get(key),
    getMany: <T>(keys: readonly RowKey[]) => {
      log.push(`read ${JSON.stringify(keys)}`);
      return inner.getMany<T>(keys);
    },
    list: (prefix, options) => inner.list(prefix, options),
    commit: (c) => inner.commit(c),
    close: () => inner.close(),
  };
  const storage = new CachingRegistryStorage(logged, {
    ttlMs: 1000,
    coldReadFloorMs: 5,
    sleep: (ms) => {
      log.push(`sleep ${ms}`);
      return new Promise((r) => release = r);
    },
  });
  for (const key of [["row"], ["miss"]]) {
    log.length = 0;
    let done = false;
    const reading = cachedGet(storage, key).then(() => done = true);
    await new Promise((r) => setTimeout(r, 0));
    assert.deepEqual(log, ["sleep 5", `read ${JSON.stringify([key])}`], "the timer starts first");
    assert.equal(done, false, "the read finished, the answer waits for the timer");
    release();
    await reading;
  }
  // Served from memory: no read, no floor.
  log.length = 0;
  await cachedGet(storage, ["row"]);
  assert.deepEqual(log, []);
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

Deno.test("CachingBundleStorage serves verified small blobs from memory, ranges included", async () => {
  const inner = new MemoryBundleStorage();
  const blobs = new CachingBundleStorage(inner, { maxBytes: 1024, maxEntryBytes: 512 });
  const bytes = new TextEncoder().encode("export default 42;\n");
  const info = await blobs.put(bytes);
  const first = await blobs.get(info.sha256);
  assert.deepEqual(first?.bytes, bytes);
  // Disk rot after the verified read cannot reach a client: the copy is held.
  inner.tamperForTest(info.sha256, new TextEncoder().encode("rot"));
  const again = await blobs.get(info.sha256, { start: 7, end: 14 });
  assert.equal(new TextDecoder().decode(again!.bytes), "default");
  assert.equal(await new Response(again!.stream).text(), "default");
  assert.equal(again!.size, bytes.byteLength);
  assert.equal(await blobs.delete(info.sha256), true);
  assert.equal(await blobs.get(info.sha256), null, "a delete evicts");
});

Deno.test("CachingBundleStorage never caches a blob that fails its digest, nor large ones", async () => {
  const inner = new MemoryBundleStorage();
  const blobs = new CachingBundleStorage(inner, { maxBytes: 1024, maxEntryBytes: 512 });
  const info = await blobs.put(new TextEncoder().encode("good bytes"));
  inner.tamperForTest(info.sha256, new TextEncoder().encode("bad"));
  await assert.rejects(blobs.get(info.sha256), (e) => isRegistryError(e, "blob_corrupt"));
  await assert.rejects(blobs.get(info.sha256), (e) => isRegistryError(e, "blob_corrupt"));
  const big = await blobs.put(new Uint8Array(600));
  const body = await blobs.get(big.sha256);
  assert.equal(body?.bytes, undefined, "over maxEntryBytes: streamed from the backend");
  assert.equal((await new Response(body!.stream).arrayBuffer()).byteLength, 600);
});

Deno.test("peekCachedMany() answers only what getManyCached would serve from memory", async () => {
  const { inner, storage, advance } = setup(1000);
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["a"], value: 1 }] });
  await inner.commit({ checks: [], mutations: [{ type: "set", key: ["b"], value: 2 }] });
  assert.equal(peekCachedMany(storage, [["a"]]), undefined, "never read");
  await cachedGetMany(storage, [["a"], ["b"]]);
  const rows = peekCachedMany<number>(storage, [["a"], ["b"]]);
  assert.deepEqual(rows?.map((r) => r?.value), [1, 2]);
  assert.equal(
    peekCachedMany(storage, [["a"], ["missing"]]),
    undefined,
    "an absent row never read needs a read",
  );
  advance(1001);
  assert.equal(peekCachedMany(storage, [["a"]]), undefined, "expired");
  assert.equal(peekCachedMany(inner, [["a"]]), undefined, "no cache at all");
});

Deno.test("peekCached() works out a frozen key's id once, an unfrozen one's per read", async () => {
  const storage = new CachingRegistryStorage(new MemoryRegistryStorage(), { ttlMs: 60_000 });
  const frozen = Object.freeze(["row", "a"] as const);
  const loose = ["row", "b"];
  await storage.getManyCached([frozen, loose]);
  const stringify = JSON.stringify;
  let calls = 0;
  JSON.stringify = ((...args: Parameters<typeof stringify>) => {
    calls++;
    return stringify(...args);
  }) as typeof JSON.stringify;
  try {
    for (let i = 0; i < 10; i++) assert.deepEqual(storage.peekCached([frozen]), [null]);
    assert.equal(calls, 0);
    for (let i = 0; i < 10; i++) assert.deepEqual(storage.peekCached([loose]), [null]);
    assert.equal(calls, 10);
  } finally {
    JSON.stringify = stringify;
  }
});
