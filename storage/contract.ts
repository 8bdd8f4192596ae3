/**
 * Contract suites for the two storage seams. Run them against any custom
 * backend to prove it behaves like the built-in ones:
 *
 * ```ts ignore
 * import { bundleStorageContract, registryStorageContract } from "@x/registry/testing";
 * registryStorageContract("my rows", () => new MyRegistryStorage());
 * bundleStorageContract("my blobs", () => new MyBundleStorage());
 * ```
 *
 * Each case gets a fresh backend from the factory and closes it afterwards.
 *
 * @module
 */
import assert from "node:assert/strict";
import { isRegistryError, RegistryError } from "../base/errors.ts";
import { sha256Hex } from "../base/digest.ts";
import type { ScopeRow, VersionRow, VersionState } from "../core/rows.ts";
import { nextPackageRow } from "../core/packages.ts";
import { claimScope, listAll, putVersionIfAbsent, updateRow } from "../core/store.ts";
import * as keys from "../storage/keys.ts";
import type { BundleStorage, JsonValue, Mutation, RegistryStorage, RowKey } from "./types.ts";
import { LIMITS } from "./types.ts";

/** What a factory returns: a backend, optionally with a cleanup for its files. */
export type Subject<T> = T | { storage: T; cleanup?: () => Promise<void> };

/** A factory of fresh backends. */
export type Factory<T> = () => Subject<T> | Promise<Subject<T>>;

/** Options for {@linkcode bundleStorageContract}. */
export interface BundleContractOptions {
  /** Corrupt a stored blob's bytes behind the backend's back (as disk rot would). */
  tamper?: (storage: BundleStorage, sha256: string) => Promise<void>;
  /** Size of the large-blob case in MiB (default 6). */
  largeBlobMiB?: number;
}

async function using<T extends { close(): Promise<void> }>(
  make: Factory<T>,
  fn: (storage: T) => Promise<void>,
): Promise<void> {
  const made = await make();
  const subject = typeof made === "object" && made !== null && "storage" in made
    ? made
    : { storage: made as T };
  try {
    await fn(subject.storage);
  } finally {
    await subject.storage.close();
    await subject.cleanup?.();
  }
}

function versionRow(name: string, version: string, publishedBy = "alice"): VersionRow {
  return {
    namespace: "@acme",
    name,
    version,
    format: "rack.registry",
    visibility: "public",
    files: {},
    facts: {},
    publishedAt: "2026-01-01T00:00:00.000Z",
    publishedBy,
  };
}

async function collect<T>(
  storage: RegistryStorage,
  prefix: RowKey,
  limit: number,
  reverse = false,
) {
  const seen: RowKey[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list<T>(prefix, {
      limit,
      reverse,
      ...(cursor === undefined ? {} : { cursor }),
    });
    assert.ok(page.items.length <= limit, "a page never exceeds its limit");
    seen.push(...page.items.map((e) => e.key));
    cursor = page.cursor;
  } while (cursor !== undefined);
  return seen;
}

/**
 * Register the row-storage contract as one `Deno.test` with a step per case.
 *
 * @example
 * ```ts ignore
 * import { registryStorageContract } from "@x/registry/testing";
 * import { MemoryRegistryStorage } from "@x/registry";
 * registryStorageContract("memory", () => new MemoryRegistryStorage());
 * ```
 */
