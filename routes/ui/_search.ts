/**
 * The pages' package search (home and `GET /api/packages`) on the shared
 * search index: one call of `searchPackages` from `core/search.ts`, the same
 * engine and privacy rule as the API's `/search` routes. A page costs at most
 * the index's scan budget in rows, whatever the size of the store; a
 * signed-in reader also finds the private packages of the namespaces it may
 * read, and a stranger's pages never depend on private rows.
 *
 * Paging is by cursor. A page cursor here is `<shown before>.<index cursor>`:
 * the index cursor says where the walk continues, the number how many
 * packages earlier pages showed, so a page can say "packages 21–40" without
 * counting anything (the index keeps no count; the last page's number is
 * exact). A cursor that is not one of this search's is a clear error.
 *
 * @module
 */
import { RegistryError } from "../../base/errors.ts";
import type { RegistryContext } from "../../core/context.ts";
import type { JsrReader } from "../../core/jsr/read.ts";
import { type PackageHit as IndexHit, searchPackages } from "../../core/search.ts";

/** A search text longer than this is cut to it (both the home page and `/api/packages`). */
export const MAX_QUERY_CHARS = 200;

/** One row of a search or of the recent list. */
export interface PackageHit {
  /** `jsr`, `ggui.gadget`, `rack.registry`… */
  format: string;
  /** `@scope` */
  namespace: string;
  /** Package name. */
  name: string;
  /** The newest version this reader may see (the index's entry). */
  latest: string;
  /** Description, when the format keeps one. */
  description?: string;
  /** When that version was published. */
  publishedAt: string;
}

/** A search: text, a format filter and where the page starts. */
export interface PackageQuery {
  /** Words (each a prefix of a word of the name, tags or description) and `@namespace`s. */
  q: string;
  /** `jsr`, `ggui` or `rack`; empty: all. */
  format: string;
  /** The page cursor (empty: the first page). */
  cursor: string;
}

/** One page of results. */
export interface SearchPage {
  /** The hits, newest first. */
  hits: PackageHit[];
  /** How many packages the pages before this one showed. */
  before: number;
  /** The next page's cursor, when more may follow. */
  next?: string;
  /** Why the search was refused (too many words, a foreign cursor), when it was. */
  error?: string;
}

/** Packages per page of search results. */
export const SEARCH_PAGE_SIZE = 20;

/** Earlier pages a home page's Previous link remembers (further back: the first page). */
export const MAX_BACK = 20;

/** The format families the filter offers. */
export const FORMAT_FILTERS = ["jsr", "ggui", "rack"] as const;

/** A format filter from a query parameter: empty (all) for anything unknown. */
export function formatOf(text: string | undefined): string {
  return (FORMAT_FILTERS as readonly string[]).includes(text ?? "") ? text! : "";
}

const PAGE_CURSOR = /^(\d{1,9})\.([A-Za-z0-9_.-]{1,4096})$/;

/** Whether `text` has the shape of a page cursor (not whether the index accepts it). */
export function isPageCursor(text: string): boolean {
  return PAGE_CURSOR.test(text);
}

/** The index's format and kind as the package's format (`ggui` + `gadget` → `ggui.gadget`). */
function hitOf(hit: IndexHit): PackageHit {
  return {
    format: hit.format === "jsr" ? "jsr" : `${hit.format}.${hit.kind}`,
    namespace: hit.namespace,
    name: hit.name,
    latest: hit.version,
    publishedAt: hit.publishedAt,
    ...(hit.description !== undefined ? { description: hit.description } : {}),
  };
}

/**
 * The search text as the index reads it: `@scope/name` (what people paste)
 * is the namespace term and the name's words.
 */
function indexText(q: string): string {
  return q.replace(/(^|\s)(@[^\s/]+)\/+/g, "$1$2 ");
}

/**
 * One page of the package search for `reader`, newest first. Any input is a
 * page: a search the index refuses is an empty page carrying its reason.
 */
export async function searchPage(
  ctx: RegistryContext,
  query: PackageQuery & { pageSize?: number; reader: JsrReader },
): Promise<SearchPage> {
  const m = PAGE_CURSOR.exec(query.cursor);
  const before = m ? Number(m[1]) : 0;
  if (query.cursor !== "" && !m) return { hits: [], before, error: FOREIGN_CURSOR };
  const { reader } = query;
  try {
    const page = await searchPackages(ctx.storage, {
      q: indexText(query.q),
      ...(query.format ? { format: query.format } : {}),
      sort: "recent",
      limit: query.pageSize ?? SEARCH_PAGE_SIZE,
      ...(m ? { cursor: m[2]! } : {}),
      viewer: reader && { subject: reader.subject, grants: reader.grants ?? [] },
    });
    const hits = page.items.map(hitOf);
    const out: SearchPage = { hits, before };
    if (page.cursor !== undefined) out.next = `${before + hits.length}.${page.cursor}`;
    return out;
  } catch (err) {
    if (err instanceof RegistryError && err.code === "invalid_input") {
      return { hits: [], before, error: err.message };
    }
    throw err;
  }
}

const FOREIGN_CURSOR = "The cursor is not one of this search's cursors";
