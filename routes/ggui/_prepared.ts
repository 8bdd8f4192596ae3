/**
 * The ggui surface's prepared reads (the `prepared` fields of its route table
 * in `mod.ts`, see `../shared/_prepared_reads.ts`): `GET|HEAD
 * /pkg/:scope/:name`, `/pkg/:scope/:name/:version` and
 * `/bundles/{public|private}/:scope/:name/:version/:file`, answered by the same
 * core operations and response builders (`_http.ts`) as the route handlers.
 *
 * Bundle files are content-addressed and immutable: the finished response of
 * a plain GET (no `Range`, no conditions) of a blob held in memory is
 * built once per prefix and cloned (cloning shares the bytes; building a
 * response copies them).
 *
 * @module
 */
import type { AuthnContext, BundleFile, GguiContext, GguiResult } from "../../core/ggui/_common.ts";
import { scopeParam } from "../../core/ggui/_common.ts";
import {
  locateBundleFile,
  locateBundleFileNow,
  type LocatedFile,
} from "../../core/ggui/bundles.ts";
import { listArtifactVersions, listArtifactVersionsNow } from "../../core/ggui/list_versions.ts";
import { readArtifact, readArtifactNow } from "../../core/ggui/read.ts";
import { respondWithBlob } from "../shared/_blob_response.ts";
import { requestHeader } from "../ops/_request_header.ts";
import type { FastAnswer, RouteParams } from "../shared/_route_table.ts";
import {
  authnNowOf,
  authnOf,
  BUNDLE_CACHE_CONTROL,
  BUNDLE_HEADERS,
  gguiContextFor,
  gguiContextOf,
  type GguiRoutesOptions,
  parseBearer,
  pkgEtag,
  pkgResponse,
} from "./_http.ts";

/** The ggui prepared reads' state (kept bundle responses) and their answers. */
export class GguiPrepared {
  #options: GguiRoutesOptions;
  #ctx: GguiContext;
  #authenticator: GguiRoutesOptions["authenticator"];
  #maxTemplateBytes: number;
  #templates = new Map<string, { response: Response; size: number }>();
  #templateBytes = 0;

  constructor(options: GguiRoutesOptions) {
    this.#options = options;
    this.#ctx = gguiContextOf(options);
    this.#authenticator = options.authenticator;
    this.#maxTemplateBytes = options.templateBytes ?? 64 * 1024 * 1024;
  }

  #remember(key: string, response: Response, size: number): void {
    if (size > this.#maxTemplateBytes) return;
    this.#templates.set(key, { response, size });
    this.#templateBytes += size;
    while (this.#templateBytes > this.#maxTemplateBytes) {
      const oldest = this.#templates.keys().next().value!;
      this.#templateBytes -= this.#templates.get(oldest)!.size;
      this.#templates.delete(oldest);
    }
  }

