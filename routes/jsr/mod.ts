/**
 * The JSR wire surface: Deno's own package protocol, so stock `deno add`,
 * `deno run`, `deno check` and `deno publish` work against this registry
 * with `JSR_URL` (and `DENO_AUTH_TOKENS` for private packages). Reads live
 * at the root (`/@scope/name/meta.json`, `/@scope/name/<v>_meta.json`,
 * `/@scope/name/<v>/<path>`), the API under `/api/` (Deno derives it from
 * `JSR_URL` by replacing the path). See docs/jsr.md.
 *
 * @module
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { Authenticator, Principal } from "../../core/auth.ts";
import { recordAudit } from "../../core/audit.ts";
import { CONFLICT_RETRY_AFTER_SECONDS, isRegistryError } from "../../base/errors.ts";
import { holdBlobs } from "../../core/_blob_hold.ts";
import { jsrError, jsrWireError } from "../../core/jsr/errors.ts";
import {
  authorizeJsrPublish,
  DEFAULT_JSR_LIMITS,
  getJsrTask,
  isTaskFailure,
  type JsrContext,
  jsrRef,
  jsrVisibility,
  newTaskId,
  publishJsrTarball,
  recordFailedTask,
  refuseTakenVersion,
} from "../../core/jsr/publish.ts";
import {
  jsrFile,
  jsrFileNow,
  jsrPackageForPublish,
  type JsrPackageMeta,
  jsrPackageMeta,
  jsrPackageMetaNow,
  type JsrRead as JsrFound,
  type JsrReader,
  type JsrVersion,
  jsrVersion,
  jsrVersionList,
  jsrVersionNow,
  versionDocument,
} from "../../core/jsr/read.ts";
import type { FileEntry } from "../../core/rows.ts";
import type { PackageRef, VersionRef } from "../../base/names.ts";
import { setJsrYanked } from "../../core/jsr/yank.ts";
import { type BlobResponseOptions, jsonDigest, respondWithJson } from "../shared/_blob_response.ts";
import { jsonResponse, makeResponse, markPublicActivity } from "../ops/_common.ts";
import { collectBytes } from "../../storage/_common.ts";
import {
  type BoundTable,
  type FastAnswer,
  mountRoutes,
  type PreparedRead,
  type Route,
  type RouteParams,
} from "../shared/_route_table.ts";
import { isPlainRead, preparedBlob } from "../shared/_prepared_reads.ts";
import { requestHeader } from "../ops/_request_header.ts";

/** Options of {@linkcode createJsrRoutes}. */
export interface JsrRoutesOptions {
  /** Storage, clock, namespace policy, limits and subscriptions. */
  ctx: JsrContext;
  /** The one identity chain (static, stored and auth.json tokens). */
  authenticator: Authenticator;
  /** The client IP of a request (audit records). */
  clientIp?: (c: Context) => string;
  /**
   * An upstream answers, in front of these routes, reads of namespaces this
   * registry does not own (`upstream.ts`): the prepared reads then answer only
   * what they find at once and hand every other request to the full stack,
   * whose upstream reads decide (default false: the prepared reads wait for
   * what they do not find at once, and answer misses themselves).
   */
  upstreamInFront?: boolean;
}

/**
 * The context variable naming a publish's outcome when the status cannot
 * (JSR answers a failed task with 200 and a duplicate with 400); the
 * operator counters read it.
 */
export const PUBLISH_OUTCOME = "publishOutcome";

/** Headers of every API answer and every error: JSON, never stored by any cache. */
const API_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

/** A JSR `{code, message}` error response. */
export function jsrErrorResponse(err: unknown): Response {
  const { status, body } = jsrWireError(err);
  // A lost race or a GC run under way: retry shortly.
  const headers = body.code === "conflict"
    ? { ...API_HEADERS, "retry-after": String(CONFLICT_RETRY_AFTER_SECONDS) }
    : API_HEADERS;
  return jsonResponse(body, status, headers);
}

function json(value: unknown, status = 200): Response {
  return jsonResponse(value, status, API_HEADERS);
}

