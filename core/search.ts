/**
 * Queries over the shared search index (`core/search_index.ts`): seeks, never
 * store scans. Every query walks ONE ordered list of index rows from its
 * position — a term's pointers, a namespace's docs, or an exact term's recency list —
 * checks each candidate's doc against every condition, and stops at a full
 * page or after {@linkcode SEARCH_SCAN_BUDGET} rows read, whichever comes
 * first. A page cut short by the budget still carries a cursor: a sparse
 * query costs more pages, never more work per page.
 *
 * Cursors are positions in the walked order (`[namespace, name]`, or
 * `[inverted time, namespace, name]` for recency), bound by a check digest to
 * the query that made them: a cursor that is malformed, from another query or
 * another index layout is refused (`invalid_input`), never scanned.
 *
 * {@linkcode searchPackages} is the format-neutral search (every format, for
 * the web UI and JSR's package search); `core/ggui/search.ts` keeps the ggui
 * `/search` wire on the same engine.
 *
 * @module
 */
import { sha256Hex } from "../base/digest.ts";
import { RegistryError } from "../base/errors.ts";
import {
  docWords,
  FORMAT_KINDS,
  invertTime,
  MAX_PREFIX,
  prefixOf,
  SEARCH_GROUPS,
  SEARCH_INDEX_VERSION,
  type SearchDoc,
  type SearchGroup,
  words,
} from "./search_index.ts";
import type { Grant } from "./rows.ts";
import { grantsAllow } from "./tokens.ts";
import { compareKeys } from "../storage/_common.ts";
import * as keys from "../storage/keys.ts";
import type { Entry, RegistryStorage, RowKey } from "../storage/types.ts";

/** Most rows one search may read (index pointers and docs together). */
export const SEARCH_SCAN_BUDGET = 100;
/** Longest word list a recency query collects and sorts (longer: walk a recency list). */
export const COLLECT_LIMIT = 50;
/** Most words a query may have. */
export const MAX_QUERY_WORDS = 16;
/** The largest page. */
export const MAX_PAGE = 200;

/** A position in an index order: `[ns, name]` (name order) or `[inverted time, ns, name]`. */
export type Position = readonly string[];

/** One query against the index. */
export interface IndexQuery {
  /** Word prefixes every match must have among its words (name, tags, description). */
  words: readonly string[];
  /** Exact terms every match must carry (`fmt:ggui`, `kind:gadget`, `tag:geo`, `@ac`…). */
  terms: readonly string[];
  /** Only this namespace. */
  namespace?: string;
  /** Only this group (for the recency order; also checked on every doc). */
  group?: SearchGroup;
  /** Further conditions on a doc (checked after the indexed ones). */
  match?: (doc: SearchDoc) => boolean;
  /** Artifact order (`name`) or most recently published first. */
  order: "name" | "recent";
  /** Page size. */
  limit: number;
  /** Continue after this position. */
  after?: Position;
  /** Rows this query may read (default {@linkcode SEARCH_SCAN_BUDGET}). */
  budget?: number;
}

/** One page of matches. */
export interface IndexPage {
  /** The matching docs of this page, in order. */
  docs: SearchDoc[];
  /** Where the next page starts; absent when the walk is complete. */
  next?: Position;
  /** Rows read. */
  read: number;
}

/** Whether some word of a doc starts with `word`. */
function hasWordPrefix(have: readonly string[], word: string): boolean {
  return have.some((w) => w.startsWith(word));
}

/** A doc's position in an order. */
export function positionOf(doc: SearchDoc, order: "name" | "recent"): Position {
  return order === "name"
    ? [doc.namespace, doc.name]
    : [invertTime(doc.publishedAt), doc.namespace, doc.name];
}

/** Positions compare as the keys that hold them do (UTF-8 byte order). */
function comparePositions(a: Position, b: Position): number {
  return compareKeys(a, b);
}

/**
 * Whether a doc meets every condition of a query (indexed ones included);
 * `need` are the query words still to check (a posting of a whole query
 * word already proves that one).
 */
