/**
 * The shared search index: one entry per package with a public, non-yanked
 * version (every format), kept in row storage and changed in the SAME commit
 * as the package row it is derived from (publish, yank, unyank, delete…).
 *
 * Everything here is a pure function of the package row: its
 * `publicSummary` (the best public version's search entry) becomes a
 * {@linkcode SearchDoc}, and the doc becomes index rows:
 *
 * - `search_doc/<ns>/<name>`: the doc itself (what a result shows and filters test);
 * - `search_by_term/<term>/<ns>/<name>`: pointers, one per term: every prefix
 *   (1–{@linkcode MAX_PREFIX} characters) of every word of the name, tags and
 *   description; `@` + prefixes of the namespace; and exact `field:value`
 *   terms (`fmt:`, `kind:`, `tag:`, `hook:`, `tool:`);
 * - `search_by_recent/<exact term|*>/<inverted time>/<ns>/<name>`: postings of
 *   every exact term (`field:value` and `@` namespace prefixes) and of `*`
 *   (every package), most recently published first, so a recency query with
 *   an exact filter walks only that filter's packages.
 *
 * A commit moving a package row from `before` to `after` carries
 * {@linkcode searchIndexMutations}`(before, after)`: the rows of the old doc
 * that the new one lacks are deleted, the new ones set. Private and
 * yanked-only packages have no public summary, so they have no doc and no
 * index row: nothing private ever enters the shared index.
 *
 * @module
 */
import { RegistryError } from "../base/errors.ts";
import type { Format, PackageRow, ScopeRow } from "./rows.ts";
import * as keys from "../storage/keys.ts";
import type { Entry, JsonValue, Mutation, RegistryStorage, RowKey } from "../storage/types.ts";

/** The index layout version; a stored index of another version is rebuilt. */
export const SEARCH_INDEX_VERSION = 3;
/** Longest word prefix indexed; longer query words seek on their first this-many characters. */
export const MAX_PREFIX = 8;
/** Most term rows one package may have (name and tags come first, then the description). */
export const MAX_TERMS_PER_DOC = 300;

/** Longest exact value (tag, hook, tool) the index keeps a term for. */
export const MAX_TERM_VALUE = 256;

/** The format groups search filters on. */
export const SEARCH_GROUPS = ["ggui", "rack", "jsr"] as const;
/** A format group. */
export type SearchGroup = typeof SEARCH_GROUPS[number];

/** Each format's group and kind. */
export const FORMAT_KINDS = {
  "ggui.gadget": { group: "ggui", kind: "gadget" },
  "ggui.blueprint": { group: "ggui", kind: "blueprint" },
  "rack.registry": { group: "rack", kind: "registry" },
  "rack.preset": { group: "rack", kind: "preset" },
  "jsr": { group: "jsr", kind: "jsr" },
} as const satisfies Record<Format, { group: SearchGroup; kind: string }>;

/** One public package as the index holds it. */
export interface SearchDoc {
  /** Namespace with `@`. */
  namespace: string;
  /** Package name. */
  name: string;
  /** The package's format. */
  format: Format;
  /** The best public version. */
  version: string;
  /** When that version was published (the package row's `updatedAt` for older rows). */
  publishedAt: string;
  /** The package row's public summary (format-specific fields). */
  summary: Record<string, JsonValue>;
}

/**
 * The search doc of a package row, or `null` when it has no public version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { searchDocOf } from "./search_index.ts";
 * const at = "2026-01-01T00:00:00.000Z";
 * const pkg = { namespace: "@acme", name: "map", format: "jsr" as const, createdAt: at, createdBy: "ci", updatedAt: at, versionCount: 1, tags: {} };
 * assert.equal(searchDocOf(pkg), null); // private only
 * assert.equal(searchDocOf({ ...pkg, publicSummary: { version: "1.0.0" } })?.version, "1.0.0");
 * ```
 */
export function searchDocOf(pkg: PackageRow | null): SearchDoc | null {
  const summary = pkg?.publicSummary as Record<string, JsonValue> | undefined;
  if (!pkg || !summary || typeof summary.version !== "string") return null;
  return {
    namespace: pkg.namespace,
    name: pkg.name,
    format: pkg.format,
    version: summary.version,
    publishedAt: typeof summary.publishedAt === "string" ? summary.publishedAt : pkg.updatedAt,
    summary,
  };
}

