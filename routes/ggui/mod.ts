/**
 * The ggui wire surface over HTTP: every route of the ggui registry protocol,
 * translating requests to the core operations in `core/ggui/` and their
 * `{status, body}` results to the original's exact responses.
 *
 * Additive fixes over the original: `code` beside `error` on every error
 * body, `issues` beside `errors` on conformance responses, a JSON `null` or
 * non-object publish body is a 400, strong ETags and 304s on `/pkg/*` and on
 * bundles, and `Cache-Control: private, no-cache` + `Vary: Authorization` on
 * the auth-dependent `/pkg/*` responses.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { recordAudit } from "../../core/audit.ts";
import { respondWithBlob } from "../shared/_blob_response.ts";
import { makeResponse, markPublicActivity } from "../ops/_common.ts";
import {
  type BoundTable,
  mountRoutes,
  type Route,
  type RouteParams,
} from "../shared/_route_table.ts";
import { GguiPrepared } from "./_prepared.ts";
import {
  type AuthnContext,
  type BundleFile,
  errorResult,
  type GguiContext,
  type GguiResult,
  scopeParam,
  unauthorized,
} from "../../core/ggui/_common.ts";
import { deleteAuthorKey, listAuthorKeys, registerAuthorKey } from "../../core/ggui/author_keys.ts";
import { locateBundleFile, type LocatedFile, MISS_MESSAGES } from "../../core/ggui/bundles.ts";
import { listArtifactVersions } from "../../core/ggui/list_versions.ts";
import { readArtifact } from "../../core/ggui/read.ts";
import { searchArtifacts } from "../../core/ggui/search.ts";

import {
  authnOf,
  AUTHOR_KEY_MAX_BODY,
  bodyProblem,
  BUNDLE_CACHE_CONTROL,
  BUNDLE_FILE_PARAM,
  BUNDLE_HEADERS,
  CORS_PATHS,
  DEFAULT_MAX_BODY_BYTES,
  GGUI_CORS_HEADERS,
  gguiContextFor,
  gguiContextOf,
  gguiErrorResult,
  type GguiRoutesOptions,
  manifestVisibility,
  parseBearer,
  parseJson,
  PKG_HEADERS,
  pkgResponse,
  readBody,
  send,
} from "./_http.ts";
export {
  GGUI_CORS_HEADERS,
  gguiErrorResult,
  type GguiRoutesOptions,
  isGguiCorsExcluded,
  parseBearer,
} from "./_http.ts";
import { lazily } from "../../base/lazy.ts";

/** The conformance gates and their TSX parser load with the first check (not at start). */
const conformanceGates = lazily(() => import("../../core/ggui/conformance.ts"));
/** The publish pipeline (compile, signatures, the commit) loads with the first publish. */
const publisher = lazily(() => import("../../core/ggui/publish.ts"));

/**
 * Create the ggui routes as a Hono sub-app. Mount it at the root of the
 * registry app (`app.route("/", createGguiRoutes(…))`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createGguiRoutes } from "./mod.ts";
 * import { staticTokenAuthenticator } from "../../core/auth.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 *
 * const app = createGguiRoutes({
 *   ctx: { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() },
 *   authenticator: staticTokenAuthenticator({ token: "s3cret" }),
 *   bundleHost: "http://localhost:9001",
 *   registryHostname: "localhost:9001",
 * });
 * const res = await app.request("/healthz");
 * assert.ok(res.status === 200);
 * ```
 */
export function createGguiRoutes(
  options: GguiRoutesOptions,
  bound: BoundTable<GguiDeps> = gguiRouteTable(options),
): Hono {
  const { deps } = bound;
  const app = new Hono();
  app.onError((err, c) => send(c, gguiErrorResult(err)));
  // Refused writes (401, 403) leave an audit record; reads never do.
  app.use("/publish", auditRefusals(deps));
  app.use("/author-keys/*", auditRefusals(deps)); // also matches `/author-keys`
  return mountRoutes(app, bound.table, deps);
}

/**
 * The ggui route table bound to its dependencies: what {@linkcode createGguiRoutes}
 * mounts, and what `preparedMatcher` reads the prepared reads from.
 */
export function gguiRouteTable(options: GguiRoutesOptions): BoundTable<GguiDeps> {
  const ctx = gguiContextOf(options);
  const deps: GguiDeps = {
    options,
    ctx,
    ctxFor: (c) => gguiContextFor(ctx, options, c.req.raw),
    maxBody: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    prepared: new GguiPrepared(options),
  };
  return { table: GGUI_ROUTES, deps };
}