function matches(doc: SearchDoc, q: IndexQuery, need: readonly string[] = q.words): boolean {
  const { group, kind } = FORMAT_KINDS[doc.format];
  if (q.group !== undefined && group !== q.group) return false;
  if (q.namespace !== undefined && doc.namespace !== q.namespace) return false;
  for (const term of q.terms) {
    if (!docHasTerm(doc, term, group, kind)) return false;
  }
  if (need.length > 0) {
    const w = docWords(doc);
    if (!need.every((word) => hasWordPrefix(w, word))) return false;
  }
  return q.match?.(doc) ?? true;
}

function docHasTerm(doc: SearchDoc, term: string, group: string, kind: string): boolean {
  const s = doc.summary;
  const colon = term.indexOf(":");
  if (term.startsWith("@")) return doc.namespace.startsWith(term);
  const [field, value] = [term.slice(0, colon), term.slice(colon + 1)];
  switch (field) {
    case "fmt":
      return group === value;
    case "kind":
      return kind === value;
    case "tag":
      return Array.isArray(s.tags) && s.tags.includes(value);
    case "hook":
      return s.hook === value;
    case "tool":
      return Array.isArray(s.mcpTools) &&
        s.mcpTools.some((b) => (b as { tool?: unknown } | null)?.tool === value);
    default:
      return false;
  }
}

/** Which list a query walks: the most selective one it has. */
interface Driver {
  /** Prefix of the walked rows. */
  prefix: RowKey;
  /** The part of every walked key before its position (`key = [...base, ...position]`). */
  base: RowKey;
  /** Whether the rows are docs (else pointers to docs). */
  docs: boolean;
  /** The query word whose every posting holds it (the whole word is the term). */
  word?: string;
}

function termDriver(term: string, word?: string): Driver {
  const prefix = keys.searchTermPrefix(term);
  return { prefix, base: prefix, docs: false, ...(word === undefined ? {} : { word }) };
}

/** The postings of the query's longest word, if it has words. */
function wordDriver(q: IndexQuery): Driver | undefined {
  const longest = [...q.words].sort((a, b) => [...b].length - [...a].length)[0];
  if (longest === undefined) return undefined;
  const term = prefixOf(longest, MAX_PREFIX);
  return termDriver(term, term === longest ? longest : undefined);
}

function selectiveDriver(q: IndexQuery): Driver | undefined {
  const word = wordDriver(q);
  if (word !== undefined) return word;
  const ns = q.terms.find((t) => t.startsWith("@"));
  if (ns !== undefined) return termDriver(prefixOf(ns, MAX_PREFIX + 1));
  for (const field of ["hook:", "tool:", "tag:"]) {
    const term = q.terms.find((t) => t.startsWith(field));
    if (term !== undefined) return termDriver(term);
  }
  if (q.namespace !== undefined) {
    return {
      prefix: keys.searchDocsPrefix(q.namespace),
      base: keys.searchDocsPrefix(),
      docs: true,
    };
  }
  return undefined;
}

function nameDriver(q: IndexQuery): Driver {
  const selective = selectiveDriver(q);
  if (selective) return selective;
  for (const field of ["kind:", "fmt:"]) {
    const term = q.terms.find((t) => t.startsWith(field));
    if (term !== undefined) return termDriver(term);
  }
  if (q.group !== undefined) return termDriver(`fmt:${q.group}`);
  return { prefix: keys.searchDocsPrefix(), base: keys.searchDocsPrefix(), docs: true };
}

/** The doc a pointer carries, if it carries one. */
function inlineDoc(value: unknown): SearchDoc | undefined {
  return typeof value === "object" && value !== null ? value as SearchDoc : undefined;
}

/** Whether a pointer (its format, or its doc) can match the query's group and kind at all. */
function formatMayMatch(q: IndexQuery, value: unknown): boolean {
  const format = inlineDoc(value)?.format ?? value;
  const fk = FORMAT_KINDS[format as keyof typeof FORMAT_KINDS];
  if (fk === undefined) return true; // an older pointer: read its doc
  if (q.group !== undefined && fk.group !== q.group) return false;
  return q.terms.every((t) => !t.startsWith("kind:") || t === `kind:${fk.kind}`);
}

