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
import { isRegistryError } from "./errors.ts";
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
    "an absent row needs a read",
  );
  advance(1001);
  assert.equal(peekCachedMany(storage, [["a"]]), undefined, "expired");
  assert.equal(peekCachedMany(inner, [["a"]]), undefined, "no cache at all");
});
