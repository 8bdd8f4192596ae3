import assert from "node:assert/strict";
import { join } from "node:path";
import type { PackageRow, VersionRow, VersionState } from "../core/rows.ts";
import { precedenceOf } from "../core/semver.ts";
import { getPackageRow, listVersionStates } from "../core/store.ts";
import { FsRegistryStorage } from "../storage/fs.ts";
import * as keys from "../storage/keys.ts";
import { CHURN_KEYS, GROW_LEAF_SIZE, RACE_REF, raceVersion } from "./_fs_racer.ts";

const VERSIONS = 200;
/** Two racers visit the versions in the same order (a head-on race per key), one shuffled. */
const ORDERS = ["asc", "asc", "shuffle"];

interface Report {
  name: string;
  created?: string[];
  exists?: string[];
  error?: string;
}

Deno.test("putVersionIfAbsent from several processes on one fs root gives every version exactly one winner", async () => {
  const root = await Deno.makeTempDir({ prefix: "registry_fs_race_" });
  try {
    const startAt = Date.now() + 1_500;
    const racer = new URL("./_fs_racer.ts", import.meta.url).pathname;
    const cwd = new URL("..", import.meta.url).pathname;
    const outputs = await Promise.all(ORDERS.map((order, i) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", racer, root, `racer-${i}`, String(startAt), String(VERSIONS), order],
        cwd,
        stdout: "piped",
        stderr: "piped",
      }).output()
    ));
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
      assert.equal(r.created!.length + r.exists!.length, VERSIONS, `${r.name} tried every version`);
      for (const v of r.created!) winners.set(v, [...(winners.get(v) ?? []), r.name]);
    }
    await using storage = await FsRegistryStorage.open({ root });
    for (let i = 0; i < VERSIONS; i++) {
      const version = raceVersion(i);
      const won = winners.get(version) ?? [];
      assert.equal(won.length, 1, `'${version}' was created by ${JSON.stringify(won)}`);
      const ref = { ...RACE_REF, version };
      const [row, state] = await storage.getMany([keys.versionKey(ref), keys.versionStateKey(ref)]);
      assert.equal((row?.value as VersionRow | undefined)?.publishedBy, won[0]);
      assert.equal((state?.value as VersionState | undefined)?.publishedBy, won[0]);
    }
    const pkg = (await getPackageRow(storage, RACE_REF)) as PackageRow;
    assert.equal(pkg.versionCount, VERSIONS, "every version landed in the package row once");
    assert.equal(pkg.latest, raceVersion(VERSIONS - 1));
    assert.equal((await listVersionStates(storage, RACE_REF)).length, VERSIONS);
    // No commit was left half-done and no temp file was left behind.
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(root, "journal"))), []);
    assert.deepEqual(await Array.fromAsync(Deno.readDir(join(root, "tmp"))), []);
    console.log(
      `wins per racer: ${reports.map((r) => `${r.name}=${r.created!.length}`).join(", ")}`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("publishes differing only in build metadata from several processes on one fs root give every precedence exactly one winner", async () => {
  const root = await Deno.makeTempDir({ prefix: "registry_fs_race_build_" });
  const count = 100;
  try {
    const startAt = Date.now() + 1_500;
    const racer = new URL("./_fs_racer.ts", import.meta.url).pathname;
    const outputs = await Promise.all(ORDERS.map((order, i) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          racer,
          root,
          `racer-${i}`,
          String(startAt),
          String(count),
          order,
          "build",
        ],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "piped",
      }).output()
    ));
    const winners = new Map<string, string[]>();
    for (const [i, out] of outputs.entries()) {
      const stdout = new TextDecoder().decode(out.stdout).trim();
      const stderr = new TextDecoder().decode(out.stderr).trim();
      assert.ok(stdout, `racer-${i} printed no report (exit ${out.code}): ${stderr}`);
      const report = JSON.parse(stdout.split("\n").at(-1)!) as Report;
      assert.equal(report.error, undefined, `racer-${i} threw: ${report.error}`);
      assert.equal(report.created!.length + report.exists!.length, count);
      for (const v of report.created!) {
        winners.set(precedenceOf(v), [...(winners.get(precedenceOf(v)) ?? []), v]);
      }
    }
    await using storage = await FsRegistryStorage.open({ root });
    for (let i = 0; i < count; i++) {
      const won = winners.get(raceVersion(i)) ?? [];
      assert.equal(won.length, 1, `'${raceVersion(i)}' was created as ${JSON.stringify(won)}`);
      const pointer = await storage.get(keys.versionByPrecedenceKey(RACE_REF, raceVersion(i)));
      assert.deepEqual(pointer?.value, { version: won[0] });
    }
    assert.equal((await listVersionStates(storage, RACE_REF)).length, count);
    assert.equal(((await getPackageRow(storage, RACE_REF)) as PackageRow).versionCount, count);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a process killed mid-commit leaves rows that the next open completes atomically", async () => {
  const root = await Deno.makeTempDir({ prefix: "registry_fs_crash_" });
  try {
    let journalsLeft = 0;
    for (let round = 0; round < 5; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("./_fs_racer.ts", import.meta.url).pathname, "churn", root],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.getReader();
      await reader.read(); // "ready"
      reader.releaseLock();
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 150));
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel();
      journalsLeft += (await Array.fromAsync(Deno.readDir(join(root, "journal")))).length;
      // Opening replays the interrupted commit: every row carries one commit's value.
      await using storage = await FsRegistryStorage.open({ root });
      const rows = (await storage.list<{ i: number }>(["churn"])).items;
      assert.equal(rows.length, CHURN_KEYS);
      assert.equal(new Set(rows.map((r) => r.stamp)).size, 1, "all rows from one commit");
      assert.equal(new Set(rows.map((r) => r.value.i)).size, 1);
      assert.deepEqual(await Array.fromAsync(Deno.readDir(join(root, "journal"))), []);
    }
    console.log(`kills that interrupted a commit (journal left): ${journalsLeft} of 5`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

/** The `["grow", …]` rows on disk, read from the files themselves (not the index). */
async function growRowsOnDisk(root: string): Promise<string[]> {
  const found: string[] = [];
  const level = join(root, "rows", "grow");
  for await (const e of Deno.readDir(level)) {
    if (e.isFile && e.name.endsWith(".json")) found.push(`grow/${e.name.slice(0, -5)}`);
    if (e.isDirectory && e.name !== ".index") {
      for await (const f of Deno.readDir(join(level, e.name))) {
        if (f.isFile && f.name.endsWith(".json")) {
          found.push(`grow/${e.name}/${f.name.slice(0, -5)}`);
        }
      }
    }
  }
  return found.sort();
}

Deno.test("a process killed while it splits and drops index leaves leaves an index that lists exactly the rows on disk", async () => {
  const root = await Deno.makeTempDir({ prefix: "registry_fs_crash_index_" });
  try {
    for (let round = 0; round < 5; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL("./_fs_racer.ts", import.meta.url).pathname, "grow", root],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = child.stdout.getReader();
      await reader.read(); // "ready"
      reader.releaseLock();
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      child.kill("SIGKILL");
      await child.status;
      await child.stdout.cancel();
      await using storage = await FsRegistryStorage.open({ root, indexLeafSize: GROW_LEAF_SIZE });
      const onDisk = await growRowsOnDisk(root);
      for (const reverse of [false, true]) {
        const listed: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await storage.list(["grow"], {
            limit: 3,
            reverse,
            ...(cursor ? { cursor } : {}),
          });
          listed.push(...page.items.map((e) => e.key.join("/")));
          cursor = page.cursor;
        } while (cursor !== undefined);
        assert.deepEqual(reverse ? listed.reverse() : listed, onDisk, `round ${round}`);
      }
      // Each commit wrote or deleted a row and the row below it together.
      const tops = onDisk.filter((k) => k.split("/").length === 2);
      assert.deepEqual(onDisk.filter((k) => k.endsWith("/sub")), tops.map((k) => `${k}/sub`));
      assert.ok(tops.length >= 7, `round ${round}: ${tops.length} rows`);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
