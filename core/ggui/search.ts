/**
 * `GET /search`: public ggui artifacts, filtered (AND), optionally sorted by
 * recency, paged by cursor — over the shared search index
 * (`core/search_index.ts`, `core/search.ts`), never a scan of the store.
 *
 * The index holds the highest PUBLIC version of each package (a private 2.0.0
 * never hides a public 1.x) and private rows never take `limit` slots.
 *
 * `q` is split into words; each must be a case-insensitive prefix of a word
 * of the name part, the description or a tag (`map` finds `maps` and
 * `Interactive map`, not `roadmap`). A query reads at most
 * `SEARCH_SCAN_BUDGET` rows: a sparse one may answer a short page with a
 * `nextCursor` to continue from.
 *
 * Cursors: ours name a position in the index order, bound to the query's
 * filters and sort; the original's decimal offsets are still honoured up to
 * the scan budget. Any other cursor — garbage, tampered, from other filters
 * or an older layout — is a 400, never a restart or a scan.
 *
 * @module
 */
import { cachedGetMany } from "../read_cache.ts";
import type { ScopeRow } from "../rows.ts";
import {
  decodePosition,
  encodePosition,
  type IndexQuery,
  MAX_QUERY_CHARS,
  MAX_QUERY_WORDS,
  type Position,
  positionOf,
  queryForViewer,
  SEARCH_SCAN_BUDGET,
  type SearchViewer,
} from "../search.ts";
import { MAX_TERM_VALUE, type SearchDoc, words } from "../search_index.ts";
import * as keys from "../../storage/keys.ts";
import {
  type AuthnContext,
  errorResult,
  type GguiContext,
  type GguiErrorBody,
  type GguiResult,
  verificationFields,
} from "./_common.ts";
import type { McpToolBinding } from "./manifest.ts";
import { MCP_NAME_RE } from "./manifest_grammar.ts";

/** The query parameters `/search` understands (empty strings count as absent). */
export interface SearchQuery {
  /** Substring of the name part, description or a tag. */
  q?: string;
  /** `gadget` or `blueprint`. */
  kind?: string;
  /** Exact first-export hook/component. */
  hook?: string;
  /** Exact tag. */
  tag?: string;
  /** Publisher subject, or a substring of the author name. */
  author?: string;
  /** Page size, 1–200 (default 50). */
  limit?: string;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  /** `recent`. */
  sort?: string;
  /** MCP tool name. */
  tool?: string;
  /** MCP server name. */
  server?: string;
}

/** One search result. */
export interface SearchEntry {
  /** `@scope/name`. */
  artifactId: string;
  /** The highest public version. */
  latestVersion: string;
  /** `gadget` or `blueprint`. */
  kind: "gadget" | "blueprint";
  /** Description. */
  description?: string;
  /** Tags. */
  tags?: string[];
  /** When that version was published. */
  publishedAt: string;
  /** MCP tool bindings. */
  mcpTools?: McpToolBinding[];
  /** Where the bindings came from. */
  mcpToolsSource?: "declared" | "derived";
  /** Present iff the scope has an owner row. */
  scopeVerification?: "unverified" | "verified";
  /** Only when verified. */
  verifiedDomain?: string;
}

/** The search body. */
export interface SearchBody {
  /** This page. */
  results: SearchEntry[];
  /** Present only when more rows remain. */
  nextCursor?: string;
}

/** The default page size. */
export const DEFAULT_SEARCH_LIMIT = 50;
/** The largest page size. */
export const MAX_SEARCH_LIMIT = 200;

interface Summary {
  kind: "gadget" | "blueprint";
  version: string;
  description?: string;
  tags?: string[];
  hook?: string;
  mcpTools?: McpToolBinding[];
  mcpToolsSource?: "declared" | "derived";
  authorName?: string;
  publishedAt: string;
  publishedBy: string;
}

interface Candidate {
  artifactId: string;
  scope: string;
  summary: Summary;
}

