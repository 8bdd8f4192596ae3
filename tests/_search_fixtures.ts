// Rows as the three surfaces' publishes write them (the search tests and
// bench/search_bench.ts seed through the storage seam with these).
import { publicSummaryOf } from "../core/ggui/_common.ts";
import { nextPackageRow } from "../core/packages.ts";
import type { PackageRow, VersionRow, VersionState } from "../core/rows.ts";
import { searchIndexMutations } from "../core/search_index.ts";
import { putVersionIfAbsent } from "../core/store.ts";
import * as keys from "../storage/keys.ts";
import type { Entry, JsonValue, Mutation, RegistryStorage, RowKey } from "../storage/types.ts";

/** What a seeded version looks like. */
export interface SeedVersion {
  namespace: string;
  name: string;
  version: string;
  format: "ggui.gadget" | "ggui.blueprint" | "rack.registry" | "jsr";
  visibility?: "public" | "private";
  description?: string;
  tags?: string[];
  publishedAt?: string;
  publishedBy?: string;
}

/** The version row a publish of this format writes (files and blob facts abridged). */
export function versionRowOf(v: SeedVersion): VersionRow {
  const base = {
    namespace: v.namespace,
    name: v.name,
    version: v.version,
    format: v.format,
    visibility: v.visibility ?? "public",
    files: {},
    publishedAt: v.publishedAt ?? "2026-11-22T01:00:00.000Z",
    publishedBy: v.publishedBy ?? "alice",
  } as const;
  if (v.format === "rack.registry") {
    return {
      ...base,
      facts: {
        name: v.name.split("/").pop()!,
        type: "registry:block",
        ...(v.description === undefined ? {} : { description: v.description }),
      },
    };
  }
  if (v.format === "jsr") return { ...base, facts: {} };
  const search: Record<string, JsonValue> = {
    kind: v.format === "ggui.gadget" ? "gadget" : "blueprint",
  };
  if (v.description !== undefined) search.description = v.description;
  if (v.tags !== undefined) search.tags = v.tags;
  if (v.format === "ggui.gadget") search.hook = "useThing";
  return {
    ...base,
    facts: { search, authorPublicKey: "AAAA", signatureAlgorithm: "ed25519" },
  };
}

/** The summary the publish of this format hands the package-row reducer. */
export function summaryOfSeed(row: VersionRow): Record<string, JsonValue> {
  if (row.format === "rack.registry") {
    const f = row.facts as { name: string; type: string; description?: string };
    return {
      name: f.name,
      type: f.type,
      ...(f.description === undefined ? {} : { description: f.description }),
    };
  }
  if (row.format === "jsr") return { exports: "." };
  return publicSummaryOf(row);
}

/** Publish one version through the shared commit (as every surface does). */
export async function publishSeed(storage: RegistryStorage, v: SeedVersion): Promise<void> {
  const row = versionRowOf(v);
  const ref = { namespace: v.namespace, name: v.name };
  const res = await putVersionIfAbsent(storage, {
    row,
    updatePackage: (current, state) =>
      nextPackageRow(current, state, { ref, summary: summaryOfSeed(row) }),
  });
  if (res.result !== "created") throw new Error(`seed ${v.name}@${v.version}: ${res.result}`);
}

/**
 * The rows of a whole package published version by version, as one list of
 * mutations (what `putVersionIfAbsent` writes, folded): for fast seeding.
 */
export function packageMutations(versions: readonly SeedVersion[]): Mutation[] {
  const out: Mutation[] = [];
  let pkg: PackageRow | null = null;
  for (const v of versions) {
    const row = versionRowOf(v);
    const state: VersionState = {
      version: row.version,
      format: row.format,
      visibility: row.visibility,
      publishedAt: row.publishedAt,
      publishedBy: row.publishedBy,
      yanked: false,
    };
    out.push({ type: "set", key: keys.versionKey(row), value: row as unknown as JsonValue });
    out.push({
      type: "set",
      key: keys.versionStateKey(row),
      value: state as unknown as JsonValue,
    });
    pkg = nextPackageRow(pkg, state, { ref: row, summary: summaryOfSeed(row) });
  }
  if (pkg === null) return out;
  out.push({ type: "set", key: keys.packageKey(pkg), value: pkg as unknown as JsonValue });
  out.push(...searchIndexMutations(null, pkg));
  return out;
}

/** Every row of a store under some families, as `key → value` JSON (stamps left out). */
export async function snapshot(
  storage: RegistryStorage,
  families: readonly string[],
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const family of families) {
    let cursor: string | undefined;
    do {
      const page = await storage.list(
        [family],
        { limit: 1000, ...(cursor ? { cursor } : {}) },
      );
      for (const e of page.items) out.set(JSON.stringify(e.key), JSON.stringify(e.value));
      cursor = page.cursor;
    } while (cursor);
  }
  return out;
}

/** Row storage that counts the rows it reads (get, getMany keys, listed items). */
export class CountingStorage implements RegistryStorage {
  /** Rows read since the last reset. */
  reads = 0;
  #inner: RegistryStorage;
  constructor(inner: RegistryStorage) {
    this.#inner = inner;
  }
  async get<T = unknown>(key: RowKey): Promise<Entry<T> | null> {
    this.reads++;
    return await this.#inner.get<T>(key);
  }
  async getMany<T = unknown>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    this.reads += keys.length;
    return await this.#inner.getMany<T>(keys);
  }
  async list<T = unknown>(prefix: RowKey, options?: Parameters<RegistryStorage["list"]>[1]) {
    const page = await this.#inner.list<T>(prefix, options);
    this.reads += page.items.length;
    return page;
  }
  commit(commit: Parameters<RegistryStorage["commit"]>[0]) {
    return this.#inner.commit(commit);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}
