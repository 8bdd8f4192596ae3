// Memory of a migration does not follow the source's size: the Rack walk
// imports package by package as it goes (never listing the source first), the
// folders that grow with the source are read one entry at a time (never
// listed whole), and the summary holds counts and the first problems, not a
// name per version. Over generated in-memory sources and the ggui fixture.
import assert from "node:assert/strict";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { RegistryContext } from "../core/context.ts";
import { MAX_LISTED, type MigrationSource, type SourceEntry } from "../core/migrate/_common.ts";
import { migrateRack } from "../core/migrate/rack.ts";
import { migrateGgui } from "../core/migrate/ggui.ts";
import { fsSource } from "../server/migrate_source.ts";
import { ORIGINALS } from "./_migrate_helpers.ts";

const enc = new TextEncoder();

/** A source over files held in memory (path → text), logging what is asked of it. */
function memorySource(files: Map<string, string>, log: string[]): MigrationSource {
  // Each folder's entries, built once.
  const dirs = new Map<string, Map<string, SourceEntry>>([["", new Map()]]);
  for (const [path, text] of files) {
    const parts = path.split("/");
    for (let i = 0; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      const file = i === parts.length - 1;
      if (!dirs.has(dir)) dirs.set(dir, new Map());
      dirs.get(dir)!.set(parts[i]!, {
        name: parts[i]!,
        kind: file ? "file" : "dir",
        size: file ? text.length : 0,
      });
    }
  }
  const children = (dir: string): SourceEntry[] => [...(dirs.get(dir)?.values() ?? [])];
  const isDir = (dir: string) => dirs.has(dir);
  return {
    list(path) {
      log.push(`list ${path}`);
      return Promise.resolve(
        isDir(path) ? children(path).sort((a, b) => a.name < b.name ? -1 : 1) : null,
      );
    },
    async *entries(path) {
      log.push(`entries ${path}`);
      yield* isDir(path) ? children(path) : [];
    },
    read(path) {
      const text = files.get(path);
      return Promise.resolve(text === undefined ? null : enc.encode(text));
    },
    open(path) {
      const text = files.get(path);
      if (text === undefined) return Promise.resolve(null);
      let bytes: Uint8Array | null = enc.encode(text);
      return Promise.resolve({
        read(buffer: Uint8Array) {
          if (bytes === null || bytes.byteLength === 0) return Promise.resolve(null);
          const n = Math.min(buffer.byteLength, bytes.byteLength);
          buffer.set(bytes.subarray(0, n));
          bytes = bytes.subarray(n);
          return Promise.resolve(n);
        },
        close() {
          bytes = null;
        },
      });
    },
    stat(path) {
      const text = files.get(path);
      if (text !== undefined) {
        return Promise.resolve({
          name: path.split("/").at(-1)!,
          kind: "file",
          size: text.length,
          mtime: "2025-01-01T00:00:00.000Z",
        });
      }
      return Promise.resolve(
        isDir(path) ? { name: path.split("/").at(-1)!, kind: "dir", size: 0 } : null,
      );
    },
  };
}

/** A STORAGE_ROOT of `packages` packages of 3 versions each, with no versions.json (a note per package). */
function rackSource(packages: number): Map<string, string> {
  const files = new Map<string, string>([[".healthcheck", "ok"]]);
  for (let p = 0; p < packages; p++) {
    for (const version of ["1.0.0", "1.1.0", "2.0.0"]) {
      const dir = `@gen/quality/pkg-${p}/${version}`;
      files.set(
        `${dir}/registry.json`,
        JSON.stringify({ name: `pkg-${p}`, namespace: "@gen", version, type: "registry:quality" }),
      );
      files.set(`${dir}/smoke.json`, `{"p":${p}}`);
    }
  }
  return files;
}

function memoryContext(log: string[]): RegistryContext {
  const storage = new MemoryRegistryStorage();
  const commit = storage.commit.bind(storage);
  storage.commit = (c) => {
    log.push("commit");
    return commit(c);
  };
  return {
    storage,
    bundles: new MemoryBundleStorage(),
    clock: () => new Date("2026-01-01T00:00:00Z"),
  };
}