export function registryStorageContract(name: string, make: Factory<RegistryStorage>): void {
  Deno.test(`registryStorageContract: ${name}`, async (t) => {
    const step = (title: string, fn: (s: RegistryStorage) => Promise<void>) =>
      t.step(title, () => using(make, fn));

    await step("a row round-trips and a miss reads as null", async (s) => {
      assert.equal(await s.get(["nothing", "here"]), null);
      const value = { a: 1, b: [true, null, "x"], c: { d: "é✓" } };
      const r = await s.commit({
        checks: [],
        mutations: [{ type: "set", key: ["k", "1"], value }],
      });
      assert.ok(r.ok);
      const got = await s.get(["k", "1"]);
      assert.deepEqual(got?.value, value);
      assert.deepEqual(got?.key, ["k", "1"]);
      assert.equal(got?.stamp, r.ok ? r.stamp : undefined);
      const many = await s.getMany([["k", "1"], ["k", "2"]]);
      assert.deepEqual(many.map((e) => e?.value ?? null), [value, null]);
    });

    await step(
      "a create over an existing row answers not-ok and leaves it untouched",
      async (s) => {
        const key = ["v", "x"];
        assert.ok(
          (await s.commit({
            checks: [{ key, stamp: null }],
            mutations: [{ type: "set", key, value: "first" }],
          })).ok,
        );
        const again = await s.commit({
          checks: [{ key, stamp: null }],
          mutations: [{ type: "set", key, value: "second" }, {
            type: "set",
            key: ["side"],
            value: 1,
          }],
        });
        assert.deepEqual(again, { ok: false });
        assert.equal((await s.get(key))?.value, "first");
        assert.equal(await s.get(["side"]), null, "no mutation of a failed commit lands");
      },
    );

    await step("a stale stamp fails and the current stamp succeeds", async (s) => {
      const key = ["cas"];
      await s.commit({ checks: [], mutations: [{ type: "set", key, value: 1 }] });
      const first = (await s.get(key))!;
      await s.commit({ checks: [], mutations: [{ type: "set", key, value: 2 }] });
      assert.deepEqual(
        await s.commit({
          checks: [{ key, stamp: first.stamp }],
          mutations: [{ type: "set", key, value: 3 }],
        }),
        { ok: false },
      );
      const second = (await s.get(key))!;
      assert.notEqual(second.stamp, first.stamp);
      assert.ok(
        (await s.commit({
          checks: [{ key, stamp: second.stamp }],
          mutations: [{ type: "delete", key }],
        })).ok,
      );
      assert.equal(await s.get(key), null);
    });

    await step("fifty concurrent creates of one key have exactly one winner", async (s) => {
      const key = ["race", "one"];
      const results = await Promise.all(
        Array.from(
          { length: 50 },
          (_, i) =>
            s.commit({
              checks: [{ key, stamp: null }],
              mutations: [{ type: "set", key, value: i }],
            }),
        ),
      );
      const winners = results.filter((r) => r.ok);
      assert.equal(winners.length, 1);
      const stored = await s.get<number>(key);
      assert.equal(typeof stored?.value, "number");
    });

    await step("a cursor walk visits every row once in order, both ways", async (s) => {
      const expected: RowKey[] = [];
      for (let i = 0; i < 230; i += 23) {
        const mutations = Array.from({ length: 23 }, (_, j) => {
          const key = ["walk", `r${String(i + j).padStart(4, "0")}`];
          expected.push(key);
          return { type: "set" as const, key, value: i + j };
        });
        assert.ok((await s.commit({ checks: [], mutations })).ok);
      }
      await s.commit({
        checks: [],
        mutations: [{ type: "set", key: ["walkx", "r0000"], value: 0 }],
      });
      assert.deepEqual(await collect(s, ["walk"], 7), expected);
      assert.deepEqual(await collect(s, ["walk"], 1000), expected);
      assert.deepEqual(await collect(s, ["walk"], 9, true), [...expected].reverse());
      const last = await s.list(["walk"], { limit: 230 });
      assert.equal(last.items.length, 230);
      assert.equal(last.cursor, undefined, "no cursor when nothing more follows");
    });

    await step("a listing seeks after any key, present or not, both ways", async (s) => {
      const mutations = ["a", "c", "e", "g"].map((p) => ({
        type: "set" as const,
        key: ["seek", "x", p],
        value: p,
      }));
      await s.commit({ checks: [], mutations });
      const parts = async (after: RowKey, reverse = false, limit = 10) =>
        (await s.list<string>(["seek", "x"], { after, reverse, limit })).items.map((e) => e.value);
      assert.deepEqual(await parts(["seek", "x", "c"]), ["e", "g"]);
      assert.deepEqual(await parts(["seek", "x", "d"]), ["e", "g"]);
      assert.deepEqual(await parts(["seek", "x", "d"], true), ["c", "a"]);
      assert.deepEqual(await parts(["seek", "x", "g"]), []);
      assert.deepEqual(await parts(["seek", "w"]), ["a", "c", "e", "g"]);
      const page = await s.list(["seek", "x"], { after: ["seek", "x", "a"], limit: 1 });
      assert.deepEqual(page.items.map((e) => e.value), ["c"]);
      const next = await s.list<string>(["seek", "x"], { cursor: page.cursor!, limit: 5 });
      assert.deepEqual(next.items.map((e) => e.value), ["e", "g"]);
    });

    await step("a prefix matches whole parts only", async (s) => {
      const rows: RowKey[] = [
        ["p", "ab"],
        ["p", "abc"],
        ["p", "ab", "x"],
        ["pkg", "@acme", "map"],
        ["pkg", "@acme-corp", "map"],
      ];
      await s.commit({
        checks: [],
        mutations: rows.map((key) => ({ type: "set", key, value: key.join("|") })),
      });
      assert.deepEqual((await s.list(["p", "ab"])).items.map((e) => e.key), [["p", "ab", "x"]]);
      assert.deepEqual((await s.list(["pkg", "@acme"])).items.map((e) => e.key), [[
        "pkg",
        "@acme",
        "map",
      ]]);
      assert.deepEqual((await s.list(["p"])).items.map((e) => e.key), [["p", "ab"], [
        "p",
        "ab",
        "x",
      ], ["p", "abc"]]);
    });

    await step("keys order by UTF-8 bytes and awkward parts round-trip", async (s) => {
      const parts = ["..", ".", "a/b", "%2F", "é", "Z", "a", "", " ", "\u{1F600}", "\uFFFD"];
      await s.commit({
        checks: [],
        mutations: parts.map((p) => ({ type: "set", key: ["odd", p], value: p })),
      });
      const listed = (await s.list<string>(["odd"], { limit: 100 })).items.map((e) => e.value);
      const bytes = (x: string) => Array.from(new TextEncoder().encode(x));
      const sorted = [...parts].sort((a, b) => {
        const x = bytes(a), y = bytes(b);
        for (let i = 0; i < Math.min(x.length, y.length); i++) {
          if (x[i] !== y[i]) return x[i]! - y[i]!;
        }
        return x.length - y.length;
      });
      assert.deepEqual(listed, sorted);
      for (const p of parts) assert.equal((await s.get(["odd", p]))?.value, p);
    });

    await step("the limits are enforced before anything is written", async (s) => {
      const checks = Array.from(
        { length: LIMITS.checksPerCommit + 1 },
        (_, i) => ({ key: ["c", String(i)], stamp: null }),
      );
      await assert.rejects(
        s.commit({ checks, mutations: [{ type: "set", key: ["lim"], value: 1 }] }),
        RangeError,
      );
      await assert.rejects(
        s.commit({
          checks: [],
          mutations: [{ type: "set", key: ["lim"], value: "x".repeat(LIMITS.valueBytes + 1) }],
        }),
        RangeError,
      );
      assert.equal(await s.get(["lim"]), null);
    });

    await step(
      "putVersionIfAbsent answers exists for a duplicate and keeps the original",
      async (s) => {
        const ref = { namespace: "@acme", name: "quality/husky" };
        const updatePackage = (
          cur: Parameters<typeof nextPackageRow>[0],
          st: Parameters<typeof nextPackageRow>[1],
        ) => nextPackageRow(cur, st, { ref });
        const first = await putVersionIfAbsent(s, {
          row: versionRow(ref.name, "1.0.0", "alice"),
          updatePackage,
        });
        assert.equal(first.result, "created");
        const dup = await putVersionIfAbsent(s, {
          row: versionRow(ref.name, "1.0.0", "mallory"),
          updatePackage,
        });
        assert.equal(dup.result, "exists");
        const row = await s.get<VersionRow>(keys.versionKey({ ...ref, version: "1.0.0" }));
        assert.equal(row?.value.publishedBy, "alice");
        const pkg = await s.get<{ versionCount: number }>(keys.packageKey(ref));
        assert.equal(pkg?.value.versionCount, 1);
      },
    );

    await step("fifty concurrent publishes of one version have exactly one winner", async (s) => {
      const ref = { namespace: "@acme", name: "race" };
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
        putVersionIfAbsent(s, {
          row: versionRow(ref.name, "1.0.0", `p${i}`),
          updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }),
        })));
      assert.equal(results.filter((r) => r.result === "created").length, 1);
      assert.equal(results.filter((r) => r.result === "exists").length, 49);
    });

    await step(
      "concurrent publishes of different versions all land in the package row",
      async (s) => {
        const ref = { namespace: "@acme", name: "many" };
        await Promise.all(Array.from({ length: 20 }, (_, i) =>
          putVersionIfAbsent(s, {
            row: versionRow(ref.name, `1.${i}.0`),
            updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }),
          })));
        const pkg = await s.get<{ versionCount: number; latest: string }>(keys.packageKey(ref));
        assert.equal(pkg?.value.versionCount, 20);
        assert.equal(pkg?.value.latest, "1.19.0");
      },
    );

    await step(
      "putVersionIfAbsent refuses a version of an existing one's precedence, naming it",
      async (s) => {
        const ref = { namespace: "@acme", name: "semv" };
        const put = (version: string) =>
          putVersionIfAbsent(s, {
            row: versionRow(ref.name, version),
            updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }),
          });
        assert.equal((await put("1.0.0+a")).result, "created");
        for (const version of ["1.0.0", "1.0.0+b", "1.0.0+build.1", "1.0.0+a"]) {
          assert.deepEqual(await put(version), { result: "exists", existing: "1.0.0+a" });
        }
        // Another precedence is another version: a prerelease, a patch.
        assert.equal((await put("1.0.0-rc.1+a")).result, "created");
        assert.equal((await put("1.0.1")).result, "created");
        const pkg = await s.get<{ versionCount: number }>(keys.packageKey(ref));
        assert.equal(pkg?.value.versionCount, 3);
      },
    );

    await step(
      "concurrent publishes differing only in build metadata have exactly one winner",
      async (s) => {
        const ref = { namespace: "@acme", name: "builds" };
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            putVersionIfAbsent(s, {
              row: versionRow(ref.name, `1.0.0+b${i}`, `p${i}`),
              updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }),
            })),
        );
        const won = results.flatMap((r, i) => r.result === "created" ? [`1.0.0+b${i}`] : []);
        assert.equal(won.length, 1);
        for (const r of results) {
          if (r.result === "exists") assert.equal(r.existing, won[0]);
        }
        const versions = await collect(s, keys.versionsPrefix(ref), 100);
        assert.deepEqual(versions, [keys.versionKey({ ...ref, version: won[0]! })]);
      },
    );

    await step(
      "a package stored before precedence pointers keeps its duplicates and takes no new one",
      async (s) => {
        // What older stores hold: version, lifecycle and package rows, no pointers.
        const ref = { namespace: "@acme", name: "legacy" };
        const state = (version: string): VersionState => ({
          version,
          format: "rack.registry",
          visibility: "public",
          publishedAt: "t",
          publishedBy: "alice",
          yanked: false,
        });
        const mutations: Mutation[] = ["1.0.0+b", "1.0.0+a", "1.1.0"].flatMap((version) => {
          const row = versionRow(ref.name, version);
          return [
            { type: "set", key: keys.versionKey(row), value: row as unknown as JsonValue },
            {
              type: "set",
              key: keys.versionStateKey(row),
              value: state(version) as unknown as JsonValue,
            },
          ];
        });
        const pkg = { ...nextPackageRow(null, state("1.1.0"), { ref }), versionCount: 3 };
        mutations.push(
          { type: "set", key: keys.packageKey(ref), value: pkg as unknown as JsonValue },
          {
            type: "set",
            key: keys.tombstoneKey({ ...ref, version: "2.0.0+x" }),
            value: { deletedAt: "t", deletedBy: "admin" },
          },
        );
        await s.commit({ checks: [], mutations });
        const put = (version: string) =>
          putVersionIfAbsent(s, {
            row: versionRow(ref.name, version),
            updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }),
          });
        const results = await Promise.all(["1.0.0", "1.0.0+c", "2.0.0", "1.1.0+z"].map(put));
        assert.deepEqual(results.map((r) => r.result === "exists" && r.existing), [
          "1.0.0+a",
          "1.0.0+a",
          "2.0.0+x",
          "1.1.0",
        ]);
        assert.equal((await put("3.0.0")).result, "created");
        for (const version of ["1.0.0+a", "1.0.0+b", "1.1.0", "3.0.0"]) {
          assert.ok(await s.get(keys.versionKey({ ...ref, version })), version);
        }
        assert.ok(await s.get(keys.precedenceIndexedKey(ref)));
      },
    );

    await step("concurrent scope claims end with exactly one owner", async (s) => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          claimScope(
            s,
            {
              scope: "@claimed",
              ownerSubject: `s${i}`,
              claimedAt: "t",
              verification: "unverified",
            } satisfies ScopeRow,
          )),
      );
      assert.equal(results.filter((r) => r.claimed).length, 1);
      const owners = new Set(results.map((r) => r.owner.ownerSubject));
      assert.equal(owners.size, 1);
    });

    await step("compare-and-set updates under contention lose nothing", async (s) => {
      await Promise.all(
        Array.from({ length: 20 }, () => updateRow<number>(s, ["counter"], (n) => (n ?? 0) + 1)),
      );
      assert.equal((await s.get(["counter"]))?.value, 20);
    });

    await step("one subject's rows never list under another's prefix", async (s) => {
      await s.commit({
        checks: [],
        mutations: [
          { type: "set", key: keys.authorKeyKey("team", "k1"), value: "team" },
          { type: "set", key: keys.authorKeyKey("team/alice", "k2"), value: "team/alice" },
          { type: "set", key: keys.authorKeyKey("team-b", "k3"), value: "team-b" },
        ],
      });
      const listed = [];
      for await (const e of listAll<string>(s, keys.authorKeysOf("team"))) listed.push(e.value);
      assert.deepEqual(listed, ["team"]);
    });

    await step("a malformed cursor is a clear invalid_input error", async (s) => {
      await assert.rejects(
        s.list(["x"], { cursor: "!!not-a-cursor!!" }),
        (e) => isRegistryError(e, "invalid_input"),
      );
    });
  });
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

