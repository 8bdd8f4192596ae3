/**
 * The Rack registry wire surface (see `docs/rack.md`): every route of the Rack
 * Registry Server, translated to the shared core. Mount at the root of the
 * app: `app.route("/", createRackRoutes({ ctx, auth }))`.
 *
 * @module
 */
import { checkStoreHealth, isDiskFull } from "../../core/health.ts";
import { DATA_FORMAT_VERSION, VERSION } from "../../core/version.ts";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { RegistryContext } from "../../core/context.ts";
import type { Authenticator } from "../../core/auth.ts";
import { recordAudit } from "../../core/audit.ts";
import {
  authorizeRead,
  canRead,
  extractToken,
  identifyCaller,
  isGated,
  isUnknownToken,
  preAuthorizeUpload,
  type RackAuth,
  type RackAuthProvider,
  type RackCaller,
  rackTokenSubject,
} from "../../core/rack/auth.ts";
import { rackError } from "../../core/rack/errors.ts";
import type { ExtractLimits } from "../../core/rack/extract.ts";
import { DEFAULT_EXTRACT_LIMITS } from "../../core/rack/extract.ts";
import { isRackNamespace, parseRegistryPath, RACK_NAMESPACE_RE } from "../../core/rack/paths.ts";
import {
  hasRackRegistries,
  jsonDocument,
  listRackRegistries,
  putPreset,
  type RackDocument,
  type RackFileRef,
  readPreset,
  readVersionsJson,
  readVersionsJsonNow,
  resolveLatest,
  resolveLatestNow,
  resolveRackFile,
  resolveRackFileNow,
} from "../../core/rack/read.ts";
import { isRackSchemaFile } from "../../core/rack/schema.ts";
import {
  DEFAULT_MAX_UPLOAD_BYTES,
  publishRackArchive,
  storeArchive,
} from "../../core/rack/upload.ts";
import { holdBlobs } from "../../core/_blob_hold.ts";
import type { WebhookSubscription } from "../../core/rack/webhooks.ts";
import { sha256Hex } from "../../base/digest.ts";
import type { BlobInfo } from "../../storage/types.ts";
import { collectBytes } from "../../storage/_common.ts";
import {
  cacheHeaders,
  DurationHistogram,
  rackErrorResponse,
  rackJsonError,
  type RackLog,
  serveContent,
} from "./_http.ts";
import { multipartBoundary, MultipartReader, readTextPart } from "./_multipart.ts";
import {
  isPublicActivity,
  jsonResponse,
  markPublicActivity,
  NO_STORE_JSON,
} from "../ops/_common.ts";
import { dirSchema, schemaFileBytes } from "./_schema_dir.ts";
import {
  type BoundTable,
  type FastAnswer,
  mountRoutes,
  type Route,
  type RouteParams,
} from "../shared/_route_table.ts";
import { isPlainRead, pathOf, preparedBlob } from "../shared/_prepared_reads.ts";
import { headerReader } from "../ops/_request_header.ts";
import { RegistryError } from "../../base/errors.ts";

/** The Rack auth file (`--auth-config`) and webhook file (`--webhook-config`), for the server. */
export { createFileAuthProvider, loadWebhookFile } from "./_auth_file.ts";
/** A schema file's bytes from `--schema-dir`, for the server's R2 mirror. */
export { schemaFileBytes } from "./_schema_dir.ts";

