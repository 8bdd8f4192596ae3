/**
 * `GET /api/packages?query=&page=&limit=`: the pages' search as JSON for
 * tools, in the shape of JSR's own API (`jsr-io/jsr: api/src/api/package.rs`
 * `global_list_handler`: `{items: ApiPackage[], total}`, `limit` 1–100
 * (default 100), `page` from 1, a leading `@` of the query ignored). It is the
 * home page's search: the same matching, the same privacy rules (a package
 * the caller may not read is in no item and no total), every format unless
 * `format=jsr|ggui|rack` narrows it; each item says its `format`.
 *
 * @module
 */
import type { Context } from "hono";
import type { Authenticator } from "../../core/auth.ts";
import type { RegistryContext } from "../../core/context.ts";
import { jsrError, jsrWireError } from "../../core/jsr/errors.ts";
import type { JsrReader } from "../../core/jsr/read.ts";
import { FORMAT_FILTERS, type PackageHit, searchPackages } from "./_data.ts";

/** The longest query kept (longer input is cut, never refused). */
const MAX_QUERY_CHARS = 200;

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

function apiPackageOf(hit: PackageHit): ApiPackage {
  return {
    scope: hit.namespace.slice(1),
    name: hit.name,
    description: hit.description ?? "",
    githubRepository: null,
    runtimeCompat: {},
    updatedAt: hit.publishedAt ?? "",
    createdAt: hit.createdAt ?? hit.publishedAt ?? "",
    versionCount: hit.versionCount ?? 0,
    dependencyCount: 0,
    dependentCount: 0,
    score: null,
    latestVersion: hit.latest ?? null,
    whenFeatured: null,
    isArchived: false,
    readmeSource: "readme",
    format: hit.format,
  };
}

/**
 * One page of the package search for `reader`, from the request's query
 * parameters; any input is an answer, never an error.
 */
export async function packageSearchJson(
  ctx: RegistryContext,
  params: Record<string, string | undefined>,
  reader: JsrReader,
): Promise<{ items: ApiPackage[]; total: number }> {
  const format = params.format ?? "";
  const q = (params.query ?? "").slice(0, MAX_QUERY_CHARS).trim().replace(/^@/, "");
  const limit = Math.min(100, Math.max(1, intOf(params.limit, 100)));
  const page = Math.min(1_000_000, Math.max(1, intOf(params.page, 1)));
  const { hits, total } = await searchPackages(ctx, {
    q,
    format: (FORMAT_FILTERS as readonly string[]).includes(format) ? format : "",
    page,
    pageSize: limit,
  }, reader);
  return { items: hits.map(apiPackageOf), total };
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
