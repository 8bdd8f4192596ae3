import assert from "node:assert/strict";
import { join } from "node:path";
import { sha256Hex } from "../base/digest.ts";
import { isRegistryError } from "../base/errors.ts";
import { decodeKeyPart, encodeKeyPart, FsBundleStorage, FsRegistryStorage } from "./fs.ts";
import { MemoryRegistryStorage } from "./memory.ts";
import type { BlobInfo, Entry, JsonValue, RegistryStorage, RowKey } from "./types.ts";

/** A temp directory removed (recursively) when disposed. */
async function tempDir(): Promise<{ path: string } & AsyncDisposable> {
  const path = await Deno.makeTempDir({ prefix: "registry_fs_test_" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The row files under `dir` (each level's ordered index, `.index/`, left out). */
async function filesUnder(dir: string, base = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(dir, base))) {
    if (e.name === ".index") continue;
    const rel = base === "" ? e.name : `${base}/${e.name}`;
    if (e.isDirectory) out.push(...await filesUnder(dir, rel));
    else out.push(rel);
  }
  return out.sort();
}

function set(key: RowKey, value: JsonValue) {
  return { type: "set" as const, key, value };
}

async function put(storage: RegistryStorage, key: RowKey, value: JsonValue): Promise<string> {
  const r = await storage.commit({ checks: [], mutations: [set(key, value)] });
  assert.ok(r.ok);
  return r.stamp;
}

/** Walk a whole listing page by page. */
async function walk(
  storage: RegistryStorage,
  prefix: RowKey,
  options: { limit: number; reverse?: boolean },
): Promise<RowKey[]> {
  const keys: RowKey[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page: { items: Entry[]; cursor?: string } = await storage.list(prefix, {
      ...options,
      ...(cursor === undefined ? {} : { cursor }),
    });
    assert.ok(page.items.length <= options.limit);
    keys.push(...page.items.map((e) => e.key));
    cursor = page.cursor;
    assert.ok(++pages < 1000, "listing did not end");
  } while (cursor !== undefined);
  return keys;
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Deterministic pseudo-random bytes. */
function noise(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stream of `bytes` in uneven chunks. */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  let n = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      const size = [1, 7000, 65536, 300_001][n++ % 4]!;
      controller.enqueue(bytes.slice(offset, offset + size));
      offset += size;
    },
  });
}

const AWKWARD = [
  "..",
  ".",
  "a/b",
  "../../escape",
  "/abs",
  "%",
  "%2E",
  "%+",
  "",
  "a.json",
  "con",
  "CON",
  "A",
  "a",
  "é",
  "e\u0301",
  "😀",
  "\\",
  "sp ace",
  '*?<>|:"',
  "\u0000nul",
  "x".repeat(700),
  "é/".repeat(150),
];

Deno.test("encodeKeyPart() spells every part as one safe segment that decodes back", () => {
  for (const part of AWKWARD) {
    const seg = encodeKeyPart(part);
    assert.match(seg, /^[a-z0-9_~@+%A-F-]+$/);
    assert.doesNotMatch(seg, /[./\\]/);
    assert.equal(decodeKeyPart(seg), part);
  }
  assert.equal(encodeKeyPart("con"), "%63on");
  assert.equal(encodeKeyPart("1.0.0"), "1%2E0%2E0");
  assert.throws(() => encodeKeyPart("\ud800"), RangeError);
});

Deno.test("decodeKeyPart() rejects every spelling the encoder would not produce", () => {
  for (const seg of ["%2e", "A", "con", "a.json", "..", "", "%G0", "%2", "%%", "%FF", "a%+"]) {
    assert.equal(decodeKeyPart(seg), null, seg);
  }
});