/** Whether a path belongs to this surface (its unknown routes answer in JSR's format). */
export function isJsrPath(path: string): boolean {
  return path.startsWith("/@") || path === "/api" || path.startsWith("/api/");
}

/** The caller of a request: a principal, `null` (anonymous), or a thrown 401. */
async function callerOf(c: Context, authenticator: Authenticator): Promise<JsrReader> {
  const principal = await readerOf(c.req.raw, authenticator);
  if (principal !== null) c.set("subject" as never, principal.subject as never);
  return principal;
}

/** {@linkcode callerOf} of a bare request. */
async function readerOf(req: Request, authenticator: Authenticator): Promise<JsrReader> {
  const header = requestHeader(req, "authorization");
  if (header === null) return null;
  const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
  const principal = token === "" ? null : await authenticator.authenticate(token);
  if (principal === null) {
    throw jsrError("invalidBearerToken", "The bearer token is invalid, expired or revoked");
  }
  return principal;
}

/**
 * {@linkcode readerOf} without waiting: the reader when the token is known at
 * once (`authenticateNow`); `undefined` when only `readerOf` can tell (an
 * invalid token included: `readerOf` refuses it).
 */
function readerNow(req: Request, authenticator: Authenticator): JsrReader | undefined {
  const header = requestHeader(req, "authorization");
  if (header === null) return null;
  const token = header.startsWith("Bearer ") ? header.slice(7).trim() : "";
  return token === "" ? undefined : authenticator.authenticateNow?.(token) ?? undefined;
}

/** Cache headers of a read that may depend on the caller. */
function readHeaders(isPrivate: boolean): Record<string, string> {
  return isPrivate ? { vary: "Authorization" } : {};
}

/**
 * Create the JSR routes as a Hono sub-app; mount it at the root of the
 * registry app.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createJsrRoutes } from "./mod.ts";
 * import { staticTokenAuthenticator } from "../../core/auth.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * const app = createJsrRoutes({
 *   ctx: {
 *     storage: new MemoryRegistryStorage(),
 *     bundles: new MemoryBundleStorage(),
 *     clock: () => new Date(),
 *     reservedScopes: [],
 *     declaredNamespace: () => Promise.resolve(undefined),
 *     defaultVisibility: "private",
 *   },
 *   authenticator: staticTokenAuthenticator({ token: "s3cret" }),
 * });
 * const res = await app.request("/@acme/util/meta.json");
 * assert.equal(res.status, 404);
 * assert.equal((await res.json()).code, "packageNotFound");
 * ```
 */
export function createJsrRoutes(
  options: JsrRoutesOptions,
  bound: BoundTable<JsrDeps> = jsrRouteTable(options),
): Hono {
  const { deps } = bound;
  const app = new Hono();
  app.onError((err, c) => {
    if (c.req.method === "POST" && isRegistryError(err, "version_exists")) {
      c.set(PUBLISH_OUTCOME as never, "conflict" as never);
    }
    return jsrErrorResponse(err);
  });
  // Refused writes (401, 403) leave an audit record; reads never do.
  app.use("/api/*", auditRefusedWrites(deps));
  return mountRoutes(app, bound.table, deps);
}

/**
 * The JSR route table bound to its dependencies: what {@linkcode createJsrRoutes}
 * mounts, and what `preparedMatcher` reads the prepared reads from.
 */
export function jsrRouteTable(options: JsrRoutesOptions): BoundTable<JsrDeps> {
  const deps: JsrDeps = {
    ctx: options.ctx,
    authenticator: options.authenticator,
    limits: options.ctx.limits ?? DEFAULT_JSR_LIMITS,
    ipOf: (c) => options.clientIp?.(c),
    upstreamInFront: options.upstreamInFront ?? false,
  };
  return { table: JSR_ROUTES, deps };
}

/** What every JSR handler receives. */
export interface JsrDeps {
  /** The JSR context. */
  ctx: JsrRoutesOptions["ctx"];
  /** Who a token is. */
  authenticator: Authenticator;
  /** Publishing limits. */
  limits: typeof DEFAULT_JSR_LIMITS;
  /** The client IP of a request (audit records). */
  ipOf: (c: Context) => string | undefined;
  /** See {@linkcode JsrRoutesOptions.upstreamInFront}. */
  upstreamInFront: boolean;
}

