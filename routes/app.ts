/**
 * The registry as one Hono app: every wire surface over one core and one store.
 *
 * @module
 */
import { Hono } from "hono";
import { TrieRouter } from "hono/router/trie-router";
import type { Authenticator } from "../core/auth.ts";
import type { Clock, DiskReserve, RegistryContext } from "../core/context.ts";
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";
import type { BlueprintProbe, CodeGates } from "../core/ggui/conformance.ts";
import type { SigstoreVerifier } from "../core/ggui/signing.ts";
import { fixedRackAuth, type RackAuth, type RackAuthProvider } from "../core/rack/auth.ts";
import type { WebhookSubscription } from "../core/rack/webhooks.ts";
import { LiveSubscriptions } from "../core/webhook_subscriptions.ts";
import type { TargetGuard } from "../core/net_guard.ts";
import {
  createGguiRoutes,
  GGUI_CORS_HEADERS,
  type GguiDeps,
  type GguiRoutesOptions,
  gguiRouteTable,
  isGguiCorsExcluded,
} from "./ggui/mod.ts";
import { createRackRoutes, type RackDeps, rackRouteTable } from "./rack/mod.ts";
import { requestOrigin } from "./ops/_request_host.ts";
import { requestHeader } from "./ops/_request_header.ts";
import { rackJsonError } from "./rack/_http.ts";
import { createAdminRoutes } from "./admin/mod.ts";
import {
  createJsrRoutes,
  isJsrPath,
  type JsrDeps,
  jsrErrorResponse,
  type JsrRoutesOptions,
  jsrRouteTable,
  PUBLISH_OUTCOME,
} from "./jsr/mod.ts";
import { DEFAULT_JSR_LIMITS, type JsrLimits } from "../core/jsr/publish.ts";
import { jsrError } from "../core/jsr/errors.ts";
import type { Visibility } from "../core/rows.ts";
import { DEFAULT_RESERVED_SCOPES } from "../core/ggui/_common.ts";
import { namespaceExists, rackAuthAuthenticator } from "../core/access.ts";
import { chainAuthenticators, storedTokenAuthenticator } from "../core/tokens.ts";
import { CachingBundleStorage, CachingRegistryStorage } from "../core/read_cache.ts";
import { RateLimiter } from "../core/rate_limit.ts";
import {
  authFailuresTotal,
  instrumentStorage,
  publicMetrics,
  publishesTotal,
  versionConflictsTotal,
} from "../core/metrics.ts";
import { clientIp, metricsHandler, rateLimit } from "./ops/mod.ts";
import { clientIpOf } from "./ops/_rate_limit.ts";
import { createOpsCore, type OpsCore } from "./ops/_stack.ts";
import { fastReads } from "./shared/_prepared_reads.ts";
import { type BoundTable, preparedMatcher } from "./shared/_route_table.ts";
import { isPublicActivity, makeResponse } from "./ops/_common.ts";
import type { Context, MiddlewareHandler } from "hono";
import { checkStoreHealth, isDiskFull } from "../core/health.ts";
import { type CostClass, costClass, isRackPath } from "./ops/_cost_class.ts";
import { sha256Hex } from "../base/digest.ts";
import { BodyGuard } from "./ops/_body_guard.ts";
import type { JsrUpstreamConfig } from "../core/jsr/upstream.ts";
// The upstream reads load only when one is configured, with the first request they see.
import { lazyMiddleware } from "./shared/_lazy_middleware.ts";
import { lazily } from "../base/lazy.ts";
const jsrUpstreamCode = lazily(() => import("./jsr/upstream.ts"));
const gguiUpstreamCode = lazily(() => import("./ggui/upstream.ts"));
import { addNamespaceClaimRoute } from "./admin/upstream.ts";
// The web pages and their package search load on first use (routes/ui/lazy.ts).
import { lazyPackageSearchApi as packageSearchApi, lazyUi } from "./ui/lazy.ts";
import type { UiDeps } from "./ui/_request.tsx";
import type { DocRunner } from "./ui/_api_docs.ts";