/** The docs of listed rows, in order: inline, or read by pointer (counted in `fetched`). */
async function docsOfRows(
  storage: RegistryStorage,
  rows: readonly { value: unknown }[],
  positions: readonly Position[],
  areDocs: boolean,
): Promise<{ docs: (SearchDoc | null)[]; fetched: number }> {
  if (areDocs) return { docs: rows.map((e) => e.value as SearchDoc), fetched: 0 };
  const missing = rows.flatMap((e, i) => inlineDoc(e.value) ? [] : [positions[i]!]);
  const read = missing.length ? await docsOf(storage, missing) : [];
  let next = 0;
  const docs = rows.map((e) => inlineDoc(e.value) ?? read[next++] ?? null);
  return { docs, fetched: missing.length };
}

/** Read the docs of pointer positions (10 per read), in order; a vanished doc is `null`. */
async function docsOf(
  storage: RegistryStorage,
  positions: readonly Position[],
): Promise<(SearchDoc | null)[]> {
  const out: (SearchDoc | null)[] = [];
  for (let i = 0; i < positions.length; i += 10) {
    const batch = positions.slice(i, i + 10);
    const found = await storage.getMany<SearchDoc>(
      batch.map((p) => keys.searchDocKey(p[p.length - 2]!, p[p.length - 1]!)),
    );
    out.push(...found.map((e) => e?.value ?? null));
  }
  return out;
}

/**
 * Run one query: walk its driver from `after`, check each doc, stop at
 * `limit` matches or when the budget is spent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { queryIndex } from "./search.ts";
 * const page = await queryIndex(new MemoryRegistryStorage(), { words: ["map"], terms: [], order: "name", limit: 10 });
 * assert.deepEqual(page.docs, []);
 * assert.equal(page.next, undefined);
 * ```
 */
export async function queryIndex(storage: RegistryStorage, q: IndexQuery): Promise<IndexPage> {
  const budget = q.budget ?? SEARCH_SCAN_BUDGET;
  if (q.order === "recent") {
    const word = wordDriver(q);
    if (word !== undefined) return await recentByWord(storage, q, word, budget);
    return await walkOrdered(storage, q, recentDriver(q), budget);
  }
  return await walkOrdered(storage, q, nameDriver(q), budget);
}

/**
 * The recency list a query walks: its most selective exact term's (an `@`
 * namespace prefix, a hook, a tool, a tag, the namespace filter's prefix, a
 * kind, the format group), else every package's (`*`).
 */
function recentDriver(q: IndexQuery): Driver {
  const prefix = keys.searchRecentPrefix(recentTerm(q));
  return { prefix, base: prefix, docs: false };
}

function recentTerm(q: IndexQuery): string {
  const at = q.terms.filter((t) => t.startsWith("@"))
    .sort((a, b) => [...b].length - [...a].length)[0];
  if (at !== undefined) return prefixOf(at, MAX_PREFIX + 1);
  for (const field of ["hook:", "tool:", "tag:"]) {
    const term = q.terms.find((t) => t.startsWith(field));
    if (term !== undefined) return term;
  }
  if (q.namespace !== undefined) return prefixOf(q.namespace, MAX_PREFIX + 1);
  const kind = q.terms.find((t) => t.startsWith("kind:"));
  if (kind !== undefined) return kind;
  return q.group === undefined ? "*" : `fmt:${q.group}`;
}