/** A JSR handler. */
type JsrHandler = (c: Context, deps: JsrDeps) => Promise<Response>;

/** After a refused write (401, 403) under `/api/`, write a refused audit record. */
function auditRefusedWrites(deps: JsrDeps): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const method = c.req.method;
    if (method === "GET" || method === "HEAD" || method === "OPTIONS") return;
    if (c.res.status !== 401 && c.res.status !== 403) return;
    let actor = "anonymous";
    try {
      actor = (await callerOf(c, deps.authenticator))?.subject ?? "anonymous";
    } catch { /* an invalid token is anonymous here */ }
    try {
      const ip = deps.ipOf(c);
      await recordAudit(deps.ctx, {
        actor,
        action: method === "PATCH" ? "jsr.yank" : "jsr.publish",
        target: c.req.path,
        outcome: "refused",
        ...(ip ? { ip } : {}),
        detail: { status: c.res.status },
      });
    } catch {
      // The refusal stands even if the audit store is down.
    }
  };
}

// --- reads (JSR_URL) ----------------------------------------------------------
const PKG = "/:scope{@[^/]+}/:name";

/** A read of a package path: the scope (with its `@`), the name and, for files, version and path. */
type PkgParams = RouteParams;

/**
 * A read of a package path by a reader: how its rows are found (later, or at
 * once when they are in memory), what a miss answers, and the answer of what
 * was found. The route handler and the prepared read share it.
 */
interface JsrRead<T> {
  /** What the reader may see; `null` on a miss (a hidden private thing is a miss). */
  find(ctx: JsrDeps["ctx"], p: PkgParams, reader: JsrReader): Promise<T | null>;
  /** {@linkcode JsrRead.find} without waiting; `undefined` when only `find` can tell. */
  findNow(ctx: JsrDeps["ctx"], p: PkgParams, reader: JsrReader): T | null | undefined;
  /** The error a miss answers. */
  miss(p: PkgParams): Error;
  /** The answer of what was found. */
  answer(req: Request, found: T, deps: JsrDeps & { reader: JsrReader }): FastAnswer;
}

/** A route handler over a {@linkcode JsrRead}: the caller named in the log, then the answer. */
function handlerOf<T>(read: JsrRead<T>, params?: (c: Context) => PkgParams): JsrHandler {
  return async (c, deps) => {
    const reader = await callerOf(c, deps.authenticator);
    const p = params ? params(c) : c.req.param();
    return await (await answerOf(read, c.req.raw, p, { ...deps, reader })).build();
  };
}

async function answerOf<T>(
  read: JsrRead<T>,
  req: Request,
  p: PkgParams,
  deps: JsrDeps & { reader: JsrReader },
): Promise<FastAnswer> {
  const found = await read.find(deps.ctx, p, deps.reader);
  if (!found) throw read.miss(p);
  return read.answer(req, found, deps);
}

/**
 * The prepared read of a {@linkcode JsrRead}: an invalid token, a miss or an
 * error declines. What is found at once (caller and rows in memory) is
 * answered at once; anything else waits (a token only the store knows, rows
 * out of the read cache). A miss, private or missing alike, answers the
 * route's error, or, with an upstream in front, goes on to the full stack
 * (whose upstream reads decide), known at once or after the wait.
 *
 * A find answers for the upstream too: a thing found is in a namespace that
 * holds a package (package rows are never deleted), so the namespace is ours
 * and the upstream reads in front would let the request through to these routes.
 */
function preparedOf<T>(
  read: JsrRead<T>,
  params?: (p: PkgParams) => PkgParams,
): PreparedRead<JsrDeps> {
  return (req, raw, deps) => {
    const p = params ? params(raw) : raw;
    const reader = readerNow(req, deps.authenticator);
    const found = reader === undefined ? undefined : read.findNow(deps.ctx, p, reader);
    if (found) return read.answer(req, found, { ...deps, reader: reader! });
    if (found === null && deps.upstreamInFront) return null;
    return preparedLater(read, req, p, deps);
  };
}