/**
 * The reader entry of a package row: its best non-yanked version of any
 * visibility, or `null` when that version is public (the shared entry shows
 * it) or there is none. Only the namespace's readers ever search it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { privateDocOf } from "./search_index.ts";
 * const at = "2026-01-01T00:00:00.000Z";
 * const pkg = { namespace: "@acme", name: "map", format: "jsr" as const, createdAt: at, createdBy: "ci", updatedAt: at, versionCount: 1, tags: {} };
 * assert.equal(privateDocOf(pkg), null);
 * assert.equal(privateDocOf({ ...pkg, privateSummary: { version: "2.0.0" } })?.version, "2.0.0");
 * ```
 */
export function privateDocOf(pkg: PackageRow | null): SearchDoc | null {
  if (!pkg?.privateSummary) return null;
  return searchDocOf({ ...pkg, publicSummary: pkg.privateSummary });
}

/**
 * The words of a text as search sees them: lowercase runs of letters and digits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { words } from "./search_index.ts";
 * assert.deepEqual(words("Weather-Card: Ünïcode 42!"), ["weather", "card", "ünïcode", "42"]);
 * ```
 */
export function words(text: string): string[] {
  return text.normalize("NFKC").toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** The first `n` code points of a word (never half a surrogate pair). */
export function prefixOf(word: string, n: number): string {
  const points = [...word];
  return points.length <= n ? word : points.slice(0, n).join("");
}

function strings(value: JsonValue | undefined): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  return [];
}

/**
 * The searchable words of a doc, in index priority: name, tags, description
 * (the namespace is not among them: `@` terms cover it).
 */
export function docWords(doc: SearchDoc): string[] {
  const s = doc.summary;
  const out = new Set<string>([
    ...words(doc.name),
    ...strings(s.name).flatMap(words),
    ...strings(s.tags).flatMap(words),
    ...strings(s.description).flatMap(words),
  ]);
  return [...out];
}

/** The exact `field:value` terms of a doc. */
function fieldTerms(doc: SearchDoc): string[] {
  const { group, kind } = FORMAT_KINDS[doc.format];
  const s = doc.summary;
  const out = [`fmt:${group}`, `kind:${kind}`];
  for (const tag of strings(s.tags)) out.push(`tag:${tag}`);
  if (typeof s.hook === "string") out.push(`hook:${s.hook}`);
  // Exact values longer than MAX_TERM_VALUE are not indexed (keys stay small).
  if (Array.isArray(s.mcpTools)) {
    for (const b of s.mcpTools) {
      const tool = (b as { tool?: unknown } | null)?.tool;
      if (typeof tool === "string") out.push(`tool:${tool}`);
    }
  }
  return out.filter((t) => t.length <= MAX_TERM_VALUE + 5);
}

/** Every term of a doc, deduplicated and capped at {@linkcode MAX_TERMS_PER_DOC}. */
export function docTerms(doc: SearchDoc): string[] {
  const terms = new Set<string>(fieldTerms(doc));
  const ns = doc.namespace.replace(/^@/, "");
  const addPrefixes = (word: string, mark: string) => {
    const points = [...word];
    for (let n = 1; n <= Math.min(points.length, MAX_PREFIX); n++) {
      if (terms.size >= MAX_TERMS_PER_DOC) return;
      terms.add(mark + points.slice(0, n).join(""));
    }
  };
  addPrefixes(ns, "@");
  for (const word of docWords(doc)) addPrefixes(word, "");
  return [...terms];
}

/**
 * A publish time as a key part that sorts newest first (each digit `d`
 * becomes `9 - d`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { invertTime } from "./search_index.ts";
 * assert(invertTime("2026-01-02T00:00:00.000Z") < invertTime("2026-01-01T00:00:00.000Z"));
 * ```
 */
export function invertTime(iso: string): string {
  return iso.replace(/\d/g, (d) => String(9 - Number(d)));
}

