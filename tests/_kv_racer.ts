// Child process of tests/kv_multiprocess_test.ts: races putVersionIfAbsent on
// the same version keys as its siblings, then puts the same blobs, on one shared
// KV file, and reports on stdout as JSON.
// Usage: _kv_racer.ts <kv-file> <name> <seed> <start-at-ms> <count> [build]
// With `build`, each racer publishes its own build of each version
// (`1.0.3+racer-0`), which must race for the same precedence.
import { putVersionIfAbsent } from "../core/store.ts";
import { nextPackageRow } from "../core/packages.ts";
import type { VersionRow } from "../core/rows.ts";
import { KvBundleStorage, KvRegistryStorage, openKvRetrying } from "../storage/kv.ts";

/** The package every racer publishes into. */
export const RACE_REF = { namespace: "@race", name: "pkg" } as const;

/** The i-th version every racer tries to publish. */
export function raceVersion(i: number): string {
  return `1.${Math.floor(i / 10)}.${i % 10}`;
}

/** Sizes of the blobs every racer puts: empty, one chunk, one commit's worth, several commits. */
export const RACE_BLOB_SIZES = [0, 1000, 65_536 * 5, 65_536 * 40 + 7] as const;

/** The bytes of the i-th raced blob. */
export function raceBlob(i: number): Uint8Array {
  const out = new Uint8Array(RACE_BLOB_SIZES[i]!);
  for (let j = 0; j < out.length; j++) out[j] = (j * 31 + i * 7) & 0xff;
  return out;
}

/** A small deterministic PRNG, so a failing order can be replayed from its seed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function race(
  path: string,
  name: string,
  seed: number,
  startAt: number,
  count: number,
  build: boolean,
) {
  const order = Array.from({ length: count }, (_, i) => i);
  const random = mulberry32(seed);
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const kv = await openKvRetrying(path);
  const storage = new KvRegistryStorage(kv);
  const bundles = new KvBundleStorage(kv);
  const blobs: string[] = [];
  const created: string[] = [];
  const exists: string[] = [];
  try {
    await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
    for (const i of order) {
      const version = build ? `${raceVersion(i)}+${name}` : raceVersion(i);
      const row: VersionRow = {
        ...RACE_REF,
        version,
        format: "rack.registry",
        visibility: "public",
        facts: {},
        publishedAt: new Date().toISOString(),
        publishedBy: name,
      };
      const result = await putVersionIfAbsent(storage, {
        row,
        updatePackage: (current, state) => nextPackageRow(current, state, { ref: RACE_REF }),
        claimScope: {
          scope: RACE_REF.namespace,
          ownerSubject: "racers",
          claimedAt: row.publishedAt,
          verification: "unverified",
        },
      });
      if (result.result === "created") created.push(version);
      else if (result.result === "exists") exists.push(version);
      else throw new Error(`Unexpected result '${result.result}' for '${version}'`);
    }
    const blobOrder = RACE_BLOB_SIZES.map((_, i) => i).sort(() => random() - 0.5);
    for (const i of blobOrder) blobs.push((await bundles.put(raceBlob(i))).sha256);
  } finally {
    await storage.close();
    await bundles.close();
    kv.close();
  }
  return { name, created, exists, blobs };
}

if (import.meta.main) {
  const [path, name, seed, startAt, count, mode] = Deno.args;
  try {
    const report = await race(
      path!,
      name!,
      Number(seed),
      Number(startAt),
      Number(count),
      mode === "build",
    );
    console.log(JSON.stringify(report));
  } catch (err) {
    console.log(
      JSON.stringify({
        name,
        error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err),
      }),
    );
    Deno.exit(1);
  }
}