/** Options of {@linkcode createRegistryApp}. */
export interface RegistryAppOptions {
  /** Row storage. */
  storage: RegistryStorage;
  /** Blob storage. */
  bundles: BundleStorage;
  /** Space GC and failed publishes give up to delete on a full disk (see `server/disk_reserve.ts`). */
  reserve?: DiskReserve;
  /** Queue Rack's R2 mirror writes with each change (`core/rack/mirror.ts`; default off). */
  rackMirror?: boolean;
  /** The current time (default: the system clock). */
  clock?: Clock;
  /** Turns bearer tokens into principals (ggui surface); absent: nobody can write. */
  authenticator?: Authenticator;
  /** Prefix of blob URLs, e.g. `http://localhost:9001`. */
  bundleHost: string;
  /** `host[:port]` used in install commands. */
  registryHostname: string;
  /**
   * Which of `bundleHost` and `registryHostname` to derive from each request
   * (`Host`, or `X-Forwarded-Host`/`-Proto` when `trustProxy` allows), the
   * static value serving only a request without a usable host.
   */
  hostFromRequest?: readonly ("bundleHost" | "registryHostname")[];
  /** Scopes nobody can claim (default: the ggui spec's list). */
  reservedScopes?: string[];
  /** ggui public lane: verifies sigstore keyless signatures (default: refuse, as the original offline). */
  sigstore?: SigstoreVerifier;
  /** ggui code-level conformance gates. */
  codeGates?: CodeGates;
  /** Optional ggui blueprint runtime probe (opt-in; see the ggui docs). */
  blueprintProbe?: BlueprintProbe;
  /** The Rack surface's namespace policy (auth.json + admin token); absent: no namespace is declared. */
  rackAuth?: RackAuthProvider;
  /** Serve Rack's `/schemas/:file` from this folder instead of the built-in schemas. */
  schemaDir?: string;
  /** Largest Rack upload in bytes (default 100 MiB). */
  maxUploadBytes?: number;
  /** Webhook subscriptions (Rack `webhooks.json` format). */
  subscriptions?: readonly WebhookSubscription[];
  /**
   * The live list of those and the admin-managed ones (`/admin/webhooks`);
   * made from `subscriptions` when absent. A server sharing its store with
   * other processes refreshes it on a timer (main.ts: every 5 s).
   */
  liveSubscriptions?: LiveSubscriptions;
  /**
   * The webhook target guard `POST /admin/webhooks` checks a new URL with
   * (`--webhook-allow-hosts` and a DNS resolver). Without it, private IP
   * literals and `localhost` names are still refused; names are not resolved.
   */
  webhookGuard?: TargetGuard;
  /** Where one JSON line per request goes (default: nowhere). */
  requestLog?: (line: string) => void;
  /** Whether `X-Forwarded-For` names the client: `true`, `false` (default) or a hop count. */
  trustProxy?: boolean | number;
  /** Requests per client IP per minute on Rack's routes, as the Rack original (default 1200; 0 turns it off). */
  rateLimitPerMinute?: number;
  /** Reads of immutable files, bundles and version documents per client IP per minute (default 0: off). */
  readRateLimitPerMinute?: number;
  /** Listings, package documents and other requests per client IP per minute (default 6000; 0: off). */
  metadataRateLimitPerMinute?: number;
  /** Searches and conformance checks per client IP per minute (default 300; 0: off). */
  queryRateLimitPerMinute?: number;
  /**
   * Uploads and publishes without a token, per client IP per minute, counted
   * across processes (default 60; 0: off).
   */
  uploadRateLimitPerMinute?: number;
  /**
   * Uploads and publishes per presented token per minute, counted across
   * processes (default 600; 0: off): a CI token releasing a monorepo is not
   * held to an address's budget.
   */
  tokenUploadRateLimitPerMinute?: number;
  /** Failed authentications per client IP per minute (default 30; 0: off). */
  authFailuresPerMinute?: number;
  /** Require `Authorization: Bearer <token>` on `/metrics`. */
  metricsToken?: string;
  /** Compress JSON and text over 1 KiB by `Accept-Encoding` (default true). */
  compress?: boolean;
  /** Answer hot reads from the route tables' prepared reads, without Hono's dispatch, identically (default true; see `shared/_prepared_reads.ts`). */
  fastReads?: boolean;
  /** How long hot read paths may serve a row from memory (default 500 ms; 0: always read the store). */
  readCacheMs?: number;
  /** Least time a read route's store read takes (default 1 ms; see `core/read_cache.ts`). */
  coldReadFloorMs?: number;
  /** Bytes of small immutable blobs kept in memory (default 64 MiB; 0: none). */
  blobCacheBytes?: number;
  /** JSR: visibility of packages in namespaces `auth.json` does not declare (default `private`). */
  jsrVisibility?: Visibility;
  /** JSR: publish caps (default JSR's 20 MB per tarball, file and package). */
  jsrLimits?: Partial<JsrLimits>;
  /**
   * A request body that sends nothing for this long while it is read fails
   * with 408 (default 30 000 ms; 0: never).
   */
  bodyIdleTimeoutMs?: number;
  /** Request bodies one client address may be sending at once; one more gets 429 (default 64; 0: no limit). */
  maxPendingBodiesPerAddress?: number;
  /**
   * JSR: read packages of namespaces this registry does not own from this
   * upstream (main.ts: `--jsr-upstream`, default jsr.io); absent: no upstream.
   */
  jsrUpstream?: JsrUpstreamConfig & { fetch?: typeof fetch };
  /**
   * ggui: read public artifacts of scopes this registry does not own from this
   * ggui registry (main.ts: `--ggui-upstream`); absent: no upstream. ggui reads
   * then go through Hono (the fast path is off).
   */
  gguiUpstream?: GguiUpstreamConfig;
  /** Serve the web pages for people (default true; docs/ui.md). */
  ui?: boolean;
  /** Runs `deno doc` for the pages' API docs (default: the server's deno; `null`: none). */
  docRunner?: DocRunner | null;
}