/** Whether a term is exact (a `field:value` or an `@` namespace prefix), not a word prefix. */
export function isExactTerm(term: string): boolean {
  // Words are runs of letters and digits: neither `@` nor `:` is ever part of one.
  return term.startsWith("@") || term.includes(":");
}

/** The recency lists a doc is in: `*` and each of its exact terms. */
export function recentTermsOf(terms: readonly string[]): string[] {
  return ["*", ...terms.filter(isExactTerm)];
}

/** Whether a term's pointers carry a copy of the doc whatever its size (format and kind lists). */
export function isInlineTerm(term: string): boolean {
  return term.startsWith("fmt:") || term.startsWith("kind:");
}

/** Largest doc (UTF-8 bytes of its JSON) that every term posting carries a copy of. */
export const MAX_INLINE_DOC = 2048;
/** Most bytes of doc copies one package's term postings carry (a KV commit is ≤ 800 KiB). */
export const MAX_INLINE_BYTES = 192 * 1024;

/**
 * Whether every term posting of a doc carries a copy of it: a posting walk
 * then answers from the rows it lists, with no second read per match (a
 * point read costs about five listed rows on KV). A doc too large for that
 * leaves its word postings as pointers (they carry the format only).
 */
export function inlinesEveryTerm(json: string, terms: number): boolean {
  const bytes = new TextEncoder().encode(json).length;
  return bytes <= MAX_INLINE_DOC && bytes * terms <= MAX_INLINE_BYTES;
}

/** Every index row of a doc, by the JSON of its key. */
export function indexRowsOf(doc: SearchDoc | null): Map<string, { key: RowKey; value: JsonValue }> {
  const rows = new Map<string, { key: RowKey; value: JsonValue }>();
  if (doc === null) return rows;
  const add = (key: RowKey, value: JsonValue) => rows.set(JSON.stringify(key), { key, value });
  const { namespace: ns, name } = doc;
  add(keys.searchDocKey(ns, name), doc as unknown as JsonValue);
  // Postings carry the doc itself, so a walk needs no second read per row; a
  // doc too large to copy into every posting leaves its word postings as
  // pointers that carry the format (a walk skips other groups and kinds
  // without reading their docs). The long lists every unfiltered and kind
  // query walks (`fmt:`, `kind:`, and `*` by recency) always carry it. Each
  // exact term is posted twice: in artifact order and by recency.
  const copy = doc as unknown as JsonValue;
  const terms = docTerms(doc);
  const recent = recentTermsOf(terms);
  const everywhere = inlinesEveryTerm(JSON.stringify(doc), terms.length + recent.length);
  const valueFor = (term: string) =>
    everywhere || term === "*" || isInlineTerm(term) ? copy : doc.format;
  for (const term of terms) add(keys.searchTermKey(term, ns, name), valueFor(term));
  const inverted = invertTime(doc.publishedAt);
  for (const term of recent) add(keys.searchRecentKey(term, inverted, ns, name), valueFor(term));
  return rows;
}

/**
 * The reader rows of a private doc: the entry in its namespace's artifact
 * order and in its namespace's recency order, apart from the shared index.
 */
export function privateRowsOf(
  doc: SearchDoc | null,
): Map<string, { key: RowKey; value: JsonValue }> {
  const rows = new Map<string, { key: RowKey; value: JsonValue }>();
  if (doc === null) return rows;
  const add = (key: RowKey) => rows.set(JSON.stringify(key), { key, value: doc as never });
  add(keys.searchPrivateNameKey(doc.namespace, doc.name));
  add(keys.searchPrivateRecentKey(doc.namespace, invertTime(doc.publishedAt), doc.name));
  return rows;
}

/** Every search row of a package: its shared entry's and its reader entry's. */
function searchRowsOf(shared: SearchDoc | null, reader: SearchDoc | null) {
  return new Map([...indexRowsOf(shared), ...privateRowsOf(reader)]);
}

/** The mutations that move the index from one doc to another (deletes first). */
export function docMutations(
  before: SearchDoc | null,
  after: SearchDoc | null,
  readers: { before: SearchDoc | null; after: SearchDoc | null } = { before: null, after: null },
): Mutation[] {
  const old = searchRowsOf(before, readers.before);
  const next = searchRowsOf(after, readers.after);
  const out: Mutation[] = [];
  for (const [id, row] of old) if (!next.has(id)) out.push({ type: "delete", key: row.key });
  for (const [id, row] of next) {
    const was = old.get(id);
    if (!was || JSON.stringify(was.value) !== JSON.stringify(row.value)) {
      out.push({ type: "set", key: row.key, value: row.value });
    }
  }
  return out;
}

