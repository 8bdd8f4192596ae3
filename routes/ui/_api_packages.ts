/**
 * `GET /api/packages?query=&limit=&cursor=`: the pages' search as JSON for
 * tools, in the shape of JSR's own API (`jsr-io/jsr: api/src/api/package.rs`
 * `global_list_handler`: `{items: ApiPackage[], total}`, `limit` 1–100
 * (default 100)). It is the home page's search on the search index: the same
 * matching, the same privacy rules (a package the caller may not read is in
 * no item and no number), every format unless `format=jsr|ggui|rack` narrows
 * it; each item says its `format`.
 *
 * Paging is by cursor: an answer with more to come carries `cursor`, to send
 * back for the next page. JSR's `page` works too, for pages whose start is
 * at most {@linkcode MAX_PAGE_SKIP} packages in (the earlier pages are
 * walked by cursor); a deeper one is JSR's 400, naming the cursor. The index
 * keeps no count, so `total` is the number of packages up to the end of this
 * page, exact on the last page (no `cursor`), and one more while a `cursor`
 * follows: a tool paging by number until it has `total` packages asks for
 * the next page.
 *
 * @module
 */
import type { Context } from "hono";
import type { Authenticator } from "../../core/auth.ts";
import type { RegistryContext } from "../../core/context.ts";
import { jsrError, jsrWireError } from "../../core/jsr/errors.ts";
import type { JsrReader } from "../../core/jsr/read.ts";
import { readPackageView, visibleStates } from "../../core/package_view.ts";
import { versionLines } from "./_data.ts";
import { formatOf, MAX_QUERY_CHARS, type PackageHit, searchPage } from "./_search.ts";

/** JSR's `ApiPackage`, with the fields this registry has no data for at their empty values. */
export interface ApiPackage {
  scope: string;
  name: string;
  description: string;
  githubRepository: null;
  runtimeCompat: Record<string, never>;
  updatedAt: string;
  createdAt: string;
  versionCount: number;
  dependencyCount: number;
  dependentCount: number;
  score: null;
  latestVersion: string | null;
  whenFeatured: null;
  isArchived: boolean;
  readmeSource: "readme";
  /** Ours: the package's format (`jsr`, `ggui.gadget`, `rack.registry`…). */
  format: string;
}

/** An integer query parameter, as JSR parses it (anything else: the default). */
function intOf(text: string | undefined, fallback: number): number {
  const n = text !== undefined && /^-?\d{1,15}$/.test(text.trim()) ? Number(text) : fallback;
  return Number.isSafeInteger(n) ? n : fallback;
}

/**
 * A hit in JSR's shape. The version count and first publish time are the
 * reader's (its visible versions of this package, from the version list kept
 * per package-row stamp): a page reads its own packages, never the store.
 */
async function apiPackageOf(
  ctx: RegistryContext,
  hit: PackageHit,
  reader: JsrReader,
): Promise<ApiPackage> {
  const view = await readPackageView(ctx.storage, hit);
  const states = visibleStates(view, hit.namespace, reader);
  const lines = states.length > 0 ? versionLines(states) : null;
  return {
    scope: hit.namespace.slice(1),
    name: hit.name,
    description: hit.description ?? "",
    githubRepository: null,
    runtimeCompat: {},
    updatedAt: lines?.lastPublishedAt ?? hit.publishedAt,
    createdAt: lines?.firstPublishedAt ?? hit.publishedAt,
    versionCount: states.length,
    dependencyCount: 0,
    dependentCount: 0,
    score: null,
    latestVersion: hit.latest,
    whenFeatured: null,
    isArchived: false,
    readmeSource: "readme",
    format: hit.format,
  };
}

/** An answer of {@linkcode packageSearchJson}: JSR's list, and our cursor when more may follow. */
export interface ApiPackageList {
  /** The packages of this page. */
  items: ApiPackage[];
  /** Packages up to the end of this page (exact without `cursor`; one more with it). */
  total: number;
  /** The next page's cursor. */
  cursor?: string;
}