async function preparedLater<T>(
  read: JsrRead<T>,
  req: Request,
  p: PkgParams,
  deps: JsrDeps,
): Promise<FastAnswer | null> {
  const reader = await readerOf(req, deps.authenticator);
  const found = await read.find(deps.ctx, p, reader);
  if (found) return read.answer(req, found, { ...deps, reader });
  if (deps.upstreamInFront) return null;
  throw read.miss(p);
}

/** Parsed references by their URL parts (hot reads name the same few again and again). */
const refs = new Map<string, Readonly<PackageRef | VersionRef>>();
/** Most references kept (past it, the map starts over). */
const MAX_REFS = 10_000;

/**
 * The frozen reference a read's URL parts name, parsed once (`jsrRef`: a
 * malformed name throws, and is never kept).
 */
function refOf(scope: string, name: string): Readonly<PackageRef>;
function refOf(scope: string, name: string, version: string): Readonly<VersionRef>;
function refOf(scope: string, name: string, version?: string): Readonly<PackageRef | VersionRef> {
  const id = version === undefined ? `${scope}/${name}` : `${scope}/${name}/${version}`;
  let ref = refs.get(id);
  if (ref === undefined) {
    const parsed = version === undefined
      ? jsrRef(scope.slice(1), name)
      : jsrRef(scope.slice(1), name, version);
    if (refs.size >= MAX_REFS) refs.clear();
    refs.set(id, ref = Object.freeze(parsed));
  }
  return ref;
}

const pkgRef = (p: PkgParams) => refOf(p.scope!, p.name!);

/** `GET /@scope/name/meta.json`: the versions the caller may see. */
const packageMeta: JsrRead<JsrFound<JsrPackageMeta>> = {
  find: (ctx, p, reader) => jsrPackageMeta(ctx, pkgRef(p), reader),
  findNow: (ctx, p, reader) => jsrPackageMetaNow(ctx, pkgRef(p), reader),
  miss: (p) => jsrError("packageNotFound", `Package ${p.scope}/${p.name} not found`),
  answer(req, meta, deps) {
    // The version list depends on who asks whenever any version could be
    // private, so it always varies on Authorization: a stranger's view of a
    // package with hidden versions carries the headers of a wholly public one.
    const build = () =>
      respondWithJson(req, meta.value, {
        cacheControl: `${meta.private ? "private" : "public"}, no-cache`,
        headers: { vary: "Authorization" },
      });
    // A document is rendered once per package state: its bytes' digest and
    // the cache headers name the whole response (compressed once, not per request).
    const digest = isPlainRead(req) ? jsonDigest(meta.value) : undefined;
    const key = digest === undefined ? {} : { key: `jsr meta ${meta.private} ${digest}` };
    return { build, ...key, ...subjectOf(deps.reader) };
  },
};

const versionRef = (p: PkgParams) =>
  refOf(p.scope!, p.name!, p.file!.slice(0, -"_meta.json".length));

/** `GET /@scope/name/<version>_meta.json`: a version's metadata, the exact stored bytes. */
const versionMeta: JsrRead<JsrFound<JsrVersion>> = {
  find: (ctx, p, reader) => jsrVersion(ctx, versionRef(p), reader),
  findNow: (ctx, p, reader) => jsrVersionNow(ctx, versionRef(p), reader),
  miss(p) {
    const ref = versionRef(p);
    return jsrError(
      "packageVersionNotFound",
      `Package version ${p.scope}/${ref.name}@${ref.version} not found`,
    );
  },
  answer(req, found, deps) {
    const { facts } = found.value;
    // The exact stored bytes: Deno's lockfile pins their SHA-256.
    return blobAnswer(req, deps, {
      of: found.value.row,
      blob: {
        sha256: facts.versionMetaSha256,
        size: facts.versionMetaSize,
        type: "application/json",
        private: found.private,
        publishedAt: found.value.row.publishedAt,
        missing: "version metadata blob is missing",
      },
    });
  },
};

const fileRef = (p: PkgParams) => refOf(p.scope!, p.name!, p.version!);