Deno.test("FsRegistryStorage round-trips rows and answers null on a miss", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  assert.equal(await rows.get(["nope"]), null);
  const stamp = await put(rows, ["pkg", "@acme", "widget"], { n: 1, s: "x" });
  const got = await rows.get(["pkg", "@acme", "widget"]);
  assert.deepEqual(got, { key: ["pkg", "@acme", "widget"], value: { n: 1, s: "x" }, stamp });
  await put(rows, ["null"], null);
  assert.deepEqual((await rows.get(["null"]))?.value, null);
  const many = await rows.getMany([["nope"], ["pkg", "@acme", "widget"], ["null"]]);
  assert.deepEqual(many.map((e) => e?.value), [undefined, { n: 1, s: "x" }, null]);
  assert.equal(many[0], null);
  // Nothing left behind by the writes.
  assert.deepEqual(await filesUnder(join(dir.path, "tmp")), []);
  assert.deepEqual(await filesUnder(join(dir.path, "journal")), []);
});

Deno.test("FsRegistryStorage stamps change with every write and are unique", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  const stamps = new Set<string>();
  for (let i = 0; i < 50; i++) stamps.add(await put(rows, ["k"], i));
  assert.equal(stamps.size, 50);
});

Deno.test("FsRegistryStorage commit applies only when every check holds", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  const first = await rows.commit({
    checks: [{ key: ["a"], stamp: null }],
    mutations: [set(["a"], 1), set(["b", "c"], 2)],
  });
  assert.ok(first.ok);
  // Absence check on an existing row fails and writes nothing.
  const dup = await rows.commit({
    checks: [{ key: ["a"], stamp: null }],
    mutations: [set(["a"], 9), set(["d"], 9)],
  });
  assert.deepEqual(dup, { ok: false });
  assert.equal((await rows.get(["a"]))?.value, 1);
  assert.equal(await rows.get(["d"]), null);
  // A stale stamp fails; the current one succeeds.
  assert.deepEqual(
    await rows.commit({ checks: [{ key: ["a"], stamp: "stale" }], mutations: [set(["a"], 3)] }),
    { ok: false },
  );
  const cas = await rows.commit({
    checks: [{ key: ["a"], stamp: first.stamp }, { key: ["zz"], stamp: null }],
    mutations: [set(["a"], 3), { type: "delete", key: ["b", "c"] }],
  });
  assert.ok(cas.ok);
  assert.deepEqual(await rows.get(["a"]), { key: ["a"], value: 3, stamp: cas.stamp });
  assert.equal(await rows.get(["b", "c"]), null);
  // The emptied directory of ["b", ...] is gone too.
  assert.deepEqual(await filesUnder(join(dir.path, "rows")), ["a.json"]);
  // A stamp check against an absent row fails.
  assert.deepEqual(
    await rows.commit({ checks: [{ key: ["b", "c"], stamp: cas.stamp }], mutations: [] }),
    { ok: false },
  );
});

Deno.test("FsRegistryStorage applies the last mutation of a key within one commit", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  await put(rows, ["x"], 0);
  const r = await rows.commit({
    checks: [{ key: ["y"], stamp: null }],
    mutations: [set(["x"], 1), { type: "delete", key: ["x"] }, set(["y"], 1), set(["y"], 2)],
  });
  assert.ok(r.ok);
  assert.equal(await rows.get(["x"]), null);
  assert.equal((await rows.get(["y"]))?.value, 2);
});

Deno.test("FsRegistryStorage enforces the shared limits", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  await assert.rejects(() => put(rows, ["big"], "x".repeat(61 * 1024)), RangeError);
  await assert.rejects(
    () =>
      rows.commit({
        checks: Array.from({ length: 11 }, (_, i) => ({ key: [`k${i}`], stamp: null })),
        mutations: [],
      }),
    RangeError,
  );
  await assert.rejects(() => rows.get([]), TypeError);
  await assert.rejects(() => rows.getMany(Array.from({ length: 11 }, () => ["a"])), RangeError);
  await assert.rejects(() => rows.list(["a"], { limit: 0 }), RangeError);
  // A key whose encoded path would exceed what filesystems allow is refused up front.
  await assert.rejects(
    () => put(rows, Array.from({ length: 4 }, () => "é".repeat(200)), 1),
    RangeError,
  );
  assert.deepEqual(await filesUnder(join(dir.path, "rows")), []);
});