/** Walk a driver in the query's order, one budgeted page. */
async function walkOrdered(
  storage: RegistryStorage,
  q: IndexQuery,
  driver: Driver,
  budget: number,
): Promise<IndexPage> {
  const docs: SearchDoc[] = [];
  // A posting of a whole query word proves that word: only the others are checked.
  const need = q.words.filter((w) => w !== driver.word);
  let read = 0;
  let after: RowKey | undefined = q.after ? [...driver.base, ...q.after] : undefined;
  let last: Position | undefined;
  let first = true;
  while (true) {
    // The first list is sized to the page; a later one to twice the matches
    // still missing (a dense walk needs few more rows, a sparse one gets the budget).
    const missing = q.limit + 1 - docs.length;
    const want = Math.min(
      first ? Math.max(missing, 10) : Math.max(2 * missing, 10),
      100,
      budget - read,
    );
    first = false;
    if (want < 1) break;
    const page = await storage.list<unknown>(driver.prefix, {
      limit: want,
      ...(after ? { after } : {}),
    });
    read += page.items.length;
    // Pointers whose format cannot match are passed over without reading their docs.
    const items = driver.docs ? page.items : page.items.filter((e) => formatMayMatch(q, e.value));
    for (let i = 0; i < items.length; i += 10) {
      const chunk = items.slice(i, i + 10);
      const positions = chunk.map((e) => e.key.slice(driver.base.length));
      const pointers = driver.docs ? 0 : chunk.filter((e) => !inlineDoc(e.value)).length;
      // A pointer costs its doc read too: stop before the budget would be overrun.
      if (last !== undefined && read + pointers > budget) return { docs, next: last, read };
      const { docs: found, fetched } = await docsOfRows(storage, chunk, positions, driver.docs);
      read += fetched;
      for (let j = 0; j < found.length; j++) {
        const doc = found[j];
        const proven = driver.docs || inlineDoc(chunk[j]!.value) !== undefined;
        if (doc && matches(doc, q, proven ? need : q.words)) {
          if (docs.length === q.limit) {
            // One match past the page: more follow; the page ends at its last match.
            return { docs, next: last!, read };
          }
          docs.push(doc);
        }
        last = positions[j]!;
      }
    }
    if (page.cursor === undefined) return { docs, read };
    last = page.items[page.items.length - 1]!.key.slice(driver.base.length);
    after = [...driver.base, ...last];
  }
  // Budget spent: the next page continues after the last row looked at.
  return last === undefined ? { docs, read } : { docs, next: last, read };
}

// ---- readers' private entries ---------------------------------------------

/** Who searches: a signed-in reader's private entries join the public ones. */
export interface SearchViewer {
  /** The caller's subject (owners search their namespaces). */
  subject: string;
  /** The caller's grants (`read` or more on a namespace by name). */
  grants?: readonly Grant[];
}

/** Most namespaces whose private entries one search reads. */
export const MAX_PRIVATE_NAMESPACES = 32;

/**
 * The namespaces whose private entries a viewer may search: those its grants
 * name with `read` (or more), and those it owns — the private-read rule of
 * every surface, less its publisher clause (a publisher who is neither reads
 * its versions by name, not in search). Wildcard grants name no namespace.
 */
export async function readableNamespaces(
  storage: RegistryStorage,
  viewer: SearchViewer,
): Promise<string[]> {
  const out = new Set<string>();
  for (const g of viewer.grants ?? []) {
    if (!g.namespace.includes("*") && grantsAllow([g], "read", g.namespace)) out.add(g.namespace);
  }
  const owned = await storage.list(keys.searchOwnerPrefix(viewer.subject), {
    limit: MAX_PRIVATE_NAMESPACES,
  });
  for (const e of owned.items) out.add(e.key[e.key.length - 1]!);
  return [...out].sort((a, b) => comparePositions([a], [b])).slice(0, MAX_PRIVATE_NAMESPACES);
}

/**
 * Run a query for a viewer: the shared index's page, merged in order with
 * the private entries of the namespaces the viewer may read (each a short
 * seek of its own), a reader's entry replacing the public one of the same
 * package. Without a viewer (or readable namespaces) this is
 * {@linkcode queryIndex} exactly: what a stranger gets never depends on
 * private rows.
 */