/** Options of {@linkcode createRackRoutes}. */
export interface RackRoutesOptions {
  /** The shared store. */
  ctx: RegistryContext;
  /** The auth configuration in force, asked once per request (hot-reloadable). */
  auth: RackAuthProvider;
  /** Stored tokens with grants, honoured beside auth.json (`docs/access.md`). */
  principals?: Authenticator;
  /** Serve `/schemas/:file` from this folder instead of the built-in schemas. */
  schemaDir?: string;
  /** Largest archive accepted (default 100 MiB). */
  maxUploadBytes?: number;
  /** Extraction caps (defaults in `core/rack/extract.ts`). */
  limits?: Partial<ExtractLimits>;
  /** Webhook subscriptions (from `parseWebhookConfig`); outbox rows are written per upload. */
  subscriptions?: readonly WebhookSubscription[];
  /** The client IP of a request (for audit records); honour TRUST_PROXY here. */
  clientIp?: (c: Context) => string | undefined;
  /** Structured logging (default: console for warnings and errors). */
  log?: RackLog;
  /** Serve `/metrics` and record request durations (default true; false when the app serves its own). */
  metrics?: boolean;
  /** Serve `/health` (default true; false when the app serves its own). */
  health?: boolean;
}

/** Multipart overhead allowed on top of the archive limit before a Content-Length 413. */
const FORM_OVERHEAD_BYTES = 64 * 1024;
/** Largest text field of the upload form. */
const MAX_FIELD_BYTES = 4 * 1024;
/** Most parts of the upload form. */
const MAX_PARTS = 32;
/** Largest preset document. */
const MAX_PRESET_BYTES = 60 * 1024;
/** Accepted MIME types of the archive part (spec §6.1). */
const ARCHIVE_TYPES = new Set([
  "application/gzip",
  "application/x-gzip",
  "application/x-tar",
  "application/x-compressed",
  "application/octet-stream",
]);
/** Content types the original framework can parse at all (others answer 415). */
const PARSEABLE = /^(multipart\/form-data|application\/json|text\/plain)\s*(;|$)/i;

/** Read a small body as text, refusing more than `max` bytes while it streams. */
async function readCapped(body: ReadableStream<Uint8Array> | null, max: number): Promise<string> {
  if (body === null) return "";
  const bytes = await collectBytes(
    body,
    max,
    () => rackError("FST_REQ_FILE_TOO_LARGE", "request file too large"),
  );
  return new TextDecoder().decode(bytes);
}

function defaultLog(level: string, message: string, fields?: Record<string, unknown>): void {
  if (level === "error") console.error(message, fields ?? "");
  else if (level === "warn") console.warn(message, fields ?? "");
}

/**
 * Build the Rack routes over a registry context.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { createRackRoutes } from "./mod.ts";
 * import { parseAuthConfig } from "../../core/rack/auth.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 *
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const { auth } = parseAuthConfig('{"@rack": []}');
 * const app = new Hono().route("/", createRackRoutes({ ctx, auth: () => Promise.resolve(auth) }));
 * const res = await app.request("/namespaces");
 * assert.ok(res.status === 200);
 * ```
 */
export function createRackRoutes(
  options: RackRoutesOptions,
  bound: BoundTable<RackDeps> = rackRouteTable(options),
): Hono {
  const { deps } = bound;
  const app = new Hono();
  app.onError((err) => rackErrorResponse(err, deps.log));
  app.notFound(routeNotFound);
  if (options.metrics !== false) app.use("*", durationMetrics(deps));
  // Refused uploads and preset publishes (401, 403) leave an audit record; reads never do.
  app.use("/registries", auditRefusals(deps, { method: "POST", action: "rack.upload" }));
  app.use("/presets/*", auditRefusals(deps, { method: "PUT", action: "rack.preset" }));
  return mountRoutes(app, bound.table, deps);
}

/**
 * The Rack route table bound to its dependencies: what {@linkcode createRackRoutes}
 * mounts, and what `preparedMatcher` reads the prepared reads from.
 */
export function rackRouteTable(options: RackRoutesOptions): BoundTable<RackDeps> {
  const deps: RackDeps = {
    options,
    ctx: options.ctx,
    log: options.log ?? defaultLog,
    maxUploadBytes: options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES,
    limits: { ...DEFAULT_EXTRACT_LIMITS, ...options.limits },
    histogram: new DurationHistogram(),
  };
  return { table: RACK_ROUTES, deps };
}

