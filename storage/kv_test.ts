import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { isRegistryError } from "../base/errors.ts";
import { sha256Hex } from "../base/digest.ts";
import { compareKeys, encodeCursor } from "./_common.ts";
import { KV_CHUNK_SIZE, KvBundleStorage, KvRegistryStorage } from "./kv.ts";
import { LIMITS, type RowKey } from "./types.ts";

/** Run `fn` against a fresh KV file in a temporary directory, removed afterwards. */
async function withKv(fn: (kv: Deno.Kv, path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "kv_test_" });
  const path = `${dir}/registry.sqlite3`;
  const kv = await Deno.openKv(path);
  try {
    await fn(kv, path);
  } finally {
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function bytesOf(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function streamOf(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + piece));
      offset += piece;
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Read a stream until it errors; answers the bytes that went out first and the error. */
async function readUntilError(
  stream: ReadableStream<Uint8Array>,
): Promise<{ bytes: number; error: unknown }> {
  let bytes = 0;
  try {
    for await (const piece of stream) bytes += piece.byteLength;
  } catch (error) {
    return { bytes, error };
  }
  return { bytes, error: undefined };
}

async function countKeys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

function set(key: RowKey, value: unknown) {
  return { type: "set" as const, key, value: value as never };
}

Deno.test("KvRegistryStorage round-trips rows, reads a miss as null and stamps like the commit", async () => {
  await withKv(async (kv) => {
    const rows = new KvRegistryStorage(kv);
    assert.equal(await rows.get(["nothing"]), null);
    const value = { a: 1.5, b: [true, null, "x"], c: { d: "é✓😀" } };
    const r = await rows.commit({ checks: [], mutations: [set(["k", "1"], value)] });
    assert.ok(r.ok);
    const got = await rows.get(["k", "1"]);
    assert.deepEqual(got, { key: ["k", "1"], value, stamp: r.stamp });
    const many = await rows.getMany([["k", "2"], ["k", "1"]]);
    assert.deepEqual(many.map((e) => e?.value ?? null), [null, value]);
    assert.deepEqual(await rows.getMany([]), []);
    await assert.rejects(
      rows.getMany(Array.from({ length: 11 }, (_, i) => ["k", String(i)])),
      RangeError,
    );
  });
});

Deno.test("KvRegistryStorage commit checks absence and stamps, all-or-nothing", async () => {
  await withKv(async (kv) => {
    const rows = new KvRegistryStorage(kv);
    const key = ["v", "x"];
    assert.ok(
      (await rows.commit({ checks: [{ key, stamp: null }], mutations: [set(key, "first")] })).ok,
    );
    const again = await rows.commit({
      checks: [{ key, stamp: null }],
      mutations: [set(key, "second"), set(["side"], 1)],
    });
    assert.deepEqual(again, { ok: false });
    assert.equal((await rows.get(key))?.value, "first");
    assert.equal(await rows.get(["side"]), null);

    const first = (await rows.get(key))!;
    const second = await rows.commit({
      checks: [{ key, stamp: first.stamp }],
      mutations: [set(key, "third")],
    });
    assert.ok(second.ok);
    assert.deepEqual(
      await rows.commit({ checks: [{ key, stamp: first.stamp }], mutations: [set(key, 4)] }),
      {
        ok: false,
      },
    );
    // A stamp KV never issued fails like a stale one instead of throwing.
    assert.deepEqual(
      await rows.commit({ checks: [{ key, stamp: "not-a-stamp" }], mutations: [] }),
      { ok: false },
    );
    const del = await rows.commit({
      checks: [{ key, stamp: second.ok ? second.stamp : "" }],
      mutations: [{ type: "delete", key }],
    });
    assert.ok(del.ok);
    assert.equal(await rows.get(key), null);
  });
});

Deno.test("KvRegistryStorage enforces the memory backend's limits and accepts rows up to them", async () => {
  await withKv(async (kv) => {
    const rows = new KvRegistryStorage(kv);
    const tooMany = Array.from(
      { length: LIMITS.checksPerCommit + 1 },
      (_, i) => ({ key: ["c", String(i)], stamp: null }),
    );
    await assert.rejects(rows.commit({ checks: tooMany, mutations: [] }), RangeError);
    await assert.rejects(
      rows.commit({ checks: [], mutations: [set(["big"], "x".repeat(LIMITS.valueBytes))] }),
      RangeError,
    );
    await assert.rejects(rows.get(["k".repeat(LIMITS.keyBytes)]), RangeError);
    await assert.rejects(rows.get([]), TypeError);
    // Rows near the limit whose structured clone would exceed KV's 64 KiB still fit:
    // mostly-ASCII text with one astral character, and many small doubles.
    const text = "a".repeat(LIMITS.valueBytes - 100) + "😀";
    const doubles = Array.from({ length: Math.floor((LIMITS.valueBytes - 10) / 4) }, () => 0.5);
    for (const [name, value] of [["text", text], ["doubles", doubles]] as const) {
      assert.ok((await rows.commit({ checks: [], mutations: [set(["near", name], value)] })).ok);
      assert.deepEqual((await rows.get(["near", name]))?.value, value);
    }
  });
});

Deno.test("KvRegistryStorage pages forward and back with exact cursors", async () => {
  await withKv(async (kv) => {
    const rows = new KvRegistryStorage(kv);
    const all: RowKey[] = Array.from({ length: 25 }, (_, i) => ["p", String(i).padStart(2, "0")]);
    all.push(["p", "05", "child"]); // an extension sorts right after its parent
    for (let i = 0; i < all.length; i += 10) {
      await rows.commit({
        checks: [],
        mutations: all.slice(i, i + 10).map((k) => set(k, k.join("/"))),
      });
    }
    all.sort(compareKeys);
    for (const reverse of [false, true]) {
      for (const limit of [1, 7, 26, 100]) {
        const seen: RowKey[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await rows.list(["p"], {
            limit,
            reverse,
            ...(cursor === undefined ? {} : { cursor }),
          });
          assert.ok(page.items.length <= limit);
          seen.push(...page.items.map((e) => e.key));
          cursor = page.cursor;
          pages++;
          if (cursor !== undefined) {
            assert.equal(page.items.length, limit, "a cursor only on a full page");
          }
        } while (cursor !== undefined);
        assert.deepEqual(
          seen,
          reverse ? [...all].reverse() : all,
          `reverse=${reverse} limit=${limit}`,
        );
        assert.equal(pages, Math.max(1, Math.ceil(all.length / limit)), "no empty trailing page");
      }
    }
    await assert.rejects(rows.list(["p"], { limit: 0 }), RangeError);
    await assert.rejects(
      rows.list(["p"], { cursor: "!!" }),
      (e) => isRegistryError(e, "invalid_input"),
    );
    const forged = encodeCursor(["p", "x".repeat(5000)]);
    await assert.rejects(
      rows.list(["p"], { cursor: forged }),
      (e) => isRegistryError(e, "invalid_input"),
    );
  });
});

Deno.test("KvRegistryStorage lists whole parts only and excludes the prefix key itself", async () => {
  await withKv(async (kv) => {
    const rows = new KvRegistryStorage(kv);
    await rows.commit({
      checks: [],
      mutations: [
        set(["a", "b"], "self"),
        set(["a", "b", "1"], 1),
        set(["a", "bc"], "bleed"),
        set(["a", "bc", "1"], 2),
      ],
    });
    const page = await rows.list(["a", "b"]);
    assert.deepEqual(page.items.map((e) => e.value), [1]);
    assert.equal(page.cursor, undefined);
    assert.deepEqual((await rows.list(["a"])).items.map((e) => e.value), ["self", 1, "bleed", 2]);
  });
});

Deno.test("KvRegistryStorage orders keys by UTF-8 bytes exactly as compareKeys does", async () => {
  await withKv(async (kv) => {
    const rows = new KvRegistryStorage(kv);
    const parts = ["", "a", "a\0", "a\x01", "A", "b", "é", "\uffff", "😀", "z", "a\0b", "ab"];
    await rows.commit({ checks: [], mutations: parts.map((p) => set(["o", p], p)) });
    const listed = (await rows.list(["o"])).items.map((e) => e.key);
    assert.deepEqual(listed, parts.map((p) => ["o", p]).sort(compareKeys));
  });
});

Deno.test("KvRegistryStorage treats a cursor from outside the prefix as before or after it", async () => {
  await withKv(async (kv) => {
    const rows = new KvRegistryStorage(kv);
    await rows.commit({ checks: [], mutations: [set(["m", "1"], 1), set(["m", "2"], 2)] });
    const values = async (cursorKey: RowKey, reverse: boolean) =>
      (await rows.list(["m"], { cursor: encodeCursor(cursorKey), reverse })).items.map((e) =>
        e.value
      );
    assert.deepEqual(await values(["a"], false), [1, 2]);
    assert.deepEqual(await values(["a"], true), []);
    assert.deepEqual(await values(["m"], false), [1, 2]);
    assert.deepEqual(await values(["z"], false), []);
    assert.deepEqual(await values(["z"], true), [2, 1]);
    assert.deepEqual(await values(["m", "1"], false), [2]);
    assert.deepEqual(await values(["m", "2"], true), [1]);
  });
});

Deno.test("KvRegistryStorage rides out a write lock held past SQLite's busy timeout", async () => {
  await withKv(async (kv, path) => {
    const rows = new KvRegistryStorage(kv);
    await rows.commit({ checks: [], mutations: [set(["before"], 1)] });
    // Another connection holds the write lock longer than KV's own 5 s busy wait,
    // so KV reports "database is locked" and the backend must retry, not throw.
    const db = new DatabaseSync(path);
    db.exec("BEGIN EXCLUSIVE");
    const release = setTimeout(() => db.exec("COMMIT"), 6_000);
    try {
      const res = await rows.commit({
        checks: [{ key: ["after"], stamp: null }],
        mutations: [set(["after"], 2)],
      });
      assert.ok(res.ok);
      assert.equal((await rows.get(["after"]))?.value, 2);
    } finally {
      clearTimeout(release);
      if (db.isTransaction) db.exec("COMMIT");
      db.close();
    }
  });
});

Deno.test("KvRegistryStorage closes only a KV it owns and refuses use after close", async () => {
  await withKv(async (kv) => {
    let cleaned = 0;
    const rows = new KvRegistryStorage(kv, { onClose: () => void cleaned++ });
    await rows.close();
    await rows.close();
    assert.equal(cleaned, 1);
    await assert.rejects(rows.get(["a"]), TypeError);
    assert.equal((await kv.get(["a"])).value, null, "the caller's KV stays open");
  });
  const owned = await KvRegistryStorage.open(":memory:");
  await owned.commit({ checks: [], mutations: [set(["x"], 1)] });
  await owned.close();
});

Deno.test("KvBundleStorage round-trips a several-MiB streamed blob byte-exact", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const bytes = bytesOf(6 * 1024 * 1024 + 17, 7);
    const info = await blobs.put(streamOf(bytes, 100_003));
    assert.equal(info.sha256, sha256Hex(bytes));
    assert.equal(info.size, bytes.byteLength);
    const body = await blobs.get(info.sha256);
    assert.equal(body?.size, bytes.byteLength);
    assert.deepEqual(await readAll(body!.stream), bytes);
    assert.equal(await countKeys(kv, ["blob_chunk"]), Math.ceil(bytes.byteLength / KV_CHUNK_SIZE));
    assert.equal(
      await countKeys(kv, ["blob_upload"]),
      0,
      "a completed upload leaves no journal row",
    );
    const { created, ...stored } = info;
    assert.equal(created, true);
    assert.deepEqual(await blobs.stat(info.sha256), stored);
  });
});