export async function queryForViewer(
  storage: RegistryStorage,
  q: IndexQuery,
  viewer: SearchViewer | null | undefined,
): Promise<IndexPage> {
  const page = await queryIndex(storage, q);
  if (!viewer) return page;
  const namespaces = (await readableNamespaces(storage, viewer)).filter((ns) =>
    (q.namespace === undefined || ns === q.namespace) &&
    q.terms.every((t) => !t.startsWith("@") || ns.startsWith(t))
  );
  return namespaces.length === 0 ? page : await mergePrivate(storage, q, page, namespaces);
}

/** Where one namespace's private walk starts, in its own key order. */
function localAfter(q: IndexQuery, ns: string): Position | undefined {
  const a = q.after;
  if (a === undefined) return undefined;
  if (q.order === "name") return a[0] === ns ? [a[1]!] : undefined;
  // Recency: at the cursor's time, a later namespace's rows all follow it, an
  // earlier one's none (no name sorts after U+10FFFF), its own after its name.
  if (a[1] === ns) return [a[0]!, a[2]!];
  return comparePositions([ns], [a[1]!]) > 0 ? [a[0]!] : [a[0]!, "\u{10FFFF}"];
}

async function privateWalk(
  storage: RegistryStorage,
  q: IndexQuery,
  ns: string,
  budget: number,
): Promise<IndexPage> {
  const base = keys.searchPrivatePrefix(ns, q.order);
  const after = localAfter(q, ns);
  const local = { ...q, after };
  if (after === undefined) delete local.after;
  const page = await walkOrdered(storage, local, { prefix: base, base, docs: true }, budget);
  const global = (p: Position): Position => q.order === "name" ? [ns, p[0]!] : [p[0]!, ns, p[1]!];
  return page.next === undefined ? page : { ...page, next: global(page.next) };
}

function idOf(doc: SearchDoc): string {
  return `${doc.namespace}/${doc.name}`;
}

async function mergePrivate(
  storage: RegistryStorage,
  q: IndexQuery,
  page: IndexPage,
  namespaces: readonly string[],
): Promise<IndexPage> {
  let frontier = page.next; // everything up to here was looked at (undefined: the end)
  let read = page.read;
  const found: SearchDoc[] = [];
  const per = Math.max(10, Math.floor(SEARCH_SCAN_BUDGET / namespaces.length));
  for (const ns of namespaces) {
    if (q.order === "name") {
      if (q.after && comparePositions([ns], [q.after[0]!]) < 0) continue;
      if (frontier && comparePositions([ns], [frontier[0]!]) > 0) continue;
    }
    const part = await privateWalk(storage, q, ns, per);
    read += part.read;
    found.push(...part.docs);
    if (part.next && (!frontier || comparePositions(part.next, frontier) < 0)) frontier = part.next;
  }
  // A public entry whose package has a reader entry gives way to it.
  const readable = new Set(namespaces);
  const candidates = page.docs.filter((d) => readable.has(d.namespace));
  const shadowed = new Set<string>();
  for (let i = 0; i < candidates.length; i += 10) {
    const batch = candidates.slice(i, i + 10);
    const rows = await storage.getMany(
      batch.map((d) => keys.searchPrivateNameKey(d.namespace, d.name)),
    );
    read += batch.length;
    rows.forEach((r, j) => r && shadowed.add(idOf(batch[j]!)));
  }
  const within = (at: Position) =>
    (!frontier || comparePositions(at, frontier) <= 0) &&
    (!q.after || comparePositions(at, q.after) > 0);
  const merged = [...page.docs.filter((d) => !shadowed.has(idOf(d))), ...found]
    .map((doc) => ({ doc, at: positionOf(doc, q.order) }))
    .filter((x) => within(x.at))
    .sort((a, b) => comparePositions(a.at, b.at));
  if (merged.length > q.limit) {
    return {
      docs: merged.slice(0, q.limit).map((x) => x.doc),
      next: merged[q.limit - 1]!.at,
      read,
    };
  }
  const docs = merged.map((x) => x.doc);
  return frontier ? { docs, next: frontier, read } : { docs, read };
}