/** `GET /@scope/name/<version>/<path>`: one file of a version. */
const versionFile: JsrRead<JsrFound<FileEntry>> = {
  find: (ctx, p, reader) => jsrFile(ctx, fileRef(p), p.path!, reader),
  findNow: (ctx, p, reader) => jsrFileNow(ctx, fileRef(p), p.path!, reader),
  miss: (p) =>
    jsrError("notFound", `File ${p.path || "/"} of ${p.scope}/${p.name}@${p.version} not found`),
  answer(req, found, deps) {
    const entry = found.value;
    return blobAnswer(req, deps, {
      of: entry,
      blob: {
        sha256: entry.sha256,
        size: entry.size,
        type: entry.type,
        private: found.private,
        publishedAt: found.publishedAt,
        missing: "file blob is missing",
      },
    });
  },
};

/** A file path as the handler reads it: the request path after the version, decoded. */
function filePathParams(c: Context): PkgParams {
  const { scope, name, version } = c.req.param() as Record<string, string>;
  const prefix = `/${scope}/${name}/${version}`;
  let path: string;
  try {
    path = decodeURIComponent(c.req.path.slice(c.req.path.indexOf(prefix) + prefix.length));
  } catch {
    path = "";
  }
  return { scope: scope!, name: name!, version: version!, path };
}

/** A blob of a version as a read answers it. */
interface VersionBlob {
  sha256: string;
  size: number;
  type: string;
  private: boolean;
  publishedAt: string | undefined;
  missing: string;
}

/** What a blob's answer is made of, whoever asks and however (see {@linkcode blobAnswer}). */
interface BlobParts {
  blob: BlobResponseOptions;
  key: string;
  missing: () => Error;
  /** What the parts were made for: they serve another request only for the same. */
  made: { bundles: unknown; private: boolean; publishedAt: string | undefined };
}

/** The parts of blob answers, by the immutable row or file entry they describe. */
const blobParts = new WeakMap<object, BlobParts>();

/**
 * The answer of an immutable blob of a version (prepared once per blob and
 * visibility). Its parts are made once per `of`, the immutable row or file
 * entry the blob belongs to (kept by the read cache), and visibility.
 */
function blobAnswer(
  req: Request,
  deps: JsrDeps & { reader: JsrReader },
  described: { of: object; blob: VersionBlob },
): FastAnswer {
  const { of, blob } = described;
  const bundles = deps.ctx.bundles;
  let parts = blobParts.get(of);
  const made = parts?.made;
  if (
    made?.bundles !== bundles || made.private !== blob.private ||
    made.publishedAt !== blob.publishedAt
  ) {
    parts = blobPartsOf(blob, bundles);
    blobParts.set(of, parts);
  }
  const { blob: options, key, missing } = parts!;
  return preparedBlob(req, { blob: options, key, missing, subject: deps.reader?.subject });
}

function blobPartsOf(blob: VersionBlob, bundles: JsrDeps["ctx"]["bundles"]): BlobParts {
  const { sha256, size, type, publishedAt } = blob;
  return {
    blob: {
      open: (range) => bundles.get(sha256, range),
      size,
      sha256,
      contentType: type,
      cacheControl: `${blob.private ? "private" : "public"}, max-age=31536000, immutable`,
      ...(publishedAt === undefined ? {} : { lastModified: new Date(publishedAt) }),
      extraHeaders: readHeaders(blob.private),
    },
    key: `jsr ${blob.private} ${sha256} ${size} ${type} ${publishedAt}`,
    missing: () => jsrError("internalServerError", blob.missing),
    made: { bundles, private: blob.private, publishedAt },
  };
}

/** The log line's subject of a reader. */
function subjectOf(reader: JsrReader): { subject?: string } {
  return reader === null ? {} : { subject: reader.subject };
}

// --- API (JSR_URL with the path /api/) --------------------------------------------
const API_PKG = "/api/scopes/:scope/packages/:package";

/** The package an API route names. */
function apiPkgRef(c: Context) {
  return jsrRef(c.req.param("scope")!, c.req.param("package")!);
}