/**
 * The index mutations to put in the commit that moves a package row from
 * `before` to `after` (`null`: absent). Empty when the public entry is unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { searchIndexMutations } from "./search_index.ts";
 * const at = "2026-01-01T00:00:00.000Z";
 * const pkg = { namespace: "@acme", name: "map", format: "jsr" as const, createdAt: at, createdBy: "ci", updatedAt: at, versionCount: 1, tags: {} };
 * assert.equal(searchIndexMutations(null, pkg).length, 0); // private: nothing indexed
 * const pub = { ...pkg, publicSummary: { version: "1.0.0" } };
 * assert(searchIndexMutations(null, pub).every((m) => m.type === "set"));
 * assert(searchIndexMutations(pub, pkg).every((m) => m.type === "delete"));
 * ```
 */
export function searchIndexMutations(
  before: PackageRow | null,
  after: PackageRow | null,
): Mutation[] {
  return docMutations(searchDocOf(before), searchDocOf(after), {
    before: privateDocOf(before),
    after: privateDocOf(after),
  });
}

/**
 * The row that lets a namespace's owner search its private packages, to
 * write in the commit that creates the scope row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ownerIndexMutation } from "./search_index.ts";
 * const m = ownerIndexMutation({ scope: "@acme", ownerSubject: "alice", claimedAt: "2026-01-01T00:00:00.000Z", verification: "unverified" });
 * assert.deepEqual(m.key, ["search_owner", "alice", "@acme"]);
 * ```
 */
export function ownerIndexMutation(scope: ScopeRow): Mutation {
  return { type: "set", key: keys.searchOwnerKey(scope.ownerSubject, scope.scope), value: true };
}

/** What a rebuild did. */
export interface RebuildReport {
  /** Package rows read. */
  packages: number;
  /** Packages whose index rows changed. */
  repaired: number;
  /** Docs removed because their package has no public version (or is gone). */
  removed: number;
}

const REINDEX_ATTEMPTS = 64;

/** Bring one package's index rows in line with its package row, atomically. */
async function reindexPackage(
  storage: RegistryStorage,
  namespace: string,
  name: string,
): Promise<"unchanged" | "changed"> {
  const pKey = keys.packageKey({ namespace, name });
  const dKey = keys.searchDocKey(namespace, name);
  const rKey = keys.searchPrivateNameKey(namespace, name);
  for (let attempt = 0; attempt < REINDEX_ATTEMPTS; attempt++) {
    const [p, d, r] = await storage.getMany<unknown>([pKey, dKey, rKey]);
    const pkg = (p?.value ?? null) as PackageRow | null;
    // The stored docs say which rows exist (they are only ever written
    // together), so the diff from them to the wanted docs repairs everything.
    const mutations = docMutations(
      (d?.value ?? null) as SearchDoc | null,
      searchDocOf(pkg),
      { before: (r?.value ?? null) as SearchDoc | null, after: privateDocOf(pkg) },
    );
    if (mutations.length === 0) return "unchanged";
    const res = await storage.commit({
      checks: [
        { key: pKey, stamp: p?.stamp ?? null },
        { key: dKey, stamp: d?.stamp ?? null },
        { key: rKey, stamp: r?.stamp ?? null },
      ],
      mutations,
    });
    if (res.ok) return "changed";
  }
  throw new RegistryError(
    "conflict",
    `Could not reindex '${namespace}/${name}' under contention; retry`,
  );
}

/** Walk every row under a prefix (kept here: `store.ts` imports this module). */
async function* walk<T>(storage: RegistryStorage, prefix: RowKey): AsyncGenerator<Entry<T>> {
  let cursor: string | undefined;
  do {
    const page = await storage.list<T>(prefix, { limit: 500, ...(cursor ? { cursor } : {}) });
    yield* page.items;
    cursor = page.cursor;
  } while (cursor !== undefined);
}

