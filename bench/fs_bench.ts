// Benchmarks of the filesystem backends: `deno bench -A bench/fs_bench.ts`.
// Everything lives in one temp directory, removed when the process unloads.
import { nextPackageRow } from "../core/packages.ts";
import type { VersionRow } from "../core/rows.ts";
import { getVersionRow, listVersionStates, putVersionIfAbsent } from "../core/store.ts";
import { FsBundleStorage, FsRegistryStorage } from "../storage/fs.ts";
import * as keys from "../storage/keys.ts";

const root = await Deno.makeTempDir({ prefix: "registry_fs_bench_" });
const syncRoot = await Deno.makeTempDir({ prefix: "registry_fs_bench_sync_" });
globalThis.addEventListener("unload", () => {
  Deno.removeSync(root, { recursive: true });
  Deno.removeSync(syncRoot, { recursive: true });
});

const rows = await FsRegistryStorage.open({ root });
const syncRows = await FsRegistryStorage.open({ root: syncRoot, sync: true });
const blobs = await FsBundleStorage.open({ root });

function versionRow(name: string, version: string): VersionRow {
  return {
    namespace: "@bench",
    name,
    version,
    format: "rack.registry",
    visibility: "public",
    files: { "index.js": { sha256: "0".repeat(64), size: 10, type: "text/javascript" } },
    facts: {},
    publishedAt: new Date().toISOString(),
    publishedBy: "bench",
  };
}

async function publish(storage: FsRegistryStorage, name: string, version: string) {
  const ref = { namespace: "@bench", name };
  const r = await putVersionIfAbsent(storage, {
    row: versionRow(name, version),
    updatePackage: (current, state) => nextPackageRow(current, state, { ref }),
  });
  if (r.result !== "created") throw new Error(`Could not publish '${name}@${version}'`);
}

// A package with 1,000 versions to list and read.
const LISTED = { namespace: "@bench", name: "many" };
for (let i = 0; i < 1000; i++) {
  await publish(rows, LISTED.name, `1.${Math.floor(i / 100)}.${i % 100}`);
}

// A 10 MiB blob to read, and its file for the raw comparison.
const TEN_MIB = 10 * 1024 * 1024;
const tenMiB = new Uint8Array(TEN_MIB);
for (let i = 0; i < TEN_MIB; i += 65536) crypto.getRandomValues(tenMiB.subarray(i, i + 65536));
const stored = await blobs.put(tenMiB);
const storedPath = `${blobs.blobsDir}/${stored.sha256.slice(0, 2)}/${stored.sha256}`;

async function drain(stream: ReadableStream<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.byteLength;
  if (n !== TEN_MIB) throw new Error(`Read ${n} bytes, not ${TEN_MIB}`);
  return n;
}

Deno.bench("get a version row", { group: "rows" }, async () => {
  await getVersionRow(rows, { ...LISTED, version: "1.5.50" });
});

let next = 0;
Deno.bench("putVersionIfAbsent, sequential", { group: "rows" }, async () => {
  await publish(rows, "seq", `2.0.${next++}`);
});

let nextSync = 0;
Deno.bench("putVersionIfAbsent, sequential, sync: true", { group: "rows" }, async () => {
  await publish(syncRows, "seq", `2.0.${nextSync++}`);
});

Deno.bench("list 1,000 versions (listVersionStates)", { group: "rows" }, async () => {
  const states = await listVersionStates(rows, LISTED);
  if (states.length !== 1000) throw new Error(`Listed ${states.length} versions`);
});

Deno.bench("scan a page of 100 rows", { group: "rows" }, async () => {
  const page = await rows.list(keys.versionStatesPrefix(LISTED), { limit: 100 });
  if (page.items.length !== 100) throw new Error("Short page");
});

let variant = 0;
Deno.bench("write a 10 MiB blob", { group: "blob write", n: 30, warmup: 3 }, async (b) => {
  // Fresh bytes every time, so each put really writes; deleting is not timed.
  new DataView(tenMiB.buffer).setUint32(0, ++variant);
  b.start();
  const info = await blobs.put(tenMiB);
  b.end();
  await blobs.delete(info.sha256);
});

Deno.bench(
  "read a 10 MiB file (raw Deno.open stream)",
  { group: "blob read", baseline: true, n: 100, warmup: 10 },
  async () => {
    using file = await Deno.open(storedPath);
    await drain(file.readable);
  },
);

Deno.bench(
  "read a 10 MiB blob (FsBundleStorage.get, verified before)",
  { group: "blob read", n: 100, warmup: 10 },
  async () => {
    await drain((await blobs.get(stored.sha256))!.stream);
  },
);

Deno.bench(
  "read a 10 MiB blob (FsBundleStorage.get, first read: hashes)",
  { group: "blob read", n: 30, warmup: 3 },
  async (b) => {
    // A new mtime makes the file unverified again; touching is not timed.
    const t = new Date(Date.now() - 1000 * ++variant);
    await Deno.utime(storedPath, t, t);
    b.start();
    await drain((await blobs.get(stored.sha256))!.stream);
    b.end();
  },
);

// Page cost against the size of one directory level: levels of 1k, 10k (and,
// with FS_BENCH_LEVELS=1000,10000,100000, 100k) rows under ["page", n], keys
// shaped like audit ids (time-ordered), values like a small audit record.
// Seeded by commits of 1,000 rows; each page reads 100 rows.
const LEVELS = (Deno.env.get("FS_BENCH_LEVELS") ?? "1000,10000").split(",").map(Number);
const pageRoot = await Deno.makeTempDir({ prefix: "registry_fs_bench_pages_" });
globalThis.addEventListener("unload", () => Deno.removeSync(pageRoot, { recursive: true }));
const pageRows = await FsRegistryStorage.open({ root: pageRoot });

/** The id of the i-th row of a level: ISO-like time first, so ids sort by time. */
function pageId(i: number): string {
  return `2026-01-01T00:00:00.${String(i).padStart(9, "0")}Z-${(i * 7919 % 65536).toString(16)}`;
}

for (const n of LEVELS) {
  const seedStart = performance.now();
  for (let from = 0; from < n; from += 1000) {
    const mutations = [];
    for (let i = from; i < Math.min(n, from + 1000); i++) {
      const id = pageId(i);
      mutations.push({
        type: "set" as const,
        key: ["page", String(n), id],
        value: { id, actor: "bench", action: "publish", target: `@bench/x@1.0.${i}` },
      });
    }
    const r = await pageRows.commit({ checks: [], mutations });
    if (!r.ok) throw new Error("Could not seed a level");
  }
  console.error(`seeded a level of ${n} rows in ${Math.round(performance.now() - seedStart)} ms`);
  const middle = ["page", String(n), pageId(Math.floor(n / 2))];
  Deno.bench(`first page of 100, level of ${n} rows`, { group: "level page", n: 20 }, async () => {
    const page = await pageRows.list(["page", String(n)], { limit: 100 });
    if (page.items.length !== 100) throw new Error("Short page");
  });
  Deno.bench(`page of 100 after a mid-level key, level of ${n} rows`, {
    group: "level page",
    n: 20,
  }, async () => {
    const page = await pageRows.list(["page", String(n)], { limit: 100, after: middle });
    if (page.items.length !== 100) throw new Error("Short page");
  });
  Deno.bench(`newest page of 100 (reverse), level of ${n} rows`, {
    group: "level page",
    n: 20,
  }, async () => {
    const page = await pageRows.list(["page", String(n)], { limit: 100, reverse: true });
    if (page.items.length !== 100) throw new Error("Short page");
  });
}
