import assert from "node:assert/strict";
import type { PackageRow, VersionRow, VersionState } from "../core/rows.ts";
import { nextPackageRow } from "../core/packages.ts";
import { precedenceOf } from "../core/semver.ts";
import { getPackageRow, listVersionStates } from "../core/store.ts";
import * as keys from "../storage/keys.ts";
import { sha256Hex } from "../base/digest.ts";
import { KV_CHUNK_SIZE, KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";
import type { JsonValue, Mutation } from "../storage/types.ts";
import { RACE_BLOB_SIZES, RACE_REF, raceBlob, raceVersion } from "./_kv_racer.ts";

const RACERS = 3;
const VERSIONS = 200;

interface Report {
  name: string;
  created?: string[];
  exists?: string[];
  blobs?: string[];
  error?: string;
}

Deno.test("putVersionIfAbsent from several processes on one KV file gives every version exactly one winner", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kv_race_" });
  const path = `${dir}/race.sqlite3`;
  try {
    const startAt = Date.now() + 1_500; // every racer starts at once, after all have loaded
    const racer = new URL("./_kv_racer.ts", import.meta.url).pathname;
    const root = new URL("..", import.meta.url).pathname;
    const runs = Array.from({ length: RACERS }, (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-kv",
          racer,
          path,
          `racer-${i}`,
          String(1000 + i),
          String(startAt),
          String(VERSIONS),
        ],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).output());
    const outputs = await Promise.all(runs);
    const reports: Report[] = outputs.map((out, i) => {
      const stdout = new TextDecoder().decode(out.stdout).trim();
      const stderr = new TextDecoder().decode(out.stderr).trim();
      assert.ok(stdout, `racer-${i} printed no report (exit ${out.code}): ${stderr}`);
      const report = JSON.parse(stdout.split("\n").at(-1)!) as Report;
      assert.equal(report.error, undefined, `racer-${i} threw: ${report.error}`);
      assert.equal(out.code, 0, `racer-${i} exited ${out.code}: ${stderr}`);
      return report;
    });

    const winners = new Map<string, string[]>();
    for (const r of reports) {
      assert.equal(
        r.created!.length + r.exists!.length,
        VERSIONS,
        `${r.name} tried every version once`,
      );
      for (const v of r.created!) winners.set(v, [...(winners.get(v) ?? []), r.name]);
    }
    const storage = await KvRegistryStorage.open(path);
    try {
      for (let i = 0; i < VERSIONS; i++) {
        const version = raceVersion(i);
        const won = winners.get(version) ?? [];
        assert.equal(won.length, 1, `'${version}' was created by ${JSON.stringify(won)}`);
        const ref = { ...RACE_REF, version };
        const [row, state] = await storage.getMany([
          keys.versionKey(ref),
          keys.versionStateKey(ref),
        ]);
        assert.equal(
          (row?.value as VersionRow | undefined)?.publishedBy,
          won[0],
          `'${version}' row names its winner`,
        );
        assert.equal((state?.value as VersionState | undefined)?.publishedBy, won[0]);
      }
      const pkg = (await getPackageRow(storage, RACE_REF)) as PackageRow;
      assert.equal(
        pkg.versionCount,
        VERSIONS,
        "every created version landed in the package row exactly once",
      );
      assert.equal(pkg.latest, raceVersion(VERSIONS - 1));
      assert.equal((await listVersionStates(storage, RACE_REF)).length, VERSIONS);
      console.log(
        `wins per racer: ${reports.map((r) => `${r.name}=${r.created!.length}`).join(", ")}`,
      );
    } finally {
      await storage.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Run the racers on `path` and return their reports (each checked for errors). */
async function runRacers(path: string, options: { seed: number; count: number; build?: boolean }) {
  const startAt = Date.now() + 1_500;
  const racer = new URL("./_kv_racer.ts", import.meta.url).pathname;
  const outputs = await Promise.all(
    Array.from({ length: RACERS }, (_, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--unstable-kv",
          racer,
          path,
          `racer-${i}`,
          String(options.seed + i),
          String(startAt),
          String(options.count),
          ...(options.build ? ["build"] : []),
        ],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output()),
  );
  return outputs.map((out, i) => {
    const stdout = new TextDecoder().decode(out.stdout).trim();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    assert.ok(stdout, `racer-${i} printed no report (exit ${out.code}): ${stderr}`);
    const report = JSON.parse(stdout.split("\n").at(-1)!) as Report;
    assert.equal(report.error, undefined, `racer-${i} threw: ${report.error}`);
    assert.equal(out.code, 0, `racer-${i} exited ${out.code}: ${stderr}`);
    return report;
  });
}

Deno.test("publishes differing only in build metadata from several processes on one KV file give every precedence exactly one winner, in a package an older store left unindexed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kv_race_build_" });
  const path = `${dir}/race.sqlite3`;
  // What an older server left: every tenth version taken by a `+legacy` build, no pointers.
  const legacy = Array.from({ length: VERSIONS }, (_, i) => i).filter((i) => i % 10 === 0);
  try {
    const seeded = await KvRegistryStorage.open(path);
    try {
      let pkg: PackageRow | null = null;
      const mutations: Mutation[] = [];
      for (const i of legacy) {
        const row: VersionRow = {
          ...RACE_REF,
          version: `${raceVersion(i)}+legacy`,
          format: "rack.registry",
          visibility: "public",
          facts: {},
          publishedAt: new Date().toISOString(),
          publishedBy: "legacy",
        };
        const state: VersionState = {
          version: row.version,
          format: row.format,
          visibility: row.visibility,
          publishedAt: row.publishedAt,
          publishedBy: row.publishedBy,
          yanked: false,
        };
        pkg = nextPackageRow(pkg, state, { ref: RACE_REF });
        mutations.push(
          { type: "set", key: keys.versionKey(row), value: row as unknown as JsonValue },
          { type: "set", key: keys.versionStateKey(row), value: state as unknown as JsonValue },
        );
      }
      mutations.push({
        type: "set",
        key: keys.packageKey(RACE_REF),
        value: pkg as unknown as JsonValue,
      });
      assert.ok((await seeded.commit({ checks: [], mutations })).ok);
    } finally {
      await seeded.close();
    }

    const reports = await runRacers(path, { seed: 3000, count: VERSIONS, build: true });
    const winners = new Map<string, string[]>();
    for (const r of reports) {
      assert.equal(r.created!.length + r.exists!.length, VERSIONS, `${r.name} tried each once`);
      for (const v of r.created!) {
        const precedence = precedenceOf(v);
        winners.set(precedence, [...(winners.get(precedence) ?? []), v]);
      }
    }
    const storage = await KvRegistryStorage.open(path);
    try {
      for (let i = 0; i < VERSIONS; i++) {
        const precedence = raceVersion(i);
        const won = winners.get(precedence) ?? [];
        const holder = legacy.includes(i) ? `${precedence}+legacy` : won[0];
        assert.equal(won.length, legacy.includes(i) ? 0 : 1, `${precedence}: ${won}`);
        const pointer = await storage.get(keys.versionByPrecedenceKey(RACE_REF, precedence));
        assert.deepEqual(pointer?.value, { version: holder }, `${precedence} names its holder`);
      }
      const states = await listVersionStates(storage, RACE_REF);
      assert.equal(states.length, VERSIONS, "one version per precedence, legacy ones included");
      const pkg = (await getPackageRow(storage, RACE_REF)) as PackageRow;
      assert.equal(pkg.versionCount, VERSIONS);
      console.log(
        `wins per racer: ${reports.map((r) => `${r.name}=${r.created!.length}`).join(", ")}`,
      );
    } finally {
      await storage.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KvBundleStorage.put of the same bytes from several processes stores each blob once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kv_race_blobs_" });
  const path = `${dir}/race.sqlite3`;
  try {
    const startAt = Date.now() + 1_500;
    const racer = new URL("./_kv_racer.ts", import.meta.url).pathname;
    const outputs = await Promise.all(
      Array.from({ length: RACERS }, (_, i) =>
        new Deno.Command(Deno.execPath(), {
          // No versions to race: straight to the blobs, all at once.
          args: [
            "run",
            "-A",
            "--unstable-kv",
            racer,
            path,
            `racer-${i}`,
            String(2000 + i),
            String(startAt),
            "0",
          ],
          cwd: new URL("..", import.meta.url).pathname,
          stdout: "piped",
          stderr: "piped",
        }).output()),
    );
    const expected = RACE_BLOB_SIZES.map((_, i) => sha256Hex(raceBlob(i)));
    for (const [i, out] of outputs.entries()) {
      const report = JSON.parse(
        new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!,
      ) as Report;
      assert.equal(report.error, undefined, `racer-${i} threw: ${report.error}`);
      assert.deepEqual([...report.blobs!].sort(), [...expected].sort());
    }
    const kv = await Deno.openKv(path);
    try {
      const blobs = new KvBundleStorage(kv);
      assert.deepEqual((await blobs.list()).items.map((b) => b.sha256), [...expected].sort());
      for (const [i, sha256] of expected.entries()) {
        const body = await blobs.get(sha256);
        assert.equal(
          sha256Hex(new Uint8Array(await new Response(body!.stream).arrayBuffer())),
          sha256,
        );
        assert.equal(body!.size, RACE_BLOB_SIZES[i]);
      }
      let chunks = 0;
      for await (const _ of kv.list({ prefix: ["blob_chunk"] })) chunks++;
      const oneCopy = RACE_BLOB_SIZES.reduce((n, size) => n + Math.ceil(size / KV_CHUNK_SIZE), 0);
      assert.equal(chunks, oneCopy, "the losing uploads' chunks are all dropped");
      assert.equal((await Array.fromAsync(kv.list({ prefix: ["blob_upload"] }))).length, 0);
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