/** What every ggui handler receives. */
export interface GguiDeps {
  /** The routes' options. */
  options: GguiRoutesOptions;
  /** The ggui context of the options. */
  ctx: GguiContext;
  /** The context of one request (its hosts, when `hostOf` says so). */
  ctxFor: (c: Context) => GguiContext;
  /** Largest request body. */
  maxBody: number;
  /** The prepared reads' state. */
  prepared: GguiPrepared;
}

/** A ggui handler. */
type GguiHandler = (c: Context, deps: GguiDeps) => Response | Promise<Response>;

/** The caller; named in the request log when there is one. */
async function authn(c: Context, deps: GguiDeps): Promise<AuthnContext> {
  const header = c.req.header("authorization");
  const who = await authnOf(deps.options.authenticator, header);
  if (who !== undefined) c.set("subject" as never, who.subject as never);
  // A bearer that is not valid: reads answer as to anyone, but the attempt
  // counts as a failed authentication (else reads would test tokens freely).
  else if (parseBearer(header) !== null) c.set("authFailed" as never, true as never);
  return who;
}

/** After a refused write (401, 403), write a refused audit record. */
function auditRefusals(deps: GguiDeps): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.req.method === "GET" || c.req.method === "HEAD" || c.req.method === "OPTIONS") return;
    if (c.res.status !== 401 && c.res.status !== 403) return;
    try {
      await recordAudit(deps.ctx, {
        actor: (await authn(c, deps))?.subject ?? "anonymous",
        action: c.req.path === "/publish" ? "ggui.publish" : "ggui.author_key",
        target: c.req.path,
        outcome: "refused",
        detail: { status: c.res.status },
      });
    } catch {
      // The refusal stands even if the audit store is down.
    }
  };
}

/** A `/pkg` answer: private to the credential, conditional on its ETag and date. */
function sendPkg(c: Context, result: GguiResult): Response {
  return pkgResponse(result, c.req.header("if-none-match"), c.req.header("if-modified-since"));
}

/** `OPTIONS` on a CORS path: the CORS headers. */
function corsPreflight(): Response {
  return makeResponse(null, 204, GGUI_CORS_HEADERS);
}

/** `GET /healthz`. */
const healthz: GguiHandler = (c) => send(c, { status: 200, body: { ok: true } });

/** `GET /search`: artifacts matching the query (with the caller's private ones it may read). */
const search: GguiHandler = async (c, deps) => {
  const q = c.req.query();
  const who = await authn(c, deps);
  // A signed-in caller's results may hold its private artifacts: never stored for others.
  const result = await searchArtifacts(deps.ctxFor(c), { query: q, authn: who });
  return send(c, result, who ? PKG_HEADERS : {});
};

/** `GET /pkg/:scope/:name`: the versions the caller may see. */
const listVersions: GguiHandler = async (c, deps) => {
  const { scope, name } = c.req.param();
  return sendPkg(
    c,
    await listArtifactVersions(deps.ctxFor(c), {
      authn: await authn(c, deps),
      scope: scopeParam(scope!),
      name: name!,
    }),
  );
};

/** `GET /pkg/:scope/:name/:version`: one version's document. */
const readVersion: GguiHandler = async (c, deps) => {
  const { scope, name, version } = c.req.param();
  return sendPkg(
    c,
    await readArtifact(deps.ctxFor(c), {
      authn: await authn(c, deps),
      scope: scopeParam(scope!),
      name: name!,
      version: version!,
    }),
  );
};

/** `POST /publish`: publish a version (manifest, bundle, signatures). */
const publish: GguiHandler = async (c, deps) => {
  const who = await authn(c, deps);
  if (who === undefined) return send(c, unauthorized());
  const text = await readBody(c, deps.maxBody);
  if (text === "too_large") {
    return send(
      c,
      errorResult(413, "bundle_too_large", `request body is over ${deps.maxBody} bytes`),
    );
  }
  const parsed = parseJson(text);
  if (parsed === undefined) {
    return send(c, errorResult(400, "manifest_invalid", "request body is not valid JSON"));
  }
  const { publishArtifact } = await publisher();
  const result = await publishArtifact(deps.ctxFor(c), { authn: who, body: parsed.value });
  // A public version is public activity: the anonymous /metrics view counts it.
  if (result.status === 201 && manifestVisibility(parsed.value) === "public") {
    markPublicActivity(c);
  }
  return send(c, result);
};