Deno.test("KvBundleStorage stores small and empty blobs and reads misses as null", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const empty = await blobs.put(new Uint8Array(0));
    assert.equal(empty.sha256, sha256Hex(new Uint8Array(0)));
    assert.equal((await readAll((await blobs.get(empty.sha256))!.stream)).byteLength, 0);
    const small = bytesOf(KV_CHUNK_SIZE * 3 + 1);
    const info = await blobs.put(small);
    assert.deepEqual(await readAll((await blobs.get(info.sha256))!.stream), small);
    assert.equal(await blobs.get("0".repeat(64)), null);
    assert.equal(await blobs.get("../etc/passwd"), null);
    assert.equal(await blobs.stat("0".repeat(64)), null);
  });
});

Deno.test("KvBundleStorage re-putting a blob keeps one copy and refreshes touchedAt", async () => {
  await withKv(async (kv) => {
    let now = new Date("2026-01-01T00:00:00Z");
    const blobs = new KvBundleStorage(kv, { now: () => now });
    const bytes = bytesOf(KV_CHUNK_SIZE * 30 + 5, 3); // more than one write batch
    const a = await blobs.put(bytes);
    now = new Date("2026-02-01T00:00:00Z");
    const b = await blobs.put(streamOf(bytes, 70_000));
    assert.equal(b.sha256, a.sha256);
    assert.equal(b.touchedAt, now.toISOString());
    assert.equal((await blobs.stat(a.sha256))?.touchedAt, now.toISOString());
    assert.equal(await countKeys(kv, ["blob_chunk"]), 31, "the second upload's chunks are dropped");
    assert.equal(await countKeys(kv, ["blob_upload"]), 0);
    assert.equal((await blobs.list()).items.length, 1);
  });
});