/** The version an API route names. */
function apiVersionRef(c: Context) {
  return jsrRef(c.req.param("scope")!, c.req.param("package")!, c.req.param("version")!);
}

/** The publisher of a write: a principal, or a 401. */
async function publisher(c: Context, deps: JsrDeps): Promise<Principal> {
  const who = await callerOf(c, deps.authenticator);
  if (who === null) {
    throw jsrError(
      "missingAuthentication",
      "Authentication is required: pass a token with --token",
    );
  }
  return who;
}

/** `GET /api/scopes/:scope/packages/:package`: the package as `deno publish` reads it. */
const getApiPackage: JsrHandler = async (c, deps) => {
  const ref = apiPkgRef(c);
  const doc = await jsrPackageForPublish(
    deps.ctx,
    ref,
    await callerOf(c, deps.authenticator),
  );
  if (!doc) throw packageNotFoundApi(ref);
  return json(doc);
};

/** `GET …/packages/:package/versions`: the versions the caller may see. */
const getApiVersions: JsrHandler = async (c, deps) => {
  const who = await callerOf(c, deps.authenticator);
  const ref = apiPkgRef(c);
  const list = await jsrVersionList(deps.ctx, ref, who);
  if (!list) throw packageNotFoundApi(ref);
  return json(list);
};

/** `GET …/versions/:version`: one version's document. */
const getApiVersion: JsrHandler = async (c, deps) => {
  const who = await callerOf(c, deps.authenticator);
  const ref = apiVersionRef(c);
  const found = await jsrVersion(deps.ctx, ref, who);
  if (!found) {
    throw jsrError(
      "packageVersionNotFound",
      `Package version @${c.req.param("scope")}/${ref.name}@${ref.version} not found`,
    );
  }
  return json(versionDocument(found.value));
};

/** The tarball-too-large error, with JSR's extra fields. */
function tarballTooLarge(limits: JsrDeps["limits"], size?: number) {
  return jsrError(
    "tarballSizeLimitExceeded",
    `The tarball is larger than the limit of ${limits.maxTarballBytes} bytes`,
    { extra: { ...(size === undefined ? {} : { size }), maxSize: limits.maxTarballBytes } },
  );
}

/** Refuse a publish whose tarball is not sent gzip-encoded. */
function requireGzip(c: Context): void {
  const encoding = c.req.header("content-encoding") ?? "";
  if (!/(^|,)\s*gzip\s*($|,)/i.test(encoding)) {
    throw jsrError(
      "missingGzipContentEncoding",
      "The tarball must be sent with 'Content-Encoding: gzip'",
    );
  }
}

/** The publish body; refuses none, or a declared length over the limit. */
function publishBody(c: Context, limits: JsrDeps["limits"]): ReadableStream<Uint8Array> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > limits.maxTarballBytes) {
    throw tarballTooLarge(limits, declared);
  }
  const body = c.req.raw.body;
  if (body === null) throw jsrError("invalidTarball", "The request has no tarball");
  return body;
}

/** `POST …/versions/:version`: publish a tarball; answers a publishing task. */
const postApiVersion: JsrHandler = async (c, deps) => {
  const { ctx, limits } = deps;
  const who = await publisher(c, deps);
  const ref = apiVersionRef(c);
  requireGzip(c);
  const { claim } = await authorizeJsrPublish(ctx, who, ref.namespace);
  await refuseTakenVersion(ctx, ref);
  const body = publishBody(c, limits);
  // Before the tarball is stored: GC keeps what this publish stores, and the
  // blobs it created go when it fails or is refused.
  await using hold = await holdBlobs(ctx);
  let tarball;
  try {
    tarball = await hold.context.bundles.put(body, { maxBytes: limits.maxTarballBytes });
  } catch (err) {
    if (isRegistryError(err, "too_large")) throw tarballTooLarge(limits);
    throw err;
  }
  const taskId = newTaskId();
  const configPath = c.req.query("config") ?? "/deno.json";
  const ip = deps.ipOf(c);
  try {
    const task = await publishJsrTarball(hold.context, {
      principal: who,
      claim,
      ref,
      configPath,
      tarball,
      taskId,
      ...(ip ? { ip } : {}),
    });
    // The tarball served its purpose: the version refers to its files.
    hold.keep({ unused: [tarball.sha256] });
    // A public version is public activity: the anonymous /metrics view counts it.
    if (await jsrVisibility(ctx, ref.namespace) === "public") markPublicActivity(c);
    return json(task);
  } catch (err) {
    if (!isTaskFailure(err)) throw err;
    // A package that fails JSR's checks is a finished task in `failure`:
    // `deno publish` prints its message, as it does for JSR's own.
    const task = await recordFailedTask(ctx, { taskId, ref, error: jsrWireError(err).body });
    c.set(PUBLISH_OUTCOME as never, "refused" as never);
    return json(task);
  }
};