/** `POST /author-keys`: register an author key of the caller. */
const postAuthorKey: GguiHandler = async (c, deps) => {
  const who = await authn(c, deps);
  if (who === undefined) return send(c, unauthorized());
  const text = await readBody(c, AUTHOR_KEY_MAX_BODY);
  const parsed = text === "too_large" ? undefined : parseJson(text);
  if (parsed === undefined) {
    return send(c, errorResult(400, "invalid_request", bodyProblem(text, AUTHOR_KEY_MAX_BODY)));
  }
  return send(c, await registerAuthorKey(deps.ctx, { authn: who, body: parsed.value }));
};

/** `GET /author-keys`: the caller's own keys, private to that credential like /pkg reads. */
const getAuthorKeys: GguiHandler = async (c, deps) => {
  const who = await authn(c, deps);
  if (who === undefined) return send(c, unauthorized());
  return send(c, await listAuthorKeys(deps.ctx, { authn: who }), PKG_HEADERS);
};

/** `DELETE /author-keys/:keyId` (and `/author-keys/`, an empty id: a 400, not an unknown route). */
const deleteAuthorKeyRoute: GguiHandler = async (c, deps) => {
  const who = await authn(c, deps);
  if (who === undefined) return send(c, unauthorized());
  const keyId = c.req.param("keyId") ?? "";
  return send(c, await deleteAuthorKey(deps.ctx, { authn: who, keyId }));
};

/** `POST /conformance/check`: check a manifest without publishing. */
const conformanceCheck: GguiHandler = async (c, deps) => {
  const text = await readBody(c, deps.maxBody);
  const parsed = text === "too_large" ? undefined : parseJson(text);
  if (parsed === undefined) {
    const errors = [{ code: "manifest_invalid", message: bodyProblem(text, deps.maxBody) }];
    return send(c, { status: 400, body: { ok: false, errors, issues: errors } });
  }
  const { checkConformanceRequest } = await conformanceGates();
  return send(c, await checkConformanceRequest(deps.ctx, { body: parsed.value }));
};

/** `GET /bundles/<visibility>/:scope/:name/:version/:file`: one file of a bundle. */
function bundleFile(visibility: "public" | "private"): GguiHandler {
  const cacheControl = BUNDLE_CACHE_CONTROL[visibility];
  return async (c, deps) => {
    const { scope, name, version } = c.req.param();
    const file = c.req.param("file") as BundleFile;
    const who = visibility === "private" ? (await authn(c, deps)) ?? null : undefined;
    const located = await locateBundleFile(deps.ctx, {
      visibility,
      authn: who,
      scope: scopeParam(scope!),
      name: name!,
      version: version!,
      file,
    });
    if (located.status !== 200) return send(c, located);
    const { entry, publishedAt } = located.body as LocatedFile;
    const res = await respondWithBlob(c, {
      open: (range) => deps.ctx.bundles.get(entry.sha256, range),
      size: entry.size,
      sha256: entry.sha256,
      contentType: entry.type,
      cacheControl,
      lastModified: new Date(publishedAt),
      extraHeaders: BUNDLE_HEADERS[visibility],
    });
    return res ?? send(c, errorResult(404, "not_found", MISS_MESSAGES[file]));
  };
}

/**
 * The ggui route table, in mounting order. CORS: on every surface path except
 * /publish and /bundles/private/*; the headers are part of each response as it
 * is built (send, sendPkg, blobs).
 */
const GGUI_ROUTES: readonly Route<GguiDeps>[] = [
  ...CORS_PATHS.map((path) => ({ method: "OPTIONS", path, handler: corsPreflight } as const)),
  { method: "GET", path: "/healthz", handler: healthz },
  { method: "GET", path: "/search", handler: search },
  {
    method: "GET",
    path: "/pkg/:scope/:name",
    handler: listVersions,
    prepared: (req, p, d) => d.prepared.listing(req, p),
  },
  {
    method: "GET",
    path: "/pkg/:scope/:name/:version",
    handler: readVersion,
    prepared: (req, p, d) => d.prepared.version(req, p),
  },
  { method: "POST", path: "/publish", handler: publish },
  { method: "POST", path: "/author-keys", handler: postAuthorKey },
  { method: "GET", path: "/author-keys", handler: getAuthorKeys },
  { method: "DELETE", path: "/author-keys/:keyId", handler: deleteAuthorKeyRoute },
  { method: "DELETE", path: "/author-keys/", handler: deleteAuthorKeyRoute },
  { method: "POST", path: "/conformance/check", handler: conformanceCheck },
  ...(["public", "private"] as const).map((visibility) => ({
    method: "GET",
    path: `/bundles/${visibility}/:scope/:name/:version/${BUNDLE_FILE_PARAM}`,
    handler: bundleFile(visibility),
    prepared: (req: Request, p: RouteParams, d: GguiDeps) => d.prepared.bundle(visibility, req, p),
  } as const)),
];