/** The ggui upstream's settings (see core/ggui/upstream.ts). */
export interface GguiUpstreamConfig {
  /** The upstream registry's base URL. */
  url: string;
  /** Scopes never looked up upstream. */
  deny?: readonly string[];
  /** Deadline of one fetch in ms. */
  timeoutMs?: number;
  /** Freshness window of cached reads in ms. */
  freshMs?: number;
  /** The HTTP client. */
  fetch?: typeof fetch;
}

/**
 * The registry as a fetch handler. Mount it anywhere: `Deno.serve(app.fetch)`,
 * or inside another Hono app with `parent.mount("/registry", app.fetch)`.
 */
export interface RegistryApp {
  /** Answer one request (`env` carries the connection info for client IPs). */
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
  /** Answer a request built from a path or URL, in process (handy in tests). */
  request(input: string | URL | Request, init?: RequestInit): Response | Promise<Response>;
}

const nobody: Authenticator = { authenticate: () => Promise.resolve(null) };
const noNamespaces: RackAuth = { namespaces: new Map() };

/**
 * Build the registry's Hono app; mount its `fetch` anywhere.
 *
 * @example Serve the ggui health route from memory
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRegistryApp, MemoryBundleStorage, MemoryRegistryStorage } from "../mod.ts";
 * const app = createRegistryApp({
 *   storage: new MemoryRegistryStorage(),
 *   bundles: new MemoryBundleStorage(),
 *   bundleHost: "http://localhost:9001",
 *   registryHostname: "localhost:9001",
 * });
 * const res = await app.request("/healthz");
 * assert.ok(res.status === 200);
 * ```
 */
export function createRegistryApp(options: RegistryAppOptions): RegistryApp {
  const ctx = registryContextOf(options);
  // One live list of webhook subscriptions (webhooks.json's and the admin API's) for every surface.
  const live = options.liveSubscriptions ?? new LiveSubscriptions(ctx, options.subscriptions ?? []);
  if (!options.liveSubscriptions) live.refresh().catch(() => {});
  const rackAuth = options.rackAuth ?? fixedRackAuth(noNamespaces);
  // Hono's default router first builds a RegExpRouter over every route, which
  // gives up on our paths, then a TrieRouter: naming the one it ends on skips
  // that wasted build on the first request (tests/start_graph_test.ts).
  const app = new Hono({ router: new TrieRouter() });
  const ops = mountOps(app, ctx, options);
  // One identity chain for the admin API: the configured authenticator,
  // stored tokens, and Rack's auth.json/ADMIN_TOKEN as grants.
  const identities = chainAuthenticators(
    options.authenticator ?? nobody,
    storedTokenAuthenticator(ctx),
    rackAuthAuthenticator(rackAuth, ctx.clock),
  );
  const parts: AppParts = {
    options,
    ctx,
    live,
    subscriptions: { subscriptions: live.list },
    rackAuth,
    identities,
    ipOf: (c) => clientIp(c, options.trustProxy ?? false),
    ownsNamespace: async (ns) => namespaceExists(ctx, ns, await rackAuth()),
  };
  addNamespaceClaimRoute(app, { ctx, authenticator: identities });
  const ui = mountUiAndAdmin(app, parts);
  // The tables whose prepared reads answer before Hono, in mounting order.
  const prepared = [ui, mountGgui(app, parts), mountJsr(app, parts), mountRack(app, parts)]
    .filter((bound) => bound !== undefined);
  mountFallbacks(app);
  return wrapFetch(app, { options, ops, prepared });
}