Deno.test("FsRegistryStorage keeps awkward keys inside its root and round-trips them", async () => {
  await using dir = await tempDir();
  const root = join(dir.path, "store");
  const keys: RowKey[] = [
    ...AWKWARD.map((p) => [p]),
    ...AWKWARD.map((p) => ["nest", p, p]),
    ["..", "..", "..", "etc"],
    ["", ""],
    ["", "", ""],
  ];
  {
    await using rows = await FsRegistryStorage.open({ root });
    for (const [i, key] of keys.entries()) await put(rows, key, i);
    for (const [i, key] of keys.entries()) {
      assert.equal((await rows.get(key))?.value, i, JSON.stringify(key));
    }
    const listed = await walk(rows, [], { limit: 7 });
    const memory = new MemoryRegistryStorage();
    for (const [i, key] of keys.entries()) await put(memory, key, i);
    assert.deepEqual(listed, await walk(memory, [], { limit: 1000 }));
  }
  // Nothing escaped: the parent holds only the store, and every row file is
  // lowercase, dot-free but for its suffix, and no name exceeds 200 bytes.
  assert.deepEqual((await Array.fromAsync(Deno.readDir(dir.path))).map((e) => e.name), ["store"]);
  const files = await filesUnder(join(root, "rows"));
  assert.ok(files.length >= keys.length);
  for (const file of files) {
    assert.match(file, /^[a-z0-9_~@+%A-F/-]+\.json$/);
    for (const seg of file.split("/")) assert.ok(seg.length <= 205, seg);
  }
  // "A" and "a" are different files even on a case-insensitive filesystem.
  assert.ok(files.includes("a.json") && files.includes("%41.json"));
  // The store reopens with every row intact.
  await using again = await FsRegistryStorage.open({ root });
  assert.equal(
    (await again.get(["x".repeat(700)]))?.value,
    keys.findIndex((k) => k[0] === "x".repeat(700)),
  );
});

Deno.test("FsRegistryStorage keeps a key and its extensions apart", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  await put(rows, ["a"], "a");
  await put(rows, ["a", "b"], "ab");
  await put(rows, ["a", "b", "c"], "abc");
  await put(rows, ["a", "bc"], "abc2");
  await put(rows, ["ab"], "ab2");
  assert.equal((await rows.get(["a"]))?.value, "a");
  assert.equal((await rows.get(["a", "b"]))?.value, "ab");
  // The prefix key itself is not listed, only its extensions (as in Deno KV).
  assert.deepEqual((await rows.list(["a", "b"])).items.map((e) => e.value), ["abc"]);
  assert.deepEqual((await rows.list(["a"])).items.map((e) => e.key), [
    ["a", "b"],
    ["a", "b", "c"],
    ["a", "bc"],
  ]);
  // Whole parts only: ["a", "b"] never yields ["a", "bc"], ["a"] never ["ab"].
  assert.ok(!(await rows.list(["a", "b"])).items.some((e) => e.key[1] === "bc"));
  assert.ok(!(await rows.list(["a"])).items.some((e) => e.key[0] === "ab"));
  assert.deepEqual((await rows.list(["zz"])).items, []);
});

Deno.test("FsRegistryStorage pages forward and reverse in the memory backend's order", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  const memory = new MemoryRegistryStorage();
  const keys: RowKey[] = [];
  for (const a of ["p", "q", "p q", "😀", "ﬀ", "Z"]) {
    keys.push([a]);
    for (const b of ["1.0.0", "1.0.0-alpha", "10.0.0", "2.0.0", "", "é"]) {
      keys.push([a, b]);
      if (b.startsWith("1")) keys.push([a, b, "x"], [a, b, "y", "z"]);
    }
  }
  keys.push(["x".repeat(300)], ["x".repeat(300), "y"], ["x".repeat(301)]);
  for (const key of keys) {
    await put(rows, key, key.join("|"));
    await put(memory, key, key.join("|"));
  }
  for (const prefix of [[], ["p"], ["p", "1.0.0"], ["😀"], ["x".repeat(300)], ["none"]]) {
    for (const reverse of [false, true]) {
      const expected = await walk(memory, prefix, { limit: 1000, reverse });
      for (const limit of [1, 3, 10, 1000]) {
        assert.deepEqual(
          await walk(rows, prefix, { limit, reverse }),
          expected,
          `${prefix} ${limit}`,
        );
      }
    }
  }
  // The cursor is opaque but portable between pages of the same listing.
  const first = await rows.list<string>(["p"], { limit: 2 });
  assert.equal(first.items.length, 2);
  assert.ok(first.cursor);
  const next = await rows.list<string>(["p"], { limit: 2, cursor: first.cursor });
  assert.deepEqual(next.items[0]?.key, ["p", "1.0.0", "x"]);
});