function present(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

function invalid(message: string): GguiResult<GguiErrorBody> {
  return errorResult(400, "invalid_request", message);
}

/** The filters the index does not carry: author, and tool/server on one binding. */
function residual(f: { author?: string; tool?: string; server?: string }) {
  return (doc: SearchDoc): boolean => {
    const s = doc.summary as unknown as Summary;
    if (f.author !== undefined) {
      const byName = s.authorName?.toLowerCase().includes(f.author.toLowerCase()) ?? false;
      if (s.publishedBy !== f.author && !byName) return false;
    }
    if (f.tool !== undefined || f.server !== undefined) {
      const hit = (s.mcpTools ?? []).some((b) =>
        (f.tool === undefined || b.tool === f.tool) &&
        (f.server === undefined || b.server === f.server)
      );
      if (!hit) return false;
    }
    return true;
  };
}

const BAD_CURSOR = "`cursor` is not a cursor of this search: start again without it";

/**
 * Where a cursor starts: `undefined` from the top, a position, or `null`
 * when it is not usable (a 400). A decimal cursor (the original's offset)
 * walks that many matches within the scan budget.
 */
async function startOf(
  ctx: GguiContext,
  q: IndexQuery,
  cursor: string | undefined,
  at: { binding: string; viewer: SearchViewer | undefined },
): Promise<Position | undefined | null | "end"> {
  if (cursor === undefined) return undefined;
  if (/^\d{1,9}$/.test(cursor)) {
    const offset = Number(cursor);
    if (offset === 0) return undefined;
    if (offset > SEARCH_SCAN_BUDGET) return null;
    const skipped = await queryForViewer(ctx.storage, { ...q, limit: offset }, at.viewer);
    if (skipped.docs.length === offset) return positionOf(skipped.docs[offset - 1]!, q.order);
    return skipped.next === undefined ? "end" : null;
  }
  return decodePosition(cursor, at.binding, q.order === "name" ? 2 : 3);
}

/**
 * Search public ggui artifacts.
 *
 * @example
 * ```ts ignore
 * const res = await searchArtifacts(ctx, { query: { q: "map", limit: "10" } });
 * ```
 */
export async function searchArtifacts(
  ctx: GguiContext,
  request: { query: SearchQuery; authn?: AuthnContext },
): Promise<GguiResult<SearchBody | GguiErrorBody>> {
  const raw = request.query;
  const kind = present(raw.kind);
  if (kind !== undefined && kind !== "gadget" && kind !== "blueprint") {
    return invalid("`kind` must be one of: gadget, blueprint");
  }
  let limit = DEFAULT_SEARCH_LIMIT;
  const limitText = present(raw.limit);
  if (limitText !== undefined) {
    // JS parseInt semantics: the leading decimal integer (`5.5` → 5, `10abc` → 10).
    const n = Number.parseInt(limitText, 10);
    if (!Number.isInteger(n) || n < 1 || n > MAX_SEARCH_LIMIT) {
      return invalid("`limit` must be an integer in [1, 200]");
    }
    limit = n;
  }
  const sort = present(raw.sort);
  if (sort !== undefined && sort !== "recent") return invalid("`sort` must be one of: recent");
  const tool = present(raw.tool);
  if (tool !== undefined && !MCP_NAME_RE.test(tool)) {
    return invalid("`tool` must match ^[A-Za-z0-9_.-]{1,128}$");
  }
  const server = present(raw.server);
  if (server !== undefined && !MCP_NAME_RE.test(server)) {
    return invalid("`server` must match ^[A-Za-z0-9_.-]{1,128}$");
  }
  if ((raw.q?.length ?? 0) > MAX_QUERY_CHARS) {
    return invalid(`\`q\` must have at most ${MAX_QUERY_CHARS} characters`);
  }
  const filters = {
    ...(kind === undefined ? {} : { kind }),
    ...(present(raw.hook) === undefined ? {} : { hook: raw.hook! }),
    ...(present(raw.tag) === undefined ? {} : { tag: raw.tag! }),
    ...(present(raw.author) === undefined ? {} : { author: raw.author! }),
    ...(present(raw.q) === undefined ? {} : { q: raw.q! }),
    ...(tool === undefined ? {} : { tool }),
    ...(server === undefined ? {} : { server }),
  };
  const qWords = filters.q === undefined ? [] : words(filters.q);
  if (qWords.length > MAX_QUERY_WORDS) {
    return invalid(`\`q\` must have at most ${MAX_QUERY_WORDS} words`);
  }
  // A `q` without a letter or digit matches nothing (every indexed word has one),
  // nor does a tag or hook longer than any the index keeps.
  const tooLong = [filters.tag, filters.hook].some((v) => (v?.length ?? 0) > MAX_TERM_VALUE);
  if ((filters.q !== undefined && qWords.length === 0) || tooLong) {
    return { status: 200, body: { results: [] } };
  }
  const q: IndexQuery = {
    words: qWords,
    terms: [
      ...(kind === undefined ? [] : [`kind:${kind}`]),
      ...(filters.tag === undefined ? [] : [`tag:${filters.tag}`]),
      ...(filters.hook === undefined ? [] : [`hook:${filters.hook}`]),
      ...(tool === undefined ? [] : [`tool:${tool}`]),
    ],
    group: "ggui",
    match: residual(filters),
    order: sort === "recent" ? "recent" : "name",
    limit,
  };
  const binding = JSON.stringify(["ggui", filters, sort ?? null]);
  let page;
  try {
    // A signed-in caller also finds the private artifacts it may read.
    const at = { binding, viewer: request.authn };
    const start = await startOf(ctx, q, present(raw.cursor), at);
    if (start === null) return invalid(BAD_CURSOR);
    if (start === "end") return { status: 200, body: { results: [] } };
    if (start !== undefined) q.after = start;
    page = await queryForViewer(ctx.storage, q, at.viewer);
  } catch {
    return errorResult(500, "server_error", "failed to search registry");
  }
  const rows: Candidate[] = page.docs.map((doc) => ({
    artifactId: `${doc.namespace}/${doc.name}`,
    scope: doc.namespace,
    summary: doc.summary as unknown as Summary,
  }));
  const owners = await scopeOwners(ctx, [...new Set(rows.map((c) => c.scope))]);
  const results = rows.map((c) => entryOf(c, owners.get(c.scope)));
  const body: SearchBody = { results };
  if (page.next !== undefined) body.nextCursor = encodePosition(page.next, binding);
  return { status: 200, body };
}

function entryOf(c: Candidate, owner: ScopeRow | null | undefined): SearchEntry {
  const s = c.summary;
  const entry: SearchEntry = {
    artifactId: c.artifactId,
    latestVersion: s.version,
    kind: s.kind,
    publishedAt: s.publishedAt,
  };
  if (s.description !== undefined) entry.description = s.description;
  if (s.tags !== undefined) entry.tags = s.tags;
  if (s.mcpTools !== undefined) entry.mcpTools = s.mcpTools;
  if (s.mcpToolsSource !== undefined) entry.mcpToolsSource = s.mcpToolsSource;
  // `undefined` = the lookup failed: the fields are omitted.
  if (owner !== undefined) Object.assign(entry, verificationFields(owner));
  return entry;
}

/** One owner lookup per unique scope, in batches; a failed batch omits its scopes. */
async function scopeOwners(
  ctx: GguiContext,
  scopes: string[],
): Promise<Map<string, ScopeRow | null>> {
  const out = new Map<string, ScopeRow | null>();
  for (let i = 0; i < scopes.length; i += 10) {
    const batch = scopes.slice(i, i + 10);
    try {
      // Owner rows with the read routes' bounded staleness (`--read-cache-ms`).
      const entries = await cachedGetMany<ScopeRow>(
        ctx.storage,
        batch.map((s) => keys.scopeKey(s)),
      );
      batch.forEach((s, j) => out.set(s, entries[j]?.value ?? null));
    } catch {
      // Omit verification fields for this batch.
    }
  }
  return out;
}