Deno.test("migrate rack imports the first package before it has walked the last one (no list of the source is built first)", async () => {
  const log: string[] = [];
  const report = await migrateRack(memoryContext(log), memorySource(rackSource(20), log));
  assert.equal(report.counts.imported, 60);
  // The second walk is the import: after it enters the first package, a version
  // is committed before the walk reaches the last package's folder.
  const importWalk = log.lastIndexOf("entries @gen/quality");
  const firstCommit = log.indexOf("commit", importWalk);
  const lastPackage = log.findLastIndex((l) => /^entries @gen\/quality\/pkg-\d+$/.test(l));
  assert.ok(importWalk >= 0 && firstCommit > importWalk, log.slice(0, 12).join("\n"));
  assert.ok(firstCommit < lastPackage, "every package folder was walked before the first import");
  // The folders that grow with the source are never listed whole (a version's
  // own folder is, its files being bounded by the upload limits).
  assert.deepEqual(
    log.filter((l) => l.startsWith("list @") && !/\/\d+\.\d+\.\d+(\/|$)/.test(l)),
    [],
  );
});

Deno.test("migrate rack's summary is the same size for 110 and 330 packages: counts, and at most MAX_LISTED problems of a kind", async () => {
  const sizes: number[] = [];
  for (const packages of [110, 330]) {
    const log: string[] = [];
    const report = await migrateRack(memoryContext(log), memorySource(rackSource(packages), log));
    assert.equal(report.counts.imported, packages * 3);
    assert.equal(report.counts.notes, packages); // no versions.json in any package
    assert.equal(report.notes.length, Math.min(packages, MAX_LISTED));
    // Normalise the digits of the counts and of the source's byte total.
    sizes.push(JSON.stringify(report).replace(/\d+/g, "0").length);
  }
  assert.equal(sizes[1], sizes[0], "the summary grew with the source");
});

Deno.test("migrate ggui reads state/versions one entry at a time and each version row once", async () => {
  const log: string[] = [];
  const fs = fsSource(`${ORIGINALS}/ggui-registry-data`);
  const reads = new Map<string, number>();
  const source: MigrationSource = {
    list(path) {
      log.push(`list ${path}`);
      return fs.list(path);
    },
    entries(path) {
      log.push(`entries ${path}`);
      return fs.entries(path);
    },
    read(path) {
      reads.set(path, (reads.get(path) ?? 0) + 1);
      return fs.read(path);
    },
    open: (path) => fs.open(path),
    stat: (path) => fs.stat(path),
  };
  const report = await migrateGgui(memoryContext(log), source);
  assert.equal(report.counts.imported, 11, JSON.stringify(report.refused));
  assert.deepEqual(log.filter((l) => l.startsWith("list state/")), []);
  const rowReads = [...reads].filter(([p]) => p.startsWith("state/versions/"));
  assert.equal(rowReads.length, 11);
  assert.ok(rowReads.every(([, n]) => n === 1), JSON.stringify(rowReads));
});

Deno.test("migrate ggui refuses a state file over its size limit without reading it", async () => {
  const fs = fsSource(`${ORIGINALS}/ggui-registry-data`);
  const reads: string[] = [];
  let big: string | undefined;
  const source: MigrationSource = {
    ...fs,
    read(path) {
      reads.push(path);
      return fs.read(path);
    },
    async stat(path) {
      const info = await fs.stat(path);
      // The first version row met claims 16 MiB.
      if (info && path.startsWith("state/versions/") && (big ??= path) === path) {
        return { ...info, size: 16 * 1024 * 1024 };
      }
      return info;
    },
  };
  const report = await migrateGgui(memoryContext([]), source);
  assert.equal(report.counts.imported, 10);
  assert.equal(report.counts.refused, 1);
  assert.deepEqual(report.refused[0], {
    path: big,
    message: "is 16777216 bytes, over the 15728640-byte limit",
  });
  assert.ok(!reads.includes(big!), "the oversized file was read");
});