/** Postings a word query by recency reads first: a word list no longer is collected at once. */
export const FIRST_PROBE = 10;

/**
 * Recency order for a query with words (words have no recency lists): a
 * short word list is collected, sorted newest first and paged by position;
 * a longer one is walked by recency. The probe comes in two steps, so a
 * dense word does not pay for a probe it throws away: the first
 * {@linkcode FIRST_PROBE} postings (a sparse word ends there: sorted), then
 * a recency walk of at most half the budget (a dense word fills its page
 * there), then the rest of the probe up to {@linkcode COLLECT_LIMIT}
 * postings (a list that ends there is sorted; a longer one answers the
 * walk's page, cut short by the budget, with its cursor).
 */
async function recentByWord(
  storage: RegistryStorage,
  q: IndexQuery,
  word: Driver,
  budget: number,
): Promise<IndexPage> {
  const first = await storage.list<unknown>(word.prefix, {
    limit: Math.min(FIRST_PROBE, Math.floor(budget / 2)),
  });
  if (first.cursor === undefined) return await collectSorted(storage, q, word, first.items, 0);
  let read = first.items.length;
  const rest = Math.min(COLLECT_LIMIT, Math.floor(budget / 2)) - read;
  const walk = await walkOrdered(storage, q, recentDriver(q), budget - read - Math.max(rest, 0));
  read += walk.read;
  if (walk.next === undefined || walk.docs.length === q.limit || rest < 1) {
    return { ...walk, read };
  }
  const more = await storage.list<unknown>(word.prefix, { limit: rest, cursor: first.cursor });
  read += more.items.length;
  if (more.cursor !== undefined) return { ...walk, read };
  return await collectSorted(storage, q, word, [...first.items, ...more.items], read);
}

/**
 * Recency order over a whole (short) list: check its rows' docs, sort the
 * matches newest first and page them by position.
 */
async function collectSorted(
  storage: RegistryStorage,
  q: IndexQuery,
  driver: Driver,
  rows: readonly Entry<unknown>[],
  spent: number,
): Promise<IndexPage> {
  let read = spent + rows.length;
  const items = driver.docs ? rows : rows.filter((e) => formatMayMatch(q, e.value));
  const positions = items.map((e) => e.key.slice(driver.base.length));
  const { docs: found, fetched } = await docsOfRows(storage, items, positions, driver.docs);
  read += fetched;
  const sorted = found
    .filter((d): d is SearchDoc => d !== null && matches(d, q))
    .map((doc) => ({ doc, at: positionOf(doc, "recent") }))
    .filter((x) => q.after === undefined || comparePositions(x.at, q.after) > 0)
    .sort((a, b) => comparePositions(a.at, b.at));
  const docs = sorted.slice(0, q.limit).map((x) => x.doc);
  return sorted.length > q.limit ? { docs, next: sorted[q.limit - 1]!.at, read } : { docs, read };
}

// ---- cursors ----------------------------------------------------------------

function toBase64Url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): string {
  const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return new TextDecoder("utf-8", { fatal: true }).decode(
    Uint8Array.from(bin, (c) => c.charCodeAt(0)),
  );
}

function check(payload: string, binding: string): string {
  return sha256Hex(`${SEARCH_INDEX_VERSION}|${binding}|${payload}`).slice(0, 16);
}

/**
 * An opaque cursor for a position of one query (`binding` names the query:
 * its filters and order). Positions are public data, so the check is a
 * digest that binds the cursor to its query, not a secret.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePosition, encodePosition } from "./search.ts";
 * const cursor = encodePosition(["@acme", "map"], "q=map");
 * assert.deepEqual(decodePosition(cursor, "q=map", 2), ["@acme", "map"]);
 * assert.equal(decodePosition(cursor, "q=chart", 2), null);
 * ```
 */
export function encodePosition(position: Position, binding: string): string {
  const payload = toBase64Url(JSON.stringify(position));
  return `${payload}.${check(payload, binding)}`;
}