/** What the composition root hands each surface it mounts. */
interface AppParts {
  options: RegistryAppOptions;
  ctx: RegistryContext;
  live: LiveSubscriptions;
  subscriptions: { subscriptions: LiveSubscriptions["list"] };
  rackAuth: RackAuthProvider;
  /** The identity chain every surface but Rack's auth.json checks. */
  identities: Authenticator;
  /** The client IP of a request (honouring `--trust-proxy`). */
  ipOf: (c: Context) => string;
  /** Whether a namespace is ours (declared or claimed), so no upstream answers for it. */
  ownsNamespace: (ns: string) => Promise<boolean>;
}

/** The shared context: the store behind its read cache and the blobs behind theirs. */
function registryContextOf(options: RegistryAppOptions): RegistryContext {
  // Storage timings count real store operations; the read cache sits in front.
  const storage = new CachingRegistryStorage(instrumentStorage(options.storage), {
    ttlMs: options.readCacheMs ?? 500,
    ...(options.coldReadFloorMs === undefined ? {} : { coldReadFloorMs: options.coldReadFloorMs }),
  });
  // Blobs are content-addressed and immutable: small ones are served from memory.
  const bundles = new CachingBundleStorage(options.bundles, {
    maxBytes: options.blobCacheBytes ?? 64 * 1024 * 1024,
  });
  return {
    storage,
    bundles,
    clock: options.clock ?? (() => new Date()),
    ...(options.reserve ? { reserve: options.reserve } : {}),
    ...(options.rackMirror ? { rackMirror: true } : {}),
  };
}

/**
 * The web pages (they answer only the requests they claim) and the admin API
 * at `/admin`; returns the pages' bound table (its prepared reads answer
 * signed-out pages before Hono).
 */
function mountUiAndAdmin(app: Hono, parts: AppParts): BoundTable<UiDeps> | undefined {
  const { options, ctx, identities } = parts;
  let ui: BoundTable<UiDeps> | undefined;
  // The web pages answer only the requests they claim (routes/ui/_http.ts).
  if (options.ui !== false) {
    const pages = lazyUi({
      ctx,
      authenticator: identities,
      clientIp: parts.ipOf,
      ggui: { ...ctx, bundleHost: options.bundleHost, registryHostname: options.registryHostname },
      liveSubscriptions: parts.live,
      ...(options.webhookGuard ? { webhookGuard: options.webhookGuard } : {}),
      rackAuth: parts.rackAuth,
      ...(options.docRunner !== undefined ? { docRunner: options.docRunner } : {}),
      ...(options.hostFromRequest?.includes("bundleHost")
        ? {}
        : { selfOrigin: options.bundleHost }),
    });
    ui = pages.bound;
    app.use(pages.middleware);
  }
  app.route(
    "/admin",
    createAdminRoutes({
      ctx,
      authenticator: identities,
      ...parts.subscriptions,
      liveSubscriptions: parts.live,
      ...(options.webhookGuard ? { webhookGuard: options.webhookGuard } : {}),
      namespaceExists: parts.ownsNamespace,
      clientIp: parts.ipOf,
    }),
  );
  return ui;
}

/**
 * The ggui surface (behind its upstream reads when one is configured); returns
 * its bound table when its prepared reads may answer before Hono.
 */
function mountGgui(app: Hono, parts: AppParts): BoundTable<GguiDeps> | undefined {
  const { options, ctx, rackAuth } = parts;
  const ggui: GguiRoutesOptions = {
    ctx,
    authenticator: parts.identities,
    declaredNamespace: async (ns) => (await rackAuth()).namespaces.has(ns),
    ...parts.subscriptions,
    bundleHost: options.bundleHost,
    registryHostname: options.registryHostname,
    ...(options.hostFromRequest?.length ? { hostOf: hostOf(options) } : {}),
    ...(options.reservedScopes ? { reservedScopes: options.reservedScopes } : {}),
    ...(options.sigstore ? { sigstore: options.sigstore } : {}),
    ...(options.codeGates ? { codeGates: options.codeGates } : {}),
    ...(options.blueprintProbe ? { blueprintProbe: options.blueprintProbe } : {}),
    ...fastTemplateBytes(options),
  };
  const bound = gguiRouteTable(ggui);
  if (options.gguiUpstream) {
    const upstream = {
      ...options.gguiUpstream,
      bundleHost: options.bundleHost,
      ownsNamespace: parts.ownsNamespace,
    };
    const mw = lazyMiddleware(async () =>
      (await gguiUpstreamCode()).gguiUpstreamReads({ ctx, upstream })
    );
    app.use("/pkg/*", mw);
    app.use("/bundles/public/*", mw);
    app.use(
      "/search",
      lazyMiddleware(async () => (await gguiUpstreamCode()).gguiUpstreamSearchMerge(upstream)),
    );
  }
  app.route("/", createGguiRoutes(ggui, bound));
  // The prepared reads answer misses themselves: with an upstream, misses must reach it.
  return options.gguiUpstream ? undefined : bound;
}

