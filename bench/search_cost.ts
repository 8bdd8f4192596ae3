// Search cost at 1,000, 10,000 and 100,000 versions: server CPU per request.
//
//   deno run -A bench/search_cost.ts [--sizes=1000,10000,100000] [--runs=3000]
//                                    [--storage=kv|memory] [--keep=DIR] [--only=WORD,…]
//
// Each size gets a fresh store (a KV file in the temp dir by default), seeded
// through the storage seam with the rows publishes write (tests/_search_fixtures.ts:
// the same package-row reducer and index diff, folded into batched commits):
// 5 versions per package, 60% ggui gadgets, 20% Rack, 20% JSR, one package in
// ten private. Then every case runs `--runs` times through the whole app
// (`createRegistryApp`, in process: routing, the read cache, JSON) and
// reports the process's CPU time per request (all threads: KV's and V8's
// included) at p50/p90/p99, with the rows the query read. A timed request
// reads its answer as bytes (the server's work), not parsed (the client's).
// 3,000 requests a case by default: with fewer, one GC pause or a neighbour's
// burst decides the p99 (at 300 it is the third-worst request). `--only` runs
// the cases whose name contains one of the words (`--only=common,budget`). The old search (a scan of every
// package row) is measured beside it on the same store as the reference.
// `--keep=DIR` keeps each size's seeded KV file in DIR and reuses it on the next
// run (seeding 100,000 versions takes minutes); a file of another index layout
// is seeded again.
import { parseArgs } from "node:util";
import process from "node:process";
import type { PackageRow } from "../core/rows.ts";
import { SEARCH_SCAN_BUDGET, searchPackages } from "../core/search.ts";
import { SEARCH_INDEX_VERSION } from "../core/search_index.ts";
import { KvRegistryStorage } from "../storage/kv.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import * as keys from "../storage/keys.ts";
import type { Mutation, RegistryStorage } from "../storage/types.ts";
import { createRegistryApp } from "../routes/app.ts";
import {
  CountingStorage,
  packageMutations,
  publishSeed,
  type SeedVersion,
} from "../tests/_search_fixtures.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "1000,10000,100000" },
    runs: { type: "string", default: "3000" },
    storage: { type: "string", default: "kv" },
    keep: { type: "string" },
    only: { type: "string" },
  },
});
const sizes = values.sizes.split(",").map(Number);
const runs = Number(values.runs);
const only = values.only?.split(",").filter((w) => w !== "");

const VOCABULARY = Array.from({ length: 300 }, (_, i) => `term${i.toString(36)}x`);
const FORMATS = ["ggui.gadget", "ggui.gadget", "ggui.gadget", "rack.registry", "jsr"] as const;
const VERSIONS_PER_PACKAGE = 5;

/** Package `i` of a store of `packages`: its versions as publishes would write them. */
function packageOf(i: number): SeedVersion[] {
  const format = FORMATS[i % FORMATS.length]!;
  const name = format === "rack.registry" ? `blocks/item-${i}` : `item-${i}`;
  // "common" in every other description; "needle" in exactly three packages per store.
  const words = [0, 1, 2, 3, 4, 5].map((k) => VOCABULARY[(i * 7 + k * 31) % VOCABULARY.length]);
  if (i % 2 === 0) words.push("common");
  if (i === 10 || i === 20 || i === 30) words.push("needle"); // public ggui gadgets
  return Array.from({ length: VERSIONS_PER_PACKAGE }, (_, v) => ({
    namespace: `@team${i % 50}`,
    name,
    version: `1.${v}.0`,
    format,
    visibility: i % 10 === 9 ? "private" as const : "public" as const,
    description: `Item ${i}: ${words.join(" ")}`,
    tags: format === "ggui.gadget" ? [`t${i % 20}`, "ui"] : undefined,
    publishedAt: new Date(Date.parse("2026-01-01T00:00:00.000Z") + (i * 5 + v) * 1000)
      .toISOString(),
  }));
}