Deno.test("KvBundleStorage reads ranges exactly, across chunk boundaries", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const bytes = bytesOf(KV_CHUNK_SIZE * 20 + 999, 5);
    const info = await blobs.put(bytes);
    const c = KV_CHUNK_SIZE;
    const ranges: [number, number][] = [[0, 1], [c - 1, c + 1], [c, 2 * c], [3, 17 * c + 5], [
      bytes.length - 1,
      bytes.length,
    ], [
      0,
      bytes.length,
    ]];
    for (const [start, end] of ranges) {
      const body = await blobs.get(info.sha256, { start, end });
      assert.equal(body?.size, bytes.byteLength);
      assert.deepEqual(
        await readAll(body!.stream),
        bytes.slice(start, end),
        `range ${start}-${end}`,
      );
    }
    await assert.rejects(blobs.get(info.sha256, { start: 5, end: bytes.length + 1 }), RangeError);
  });
});

Deno.test("KvBundleStorage errors a rotten chunk with blob_corrupt before its bytes go out", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const bytes = bytesOf(KV_CHUNK_SIZE * 40, 9);
    const info = await blobs.put(bytes);
    await blobs.tamperForTest(info.sha256, { index: 20 });
    const full = await readUntilError((await blobs.get(info.sha256))!.stream);
    assert.ok(isRegistryError(full.error, "blob_corrupt"));
    assert.equal(
      full.bytes,
      20 * KV_CHUNK_SIZE,
      "exactly the chunks before the rotten one went out",
    );
    const range = await readUntilError(
      (await blobs.get(info.sha256, {
        start: 20 * KV_CHUNK_SIZE + 5,
        end: 20 * KV_CHUNK_SIZE + 9,
      }))!.stream,
    );
    assert.ok(
      isRegistryError(range.error, "blob_corrupt"),
      "a range over the rotten chunk fails too",
    );
    const clean = await blobs.get(info.sha256, { start: 0, end: 10 * KV_CHUNK_SIZE });
    assert.deepEqual(await readAll(clean!.stream), bytes.slice(0, 10 * KV_CHUNK_SIZE));
  });
});

