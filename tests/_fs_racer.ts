// Child process of tests/fs_multiprocess_test.ts: races putVersionIfAbsent on
// the same version keys as its siblings, on one shared filesystem root, and
// reports on stdout as JSON.
// Usage: _fs_racer.ts <root> <name> <start-at-ms> <count> <order: asc|desc|shuffle> [build]
//    (with `build`, each racer publishes its own build of each version, `1.0.3+racer-0`)
//    or: _fs_racer.ts churn <root>  (commits CHURN_KEYS rows at once, forever, until killed)
//    or: _fs_racer.ts grow <root>   (creates and deletes rows of one indexed level, forever)
import { nextPackageRow } from "../core/packages.ts";
import type { VersionRow } from "../core/rows.ts";
import { putVersionIfAbsent } from "../core/store.ts";
import { FsRegistryStorage } from "../storage/fs.ts";

/** The package every racer publishes into. */
export const RACE_REF = { namespace: "@race", name: "fs/pkg" } as const;

/** The i-th version every racer tries to publish. */
export function raceVersion(i: number): string {
  return `1.${Math.floor(i / 10)}.${i % 10}`;
}

/** Visit 0…count-1 in the asked order (shuffle uses the name as a seed). */
function visitOrder(count: number, order: string, name: string): number[] {
  const all = Array.from({ length: count }, (_, i) => i);
  if (order === "desc") return all.reverse();
  if (order !== "shuffle") return all;
  let seed = [...name].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261);
  const random = () => ((seed = Math.imul(seed ^ (seed >>> 15), 2246822519) >>> 0) / 2 ** 32);
  for (let i = all.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all;
}

async function race(
  root: string,
  name: string,
  startAt: number,
  count: number,
  options: { order: string; build: boolean },
) {
  const storage = await FsRegistryStorage.open({ root });
  const created: string[] = [];
  const exists: string[] = [];
  try {
    // Start together, after every sibling has loaded.
    await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
    for (const i of visitOrder(count, options.order, name)) {
      const version = options.build ? `${raceVersion(i)}+${name}` : raceVersion(i);
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
  } finally {
    await storage.close();
  }
  return { name, created, exists };
}

/** How many rows each churn commit writes together. */
export const CHURN_KEYS = 8;

/** Commit the same value to {@linkcode CHURN_KEYS} rows at once, forever (a crash target). */
async function churn(root: string): Promise<never> {
  const storage = await FsRegistryStorage.open({ root });
  for (let i = 0;; i++) {
    if (i === 1) console.log("ready"); // one commit is in
    await storage.commit({
      checks: [],
      mutations: Array.from({ length: CHURN_KEYS }, (_, k) => ({
        type: "set" as const,
        key: ["churn", `k${k}`],
        value: { i, pad: "x".repeat(2000) },
      })),
    });
  }
}

/** Entries per index leaf of the grow mode: tiny, so commits split and drop leaves all the time. */
export const GROW_LEAF_SIZE = 4;

/** The id of the i-th row of the grow mode (scattered, so every leaf changes). */
export function growId(i: number): string {
  return (Math.imul(i + 1, 2654435761) >>> 0).toString(16).padStart(8, "0");
}

/**
 * Create two rows (a row and one below it) and delete the pair made seven
 * commits before, forever (a crash target for the level indexes).
 */
async function grow(root: string): Promise<never> {
  const storage = await FsRegistryStorage.open({ root, indexLeafSize: GROW_LEAF_SIZE });
  for (let i = 0;; i++) {
    if (i === 20) console.log("ready");
    const id = growId(i);
    const gone = growId(i - 7);
    await storage.commit({
      checks: [{ key: ["grow", id], stamp: null }],
      mutations: [
        { type: "set", key: ["grow", id], value: i },
        { type: "set", key: ["grow", id, "sub"], value: i },
        ...(i >= 7
          ? [
            { type: "delete" as const, key: ["grow", gone] },
            { type: "delete" as const, key: ["grow", gone, "sub"] },
          ]
          : []),
      ],
    });
  }
}

if (import.meta.main && Deno.args[0] === "churn") {
  await churn(Deno.args[1]!);
} else if (import.meta.main && Deno.args[0] === "grow") {
  await grow(Deno.args[1]!);
} else if (import.meta.main) {
  const [root, name, startAt, count, order, mode] = Deno.args;
  try {
    const options = { order: order!, build: mode === "build" };
    console.log(JSON.stringify(await race(root!, name!, Number(startAt), Number(count), options)));
  } catch (err) {
    const error = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err);
    console.log(JSON.stringify({ name, error }));
    Deno.exit(1);
  }
}