/** The most packages a `page` number skips: deeper pages are asked for by `cursor`. */
export const MAX_PAGE_SKIP = 1000;
/** The most index pages walked to find where a `page` starts (sparse searches). */
const MAX_PAGE_STEPS = 20;

type SearchQuery = { q: string; format: string; pageSize: number; reader: JsrReader };

/**
 * Where page `page` starts: the cursor after its earlier pages, walked 100
 * packages at a time; or, past the end, how many packages there are.
 */
async function pageStart(
  ctx: RegistryContext,
  query: SearchQuery,
  page: number,
): Promise<{ cursor: string } | { end: number }> {
  let skip = (page - 1) * query.pageSize;
  const tooDeep = () =>
    jsrError(
      "malformedRequest",
      `page ${page} starts past the first ${MAX_PAGE_SKIP} packages of this search: ` +
        "page on with `cursor` (each answer with more to follow carries the next page's)",
    );
  if (skip > MAX_PAGE_SKIP) throw tooDeep();
  let cursor = "";
  for (let step = 0; skip > 0; step++) {
    if (step === MAX_PAGE_STEPS) throw tooDeep();
    const walked = await searchPage(ctx, { ...query, cursor, pageSize: Math.min(100, skip) });
    if (walked.error !== undefined) throw jsrError("malformedRequest", walked.error);
    skip -= walked.hits.length;
    if (walked.next === undefined) return { end: walked.before + walked.hits.length };
    cursor = walked.next;
  }
  return { cursor };
}

/**
 * One page of the package search for `reader`, from the request's query
 * parameters: unknown or absurd parameters are defaults, a search the index
 * refuses (too many words, a cursor of another search, a page too deep, a
 * page and a cursor together) is JSR's 400.
 */
export async function packageSearchJson(
  ctx: RegistryContext,
  params: Record<string, string | undefined>,
  reader: JsrReader,
): Promise<ApiPackageList> {
  const query: SearchQuery = {
    q: (params.query ?? "").slice(0, MAX_QUERY_CHARS).trim(),
    format: formatOf(params.format),
    pageSize: Math.min(100, Math.max(1, intOf(params.limit, 100))),
    reader,
  };
  let cursor = params.cursor ?? "";
  const pageNo = Math.max(1, intOf(params.page, 1));
  if (pageNo > 1) {
    if (cursor !== "") throw jsrError("malformedRequest", "Send `page` or `cursor`, not both");
    const start = await pageStart(ctx, query, pageNo);
    if ("end" in start) return { items: [], total: start.end };
    cursor = start.cursor;
  }
  const page = await searchPage(ctx, { ...query, cursor });
  if (page.error !== undefined) throw jsrError("malformedRequest", page.error);
  const items = await Promise.all(page.hits.map((h) => apiPackageOf(ctx, h, reader)));
  const total = page.before + items.length;
  return page.next === undefined
    ? { items, total }
    : { items, total: total + 1, cursor: page.next };
}

const API_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

/** The caller of a JSR API request: a principal, `null` (no token), or JSR's 401. */
async function callerOf(c: Context, authenticator: Authenticator): Promise<JsrReader> {
  const header = c.req.header("authorization");
  if (header === undefined) return null;
  const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
  const principal = token === "" ? null : await authenticator.authenticate(token);
  if (principal === null) {
    throw jsrError("invalidBearerToken", "The bearer token is invalid, expired or revoked");
  }
  c.set("subject" as never, principal.subject as never);
  return principal;
}

/**
 * The `GET /api/packages` handler, mounted by the composition root beside
 * JSR's API (with the pages on or off): answers in JSR's shapes, its errors
 * included.
 */
export function packageSearchApi(
  options: { ctx: RegistryContext; authenticator: Authenticator },
): (c: Context) => Promise<Response> {
  return async (c) => {
    try {
      const who = await callerOf(c, options.authenticator);
      const body = await packageSearchJson(options.ctx, c.req.query(), who);
      return new Response(JSON.stringify(body), { headers: API_HEADERS });
    } catch (err) {
      const { status, body } = jsrWireError(err);
      return new Response(JSON.stringify(body), { status, headers: API_HEADERS });
    }
  };
}