Deno.test("KvBundleStorage catches consistent tampering with the whole-blob digest", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const info = await blobs.put(bytesOf(150_000, 11));
    await blobs.tamperForTest(info.sha256, { index: 1, consistent: true });
    const full = await readUntilError((await blobs.get(info.sha256))!.stream);
    assert.ok(isRegistryError(full.error, "blob_corrupt"));
    assert.equal(full.bytes, 150_000, "the error comes at the end, in place of completion");
  });
});

Deno.test("KvBundleStorage errors a missing chunk with blob_corrupt", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const info = await blobs.put(bytesOf(KV_CHUNK_SIZE * 3, 2));
    const chunks = await Array.fromAsync(kv.list({ prefix: ["blob_chunk"] }), (e) => e.key);
    await kv.delete(chunks[1]!);
    const full = await readUntilError((await blobs.get(info.sha256))!.stream);
    assert.ok(isRegistryError(full.error, "blob_corrupt"));
    assert.equal(full.bytes, KV_CHUNK_SIZE);
  });
});

Deno.test("KvBundleStorage refuses a blob over maxBytes with too_large and keeps nothing", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    let pulled = 0;
    const bytes = bytesOf(KV_CHUNK_SIZE * 50, 4);
    const source = streamOf(bytes, 100_000).pipeThrough(
      new TransformStream({
        transform(chunk, controller) {
          pulled += chunk.byteLength;
          controller.enqueue(chunk);
        },
      }),
    );
    await assert.rejects(
      blobs.put(source, { maxBytes: KV_CHUNK_SIZE * 30 }),
      (e) => isRegistryError(e, "too_large"),
    );
    assert.ok(pulled < bytes.byteLength, "the body stops being read once over the limit");
    await assert.rejects(
      blobs.put(bytes, { maxBytes: 10 }),
      (e) => isRegistryError(e, "too_large"),
    );
    assert.equal((await blobs.list()).items.length, 0);
    assert.equal(await countKeys(kv, ["blob_chunk"]), 0);
    assert.equal(await countKeys(kv, ["blob_upload"]), 0);
  });
});