async function seed(storage: RegistryStorage, packages: number): Promise<void> {
  let batch: Mutation[] = [];
  let bytes = 0;
  for (let i = 0; i < packages; i++) {
    const m = packageMutations(packageOf(i));
    const size = JSON.stringify(m).length;
    if (batch.length + m.length > 1000 || bytes + size > 600_000) {
      if (!(await storage.commit({ checks: [], mutations: batch })).ok) throw new Error("seed");
      batch = [];
      bytes = 0;
    }
    batch.push(...m);
    bytes += size;
  }
  if (batch.length) await storage.commit({ checks: [], mutations: batch });
  // Each namespace's owner row, as the first ggui publish claims it.
  await storage.commit({
    checks: [],
    mutations: Array.from({ length: 50 }, (_, t) => ({
      type: "set" as const,
      key: keys.scopeKey(`@team${t}`),
      value: {
        scope: `@team${t}`,
        ownerSubject: "alice",
        claimedAt: "2026-01-01T00:00:00.000Z",
        verification: "unverified",
      },
    })),
  });
}

/** The search this issue replaced: every package row, filtered in memory. */
async function oldScan(storage: RegistryStorage, q: string): Promise<number> {
  let hits = 0;
  let cursor: string | undefined;
  do {
    const page = await storage.list<PackageRow>(keys.packagesPrefix(), {
      limit: 500,
      ...(cursor ? { cursor } : {}),
    });
    for (const e of page.items) {
      const s = e.value.publicSummary;
      if (!e.value.format.startsWith("ggui.") || !s) continue;
      if (String(s.description ?? "").toLowerCase().includes(q)) hits++;
    }
    cursor = page.cursor;
  } while (cursor);
  return hits;
}

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function measure(n: number, fn: () => Promise<unknown>) {
  for (let i = 0; i < Math.min(10, n); i++) await fn(); // warm
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = cpuMicros();
    const t0 = performance.now();
    await fn();
    wall.push(performance.now() - t0);
    cpu.push((cpuMicros() - c0) / 1000);
  }
  cpu.sort((a, b) => a - b);
  wall.sort((a, b) => a - b);
  return {
    cpuP50: percentile(cpu, 0.5),
    cpuP90: percentile(cpu, 0.9),
    cpuP99: percentile(cpu, 0.99),
    wallP50: percentile(wall, 0.5),
  };
}

/** Marks a kept store as completely seeded. */
const SEEDED = ["bench_seeded"];

const fmt = (ms: number) => ms.toFixed(2).padStart(7);