Deno.test("FsRegistryStorage ignores stray files in its row tree", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  await put(rows, ["a", "b"], 1);
  const rowsDir = join(dir.path, "rows");
  for (const stray of ["README", ".hidden.json", "Upper.json", "x%2e.json", "con.json", "a/.tmp"]) {
    await Deno.writeTextFile(join(rowsDir, stray), "{}");
  }
  await Deno.mkdir(join(rowsDir, "Dir"));
  await Deno.writeTextFile(join(rowsDir, "Dir", "c.json"), "{}");
  assert.deepEqual((await rows.list([])).items.map((e) => e.key), [["a", "b"]]);
});

Deno.test("FsRegistryStorage gives exactly one winner among concurrent creates", async () => {
  await using dir = await tempDir();
  await using a = await FsRegistryStorage.open({ root: dir.path });
  await using b = await FsRegistryStorage.open({ root: dir.path });
  const results = await Promise.all(
    Array.from(
      { length: 40 },
      (_, i) =>
        (i % 2 ? a : b).commit({
          checks: [{ key: ["once"], stamp: null }],
          mutations: [set(["once"], i)],
        }),
    ),
  );
  const winners = results.filter((r) => r.ok);
  assert.equal(winners.length, 1);
  const row = await a.get(["once"]);
  assert.equal(row?.stamp, winners[0]!.ok ? winners[0]!.stamp : undefined);
});

/** Write a journal as a commit that crashed part-way would leave it. */
async function crashMidCommit(root: string): Promise<void> {
  const stamp = "zzzzzzzzz-000000-crash";
  const journal = {
    stamp,
    writes: [
      { key: ["a"], json: JSON.stringify("new") },
      { key: ["b", "c"], json: "2" },
      { key: ["gone"], json: null },
    ],
  };
  await Deno.writeTextFile(join(root, "journal", `${stamp}.json`), JSON.stringify(journal));
  // The first write had landed before the crash; the others had not.
  await Deno.writeTextFile(
    join(root, "rows", "a.json"),
    JSON.stringify({ stamp, value: "new" }),
  );
}

Deno.test("FsRegistryStorage replays a journal left by a crash when it opens", async () => {
  await using dir = await tempDir();
  {
    await using rows = await FsRegistryStorage.open({ root: dir.path });
    await put(rows, ["a"], "old");
    await put(rows, ["gone"], 1);
  }
  await crashMidCommit(dir.path);
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  assert.deepEqual(await rows.get(["a"]), {
    key: ["a"],
    value: "new",
    stamp: "zzzzzzzzz-000000-crash",
  });
  assert.equal((await rows.get(["b", "c"]))?.value, 2);
  assert.equal(await rows.get(["gone"]), null);
  assert.deepEqual(await filesUnder(join(dir.path, "journal")), []);
});

Deno.test("FsRegistryStorage replays a leftover journal before its next commit", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  await put(rows, ["gone"], 1);
  await crashMidCommit(dir.path);
  // The next commit's check sees the replayed row, not the state before the crash.
  const r = await rows.commit({
    checks: [{ key: ["b", "c"], stamp: null }],
    mutations: [set(["b", "c"], 3)],
  });
  assert.deepEqual(r, { ok: false });
  assert.equal(await rows.get(["gone"]), null);
  assert.deepEqual(await filesUnder(join(dir.path, "journal")), []);
});