Deno.test("KvBundleStorage refuses a wrong expected sha256 with digest_mismatch and keeps nothing", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    for (const size of [5000, KV_CHUNK_SIZE * 40]) {
      const bytes = bytesOf(size, 6);
      await assert.rejects(
        blobs.put(streamOf(bytes, 50_000), { expectedSha256: "f".repeat(64) }),
        (e) => isRegistryError(e, "digest_mismatch"),
      );
      assert.equal(await blobs.stat(sha256Hex(bytes)), null);
    }
    assert.equal((await blobs.list()).items.length, 0);
    assert.equal(await countKeys(kv, ["blob_chunk"]), 0);
    assert.equal(await countKeys(kv, ["blob_upload"]), 0);
    const ok = bytesOf(100);
    assert.equal((await blobs.put(ok, { expectedSha256: sha256Hex(ok) })).size, 100);
  });
});

Deno.test("KvBundleStorage lists blobs in digest order and delete removes metadata and chunks", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const digests: string[] = [];
    for (let i = 0; i < 12; i++) {
      digests.push((await blobs.put(bytesOf(KV_CHUNK_SIZE * (i % 3) + 100 + i, i))).sha256);
    }
    digests.sort();
    for (const reverse of [false, true]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await blobs.list({
          limit: 5,
          reverse,
          ...(cursor === undefined ? {} : { cursor }),
        });
        seen.push(...page.items.map((b) => b.sha256));
        cursor = page.cursor;
      } while (cursor !== undefined);
      assert.deepEqual(seen, reverse ? [...digests].reverse() : digests);
    }
    const chunksBefore = await countKeys(kv, ["blob_chunk"]);
    const victim = (await blobs.stat(digests[0]!))!;
    assert.equal(await blobs.delete(digests[0]!), true);
    assert.equal(await blobs.delete(digests[0]!), false);
    assert.equal(await blobs.get(digests[0]!), null);
    assert.equal(
      await countKeys(kv, ["blob_chunk"]),
      chunksBefore - Math.ceil(victim.size / KV_CHUNK_SIZE),
    );
    assert.equal(await countKeys(kv, ["blob_upload"]), 0);
    await assert.rejects(blobs.delete("nope"), (e) => isRegistryError(e, "invalid_digest"));
  });
});

Deno.test("KvBundleStorage sweeps an abandoned upload and fails the upload if it resumes", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const bytes = bytesOf(KV_CHUNK_SIZE * 30, 8);
    // An upload that stalls after most of its bytes, as a dead client would leave it.
    let resume!: () => void;
    const stalled = new Promise<void>((r) => resume = r);
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          return controller.enqueue(bytes.subarray(0, KV_CHUNK_SIZE * 29));
        }
        await stalled;
        controller.enqueue(bytes.subarray(KV_CHUNK_SIZE * 29));
        controller.close();
      },
    });
    const upload = blobs.put(body);
    while (await countKeys(kv, ["blob_chunk"]) < 24) await new Promise((r) => setTimeout(r, 10));
    assert.equal(
      await blobs.sweepUploads(new Date(Date.now() - 60_000)),
      0,
      "a recent upload is spared",
    );
    assert.equal(await blobs.sweepUploads(new Date(Date.now() + 60_000)), 1);
    assert.equal(await countKeys(kv, ["blob_chunk"]), 0);
    resume();
    await assert.rejects(upload, (e) => isRegistryError(e, "storage_failure"));
    assert.equal(await blobs.stat(sha256Hex(bytes)), null, "no blob points at swept chunks");
    assert.equal(await countKeys(kv, ["blob_chunk"]), 0);
    assert.equal(await countKeys(kv, ["blob_upload"]), 0);
    // The same bytes upload fine afterwards.
    assert.deepEqual(
      await readAll((await blobs.get((await blobs.put(bytes)).sha256))!.stream),
      bytes,
    );
  });
});

Deno.test("KvBundleStorage still refuses a rotten chunk after a verified read of the same blob", async () => {
  await withKv(async (kv) => {
    const blobs = new KvBundleStorage(kv);
    const bytes = bytesOf(3 * KV_CHUNK_SIZE + 5, 42);
    const info = await blobs.put(bytes);
    assert.equal(sha256Hex(await readAll((await blobs.get(info.sha256))!.stream)), info.sha256);
    await blobs.tamperForTest(info.sha256, { index: 1 });
    await assert.rejects(
      readAll((await blobs.get(info.sha256))!.stream),
      (e) => isRegistryError(e, "blob_corrupt"),
    );
  });
});