/**
 * The JSR surface (behind its upstream reads when one is configured); returns
 * its bound table, whose prepared reads answer before Hono.
 */
function mountJsr(app: Hono, parts: AppParts): BoundTable<JsrDeps> {
  const { options, ctx, rackAuth } = parts;
  // The pages' package search as JSR's `{items, total}` (routes/ui/_api_packages.ts).
  app.get("/api/packages", packageSearchApi({ ctx, authenticator: parts.identities }));
  const jsrUpstream = options.jsrUpstream;
  if (jsrUpstream) {
    app.use(
      "/@*",
      lazyMiddleware(async () =>
        (await jsrUpstreamCode()).jsrUpstreamReads({
          ctx,
          upstream: { ...jsrUpstream, ownsNamespace: parts.ownsNamespace },
          ...(options.requestLog ? { log: options.requestLog } : {}),
        })
      ),
    );
  }
  const jsr: JsrRoutesOptions = {
    ctx: {
      ...ctx,
      reservedScopes: options.reservedScopes ?? DEFAULT_RESERVED_SCOPES,
      declaredNamespace: async (ns) => {
        const policy = (await rackAuth()).namespaces.get(ns);
        return policy ? { anonymous: policy.anonymous } : undefined;
      },
      defaultVisibility: options.jsrVisibility ?? "private",
      limits: { ...DEFAULT_JSR_LIMITS, ...options.jsrLimits },
      ...parts.subscriptions,
    },
    authenticator: parts.identities,
    clientIp: parts.ipOf,
    // Misses must reach the upstream's reads in front of the routes.
    upstreamInFront: options.jsrUpstream !== undefined,
  };
  const bound = jsrRouteTable(jsr);
  app.route("/", createJsrRoutes(jsr, bound));
  return bound;
}

/** The Rack surface (its /metrics and /health are the app's); returns its bound table. */
function mountRack(app: Hono, parts: AppParts): BoundTable<RackDeps> {
  const { options, ctx } = parts;
  const bound = rackRouteTable({
    ctx,
    auth: parts.rackAuth,
    principals: storedTokenAuthenticator(ctx),
    ...(options.schemaDir ? { schemaDir: options.schemaDir } : {}),
    ...(options.maxUploadBytes ? { maxUploadBytes: options.maxUploadBytes } : {}),
    ...parts.subscriptions,
    clientIp: parts.ipOf,
    metrics: false,
  });
  app.route("/", createRackRoutes(bound.deps.options, bound));
  return bound;
}

/** ggui's CORS preflight on any other path, and each surface's own 404. */
function mountFallbacks(app: Hono): void {
  // ggui: OPTIONS answers 204 with the CORS headers on every path but the excluded ones.
  app.options("*", (c) => {
    if (isRackPath(c.req.path) || isGguiCorsExcluded(c.req.path)) return c.notFound();
    return makeResponse(null, 204, GGUI_CORS_HEADERS);
  });
  app.notFound((c) => {
    if (isJsrPath(c.req.path)) {
      return jsrErrorResponse(jsrError("notFound", "Not found"));
    }
    if (isRackPath(c.req.path)) {
      return rackJsonError(404, { code: "NOT_FOUND", message: "Route not found" });
    }
    const headers = new Headers({
      "content-type": "text/plain; charset=UTF-8",
      "cache-control": "no-store",
    });
    if (!isGguiCorsExcluded(c.req.path)) {
      for (const [k, v] of Object.entries(GGUI_CORS_HEADERS)) headers.set(k, v);
    }
    return new Response("404 Not Found", { status: 404, headers });
  });
}