Deno.test("FsRegistryStorage with sync commits and reads back the same rows", async () => {
  await using dir = await tempDir();
  {
    await using rows = await FsRegistryStorage.open({ root: dir.path, sync: true });
    await put(rows, ["a", "b"], 1);
    await rows.commit({
      checks: [],
      mutations: [{ type: "delete", key: ["a", "b"] }, set(["c"], 2)],
    });
  }
  await using rows = await FsRegistryStorage.open({ root: dir.path });
  assert.equal(await rows.get(["a", "b"]), null);
  assert.equal((await rows.get(["c"]))?.value, 2);
});

Deno.test("FsRegistryStorage refuses use after close", async () => {
  await using dir = await tempDir();
  const rows = await FsRegistryStorage.open({ root: dir.path });
  await rows.close();
  await assert.rejects(() => rows.get(["a"]), TypeError);
  await assert.rejects(() => put(rows, ["a"], 1), TypeError);
});

// ---- blobs ----

Deno.test("FsBundleStorage streams several MiB in and out byte for byte", async () => {
  await using dir = await tempDir();
  await using blobs = await FsBundleStorage.open({ root: dir.path });
  const bytes = noise(5 * 1024 * 1024 + 123);
  const info = await blobs.put(chunked(bytes), { expectedSha256: sha256Hex(bytes) });
  assert.equal(info.sha256, sha256Hex(bytes));
  assert.equal(info.size, bytes.byteLength);
  const file = join(dir.path, "blobs", info.sha256.slice(0, 2), info.sha256);
  assert.equal((await Deno.stat(file)).size, bytes.byteLength);
  // First read verifies while streaming, second is served from the verified file.
  for (let i = 0; i < 2; i++) {
    const body = await blobs.get(info.sha256);
    assert.ok(body);
    assert.equal(body.size, bytes.byteLength);
    assert.deepEqual(await bytesOf(body.stream), bytes);
  }
  assert.deepEqual((await blobs.stat(info.sha256))?.size, bytes.byteLength);
  assert.deepEqual(await filesUnder(join(dir.path, "tmp")), []);
});

Deno.test("FsBundleStorage answers null for a missing or malformed digest", async () => {
  await using dir = await tempDir();
  await using blobs = await FsBundleStorage.open({ root: dir.path });
  const missing = sha256Hex("missing");
  assert.equal(await blobs.get(missing), null);
  assert.equal(await blobs.stat(missing), null);
  assert.equal(await blobs.get("../../etc/passwd"), null);
  assert.equal(await blobs.stat("ABC"), null);
  assert.equal(await blobs.delete(missing), false);
  await assert.rejects(() => blobs.delete("../x"), (e) => isRegistryError(e, "invalid_digest"));
});

Deno.test("FsBundleStorage re-put refreshes touchedAt and keeps one copy", async () => {
  await using dir = await tempDir();
  let now = new Date("2026-01-01T00:00:00.000Z");
  await using blobs = await FsBundleStorage.open({ root: dir.path, now: () => now });
  const bytes = noise(1000);
  const first = await blobs.put(bytes);
  assert.equal(first.touchedAt, "2026-01-01T00:00:00.000Z");
  assert.equal((await blobs.stat(first.sha256))?.touchedAt, first.touchedAt);
  now = new Date("2026-02-01T00:00:00.000Z");
  const again = await blobs.put(chunked(bytes));
  assert.equal(first.created, true);
  assert.deepEqual(again, {
    sha256: first.sha256,
    size: 1000,
    touchedAt: "2026-02-01T00:00:00.000Z",
    created: false,
  });
  assert.equal((await blobs.stat(first.sha256))?.touchedAt, again.touchedAt);
  assert.equal((await blobs.list()).items.length, 1);
  assert.deepEqual(await filesUnder(join(dir.path, "tmp")), []);
  assert.ok(await blobs.delete(first.sha256));
  assert.equal(await blobs.get(first.sha256), null);
});