/** `PATCH …/versions/:version`: yank or unyank (`{"yanked": true|false}`). */
const patchApiVersion: JsrHandler = async (c, deps) => {
  const who = await publisher(c, deps);
  const ref = apiVersionRef(c);
  const body = await readSmallJson(c.req.raw.body);
  const yanked = (body as { yanked?: unknown } | null)?.yanked;
  if (typeof yanked !== "boolean") {
    throw jsrError("malformedRequest", "Malformed request: 'yanked' must be true or false");
  }
  const ip = deps.ipOf(c);
  await setJsrYanked(deps.ctx, who, ref, yanked, ip ? { ip } : {});
  return makeResponse(null, 204, { "cache-control": "no-store" });
};

/** `GET /api/publish_status/:id` and `/api/publishing_tasks/:id`: a publishing task. */
const getTask: JsrHandler = async (c, deps) => {
  const found = await getJsrTask(deps.ctx, c.req.param("id")!);
  if (!found) throw jsrError("publishingTaskNotFound", "Publishing task not found");
  return json(found);
};

/** The JSR route table, in mounting order. */
const JSR_ROUTES: readonly Route<JsrDeps>[] = [
  {
    method: "GET",
    path: `${PKG}/meta.json`,
    handler: handlerOf(packageMeta),
    prepared: preparedOf(packageMeta),
  },
  {
    method: "GET",
    path: `${PKG}/:file{[^/]+_meta\\.json}`,
    handler: handlerOf(versionMeta),
    prepared: preparedOf(versionMeta),
  },
  {
    method: "GET",
    path: `${PKG}/:version/:path{.+}`,
    handler: handlerOf(versionFile, filePathParams),
    // The handler's path is the request's after the version, its slash included.
    prepared: preparedOf(versionFile, (p) => ({ ...p, path: `/${p.path}` })),
  },
  { method: "GET", path: API_PKG, handler: getApiPackage },
  { method: "GET", path: `${API_PKG}/versions`, handler: getApiVersions },
  { method: "GET", path: `${API_PKG}/versions/:version`, handler: getApiVersion },
  { method: "POST", path: `${API_PKG}/versions/:version`, handler: postApiVersion },
  { method: "PATCH", path: `${API_PKG}/versions/:version`, handler: patchApiVersion },
  { method: "GET", path: "/api/publish_status/:id", handler: getTask },
  { method: "GET", path: "/api/publishing_tasks/:id", handler: getTask },
];

/** Largest JSON body of the publishing API (`{"yanked": true}` and the like). */
const MAX_JSON_BODY = 64 * 1024;

/** Read a small JSON body, capped while it streams (a timeout or a failed read passes through). */
async function readSmallJson(stream: ReadableStream<Uint8Array> | null): Promise<unknown> {
  const tooLarge = () =>
    jsrError("malformedRequest", `Malformed request: the body is over ${MAX_JSON_BODY} bytes`);
  const bytes = stream === null
    ? new Uint8Array()
    : await collectBytes(stream, MAX_JSON_BODY, tooLarge);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw jsrError("malformedRequest", "Malformed request: the body is not valid JSON");
  }
}

function packageNotFoundApi(ref: { namespace: string; name: string }) {
  return jsrError("packageNotFound", `Package ${ref.namespace}/${ref.name} not found`);
}