/** What every Rack handler receives: the options and what is derived from them once. */
export interface RackDeps {
  /** The routes' options. */
  options: RackRoutesOptions;
  /** The shared store. */
  ctx: RegistryContext;
  /** Structured logging. */
  log: RackLog;
  /** Largest archive accepted. */
  maxUploadBytes: number;
  /** Extraction caps. */
  limits: ExtractLimits;
  /** Request durations (the surface's own `/metrics`). */
  histogram: DurationHistogram;
}

/** The Worker's envelope for a route that does not exist. */
function routeNotFound(): Response {
  return rackJsonError(404, { code: "NOT_FOUND", message: "Route not found" });
}

/** Record each public request's duration in the surface's own histogram. */
function durationMetrics(deps: RackDeps): MiddlewareHandler {
  return async (c, next) => {
    const start = performance.now();
    await next();
    // This /metrics has no token: it counts public activity only (docs/operations.md).
    if (!isPublicActivity(c)) return;
    deps.histogram.observe(
      { method: c.req.method, route: c.req.routePath, status: c.res.status },
      (performance.now() - start) / 1000,
    );
  };
}

/** The auth in force and the caller of a request; marks the log subject and failed auth. */
async function who(c: Context, deps: RackDeps): Promise<{ auth: RackAuth; caller: RackCaller }> {
  const found = await whoOf(c.req.raw, deps);
  if (found.subject !== undefined) c.set("subject" as never, found.subject as never);
  // A token nobody issued spends the failed-authentication budget on every
  // route, reads that answer as to anyone included (as on the ggui surface).
  if (found.authFailed) c.set("authFailed" as never, true as never);
  return found;
}

/** Who a request is: the configuration, the caller, the log's subject, whether its token is unknown. */
type RackWho = { auth: RackAuth; caller: RackCaller; subject?: string; authFailed: boolean };

/** The caller of a request, the subject the request log names, and whether its token is unknown. */
async function whoOf(req: Request, deps: RackDeps): Promise<RackWho> {
  const { options } = deps;
  const auth = await options.auth();
  const token = extractToken(req.headers);
  const caller = identifyCaller(auth, token);
  // Stored tokens (docs/access.md): looked up fresh, so revocation is immediate.
  if (token !== undefined && !caller.admin && options.principals) {
    const principal = await options.principals.authenticate(token);
    if (principal) caller.principal = principal;
  }
  return whoIs(auth, caller, deps);
}

/**
 * {@linkcode whoOf} without waiting, when the configuration and the caller
 * are known at once (the provider's `now`, a stored token's `authenticateNow`);
 * `undefined` otherwise. The same checks, in the same order.
 */
function whoNow(req: Request, deps: RackDeps): RackWho | undefined {
  const { options } = deps;
  const auth = options.auth.now?.();
  if (auth === undefined) return undefined;
  const token = extractToken(headerReader(req));
  const caller = identifyCaller(auth, token);
  if (token !== undefined && !caller.admin && options.principals) {
    const principal = options.principals.authenticateNow?.(token);
    if (principal === undefined) return undefined;
    if (principal) caller.principal = principal;
  }
  return whoIs(auth, caller, deps);
}

function whoIs(auth: RackAuth, caller: RackCaller, deps: RackDeps): RackWho {
  // The request log names the caller; any other token by the subject an
  // auth.json token has on every surface (never the token).
  const subject = caller.admin ? "rack:admin" : caller.principal?.subject ??
    (caller.tokenSha256 ? rackTokenSubject(caller.tokenSha256) : undefined);
  const authFailed = isUnknownToken(auth, caller, deps.ctx.clock());
  return { auth, caller, authFailed, ...(subject === undefined ? {} : { subject }) };
}