Deno.test("FsBundleStorage errors the stream with blob_corrupt when the file was tampered with", async () => {
  await using dir = await tempDir();
  await using blobs = await FsBundleStorage.open({ root: dir.path });
  const bytes = noise(3 * 256 * 1024 + 5);
  const { sha256 } = await blobs.put(bytes);
  const file = join(dir.path, "blobs", sha256.slice(0, 2), sha256);
  // Verified once, so later reads skip hashing until the file changes.
  assert.deepEqual(await bytesOf((await blobs.get(sha256))!.stream), bytes);
  const bad = bytes.slice();
  bad[bad.length - 1]! ^= 1;
  await Deno.writeFile(file, bad);
  await Deno.utime(file, new Date(0), new Date(0)); // a different identity for certain
  const body = await blobs.get(sha256);
  assert.ok(body);
  await assert.rejects(() => bytesOf(body.stream), (e) => isRegistryError(e, "blob_corrupt"));
  // A range of an unverified corrupt file is refused too.
  const part = await blobs.get(sha256, { start: 0, end: 10 });
  await assert.rejects(() => bytesOf(part!.stream), (e) => isRegistryError(e, "blob_corrupt"));
  // The bytes delivered before the error never include the whole blob.
  const reader = (await blobs.get(sha256))!.stream.getReader();
  let delivered = 0;
  await assert.rejects(async () => {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      delivered += value.byteLength;
    }
  }, (e) => isRegistryError(e, "blob_corrupt"));
  assert.ok(delivered < bytes.byteLength);
  // A truncated file errors as well, even one truncated to nothing.
  for (const size of [100, 0]) {
    await Deno.writeFile(file, bytes.subarray(0, size));
    await assert.rejects(
      async () => bytesOf((await blobs.get(sha256))!.stream),
      (e) => isRegistryError(e, "blob_corrupt"),
    );
  }
});

Deno.test("FsBundleStorage refuses a body over maxBytes with too_large and stores nothing", async () => {
  await using dir = await tempDir();
  await using blobs = await FsBundleStorage.open({ root: dir.path });
  const bytes = noise(1024 * 1024);
  for (const body of [() => bytes, () => chunked(bytes)]) {
    await assert.rejects(
      () => blobs.put(body(), { maxBytes: 1024 * 1024 - 1 }),
      (e) => isRegistryError(e, "too_large"),
    );
  }
  assert.equal(await blobs.stat(sha256Hex(bytes)), null);
  assert.deepEqual((await blobs.list()).items, []);
  assert.deepEqual(await filesUnder(join(dir.path, "tmp")), []);
  assert.deepEqual(await filesUnder(join(dir.path, "blobs")), []);
  // Exactly at the limit is fine.
  assert.equal((await blobs.put(chunked(bytes), { maxBytes: 1024 * 1024 })).size, 1024 * 1024);
});

Deno.test("FsBundleStorage refuses bytes that miss expectedSha256 and stores nothing", async () => {
  await using dir = await tempDir();
  await using blobs = await FsBundleStorage.open({ root: dir.path });
  const bytes = noise(200_000);
  await assert.rejects(
    () => blobs.put(chunked(bytes), { expectedSha256: sha256Hex("other") }),
    (e) => isRegistryError(e, "digest_mismatch"),
  );
  assert.equal(await blobs.stat(sha256Hex(bytes)), null);
  assert.deepEqual(await filesUnder(join(dir.path, "tmp")), []);
  assert.deepEqual(await filesUnder(join(dir.path, "blobs")), []);
});

Deno.test("FsBundleStorage serves byte ranges exactly", async () => {
  await using dir = await tempDir();
  await using blobs = await FsBundleStorage.open({ root: dir.path });
  const bytes = noise(700_000, 7);
  const { sha256 } = await blobs.put(bytes);
  const ranges = [[0, 1], [0, 700_000], [1, 262_145], [262_144, 600_001], [699_999, 700_000]];
  for (const [start, end] of ranges) {
    const body = await blobs.get(sha256, { start: start!, end: end! });
    assert.equal(body?.size, 700_000);
    assert.deepEqual(await bytesOf(body!.stream), bytes.subarray(start, end), `${start}-${end}`);
  }
  await assert.rejects(() => blobs.get(sha256, { start: 5, end: 700_001 }), RangeError);
  await assert.rejects(() => blobs.get(sha256, { start: 5, end: 5 }), RangeError);
});