/**
 * Rebuild the search index from the package rows: every package is
 * reindexed in its own commit (checked against its package row, so a
 * concurrent publish wins and nothing stale lands), docs of packages without
 * a public version are removed, and the build marker is written last.
 * Idempotent; safe to run while the server serves.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { rebuildSearchIndex } from "./search_index.ts";
 * const report = await rebuildSearchIndex(new MemoryRegistryStorage());
 * assert.equal(report.packages, 0);
 * ```
 */
export async function rebuildSearchIndex(
  storage: RegistryStorage,
  options: { onProgress?: (report: RebuildReport) => void } = {},
): Promise<RebuildReport> {
  const report: RebuildReport = { packages: 0, repaired: 0, removed: 0 };
  if (!(await isCurrentLayout(storage))) await wipeIndex(storage);
  for await (const e of walk<PackageRow>(storage, keys.packagesPrefix())) {
    report.packages++;
    if ((await reindexPackage(storage, e.value.namespace, e.value.name)) === "changed") {
      report.repaired++;
    }
    if (report.packages % 1000 === 0) options.onProgress?.(report);
  }
  for await (const e of walk<SearchDoc>(storage, keys.searchDocsPrefix())) {
    const pkg = await storage.get<PackageRow>(keys.packageKey(e.value));
    if (searchDocOf(pkg?.value ?? null) !== null) continue;
    await reindexPackage(storage, e.value.namespace, e.value.name);
    report.removed++;
  }
  for await (const e of walk<SearchDoc>(storage, keys.searchPrivatePrefix())) {
    if (e.key[2] !== "name") continue;
    const pkg = await storage.get<PackageRow>(keys.packageKey(e.value));
    if (privateDocOf(pkg?.value ?? null) !== null) continue;
    await reindexPackage(storage, e.value.namespace, e.value.name);
  }
  // Owners search their namespaces' private entries (scopes are never deleted).
  for await (const e of walk<ScopeRow>(storage, keys.scopesPrefix())) {
    await storage.commit({ checks: [], mutations: [ownerIndexMutation(e.value)] });
  }
  await storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key: keys.searchMetaKey(),
      value: { version: SEARCH_INDEX_VERSION, builtAt: new Date().toISOString() },
    }],
  });
  return report;
}

/**
 * Whether the index rows a store holds are of this layout: its marker says
 * so, or it has no marker and no entry (no index yet). Entries without a
 * marker (rows seeded around the server) are of an unknown layout.
 */
async function isCurrentLayout(storage: RegistryStorage): Promise<boolean> {
  const meta = await storage.get<{ version: number }>(keys.searchMetaKey());
  if (meta !== null) return meta.value.version === SEARCH_INDEX_VERSION;
  return (await storage.list(keys.searchDocsPrefix(), { limit: 1 })).items.length === 0;
}

/** Delete every index row (a layout change: rows of the old layout cannot be diffed). */
async function wipeIndex(storage: RegistryStorage): Promise<void> {
  const families = ["search_doc", "search_by_term", "search_by_recent", "search_private"];
  for (const family of [...families, "search_owner"]) {
    while (true) {
      const page = await storage.list([family], { limit: 500 });
      if (page.items.length === 0) break;
      await storage.commit({
        checks: [],
        mutations: page.items.map((e: Entry<unknown>) => ({ type: "delete" as const, key: e.key })),
      });
    }
  }
}

/**
 * Build the index when the store has none (or one of another layout):
 * `main.ts` calls this before serving, so a store written before the index
 * existed is searchable from its first request. Cheap when the index is current.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { ensureSearchIndex } from "./search_index.ts";
 * const storage = new MemoryRegistryStorage();
 * assert.notEqual(await ensureSearchIndex(storage), null); // built
 * assert.equal(await ensureSearchIndex(storage), null); // already current
 * ```
 */
export async function ensureSearchIndex(storage: RegistryStorage): Promise<RebuildReport | null> {
  const meta = await storage.get<{ version: number }>(keys.searchMetaKey());
  if (meta?.value.version === SEARCH_INDEX_VERSION) return null;
  return await rebuildSearchIndex(storage);
}
