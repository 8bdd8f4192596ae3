// Deno KV backends on a real KV file: `deno bench -A bench/kv_bench.ts`.
// Targets: putVersionIfAbsent ≥ 4,000/s sequential; blob read ≥ 300 MiB/s.
// KV_BENCH_DIR picks the file system (default: the system temp dir); every KV
// commit waits for SQLite's fsync, so the disk bounds sequential writes.
import { sha256Hex } from "../base/digest.ts";
import { nextPackageRow } from "../core/packages.ts";
import type { PackageRow, VersionRow } from "../core/rows.ts";
import { getVersionRow, listVersionStates, putVersionIfAbsent } from "../core/store.ts";
import * as keys from "../storage/keys.ts";
import { KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";
import type { JsonValue } from "../storage/types.ts";

const dir = await Deno.makeTempDir({ prefix: "kv_bench_", dir: Deno.env.get("KV_BENCH_DIR") });
const kv = await Deno.openKv(`${dir}/bench.sqlite3`);
const rows = new KvRegistryStorage(kv);
const blobs = new KvBundleStorage(kv);
globalThis.addEventListener("unload", () => {
  kv.close();
  Deno.removeSync(dir, { recursive: true });
});

function versionRow(name: string, version: string): VersionRow {
  return {
    namespace: "@bench",
    name,
    version,
    format: "rack.registry",
    visibility: "public",
    files: { "plugin.json": { sha256: "a".repeat(64), size: 123, type: "application/json" } },
    facts: {},
    publishedAt: "2026-01-01T00:00:00.000Z",
    publishedBy: "bench",
  };
}

async function publish(name: string, version: string): Promise<void> {
  const ref = { namespace: "@bench", name };
  const r = await putVersionIfAbsent(rows, {
    row: versionRow(name, version),
    updatePackage: (current, state) => nextPackageRow(current, state, { ref }),
  });
  if (r.result !== "created") {
    throw new Error(`Could not publish '${name}@${version}': ${r.result}`);
  }
}

// A package with 1,000 versions, and 1,000 packages to page through.
for (let i = 0; i < 1000; i++) await publish("many", `1.${Math.floor(i / 100)}.${i % 100}`);
for (let i = 0; i < 1000; i += 10) {
  await rows.commit({
    checks: [],
    mutations: Array.from({ length: 10 }, (_, j) => {
      const name = `pkg-${String(i + j).padStart(4, "0")}`;
      const row: PackageRow = {
        namespace: "@bench",
        name,
        format: "rack.registry",
        createdAt: "2026-01-01T00:00:00.000Z",
        createdBy: "bench",
        updatedAt: "2026-01-01T00:00:00.000Z",
        versionCount: 1,
        latest: "1.0.0",
        publicSummary: { version: "1.0.0", description: "A package to page through" },
        tags: {},
      };
      return {
        type: "set" as const,
        key: keys.packageKey(row),
        value: row as unknown as JsonValue,
      };
    }),
  });
}

const TEN_MIB = 10 * 1024 * 1024;
const blobBytes = new Uint8Array(TEN_MIB);
for (let i = 0; i < TEN_MIB; i += 4) blobBytes[i] = (i * 2654435761) >>> 24;
const stored = await blobs.put(blobBytes);
let seq = 0;

Deno.bench("KV getVersionRow (one row)", { group: "rows" }, async () => {
  const row = await getVersionRow(rows, { namespace: "@bench", name: "many", version: "1.5.50" });
  if (row === null) throw new Error("Missing row");
});

Deno.bench("KV putVersionIfAbsent (sequential, unique keys)", { group: "rows" }, async () => {
  seq++;
  await publish("seq", `0.${Math.floor(seq / 1000)}.${seq % 1000}`);
});

Deno.bench("KV listVersionStates (1,000 versions)", { group: "rows" }, async () => {
  const states = await listVersionStates(rows, { namespace: "@bench", name: "many" });
  if (states.length !== 1000) throw new Error(`Listed ${states.length} versions`);
});

Deno.bench("KV list a page of 100 packages", { group: "rows" }, async () => {
  const page = await rows.list(keys.packagesInNamespace("@bench"), { limit: 100 });
  if (page.items.length !== 100) throw new Error(`Listed ${page.items.length} packages`);
});

Deno.bench("KV blob write 10 MiB (new bytes each time)", { group: "blobs" }, async () => {
  new DataView(blobBytes.buffer).setUint32(0, ++seq);
  await blobs.put(blobBytes);
});

Deno.bench("KV blob read 10 MiB (verified)", { group: "blobs" }, async () => {
  const body = await blobs.get(stored.sha256);
  let n = 0;
  for await (const piece of body!.stream) n += piece.byteLength;
  if (n !== TEN_MIB) throw new Error(`Read ${n} bytes`);
});

Deno.bench(
  "KV blob read 10 MiB less one byte (a range: chunk checksums only)",
  { group: "blobs" },
  async () => {
    const body = await blobs.get(stored.sha256, { start: 0, end: TEN_MIB - 1 });
    let n = 0;
    for await (const piece of body!.stream) n += piece.byteLength;
    if (n !== TEN_MIB - 1) throw new Error(`Read ${n} bytes`);
  },
);

// The bound on verified reads: SHA-256 of the same bytes, in memory.
Deno.bench("SHA-256 of 10 MiB in memory (reference)", { group: "blobs" }, () => {
  sha256Hex(blobBytes);
});
