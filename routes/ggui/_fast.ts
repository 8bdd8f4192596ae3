/**
 * The ggui surface's fast routes (see `_fast_reads.ts`): `GET|HEAD
 * /pkg/:scope/:name`, `/pkg/:scope/:name/:version` and
 * `/bundles/{public|private}/:scope/:name/:version/:file`, answered by the same
 * core operations and response builders as the Hono routes in `mod.ts`.
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
import { listArtifactVersions } from "../../core/ggui/list_versions.ts";
import { readArtifact, readArtifactNow } from "../../core/ggui/read.ts";
import { respondWithBlob } from "../shared/_blob_response.ts";
import type { FastAnswer, FastMatcher, FastRoute } from "./_fast_reads.ts";
import {
  authnNowOf,
  authnOf,
  BUNDLE_CACHE_CONTROL,
  BUNDLE_FILE_PARAM,
  BUNDLE_FILES,
  BUNDLE_HEADERS,
  gguiContextFor,
  gguiContextOf,
  type GguiRoutesOptions,
  parseBearer,
  pkgEtag,
  pkgResponse,
} from "./mod.ts";

/** Options of {@linkcode gguiFastReads}: the ggui routes' own, plus a memory budget. */
export interface GguiFastReadsOptions extends GguiRoutesOptions {
  /** Bytes of finished bundle responses kept for cloning (default 64 MiB; 0: none). */
  templateBytes?: number;
}

const VERSION_ROUTE = "/pkg/:scope/:name/:version";
const LISTING_ROUTE = "/pkg/:scope/:name";
const BUNDLE_ROUTES = {
  public: `/bundles/public/:scope/:name/:version/${BUNDLE_FILE_PARAM}`,
  private: `/bundles/private/:scope/:name/:version/${BUNDLE_FILE_PARAM}`,
} as const;

/**
 * The ggui fast routes over the same options as `createGguiRoutes`.
 *
 * @example
 * ```ts ignore
 * const match = gguiFastReads(gguiOptions);
 * const fetch = fastReads({ ops, clientKey, limits: true, match, fallback: app.fetch });
 * ```
 */
export function gguiFastReads(options: GguiFastReadsOptions): FastMatcher {
  const reads = new GguiFastReads(options);
  return (req, path) => reads.match(req, path);
}

/** The ggui fast routes' state (kept bundle responses) and their answers. */
class GguiFastReads {
  #options: GguiFastReadsOptions;
  #ctx: GguiContext;
  #authenticator: GguiFastReadsOptions["authenticator"];
  #maxTemplateBytes: number;
  #templates = new Map<string, { response: Response; size: number }>();
  #templateBytes = 0;

  constructor(options: GguiFastReadsOptions) {
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
      ? (await authnOf(this.#authenticator, req.headers.get("authorization"))) ?? null
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
    const plain = req.method === "GET" && !req.headers.has("range") &&
      !req.headers.has("if-none-match") && !req.headers.has("if-modified-since");
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
      req.method !== "GET" || req.headers.has("range") || req.headers.has("if-none-match") ||
      req.headers.has("if-modified-since")
    ) {
      return undefined;
    }
    let authn: AuthnContext | null | undefined;
    if (visibility === "private") {
      const who = authnNowOf(this.#authenticator, req.headers.get("authorization"));
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

  /** A version read at once when the caller and the rows are known without waiting. */
  #versionNow(
    req: Request,
    scope: string,
    name: string,
    version: string,
  ): FastAnswer | undefined {
    const header = req.headers.get("authorization");
    const authn = authnNowOf(this.#authenticator, header);
    // Unknown yet, or a bearer that is not valid (the Hono route counts the failure).
    if (authn === false || (authn === undefined && parseBearer(header) !== null)) return undefined;
    const result = readArtifactNow(gguiContextFor(this.#ctx, this.#options, req), {
      authn,
      scope: scopeParam(scope),
      name,
      version,
    });
    return result === undefined ? undefined : this.#pkg(req, result, authn?.subject);
  }

  #pkg(req: Request, result: GguiResult, subject: string | undefined): FastAnswer {
    const ifNoneMatch = req.headers.get("if-none-match");
    const ifModifiedSince = req.headers.get("if-modified-since");
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
    const header = req.headers.get("authorization");
    const authn = await authnOf(this.#authenticator, header);
    // A bearer that is not valid: the Hono route answers and counts the failure.
    if (authn === undefined && parseBearer(header) !== null) return null;
    return this.#pkg(req, await read(authn), authn?.subject);
  }

  /** The fast route a GET or HEAD of `path` takes, or `null` (the Hono routes answer). */
  match(req: Request, path: string): FastRoute | null {
    if (path.startsWith("/pkg/")) return this.#matchPkg(req, path);
    if (path.startsWith("/bundles/")) return this.#matchBundle(req, path);
    return null;
  }

  /** `/pkg/:scope/:name` and `/pkg/:scope/:name/:version`. */
  #matchPkg(req: Request, path: string): FastRoute | null {
    const parts = path.split("/");
    if (parts.length === 5) {
      const [, , scope, name, version] = parts as [string, string, string, string, string];
      if (scope === "" || name === "" || version === "") return null;
      return {
        route: VERSION_ROUTE,
        answer: () =>
          this.#versionNow(req, scope, name, version) ??
            this.#pkgRead(
              req,
              (authn) =>
                readArtifact(gguiContextFor(this.#ctx, this.#options, req), {
                  authn,
                  scope: scopeParam(scope),
                  name,
                  version,
                }),
            ),
      };
    }
    if (parts.length === 4) {
      const [, , scope, name] = parts as [string, string, string, string];
      if (scope === "" || name === "") return null;
      return {
        route: LISTING_ROUTE,
        answer: () =>
          this.#pkgRead(
            req,
            (authn) =>
              listArtifactVersions(gguiContextFor(this.#ctx, this.#options, req), {
                authn,
                scope: scopeParam(scope),
                name,
              }),
          ),
      };
    }
    return null;
  }

  /** `/bundles/{public|private}/:scope/:name/:version/:file`. */
  #matchBundle(req: Request, path: string): FastRoute | null {
    const parts = path.split("/");
    if (parts.length !== 7) return null;
    const [, , visibility, scope, name, version, file] = parts as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    if (visibility !== "public" && visibility !== "private") return null;
    if (scope === "" || name === "" || version === "") return null;
    if (!(BUNDLE_FILES as readonly string[]).includes(file)) return null;
    return {
      route: BUNDLE_ROUTES[visibility],
      answer: () =>
        this.#bundleNow(req, visibility, scope, name, version, file as BundleFile) ??
          this.#bundle(req, visibility, scope, name, version, file as BundleFile),
    };
  }
}