/** After a `method` request on the path answers 401 or 403, write a refused audit record. */
function auditRefusals(
  deps: RackDeps,
  on: { method: string; action: "rack.upload" | "rack.preset" },
): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.req.method !== on.method || (c.res.status !== 401 && c.res.status !== 403)) return;
    try {
      const { caller } = await who(c, deps);
      const ip = deps.options.clientIp?.(c);
      await recordAudit(deps.ctx, {
        actor: caller.admin ? "rack:admin" : caller.principal?.subject ?? "anonymous",
        action: on.action,
        target: c.req.path,
        outcome: "refused",
        ...(ip ? { ip } : {}),
        detail: {
          status: c.res.status,
          ...(caller.tokenSha256 ? { token: `sha256:${caller.tokenSha256.slice(0, 12)}` } : {}),
        },
      });
    } catch {
      // The refusal stands even if the audit store is down.
    }
  };
}

/** A JSON document (bytes and digest) with its conditional headers and cache class. */
function serveDocument(
  c: Context | Request,
  doc: { bytes: Uint8Array; sha256: string },
  cache: Record<string, string>,
): Response {
  return serveContent(c instanceof Request ? c : c.req.raw, {
    body: doc.bytes,
    size: doc.bytes.byteLength,
    sha256: doc.sha256,
    contentType: "application/json",
    cache,
  });
}

// --- /health and /metrics ---------------------------------------------------

/** `GET /health`: the store answers, or 503 with a reason that names no internals. */
async function getHealth(_c: Context, deps: RackDeps): Promise<Response> {
  try {
    await checkStoreHealth(deps.ctx);
    return jsonResponse(
      {
        status: "ok",
        version: VERSION,
        dataFormat: DATA_FORMAT_VERSION,
        checks: { storage: { status: "ok" } },
      },
      200,
      NO_STORE_JSON,
    );
  } catch (err) {
    deps.log("error", "Health check failed", { error: String(err) });
    const error = isDiskFull(err) ? "Disk is full" : "Storage is unavailable";
    return jsonResponse(
      { status: "error", checks: { storage: { status: "error", error } } },
      503,
      NO_STORE_JSON,
    );
  }
}