Deno.test("FsBundleStorage closes a file whose stream is cancelled part-way", async () => {
  await using dir = await tempDir();
  await using blobs = await FsBundleStorage.open({ root: dir.path });
  const { sha256 } = await blobs.put(noise(2 * 1024 * 1024));
  const reader = (await blobs.get(sha256))!.stream.getReader();
  await reader.read();
  await reader.cancel();
  // The test sanitizer fails this test if the file were left open.
});

Deno.test("FsBundleStorage lists blobs in digest order, paging both ways", async () => {
  await using dir = await tempDir();
  await using blobs = await FsBundleStorage.open({ root: dir.path });
  const digests: string[] = [];
  for (let i = 0; i < 40; i++) digests.push((await blobs.put(noise(100 + i, i + 1))).sha256);
  digests.sort();
  for (const reverse of [false, true]) {
    for (const limit of [1, 7, 40, 1000]) {
      const seen: BlobInfo[] = [];
      let cursor: string | undefined;
      do {
        const page = await blobs.list({ limit, reverse, ...(cursor ? { cursor } : {}) });
        assert.ok(page.items.length <= limit);
        seen.push(...page.items);
        cursor = page.cursor;
      } while (cursor);
      assert.deepEqual(seen.map((b) => b.sha256), reverse ? [...digests].reverse() : digests);
      assert.ok(seen.every((b) => b.size >= 100 && b.size < 140));
    }
  }
  await assert.rejects(
    () => blobs.list({ cursor: "bogus" }),
    (e) => isRegistryError(e, "invalid_input"),
  );
});

/**
 * Run `fn` while counting the filesystem reads of this process: every call
 * of `Deno.readDir`, `readTextFile`, `readFile` and `open`, and every
 * directory entry a `readDir` yields.
 */