for (const versions of sizes) {
  const packages = versions / VERSIONS_PER_PACKAGE;
  const dir = values.keep ?? await Deno.makeTempDir({ prefix: "search_cost_" });
  const file = `${dir}/rows_${versions}_v${SEARCH_INDEX_VERSION}.kv`;
  const inner: RegistryStorage = values.storage === "memory"
    ? new MemoryRegistryStorage()
    : new KvRegistryStorage(await Deno.openKv(file));
  const t0 = performance.now();
  const seeded = values.keep !== undefined && (await inner.get(SEEDED)) !== null;
  if (!seeded) {
    await seed(inner, packages);
    await inner.commit({ checks: [], mutations: [{ type: "set", key: SEEDED, value: true }] });
  }
  const seedMs = performance.now() - t0;
  const storage = new CountingStorage(inner);
  const app = createRegistryApp({
    storage,
    bundles: new MemoryBundleStorage(),
    bundleHost: "http://127.0.0.1:1",
    registryHostname: "127.0.0.1:1",
    rateLimitPerMinute: 1e9,
    // Measures search itself: no per-address budget refuses the runs.
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
  });
  const fetchOk = async (path: string) => {
    const res = await app.request(`http://127.0.0.1${path}`);
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  const get = async (path: string) => await (await fetchOk(path)).json();
  // What a timed request costs the server: the answer's bytes, not the client's parse.
  const hit = async (path: string) => (await (await fetchOk(path)).arrayBuffer()).byteLength;
  // A cursor 20 pages (1,000 results) deep.
  let deep: string | undefined;
  for (let p = 0; p < 20; p++) {
    const next = (await get(`/search?limit=50${deep ? `&cursor=${deep}` : ""}`)).nextCursor;
    if (next === undefined) break; // a small store: the deepest page there is
    deep = next;
  }
  const all: [string, () => Promise<unknown>][] = [
    ["ggui /search?q=needle (3 matches)", () => hit("/search?q=needle")],
    ["ggui /search?q=common (many, page of 50)", () => hit("/search?q=common")],
    ["ggui /search?limit=50&cursor=(deepest ≤ 21)", () => hit(`/search?limit=50&cursor=${deep}`)],
    ["ggui /search?sort=recent&tag=ui", () => hit("/search?sort=recent&tag=ui")],
    ["ggui /search?author=nobody (budget-bound)", () => hit("/search?author=nobody")],
    ["searchPackages q=common, every format", () => searchPackages(storage, { q: "common" })],
    [
      "searchPackages q=@team7 sort=recent",
      () => searchPackages(storage, { q: "@team7", sort: "recent" }),
    ],
    // Words have no recency lists: a long word list is probed (50 rows), then a recency walk.
    [
      "searchPackages q=common sort=recent",
      () => searchPackages(storage, { q: "common", sort: "recent" }),
    ],
  ];
  const wanted = (word: string) => only === undefined || only.some((w) => word.includes(w));
  const cases = all.filter(([name]) => wanted(name));
  console.log(
    `\n${versions} versions (${packages} packages, ${values.storage}); seeded in ${
      (seedMs / 1000).toFixed(1)
    } s; scan budget ${SEARCH_SCAN_BUDGET} rows`,
  );
  console.log(
    "case                                         cpu p50  cpu p90  cpu p99 wall p50  rows",
  );
  for (const [name, fn] of cases) {
    storage.reads = 0;
    await fn();
    const rows = storage.reads;
    const m = await measure(runs, fn);
    console.log(
      `${name.padEnd(44)} ${fmt(m.cpuP50)} ${fmt(m.cpuP90)} ${fmt(m.cpuP99)} ${fmt(m.wallP50)} ${
        String(rows).padStart(5)
      }`,
    );
  }
  if (wanted("old search")) await measureOldScan(inner, versions, packages);
  if (wanted("publish")) await measurePublish(inner, packages);
  await inner.close();
  if (values.keep === undefined) await Deno.remove(dir, { recursive: true });
}

async function measureOldScan(inner: RegistryStorage, versions: number, packages: number) {
  const old = await measure(
    Math.max(5, Math.min(runs, Math.round(200_000 / versions))),
    () => oldScan(inner, "needle"),
  );
  console.log(
    `${"old search: scan every package row".padEnd(44)} ${fmt(old.cpuP50)} ${fmt(old.cpuP90)} ${
      fmt(old.cpuP99)
    } ${fmt(old.wallP50)} ${String(packages).padStart(5)}`,
  );
}

async function measurePublish(inner: RegistryStorage, packages: number) {
  // What the index adds to a publish: a new package of a typical ggui entry, then a
  // new latest version of it (a doc swap), through the shared commit.
  const publishes: number[] = [];
  const run = Date.now().toString(36); // a kept store already holds earlier runs' packages
  for (let i = 0; i < 40; i++) {
    const v = packageOf(packages + i)[0]!;
    const t = performance.now();
    await publishSeed(inner, { ...v, name: `fresh-${run}-${i}`, version: "1.0.0" });
    await publishSeed(inner, {
      ...v,
      name: `fresh-${run}-${i}`,
      version: "2.0.0",
      description: "New",
    });
    publishes.push((performance.now() - t) / 2);
  }
  publishes.sort((a, b) => a - b);
  console.log(
    `${"publish (index diff in the commit), wall".padEnd(44)} ${fmt(percentile(publishes, 0.5))}`,
  );
}