/** `GET /metrics`: the surface's histogram and the process's memory. */
function getMetrics(_c: Context, deps: RackDeps): Response {
  const mem = Deno.memoryUsage();
  const text = deps.histogram.render() +
    "# HELP process_resident_memory_bytes Resident memory size in bytes\n" +
    "# TYPE process_resident_memory_bytes gauge\n" +
    `process_resident_memory_bytes ${mem.rss}\n` +
    "# HELP deno_heap_size_used_bytes V8 heap used in bytes\n" +
    "# TYPE deno_heap_size_used_bytes gauge\n" +
    `deno_heap_size_used_bytes ${mem.heapUsed}\n`;
  return new Response(text, {
    headers: {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

// --- discovery ---------------------------------------------------------------

/** `GET /namespaces`: the namespaces the caller may read that hold registries. */
async function listNamespaces(c: Context, deps: RackDeps): Promise<Response> {
  const { auth, caller } = await who(c, deps);
  const now = deps.ctx.clock();
  const namespaces: string[] = [];
  // Declared namespaces, plus those a stored token's exact grants name (docs/access.md).
  const candidates = new Set(auth.namespaces.keys());
  for (const g of caller.principal?.grants ?? []) {
    if (isRackNamespace(g.namespace)) candidates.add(g.namespace);
  }
  for (const ns of [...candidates].sort()) {
    if (canRead(auth, ns, { caller, now }) && await hasRackRegistries(deps.ctx, ns)) {
      namespaces.push(ns);
    }
  }
  const tokenDependent = caller.tokenSha256 !== undefined;
  return serveDocument(
    c,
    jsonDocument({ namespaces }),
    cacheHeaders("short", { private: tokenDependent, vary: true }),
  );
}

/** `GET /namespaces/:ns/registries`: a namespace's registries. */
async function listRegistries(c: Context, deps: RackDeps): Promise<Response> {
  const ns = c.req.param("ns")!;
  if (!isRackNamespace(ns)) {
    throw rackError("INVALID_NAMESPACE", `Namespace must match ${RACK_NAMESPACE_RE}`);
  }
  const { auth, caller } = await who(c, deps);
  authorizeRead(auth, ns, { caller, now: deps.ctx.clock() });
  const registries = await listRackRegistries(deps.ctx, ns);
  if (registries.length === 0) {
    throw rackError("NAMESPACE_NOT_FOUND", `Namespace ${ns} not found`);
  }
  const doc = jsonDocument({ namespace: ns, registries });
  return serveDocument(c, doc, cacheHeaders("short", { private: isGated(auth, ns) }));
}

// --- schemas and presets -------------------------------------------------------

/** `GET /schemas/:file`: a built-in schema, or one from `--schema-dir`. */
async function getSchema(c: Context, deps: RackDeps): Promise<Response> {
  const file = c.req.param("file")!;
  if (!isRackSchemaFile(file)) throw rackError("NOT_FOUND", "Schema not found");
  const bytes = await schemaFileBytes(deps.options.schemaDir, file);
  if (bytes === null) throw rackError("NOT_FOUND", "Schema not found");
  return serveDocument(
    c,
    { bytes, sha256: sha256Hex(bytes) },
    cacheHeaders("day", { private: false }),
  );
}

/** `GET /presets/:name`: a published preset. */
async function getPreset(c: Context, deps: RackDeps): Promise<Response> {
  const doc = await readPreset(deps.ctx, c.req.param("name")!);
  return serveDocument(c, doc, cacheHeaders("day", { private: false }));
}

/** `PUT /presets/:name` (ours): the admin publishes a preset, validated against preset.json. */
async function putPresetRoute(c: Context, deps: RackDeps): Promise<Response> {
  const { caller } = await who(c, deps);
  if (caller.tokenSha256 === undefined) {
    throw rackError("UNAUTHORIZED", "Authentication token is required");
  }
  if (!caller.admin && !caller.principal?.admin) {
    throw rackError("INSUFFICIENT_PERMISSIONS", "Publishing presets requires the admin token");
  }
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > MAX_PRESET_BYTES) {
    throw rackError("FST_REQ_FILE_TOO_LARGE", "request file too large");
  }
  const text = await readCapped(c.req.raw.body, MAX_PRESET_BYTES);
  let preset: unknown;
  try {
    preset = JSON.parse(text);
  } catch {
    throw rackError("UPLOAD_FAILED", "preset.json is not valid JSON");
  }
  const name = c.req.param("name")!;
  const { created } = await putPreset(deps.ctx, name, { preset, actor: "rack:admin" });
  markPublicActivity(c); // presets are public documents
  const doc = await readPreset(deps.ctx, name);
  return jsonResponse(doc.bytes, created ? 201 : 200, {
    ...NO_STORE_JSON,
    etag: `"${doc.sha256}"`,
  });
}

// --- registries: reads -----------------------------------------------------------

/** `GET /registries/*`: a versions list, the latest or one version's registry.json, or a file. */
async function readRegistry(c: Context, deps: RackDeps): Promise<Response> {
  const resource = registryResource(new URL(c.req.url).pathname);
  if (resource === null) return routeNotFound();
  return await (await registryAnswer(c.req.raw, resource, await who(c, deps), deps)).build();
}

/**
 * The prepared read of `GET /registries/*`: the same answer; a refusal, a
 * miss or an unknown token declines. At once when the caller and the rows
 * are known without waiting (the authorization runs all the same).
 */
function preparedRegistryRead(
  req: Request,
  _params: RouteParams,
  deps: RackDeps,
): FastAnswer | null | Promise<FastAnswer | null> {
  const path = pathOf(req.url);
  const resource = path === null ? null : registryResource(path);
  if (resource === null) return null;
  const now = whoNow(req, deps);
  if (now?.authFailed) return null;
  const answer = now === undefined ? undefined : registryAnswerNow(req, resource, now, deps);
  return answer ?? preparedRegistryReadLater(req, resource, deps);
}

async function preparedRegistryReadLater(
  req: Request,
  resource: RegistryResource,
  deps: RackDeps,
): Promise<FastAnswer | null> {
  const caller = await whoOf(req, deps);
  if (caller.authFailed) return null;
  return registryAnswer(req, resource, caller, deps);
}

type RegistryResource = ReturnType<typeof parseRegistryPath>;

/** Parsed resources by the raw path after `/registries/` (frozen; a hot read names the same one again). */
const parsedResources = new Map<string, RegistryResource>();
/** Most parsed resources kept (past that they are dropped and parsed again). */
const MAX_PARSED_RESOURCES = 4096;

/** The resource a `/registries/…` path names (parse errors throw); `null` for the bare prefix. */
function registryResource(pathname: string): RegistryResource | null {
  const at = pathname.indexOf("/registries/");
  // Hono's `/*` also matches the bare prefix, which is no route here.
  if (at === -1) return null;
  const raw = pathname.slice(at + "/registries/".length);
  let resource = parsedResources.get(raw);
  if (resource === undefined) {
    resource = parseRegistryPath(raw);
    Object.freeze(resource.segments);
    Object.freeze(resource);
    if (parsedResources.size >= MAX_PARSED_RESOURCES) parsedResources.clear();
    parsedResources.set(raw, resource);
  }
  return resource;
}

/**
 * The answer to a read of `resource` by `who`: a versions list, the latest
 * version's registry.json, or a file of a version. Keyed by everything the
 * response depends on, so a plain read's finished response is prepared once.
 */
async function registryAnswer(
  req: Request,
  resource: RegistryResource,
  who: { auth: RackAuth; caller: RackCaller; subject?: string },
  deps: RackDeps,
): Promise<FastAnswer> {
  const gated = authorizedRead(resource, who, deps);
  const ref = { namespace: resource.namespace, segments: resource.segments };
  if (resource.kind === "versions") {
    return versionsAnswer(req, await readVersionsJson(deps.ctx, ref), gated, who.subject);
  }
  const file = resource.kind === "latest"
    ? await resolveLatest(deps.ctx, ref)
    : await resolveRackFile(deps.ctx, { ...ref, ...versionPath(resource) });
  return fileAnswer(req, { resource, file, gated, subject: who.subject }, deps);
}

/**
 * {@linkcode registryAnswer} without waiting, when the rows are in the read
 * cache (after the same authorization); `undefined` when only
 * `registryAnswer` can answer (a miss included).
 */
function registryAnswerNow(
  req: Request,
  resource: RegistryResource,
  who: { auth: RackAuth; caller: RackCaller; subject?: string },
  deps: RackDeps,
): FastAnswer | undefined {
  const gated = authorizedRead(resource, who, deps);
  const ref = { namespace: resource.namespace, segments: resource.segments };
  if (resource.kind === "versions") {
    const doc = readVersionsJsonNow(deps.ctx, ref);
    return doc && versionsAnswer(req, doc, gated, who.subject);
  }
  const file = resource.kind === "latest"
    ? resolveLatestNow(deps.ctx, ref)
    : resolveRackFileNow(deps.ctx, { ...ref, ...versionPath(resource) });
  return file && fileAnswer(req, { resource, file, gated, subject: who.subject }, deps);
}

/** Authorize the read (throws the refusal); whether the namespace is token-gated. */
function authorizedRead(
  resource: RegistryResource,
  who: { auth: RackAuth; caller: RackCaller },
  deps: RackDeps,
): boolean {
  authorizeRead(who.auth, resource.namespace, { caller: who.caller, now: deps.ctx.clock() });
  return isGated(who.auth, resource.namespace);
}

/** The version and file path a version or file resource names. */
function versionPath(
  resource: Extract<RegistryResource, { kind: "versioned" | "file" }>,
): { version: string; path: string } {
  return {
    version: resource.version,
    path: resource.kind === "file" ? resource.filePath : "registry.json",
  };
}

/** The answer of a versions list (keyed by its bytes' digest on a plain read). */
function versionsAnswer(
  req: Request,
  doc: RackDocument,
  gated: boolean,
  subject: string | undefined,
): FastAnswer {
  const build = () => serveDocument(req, doc, cacheHeaders("short", { private: gated }));
  const by = subject === undefined ? {} : { subject };
  return isPlainRead(req) ? { key: `rack versions ${gated} ${doc.sha256}`, build, ...by } : {
    build,
    ...by,
  };
}

/** The cache headers of a latest registry.json (`short`) or a version's file, gated or not. */
const FILE_CACHE = Object.fromEntries(
  (["short", "immutable"] as const).map((tier) => [
    tier,
    Object.fromEntries(
      (["private", "public"] as const).map((visibility) => {
        const { "cache-control": cacheControl, ...extraHeaders } = cacheHeaders(tier, {
          private: visibility === "private",
        });
        return [visibility, { cacheControl: cacheControl!, extraHeaders }];
      }),
    ),
  ]),
) as Record<
  "short" | "immutable",
  Record<"private" | "public", { cacheControl: string; extraHeaders: Record<string, string> }>
>;

/** The answer of the latest registry.json or a version's file. */
function fileAnswer(
  req: Request,
  read: { resource: RegistryResource; file: RackFileRef; gated: boolean; subject?: string },
  deps: RackDeps,
): FastAnswer {
  const { resource, file, gated, subject } = read;
  const { cacheControl, extraHeaders } =
    FILE_CACHE[resource.kind === "latest" ? "short" : "immutable"][
      gated ? "private" : "public"
    ];
  const contentType = resource.kind === "file" ? file.contentType : "application/json";
  // A version's files are dated by its publication; "latest" is not
  // (a yank can make it an older version).
  const dated = resource.kind === "latest" ? undefined : file.publishedAt;
  const { sha256, size } = file.entry;
  return preparedBlob(req, {
    blob: {
      open: (range) => deps.ctx.bundles.get(sha256, range),
      size,
      sha256,
      contentType,
      cacheControl,
      ...(dated === undefined ? {} : { lastModified: new Date(dated) }),
      extraHeaders,
    },
    key: `rack ${resource.kind} ${gated} ${sha256} ${size} ${contentType} ${dated}`,
    subject,
    missing: () =>
      new RegistryError("storage_failure", "A stored file is missing from bundle storage"),
  });
}

// --- registries: upload ------------------------------------------------------------

/** `POST /registries`: a multipart upload of one tar.gz archive (and its checksum). */
async function uploadRegistry(c: Context, deps: RackDeps): Promise<Response> {
  const contentType = c.req.header("content-type") ?? null;
  if (contentType !== null && !PARSEABLE.test(contentType)) {
    throw rackError(
      "FST_ERR_CTP_INVALID_MEDIA_TYPE",
      `Unsupported Media Type: ${contentType.split(";")[0]}`,
    );
  }
  // Step 0 (plus §13): refuse any token that could not publish anywhere, before the body.
  const { auth, caller } = await who(c, deps);
  preAuthorizeUpload(auth, { caller, now: deps.ctx.clock() });
  const reader = uploadReader(c, contentType, deps.maxUploadBytes);
  // Before the archive is stored: GC keeps what this upload stores, and the
  // blobs it created go when it fails or is refused.
  await using hold = await holdBlobs(deps.ctx);
  const { archive, checksum } = await readUploadForm(reader, hold.context, deps.maxUploadBytes);
  const { options } = deps;
  const ip = options.clientIp?.(c);
  const registryItemSchema = options.schemaDir === undefined
    ? undefined
    : await dirSchema(options.schemaDir);
  const result = await publishRackArchive(hold.context, {
    ...(registryItemSchema ? { registryItemSchema } : {}),
    archive,
    checksum,
    auth,
    caller,
    limits: deps.limits,
    ...(options.subscriptions ? { subscriptions: options.subscriptions } : {}),
    ...(ip ? { ip } : {}),
  });
  hold.keep();
  deps.log("info", "Rack registry uploaded", { path: result.path, checksum: archive.sha256 });
  // Into an anonymous namespace anyone reads it: the anonymous /metrics view counts it.
  if (auth.namespaces.get(result.namespace)?.anonymous) markPublicActivity(c);
  return jsonResponse(result, 201, NO_STORE_JSON);
}

/** The multipart reader of an upload, refusing a missing boundary or an oversized body. */
function uploadReader(
  c: Context,
  contentType: string | null,
  maxUploadBytes: number,
): MultipartReader {
  const boundary = multipartBoundary(contentType);
  const body = c.req.raw.body;
  if (boundary === null || body === null) {
    throw rackError("FST_INVALID_MULTIPART_CONTENT_TYPE", "the request is not multipart");
  }
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > maxUploadBytes + FORM_OVERHEAD_BYTES) {
    throw rackError("FST_REQ_FILE_TOO_LARGE", "request file too large");
  }
  return new MultipartReader(body, boundary, {
    maxBytes: maxUploadBytes + FORM_OVERHEAD_BYTES,
    onLimit: () => rackError("FST_REQ_FILE_TOO_LARGE", "request file too large"),
  });
}

/** Read the upload form: store the first file part as the archive, keep the checksum field. */
async function readUploadForm(
  reader: MultipartReader,
  ctx: RegistryContext,
  maxUploadBytes: number,
): Promise<{ archive: BlobInfo; checksum: string | undefined }> {
  let archive: BlobInfo | undefined;
  let checksum: string | undefined;
  try {
    for (let parts = 0;; parts++) {
      const part = await reader.next();
      if (part === null) break;
      if (parts >= MAX_PARTS) throw rackError("UPLOAD_FAILED", "Too many form parts");
      if (part.filename !== undefined) {
        if (archive !== undefined) continue; // only the first file part counts
        const type = part.contentType ?? "application/octet-stream";
        if (!ARCHIVE_TYPES.has(type)) {
          throw rackError("INVALID_FILE_TYPE", "File must be a tar.gz archive");
        }
        archive = await storeArchive(ctx, part.body, { maxBytes: maxUploadBytes });
      } else if (part.name === "checksum" && checksum === undefined) {
        checksum = (await readTextPart(part, MAX_FIELD_BYTES)).trim();
      }
    }
  } catch (err) {
    await reader.cancel(err);
    throw err;
  }
  if (archive === undefined) throw rackError("MISSING_FILE", "No file uploaded");
  return { archive, checksum };
}

/** Unknown routes under the Rack prefixes answer the Worker's envelope. */
const NOT_FOUND_ROUTES: Route<RackDeps>[] = ["/registries", "/namespaces", "/presets", "/schemas"]
  .flatMap((prefix) => [
    { method: "ALL", path: prefix, handler: routeNotFound },
    { method: "ALL", path: `${prefix}/*`, handler: routeNotFound },
  ]);

/** The Rack route table, in mounting order. */
const RACK_ROUTES: readonly Route<RackDeps>[] = [
  { method: "GET", path: "/health", handler: getHealth, when: (d) => d.options.health !== false },
  {
    method: "GET",
    path: "/metrics",
    handler: getMetrics,
    when: (d) => d.options.metrics !== false,
  },
  { method: "GET", path: "/namespaces", handler: listNamespaces },
  { method: "GET", path: "/namespaces/:ns/registries", handler: listRegistries },
  { method: "GET", path: "/schemas/:file", handler: getSchema },
  { method: "GET", path: "/presets/:name", handler: getPreset },
  { method: "PUT", path: "/presets/:name", handler: putPresetRoute },
  { method: "GET", path: "/registries/*", handler: readRegistry, prepared: preparedRegistryRead },
  { method: "POST", path: "/registries", handler: uploadRegistry },
  ...NOT_FOUND_ROUTES,
];