async function countReads<T>(fn: () => Promise<T>): Promise<{ result: T; reads: number }> {
  const deno = Deno as unknown as Record<string, unknown>;
  const saved = {
    readDir: Deno.readDir,
    readTextFile: Deno.readTextFile,
    readFile: Deno.readFile,
    open: Deno.open,
  };
  let reads = 0;
  const counted = <A extends unknown[], R>(f: (...a: A) => R) => (...a: A): R => {
    reads++;
    return f(...a);
  };
  deno.readDir = (path: string | URL) => {
    reads++;
    const entries = saved.readDir(path);
    return (async function* () {
      for await (const e of entries) {
        reads++;
        yield e;
      }
    })();
  };
  deno.readTextFile = counted(saved.readTextFile);
  deno.readFile = counted(saved.readFile);
  deno.open = counted(saved.open);
  try {
    return { result: await fn(), reads };
  } finally {
    Object.assign(deno, saved);
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** A store with one level of `n` rows under `["audit"]`, ids time-ordered as audit ids are. */
async function levelOf(root: string, n: number): Promise<FsRegistryStorage> {
  const rows = await FsRegistryStorage.open({ root });
  for (let from = 0; from < n; from += 1000) {
    const mutations = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      mutations.push(set(["audit", `2026-01-01T00:00:${String(i).padStart(6, "0")}Z`], { i }));
    }
    assert.ok((await rows.commit({ checks: [], mutations })).ok);
  }
  return rows;
}

Deno.test("FsRegistryStorage reads as much for a page of 100 rows as of 5,000", async () => {
  const cost: Record<string, number>[] = [];
  for (const n of [100, 5000]) {
    await using dir = await tempDir();
    await using rows = await levelOf(dir.path, n);
    const middle = ["audit", `2026-01-01T00:00:${String(n / 2).padStart(6, "0")}Z`];
    const pages: Record<string, () => Promise<unknown>> = {
      first: () => rows.list(["audit"], { limit: 10 }),
      newest: () => rows.list(["audit"], { limit: 10, reverse: true }),
      deep: () => rows.list(["audit"], { limit: 10, after: middle }),
      deepBack: () => rows.list(["audit"], { limit: 10, after: middle, reverse: true }),
    };
    const reads: Record<string, number> = {};
    for (const [name, page] of Object.entries(pages)) {
      const { result, reads: r } = await countReads(page);
      assert.equal((result as { items: unknown[] }).items.length, 10);
      reads[name] = r;
    }
    cost.push(reads);
  }
  const [small, large] = cost as [Record<string, number>, Record<string, number>];
  for (const name of Object.keys(small)) {
    // The index root, a leaf (two where the page crosses one) and the ten rows.
    assert.ok(large[name]! <= small[name]! + 1, `${name}: ${large[name]} vs ${small[name]} reads`);
    assert.ok(large[name]! <= 14, `${name}: ${large[name]} reads for a page of 10`);
  }
});

Deno.test("FsRegistryStorage indexes a store written before levels had indexes, once, and says so", async () => {
  await using dir = await tempDir();
  const keys: RowKey[] = [];
  {
    await using rows = await FsRegistryStorage.open({ root: dir.path });
    for (const a of ["p", "q", "x".repeat(300)]) {
      for (const b of ["1.0.0", "", "é", "z"]) keys.push([a, b], [a, b, "c"]);
    }
    for (const key of keys) await put(rows, key, key.join("|"));
  }
  // What an earlier version left: the same row files, no index, no layout file.
  const strip = async (path: string): Promise<void> => {
    for await (const e of Deno.readDir(path)) {
      if (e.name === ".index") await Deno.remove(join(path, e.name), { recursive: true });
      else if (e.isDirectory) await strip(join(path, e.name));
    }
  };
  await strip(join(dir.path, "rows"));
  await Deno.remove(join(dir.path, "rows_layout.json"));
  const said: string[] = [];
  {
    // Leaves of two: every level of more than two parts gets an index.
    await using rows = await FsRegistryStorage.open({
      root: dir.path,
      indexLeafSize: 2,
      log: (m) => said.push(m),
    });
    assert.ok(await exists(join(dir.path, "rows", "p", ".index", "root.json")));
    assert.equal(said.length, 2, said.join("\n"));
    assert.match(said[0]!, /indexing the rows of an earlier version/);
    assert.match(said[1]!, new RegExp(`indexed ${keys.length} rows`));
    const memory = new MemoryRegistryStorage();
    for (const key of keys) await put(memory, key, key.join("|"));
    for (const reverse of [false, true]) {
      assert.deepEqual(
        await walk(rows, [], { limit: 3, reverse }),
        await walk(memory, [], { limit: 3, reverse }),
      );
    }
  }
  await (await FsRegistryStorage.open({ root: dir.path, log: (m) => said.push(m) })).close();
  assert.equal(said.length, 2, "indexed once");
});

Deno.test("FsRegistryStorage refuses a row layout from a newer program", async () => {
  await using dir = await tempDir();
  await (await FsRegistryStorage.open({ root: dir.path })).close();
  await Deno.writeTextFile(join(dir.path, "rows_layout.json"), JSON.stringify({ layout: 3 }));
  await assert.rejects(FsRegistryStorage.open({ root: dir.path }), /row layout is 3/);
});

Deno.test("FsRegistryStorage leaves no index behind once every row is deleted", async () => {
  await using dir = await tempDir();
  await using rows = await FsRegistryStorage.open({ root: dir.path, indexLeafSize: 2 });
  const keys: RowKey[] = [];
  for (let i = 0; i < 20; i++) keys.push(["a", `k${i}`], ["a", `k${i}`, "x".repeat(450)], ["b"]);
  for (const key of keys) await put(rows, key, 1);
  for (const key of keys) {
    await rows.commit({ checks: [], mutations: [{ type: "delete", key }] });
  }
  assert.deepEqual(await Array.fromAsync(Deno.readDir(join(dir.path, "rows"))), []);
  assert.deepEqual((await rows.list([])).items, []);
});