/** The app's fetch: the fast reads before Hono, the body guard and 503's Retry-After around. */
function wrapFetch(
  app: Hono,
  // deno-lint-ignore no-explicit-any
  parts: { options: RegistryAppOptions; ops: OpsCore; prepared: BoundTable<any>[] },
): RegistryApp {
  const { options, ops, prepared } = parts;
  // Hot reads the route tables prepare skip Hono's dispatch; they decline anything unusual to it.
  const trust = options.trustProxy ?? false;
  const fetch = fastReads({
    ops,
    clientKey: (req, connection) => clientIpOf(req, connection, trust),
    limits: ops.limits,
    match: preparedMatcher(prepared),
    fallback: app.fetch,
  });
  const direct = options.fastReads === false || prepared.length === 0;
  const guarded = retryAfterOn503(guardBodies(direct ? app.fetch : fetch, {
    guard: new BodyGuard({
      idleMs: options.bodyIdleTimeoutMs ?? DEFAULT_BODY_IDLE_TIMEOUT_MS,
      maxPerAddress: options.maxPendingBodiesPerAddress ?? DEFAULT_MAX_PENDING_BODIES,
    }),
    trust,
  }));
  return { fetch: guarded, request: (input, init) => guarded(toRequest(input, init)) };
}

/** Seconds a client is asked to wait after a 503 (storage unavailable). */
const RETRY_AFTER_SECONDS = "5";

/**
 * Every 503 (storage unavailable, on any surface) tells the client when to
 * retry. Not async: a synchronous answer stays synchronous.
 */
function retryAfterOn503(next: FetchHandler): FetchHandler {
  const mark = (res: Response) => {
    if (res.status === 503 && !res.headers.has("retry-after")) {
      try {
        res.headers.set("retry-after", RETRY_AFTER_SECONDS);
      } catch {
        // immutable headers (a proxied response): leave them
      }
    }
    return res;
  };
  return (req, env) => {
    const res = next(req, env);
    return res instanceof Promise ? res.then(mark) : mark(res);
  };
}

/** Default of {@linkcode RegistryAppOptions.bodyIdleTimeoutMs}. */
export const DEFAULT_BODY_IDLE_TIMEOUT_MS = 30_000;
/** Default of {@linkcode RegistryAppOptions.maxPendingBodiesPerAddress}. */
export const DEFAULT_MAX_PENDING_BODIES = 64;

type FetchHandler = (request: Request, env?: unknown) => Response | Promise<Response>;

/**
 * Every request body through the guard (see ops/_body_guard.ts): compacted,
 * timed out when idle, and counted per client address until its response.
 */
function guardBodies(
  next: FetchHandler,
  options: { guard: BodyGuard; trust: boolean | number },
): FetchHandler {
  // Not async: a bodiless request keeps the fast path's synchronous answer.
  return (req, env) => {
    if (req.body === null) return next(req, env);
    const admitted = options.guard.admit(req, clientIpOf(req, env, options.trust));
    if (admitted === null) {
      const res = limitedAt(new URL(req.url).pathname, 1);
      res.headers.set("retry-after", "1");
      // The refused body is never read: the connection cannot carry another request.
      res.headers.set("connection", "close");
      return res;
    }
    return answered(next, admitted, env);
  };
}

/** The answer to an admitted request; its body stops counting once the answer is ready. */
async function answered(
  next: FetchHandler,
  admitted: { request: Request; release: () => void },
  env: unknown,
): Promise<Response> {
  try {
    return await next(admitted.request, env);
  } finally {
    admitted.release();
  }
}

/** Finished bundle responses kept for cloning share the blob cache's budget (0: none). */
function fastTemplateBytes(options: RegistryAppOptions): { templateBytes?: number } {
  return options.blobCacheBytes === undefined ? {} : { templateBytes: options.blobCacheBytes };
}

/** The request `app.request()` means (as Hono's: a path is on `http://localhost`). */
function toRequest(input: string | URL | Request, init?: RequestInit): Request {
  if (input instanceof Request) return init === undefined ? input : new Request(input, init);
  const text = input.toString();
  if (/^https?:\/\//.test(text)) return new Request(text, init);
  return new Request(`http://localhost${text.startsWith("/") ? "" : "/"}${text}`, init);
}

/** The 429 of each surface: Rack's envelope on Rack paths, ggui's elsewhere. */
function limited(c: Context, retryAfter: number): Response {
  return limitedAt(c.req.path, retryAfter);
}

/** {@linkcode limited} by path, for answers given before Hono routes a request. */
function limitedAt(path: string, retryAfter: number): Response {
  const message = `Rate limit exceeded. Try again in ${retryAfter}s`;
  if (isJsrPath(path)) return jsrErrorResponse(jsrError("rateLimited", message));
  if (isRackPath(path)) {
    return rackJsonError(429, { code: "RATE_LIMIT_EXCEEDED", message });
  }
  // ggui's CORS paths keep their headers, so a browser can read the 429 (a
  // refused preflight included).
  return makeResponse(
    JSON.stringify({ error: "rate_limited", message, code: "rate_limited" }),
    429,
    isGguiCorsExcluded(path) ? GGUI_LIMITED_HEADERS : GGUI_LIMITED_CORS_HEADERS,
  );
}

const GGUI_LIMITED_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };
const GGUI_LIMITED_CORS_HEADERS = { ...GGUI_LIMITED_HEADERS, ...GGUI_CORS_HEADERS };