/** The position a cursor names for this query, or `null` when it is not one of its cursors. */
export function decodePosition(cursor: string, binding: string, parts: number): Position | null {
  const m = /^([A-Za-z0-9_-]{1,2048})\.([0-9a-f]{16})$/.exec(cursor);
  if (!m || check(m[1]!, binding) !== m[2]) return null;
  try {
    const position = JSON.parse(fromBase64Url(m[1]!));
    if (
      Array.isArray(position) && position.length === parts &&
      position.every((p) => typeof p === "string" && p.length <= 512)
    ) return position;
  } catch {
    // not ours
  }
  return null;
}

// ---- the format-neutral search ---------------------------------------------

/** A search over every format (the web UI's home page, JSR's package search). */
export interface PackageSearchQuery {
  /** Words: each must prefix a word of the name, tags or description; `@ac` matches namespaces. */
  q?: string;
  /** Only this format group. */
  format?: string;
  /** Only this namespace (with `@`). */
  namespace?: string;
  /** Only packages with this tag (exact). */
  tag?: string;
  /** Only this kind (`gadget`, `blueprint`, `registry`, `preset`, `jsr`). */
  kind?: string;
  /** `name` (default) or `recent`. */
  sort?: string;
  /** Page size, 1–{@linkcode MAX_PAGE} (default 20). */
  limit?: number;
  /** A cursor from the previous page. */
  cursor?: string;
  /** Who searches: the private packages it may read join the results (absent: public only). */
  viewer?: SearchViewer | null;
}

/** One search result. */
export interface PackageHit {
  /** Namespace with `@`. */
  namespace: string;
  /** Package name. */
  name: string;
  /** Format group. */
  format: SearchGroup;
  /** Kind within the group. */
  kind: string;
  /** The latest public version. */
  version: string;
  /** When it was published. */
  publishedAt: string;
  /** Description, when the format has one. */
  description?: string;
  /** Tags, when the format has them. */
  tags?: string[];
}

/** One page of {@linkcode searchPackages}. */
export interface PackageSearchPage {
  /** The hits. */
  items: PackageHit[];
  /** Present when more may follow. */
  cursor?: string;
}

function invalid(message: string): RegistryError {
  return new RegistryError("invalid_input", message);
}

const KINDS: ReadonlySet<string> = new Set(Object.values(FORMAT_KINDS).map((k) => k.kind));

/** Longest search text (UTF-16 units): longer is refused, never cut or scanned. */
export const MAX_QUERY_CHARS = 1000;

/** The filters a package search takes: each one's type and longest value. */
const SEARCH_FIELDS: Readonly<Record<string, { type: "string" | "number" | "any"; max: number }>> =
  {
    q: { type: "string", max: MAX_QUERY_CHARS },
    format: { type: "string", max: 1000 },
    namespace: { type: "string", max: 1000 },
    tag: { type: "string", max: 1000 },
    kind: { type: "string", max: 1000 },
    sort: { type: "string", max: 1000 },
    limit: { type: "number", max: Infinity },
    cursor: { type: "string", max: 4096 },
    viewer: { type: "any", max: Infinity },
  };

/** Refuse a search of the wrong shape: an unknown filter, a wrong type, an oversized value. */
function checkShape(query: unknown): void {
  if (typeof query !== "object" || query === null || Array.isArray(query)) {
    throw invalid("A search is an object of filters");
  }
  for (const [field, value] of Object.entries(query)) {
    const rule = Object.hasOwn(SEARCH_FIELDS, field) ? SEARCH_FIELDS[field] : undefined;
    if (rule === undefined) throw invalid(`Unknown search filter '${field.slice(0, 40)}'`);
    if (value === undefined || rule.type === "any") continue;
    if (typeof value !== rule.type || (typeof value === "number" && !Number.isFinite(value))) {
      throw invalid(`Invalid search filter '${field}': expected a ${rule.type}`);
    }
    if (typeof value === "string" && value.length > rule.max) {
      throw invalid(
        field === "q"
          ? `A search text has at most ${MAX_QUERY_CHARS} characters`
          : `Invalid search filter '${field}': at most ${rule.max} characters`,
      );
    }
  }
}

