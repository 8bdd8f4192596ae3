/**
 * `GET /search`: public ggui artifacts, filtered (AND), optionally sorted by
 * recency, paged by offset behind an opaque cursor.
 *
 * Only package rows with a public summary are indexed, so search shows the
 * highest PUBLIC version of each package (a private 2.0.0 never hides a public
 * 1.x) and private rows never take `limit` slots.
 *
 * Cursors: the original sends a decimal offset and resets an unparseable one
 * to 0; both are kept. Ours are `<offset>.<check>` where the check binds the
 * offset to the query's filters and sort, so a corrupted cursor or one reused
 * with other filters restarts at 0 instead of skipping rows. (Offsets over
 * public data need no secrecy, so the check is a digest, not a MAC.)
 *
 * @module
 */
import { sha256Hex } from "../digest.ts";
import type { PackageRow, ScopeRow } from "../rows.ts";
import { listAll } from "../store.ts";
import * as keys from "../../storage/keys.ts";
import {
  errorResult,
  type GguiContext,
  type GguiErrorBody,
  type GguiResult,
  kindOfFormat,
  verificationFields,
} from "./_common.ts";
import { MCP_NAME_RE, type McpToolBinding } from "./manifest.ts";

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
  name: string;
  summary: Summary;
}

function present(v: string | undefined): string | undefined {
  return v === undefined || v === "" ? undefined : v;
}

function invalid(message: string): GguiResult<GguiErrorBody> {
  return errorResult(400, "invalid_request", message);
}

/** `<offset>.<check>`: see the module doc. */
export function encodeSearchCursor(offset: number, binding: string): string {
  return `${offset}.${sha256Hex(`${offset}|${binding}`).slice(0, 12)}`;
}

/** The offset a cursor names, or 0 when it is unusable. */
export function decodeSearchCursor(cursor: string | undefined, binding: string): number {
  if (cursor === undefined) return 0;
  if (/^\d{1,9}$/.test(cursor)) return Number(cursor); // the original's decimal form
  const m = /^(\d{1,9})\.([0-9a-f]{12})$/.exec(cursor);
  if (!m) return 0;
  const offset = Number(m[1]);
  return encodeSearchCursor(offset, binding) === cursor ? offset : 0;
}

function matches(c: Candidate, f: {
  kind?: string;
  hook?: string;
  tag?: string;
  author?: string;
  q?: string;
  tool?: string;
  server?: string;
}): boolean {
  const s = c.summary;
  if (f.kind !== undefined && s.kind !== f.kind) return false;
  if (f.hook !== undefined && s.hook !== f.hook) return false;
  if (f.tag !== undefined && !(s.tags ?? []).includes(f.tag)) return false;
  if (f.author !== undefined) {
    const byName = s.authorName?.toLowerCase().includes(f.author.toLowerCase()) ?? false;
    if (s.publishedBy !== f.author && !byName) return false;
  }
  if (f.q !== undefined) {
    const q = f.q.toLowerCase();
    const hit = c.name.toLowerCase().includes(q) ||
      (s.description?.toLowerCase().includes(q) ?? false) ||
      (s.tags ?? []).some((t) => t.toLowerCase().includes(q));
    if (!hit) return false;
  }
  if (f.tool !== undefined || f.server !== undefined) {
    const bindings = s.mcpTools ?? [];
    const hit = bindings.some((b) =>
      (f.tool === undefined || b.tool === f.tool) &&
      (f.server === undefined || b.server === f.server)
    );
    if (!hit) return false;
  }
  return true;
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
  request: { query: SearchQuery },
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
  const filters = {
    ...(kind === undefined ? {} : { kind }),
    ...(present(raw.hook) === undefined ? {} : { hook: raw.hook! }),
    ...(present(raw.tag) === undefined ? {} : { tag: raw.tag! }),
    ...(present(raw.author) === undefined ? {} : { author: raw.author! }),
    ...(present(raw.q) === undefined ? {} : { q: raw.q! }),
    ...(tool === undefined ? {} : { tool }),
    ...(server === undefined ? {} : { server }),
  };
  const binding = JSON.stringify([filters, sort ?? null]);
  const offset = decodeSearchCursor(present(raw.cursor), binding);

  const rows: Candidate[] = [];
  try {
    for await (const e of listAll<PackageRow>(ctx.storage, keys.packagesPrefix())) {
      const pkg = e.value;
      if (kindOfFormat(pkg.format) === undefined || pkg.publicSummary === undefined) continue;
      const c: Candidate = {
        artifactId: `${pkg.namespace}/${pkg.name}`,
        scope: pkg.namespace,
        name: pkg.name,
        summary: pkg.publicSummary as unknown as Summary,
      };
      if (matches(c, filters)) rows.push(c);
    }
  } catch {
    return errorResult(500, "server_error", "failed to search registry");
  }
  if (sort === "recent") {
    rows.sort((a, b) =>
      a.summary.publishedAt !== b.summary.publishedAt
        ? (a.summary.publishedAt < b.summary.publishedAt ? 1 : -1)
        : (a.artifactId < b.artifactId ? -1 : a.artifactId > b.artifactId ? 1 : 0)
    );
  }
  const page = rows.slice(offset, offset + limit);
  const owners = await scopeOwners(ctx, [...new Set(page.map((c) => c.scope))]);
  const results = page.map((c) => entryOf(c, owners.get(c.scope)));
  const body: SearchBody = { results };
  if (offset + page.length < rows.length) {
    body.nextCursor = encodeSearchCursor(offset + page.length, binding);
  }
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
      const entries = await ctx.storage.getMany<ScopeRow>(batch.map((s) => keys.scopeKey(s)));
      batch.forEach((s, j) => out.set(s, entries[j]?.value ?? null));
    } catch {
      // Omit verification fields for this batch.
    }
  }
  return out;
}