/** Operator counters: publishes by surface and result, conflicts, auth failures. */
function countOutcome(c: Context): void {
  const status = c.res.status;
  const path = c.req.path;
  const surface = isRackPath(path)
    ? "rack"
    : isJsrPath(path)
    ? "jsr"
    : path.startsWith("/admin")
    ? "admin"
    : "ggui";
  if (status === 401) authFailuresTotal.inc({ surface, reason: "unauthorized" });
  const method = c.req.method;
  if (
    (method === "POST" && (path === "/publish" || path === "/registries")) ||
    (method === "POST" && path.startsWith("/api/scopes/")) ||
    (method === "PUT" && path.startsWith("/presets/"))
  ) {
    // A surface may say what the status cannot (JSR: a failed task is a 200).
    const told = c.get(PUBLISH_OUTCOME as never) as string | undefined;
    const result = told ??
      (status < 300
        ? "created"
        : status === 409
        ? "conflict"
        : status === 429
        ? "limited"
        : status < 500
        ? "refused"
        : "error");
    publishesTotal.inc({ surface, result });
    if (result === "conflict") versionConflictsTotal.inc({ surface });
    // The anonymous /metrics view: publishes of public versions, attempts without credentials.
    if (isPublicActivity(c)) {
      publicMetrics.publishesTotal.inc({ surface, result });
      if (result === "conflict") publicMetrics.versionConflictsTotal.inc({ surface });
    }
  }
}

/**
 * The operations stack shared by every surface: one fused middleware (request
 * log, metrics, the general and failed-authentication limits, compression),
 * the shared upload limit, and the `/metrics` and `/healthz` routes.
 */
function mountOps(app: Hono, ctx: RegistryContext, options: RegistryAppOptions): OpsCore {
  const trust = options.trustProxy ?? false;
  const key = (c: Context) => clientIp(c, trust);
  // Local mode: counted in process and folded into the shared counter every
  // ~250 ms, so deciding costs no store read on the request path.
  const local = (name: string, limit: number) =>
    limit > 0 ? new RateLimiter(ctx, { name, limit, windowSeconds: 60, mode: "local" }) : undefined;
  const limiters: Record<CostClass, RateLimiter | undefined> = {
    // "ip": the Rack original's limiter, name and all (its RateLimit-Policy).
    rack: local("ip", options.rateLimitPerMinute ?? 1200),
    immutable: local("read", options.readRateLimitPerMinute ?? 0),
    metadata: local("metadata", options.metadataRateLimitPerMinute ?? 6000),
    query: local("query", options.queryRateLimitPerMinute ?? 300),
  };
  const failures = local("authfail", options.authFailuresPerMinute ?? 30);
  const ops = createOpsCore({
    key,
    costLimits: { classify: costClass, limiters },
    ...(failures ? { authFailures: failures } : {}),
    onLimited: limited,
    compress: options.compress === false ? false : {},
    ...(options.requestLog ? { log: options.requestLog } : {}),
    after: countOutcome,
  });
  app.use(ops.middleware);
  const uploads = uploadBudget(ctx, options, key);
  if (uploads) {
    app.on("POST", ["/publish", "/registries", "/api/scopes/*", "/author-keys"], uploads);
    // ggui's author keys are writes too (its spec's known weaknesses: limit them).
    // (`/author-keys/*` also matches `/author-keys`: listing both would count twice.)
    app.on("DELETE", "/author-keys/*", uploads);
    app.on("PUT", "/presets/*", uploads);
  }
  app.get("/metrics", metricsHandler(options.metricsToken ? { token: options.metricsToken } : {}));
  app.get("/healthz", async () => {
    const state = await storeRoundTrip(ctx);
    return makeResponse(HEALTHZ_BODIES[state], state === "ok" ? 200 : 503, HEALTHZ_HEADERS);
  });
  return ops;
}

