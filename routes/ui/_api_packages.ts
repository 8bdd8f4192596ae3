/**
 * `GET /api/packages?query=&limit=&cursor=`: the pages' search as JSON for
 * tools, in the shape of JSR's own API (`jsr-io/jsr: api/src/api/package.rs`
 * `global_list_handler`: `{items: ApiPackage[], total}`, `limit` 1–100
 * (default 100)). It is the home page's search on the search index: the same
 * matching, the same privacy rules (a package the caller may not read is in
 * no item and no number), every format unless `format=jsr|ggui|rack` narrows
 * it; each item says its `format`.
 *
 * Paging is by cursor, not JSR's `page` (ignored): an answer with more to
 * come carries `cursor`, to send back for the next page. The index keeps no
 * count, so `total` is the number of packages up to the end of this page:
 * exact on the last page (no `cursor`), a lower bound before it.
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
  /** Packages up to the end of this page (exact without `cursor`). */
  total: number;
  /** The next page's cursor. */
  cursor?: string;
}

/**
 * One page of the package search for `reader`, from the request's query
 * parameters: unknown or absurd parameters are defaults, a search the index
 * refuses (too many words, a cursor of another search) is JSR's 400.
 */
export async function packageSearchJson(
  ctx: RegistryContext,
  params: Record<string, string | undefined>,
  reader: JsrReader,
): Promise<ApiPackageList> {
  const page = await searchPage(ctx, {
    q: (params.query ?? "").slice(0, MAX_QUERY_CHARS).trim(),
    format: formatOf(params.format),
    cursor: params.cursor ?? "",
    pageSize: Math.min(100, Math.max(1, intOf(params.limit, 100))),
    reader,
  });
  if (page.error !== undefined) throw jsrError("malformedRequest", page.error);
  const items = await Promise.all(page.hits.map((h) => apiPackageOf(ctx, h, reader)));
  const total = page.before + items.length;
  return page.next === undefined ? { items, total } : { items, total, cursor: page.next };
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