  /** What a kept bundle response is determined by: prefix, content, size, type and date. */
  #bundleKey(visibility: string, located: LocatedFile) {
    const { entry, publishedAt } = located;
    return `${visibility} ${entry.sha256} ${entry.size} ${entry.type} ${publishedAt}`;
  }

  async #bundle(
    req: Request,
    visibility: "public" | "private",
    scope: string,
    name: string,
    version: string,
    file: BundleFile,
  ): Promise<FastAnswer | null> {
    const authn = visibility === "private"
      ? (await authnOf(this.#authenticator, requestHeader(req, "authorization"))) ?? null
      : undefined;
    const located = await locateBundleFile(this.#ctx, {
      visibility,
      authn,
      scope: scopeParam(scope),
      name,
      version,
      file,
    });
    // Refusals and misses (401, 404, 500) are the Hono route's to answer.
    if (located.status !== 200) return null;
    const { entry, publishedAt } = located.body as LocatedFile;
    const subject = authn?.subject;
    const plain = req.method === "GET" && requestHeader(req, "range") === null &&
      requestHeader(req, "if-none-match") === null &&
      requestHeader(req, "if-modified-since") === null;
    const key = this.#bundleKey(visibility, located.body as LocatedFile);
    if (plain) {
      const known = this.#templates.get(key);
      if (known) return { build: () => known.response.clone(), key, subject };
    }
    let inMemory = false;
    const response = await respondWithBlob(req, {
      open: async (range) => {
        const body = await this.#ctx.bundles.get(entry.sha256, range);
        inMemory = body?.bytes !== undefined;
        return body;
      },
      size: entry.size,
      sha256: entry.sha256,
      contentType: entry.type,
      cacheControl: BUNDLE_CACHE_CONTROL[visibility],
      lastModified: new Date(publishedAt),
      extraHeaders: BUNDLE_HEADERS[visibility],
    });
    if (response === null) return null;
    if (!plain || response.status !== 200) return { build: () => response, subject };
    if (!inMemory || this.#maxTemplateBytes <= 0) return { build: () => response, key, subject };
    const template = response.clone();
    this.#remember(key, template, entry.size);
    return { build: () => template.clone(), key, subject };
  }

  /** A plain GET of a bundle file whose finished response is kept, answered at once. */
  #bundleNow(
    req: Request,
    visibility: "public" | "private",
    scope: string,
    name: string,
    version: string,
    file: BundleFile,
  ): FastAnswer | undefined {
    if (
      req.method !== "GET" || requestHeader(req, "range") !== null ||
      requestHeader(req, "if-none-match") !== null ||
      requestHeader(req, "if-modified-since") !== null
    ) {
      return undefined;
    }
    let authn: AuthnContext | null | undefined;
    if (visibility === "private") {
      const who = authnNowOf(this.#authenticator, requestHeader(req, "authorization"));
      if (who === false) return undefined;
      authn = who ?? null;
    }
    const located = locateBundleFileNow(this.#ctx, {
      visibility,
      authn,
      scope: scopeParam(scope),
      name,
      version,
      file,
    });
    if (located === undefined) return undefined;
    const key = this.#bundleKey(visibility, located);
    const known = this.#templates.get(key);
    return known
      ? { build: () => known.response.clone(), key, subject: authn?.subject }
      : undefined;
  }

  /**
   * A `/pkg` read at once when the caller and the rows are known without
   * waiting (`read` answers from memory, or `undefined`).
   */
  #pkgNow(
    req: Request,
    read: (ctx: GguiContext, authn: AuthnContext) => GguiResult | undefined,
  ): FastAnswer | undefined {
    const header = requestHeader(req, "authorization");
    const authn = authnNowOf(this.#authenticator, header);
    // Unknown yet, or a bearer that is not valid (the Hono route counts the failure).
    if (authn === false || (authn === undefined && parseBearer(header) !== null)) return undefined;
    const result = read(gguiContextFor(this.#ctx, this.#options, req), authn);
    return result === undefined ? undefined : this.#pkg(req, result, authn?.subject);
  }

  #pkg(req: Request, result: GguiResult, subject: string | undefined): FastAnswer {
    const ifNoneMatch = requestHeader(req, "if-none-match");
    const ifModifiedSince = requestHeader(req, "if-modified-since");
    // Only an unconditional read is fully determined by its result.
    const etag = ifNoneMatch === null && ifModifiedSince === null ? pkgEtag(result) : undefined;
    const build = () => pkgResponse(result, ifNoneMatch, ifModifiedSince);
    const who = subject === undefined ? {} : { subject };
    return etag === undefined ? { build, ...who } : { build, key: `pkg ${etag}`, ...who };
  }

  /** A `/pkg` read answered by `read` for the request's caller. */
  async #pkgRead(
    req: Request,
    read: (authn: AuthnContext) => Promise<GguiResult>,
  ): Promise<FastAnswer | null> {
    const header = requestHeader(req, "authorization");
    const authn = await authnOf(this.#authenticator, header);
    // A bearer that is not valid: the Hono route answers and counts the failure.
    if (authn === undefined && parseBearer(header) !== null) return null;
    return this.#pkg(req, await read(authn), authn?.subject);
  }

  /** `GET /pkg/:scope/:name/:version`. */
  version(req: Request, p: RouteParams): FastAnswer | Promise<FastAnswer | null> {
    const { scope, name, version } = p as Record<"scope" | "name" | "version", string>;
    const request = (authn: AuthnContext) => ({ authn, scope: scopeParam(scope), name, version });
    return this.#pkgNow(req, (ctx, authn) => readArtifactNow(ctx, request(authn))) ??
      this.#pkgRead(
        req,
        (authn) => readArtifact(gguiContextFor(this.#ctx, this.#options, req), request(authn)),
      );
  }

  /** `GET /pkg/:scope/:name`. */
  listing(req: Request, p: RouteParams): FastAnswer | Promise<FastAnswer | null> {
    const { scope, name } = p as Record<"scope" | "name", string>;
    const request = (authn: AuthnContext) => ({ authn, scope: scopeParam(scope), name });
    return this.#pkgNow(req, (ctx, authn) => listArtifactVersionsNow(ctx, request(authn))) ??
      this.#pkgRead(
        req,
        (authn) =>
          listArtifactVersions(gguiContextFor(this.#ctx, this.#options, req), request(authn)),
      );
  }

  /** `GET /bundles/{public|private}/:scope/:name/:version/:file`. */
  bundle(
    visibility: "public" | "private",
    req: Request,
    p: RouteParams,
  ): FastAnswer | Promise<FastAnswer | null> {
    const { scope, name, version } = p as Record<"scope" | "name" | "version", string>;
    const file = p.file as BundleFile;
    return this.#bundleNow(req, visibility, scope, name, version, file) ??
      this.#bundle(req, visibility, scope, name, version, file);
  }
}