/** The token a request presents (Bearer, any case, else Rack's `X-Registry-Token`), if any. */
function presentedToken(c: Context): string | undefined {
  const header = c.req.header("authorization");
  const bearer = header === undefined ? undefined : /^bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
  if (bearer) return bearer;
  return c.req.header("x-registry-token")?.trim() || undefined;
}

/**
 * The upload budget (shared mode: exact across every process on the store;
 * uploads are rare and costly). A request presenting a token spends that
 * token's budget, so a CI runner publishing a release is not refused for its
 * address; one without spends its address's. A made-up token buys nothing:
 * it fails authentication, which has its own budget.
 */
function uploadBudget(
  ctx: RegistryContext,
  options: RegistryAppOptions,
  key: (c: Context) => string,
): MiddlewareHandler | undefined {
  const shared = (name: string, limit: number) =>
    limit > 0
      ? new RateLimiter(ctx, { name, limit, windowSeconds: 60, mode: "shared" })
      : undefined;
  const byAddress = shared("upload", options.uploadRateLimitPerMinute ?? 60);
  const byToken = shared("upload-token", options.tokenUploadRateLimitPerMinute ?? 600);
  if (!byAddress && !byToken) return undefined;
  const anonymous = byAddress && rateLimit({ limiter: byAddress, key, onLimited: limited });
  const tokened = byToken && rateLimit({
    limiter: byToken,
    // Only a digest of the token is ever a counter's key.
    key: (c) => sha256Hex(presentedToken(c) ?? ""),
    onLimited: limited,
  });
  return (c, next) => {
    const mw = presentedToken(c) === undefined ? anonymous : tokened;
    return mw ? mw(c, next) : next();
  };
}

/** `/healthz` is a ggui route: JSON, never cached, with the surface's CORS headers. */
const HEALTHZ_HEADERS = {
  "content-type": "application/json",
  "cache-control": "no-store",
  ...GGUI_CORS_HEADERS,
};

/** The `/healthz` body of each outcome of the round trip. */
const HEALTHZ_BODIES = {
  ok: '{"ok":true}',
  disk_full: JSON.stringify({
    ok: false,
    error:
      "disk is full: the store cannot write; free space on its volume or run gc (it gives up the disk reserve first)",
  }),
  unavailable: '{"ok":false,"error":"storage is unavailable"}',
} as const;

/** Whether both stores pass their round trip (see core/health.ts), and why not. */
async function storeRoundTrip(ctx: RegistryContext): Promise<keyof typeof HEALTHZ_BODIES> {
  try {
    await checkStoreHealth(ctx);
    return "ok";
  } catch (err) {
    return isDiskFull(err) ? "disk_full" : "unavailable";
  }
}

/** The hosts of a request `hostOf` derives (frozen: one object per client host is kept). */
type DerivedHosts = Readonly<{ bundleHost?: string; registryHostname?: string }>;

/** Most client hosts whose derived hosts are kept (a flood of made-up `Host`s clears them). */
const MAX_KEPT_HOSTS = 256;

/**
 * Blob URL prefix and install host of a request, for the fields the options
 * derive. Without a trusted proxy the answer depends only on the scheme and
 * the `Host` header: it is worked out once per host and kept (frozen, so
 * `gguiContextFor` keeps the context made with it).
 */
function hostOf(options: RegistryAppOptions): (req: Request) => DerivedHosts {
  const derive = new Set(options.hostFromRequest);
  const trust = options.trustProxy ?? false;
  const derived = (req: Request): DerivedHosts => {
    const found = requestOrigin(req, trust);
    if (found === undefined) return NO_HOSTS;
    return Object.freeze({
      ...(derive.has("bundleHost") ? { bundleHost: found.origin } : {}),
      ...(derive.has("registryHostname") ? { registryHostname: found.host } : {}),
    });
  };
  if (trust !== false && trust !== 0) return derived;
  const kept = { http: new Map<string, DerivedHosts>(), https: new Map<string, DerivedHosts>() };
  return (req) => {
    const host = requestHeader(req, "host");
    if (host === null) return derived(req);
    const byHost = req.url.startsWith("https:") ? kept.https : kept.http;
    let hosts = byHost.get(host);
    if (hosts === undefined) {
      if (byHost.size >= MAX_KEPT_HOSTS) byHost.clear();
      byHost.set(host, hosts = derived(req));
    }
    return hosts;
  };
}

const NO_HOSTS: DerivedHosts = Object.freeze({});