function streamOf(bytes: Uint8Array, chunk = 100_000): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.slice(offset, offset + chunk));
      offset += chunk;
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Register the bundle-storage contract as one `Deno.test` with a step per case.
 *
 * @example
 * ```ts ignore
 * import { bundleStorageContract } from "@x/registry/testing";
 * import { MemoryBundleStorage } from "@x/registry";
 * bundleStorageContract("memory", () => new MemoryBundleStorage());
 * ```
 */
export function bundleStorageContract(
  name: string,
  make: Factory<BundleStorage>,
  options: BundleContractOptions = {},
): void {
  Deno.test(`bundleStorageContract: ${name}`, async (t) => {
    const step = (title: string, fn: (s: BundleStorage) => Promise<void>, ignore = false) =>
      t.step({ name: title, ignore, fn: () => using(make, fn) });

    await step("a blob round-trips with its sha256 and size", async (s) => {
      const bytes = new TextEncoder().encode("export default 1;\n");
      const info = await s.put(bytes);
      assert.equal(info.sha256, sha256Hex(bytes));
      assert.equal(info.size, bytes.byteLength);
      const body = await s.get(info.sha256);
      assert.ok(body);
      assert.equal(body.size, bytes.byteLength);
      assert.deepEqual(await readAll(body.stream), bytes);
      assert.equal((await s.stat(info.sha256))?.size, bytes.byteLength);
    });

    await step("a miss and a malformed digest read as null", async (s) => {
      assert.equal(await s.get("0".repeat(64)), null);
      assert.equal(await s.stat("0".repeat(64)), null);
      assert.equal(await s.get("../../etc/passwd"), null);
    });

    await step("an empty blob round-trips", async (s) => {
      const info = await s.put(new Uint8Array(0));
      assert.equal(info.size, 0);
      assert.equal((await readAll((await s.get(info.sha256))!.stream)).byteLength, 0);
    });

    await step("putting the same bytes twice stores one blob", async (s) => {
      const bytes = bytesOf(1000);
      const a = await s.put(bytes);
      const b = await s.put(streamOf(bytes, 333));
      assert.equal(a.sha256, b.sha256);
      assert.equal((await s.list()).items.length, 1);
      // `created` is optional (unknown: a failed publish leaves its blobs to
      // GC), but a backend that tells must tell right.
      if (a.created !== undefined || b.created !== undefined) {
        assert.deepEqual([a.created, b.created], [true, false]);
      }
    });

    const mib = options.largeBlobMiB ?? 6;
    await step(`a ${mib} MiB streamed blob round-trips byte-exact`, async (s) => {
      const bytes = bytesOf(mib * 1024 * 1024 + 17, 7);
      const info = await s.put(streamOf(bytes, 65_000));
      assert.equal(info.sha256, sha256Hex(bytes));
      const out = await readAll((await s.get(info.sha256))!.stream);
      assert.equal(out.byteLength, bytes.byteLength);
      assert.equal(sha256Hex(out), info.sha256);
    });

    await step("a range reads exactly its bytes", async (s) => {
      const bytes = bytesOf(200_000, 3);
      const info = await s.put(bytes);
      for (
        const [start, end] of [[0, 1], [65_535, 65_537], [199_990, 200_000], [0, 200_000]] as const
      ) {
        const body = await s.get(info.sha256, { start, end });
        assert.deepEqual(
          await readAll(body!.stream),
          bytes.slice(start, end),
          `range ${start}-${end}`,
        );
        assert.equal(body!.size, bytes.byteLength);
      }
    });

    await step(
      "a blob over maxBytes is refused with too_large and nothing is stored",
      async (s) => {
        await assert.rejects(
          s.put(streamOf(bytesOf(300_000)), { maxBytes: 100_000 }),
          (e) => isRegistryError(e, "too_large"),
        );
        assert.equal((await s.list()).items.length, 0);
      },
    );

    await step("a wrong expected digest is refused and nothing is stored", async (s) => {
      const bytes = bytesOf(5000);
      await assert.rejects(
        s.put(bytes, { expectedSha256: "f".repeat(64) }),
        (e) => isRegistryError(e, "digest_mismatch"),
      );
      assert.equal(await s.stat(sha256Hex(bytes)), null);
      assert.equal((await s.list()).items.length, 0);
    });

    await step("a tampered blob fails its digest check instead of being served", async (s) => {
      const bytes = bytesOf(150_000, 11);
      const info = await s.put(bytes);
      await options.tamper!(s, info.sha256);
      const body = await s.get(info.sha256);
      if (body === null) return; // refusing to open a corrupt blob is also correct
      await assert.rejects(
        readAll(body.stream),
        (e) => e instanceof RegistryError && e.code === "blob_corrupt",
      );
    }, options.tamper === undefined);

    await step("list walks every blob once in digest order and delete removes one", async (s) => {
      const digests: string[] = [];
      for (let i = 0; i < 12; i++) digests.push((await s.put(bytesOf(100 + i, i))).sha256);
      digests.sort();
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await s.list({ limit: 5, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...page.items.map((b) => b.sha256));
        cursor = page.cursor;
      } while (cursor !== undefined);
      assert.deepEqual(seen, digests);
      assert.equal(await s.delete(digests[0]!), true);
      assert.equal(await s.delete(digests[0]!), false);
      assert.equal(await s.get(digests[0]!), null);
    });
  });
}