/** The index query of a package search (validated), and what binds its cursors. */
export function packageQueryOf(
  query: PackageSearchQuery,
): { q: IndexQuery; binding: string; empty: boolean } {
  checkShape(query);
  const limit = query.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
    throw invalid(`A page size must be an integer from 1 to ${MAX_PAGE}`);
  }
  const format = query.format || undefined;
  if (format !== undefined && !(SEARCH_GROUPS as readonly string[]).includes(format)) {
    throw invalid(`Unknown format '${format.slice(0, 40)}': use ${SEARCH_GROUPS.join(", ")}`);
  }
  const kind = query.kind || undefined;
  if (kind !== undefined && !KINDS.has(kind)) {
    throw invalid(`Unknown kind '${kind.slice(0, 40)}': use ${[...KINDS].join(", ")}`);
  }
  const sort = query.sort || "name";
  if (sort !== "name" && sort !== "recent") throw invalid("A sort must be 'name' or 'recent'");
  const namespace = query.namespace || undefined;
  if (namespace !== undefined && !/^@[a-z0-9_-]{1,64}$/.test(namespace)) {
    throw invalid(`Invalid namespace '${namespace.slice(0, 70)}'`);
  }
  const tag = query.tag || undefined;
  if (tag !== undefined && tag.length > 64) throw invalid("A tag has at most 64 characters");
  const raw = (query.q ?? "").split(/\s+/).filter((w) => w !== "");
  const nsTerms = raw.filter((w) => w.startsWith("@") && w.length > 1).map((w) => w.toLowerCase());
  const textWords = raw.filter((w) => !w.startsWith("@")).flatMap(words);
  if (textWords.length + nsTerms.length > MAX_QUERY_WORDS) {
    throw invalid(`A search has at most ${MAX_QUERY_WORDS} words`);
  }
  const terms = [
    ...nsTerms,
    ...(kind ? [`kind:${kind}`] : []),
    ...(tag ? [`tag:${tag}`] : []),
  ];
  const q: IndexQuery = {
    words: textWords,
    terms,
    order: sort,
    limit,
    ...(format ? { group: format as SearchGroup } : {}),
    ...(namespace ? { namespace } : {}),
  };
  const binding = JSON.stringify(["packages", textWords, terms, format, namespace, sort]);
  // Text without a letter, a digit or an `@namespace` matches nothing (as on ggui).
  return { q, binding, empty: raw.length > 0 && textWords.length + nsTerms.length === 0 };
}

/**
 * Search every public package of every format.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * import { searchPackages } from "./search.ts";
 * const page = await searchPackages(new MemoryRegistryStorage(), { q: "map", format: "ggui" });
 * assert.deepEqual(page.items, []);
 * ```
 */
export async function searchPackages(
  storage: RegistryStorage,
  query: PackageSearchQuery,
): Promise<PackageSearchPage> {
  const { q, binding, empty } = packageQueryOf(query);
  if (query.cursor) {
    const after = decodePosition(query.cursor, binding, q.order === "name" ? 2 : 3);
    if (after === null) throw invalid("The cursor is not one of this search's cursors");
    q.after = after;
  }
  if (empty) return { items: [] };
  const page = await queryForViewer(storage, q, query.viewer);
  const items = page.docs.map(hitOf);
  return page.next ? { items, cursor: encodePosition(page.next, binding) } : { items };
}

function hitOf(doc: SearchDoc): PackageHit {
  const { group, kind } = FORMAT_KINDS[doc.format];
  const hit: PackageHit = {
    namespace: doc.namespace,
    name: doc.name,
    format: group,
    kind,
    version: doc.version,
    publishedAt: doc.publishedAt,
  };
  const s = doc.summary;
  if (typeof s.description === "string") hit.description = s.description;
  if (Array.isArray(s.tags)) hit.tags = s.tags.filter((t): t is string => typeof t === "string");
  return hit;
}
