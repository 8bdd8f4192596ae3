/**
 * The whole operations stack as ONE middleware: request id and log line,
 * latency histogram and bytes served, the general and failed-authentication
 * rate limits (local mode: decided without awaiting the store), their headers,
 * and compression. Each layer of Hono middleware costs an async frame per
 * request; fused, the stack keeps most of a bare route's throughput (see
 * docs/bench.md). The separate middlewares in `mod.ts` remain for embedders
 * who want only some of them.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import {
  httpRequestDuration,
  httpResponseBytes,
  publicMetrics,
  rateLimitedTotal,
} from "../../core/metrics.ts";
import type { RateLimiter, RateLimitResult } from "../../core/rate_limit.ts";
import { canEncode, compressResponse, type Encoding } from "./_compress.ts";
import { countedBody, replaceResponse, routePattern, settleDocumentLength } from "./_common.ts";
import { REQUEST_ID_RE } from "./_log.ts";
import { requestHasCredentials, requestHeader } from "./_request_header.ts";
import { rateLimitHeaders } from "./_rate_limit.ts";
import { pathOfUrl } from "./_cost_class.ts";

/** Options of {@linkcode opsStack}. */
export interface OpsStackOptions {
  /** The client key of a request (its IP). */
  key: (c: Context) => string;
  /** The per-client budget of every request (local mode), unless `costLimits` picks another. */
  general?: RateLimiter;
  /**
   * Budgets by what a request costs: `classify` names a request's class from
   * its method and path, and the class's limiter (local mode) is the one it
   * spends. A class without a limiter is not limited and its responses carry
   * no rate-limit headers. Takes the place of `general` when given.
   */
  costLimits?: {
    classify: (method: string, path: string, url: string) => string;
    limiters: Readonly<Record<string, RateLimiter | undefined>>;
  };
  /** The per-client budget of failed authentications (local mode; counts 401s). */
  authFailures?: RateLimiter;
  /** The surface's 429 body. */
  onLimited: (c: Context, retryAfter: number) => Response;
  /** Compress documents over `threshold` bytes (false: never). */
  compress?: { threshold?: number; encodings?: Encoding[] } | false;
  /** Where the one JSON line per request goes (absent: no log, no request id). */
  log?: (line: string) => void;
  /** Called with the final response of every request (counters). */
  after?: (c: Context) => void;
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

let isoMs = NaN;
let isoText = "";

/** The time as ISO text; formatted once per millisecond (a busy server answers many in one). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

function limitedResponse(
  c: Context,
  s: OpsStart,
  onLimited: OpsStackOptions["onLimited"],
): Response {
  const { limiter, result } = s.refused!;
  rateLimitedTotal.inc({ limiter: limiter.name });
  if (s.public) publicMetrics.rateLimitedTotal.inc({ limiter: limiter.name });
  const response = onLimited(c, result.resetSeconds);
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(rateLimitHeaders(limiter, result))) headers.set(k, v);
  headers.set("retry-after", String(result.resetSeconds));
  return new Response(response.body, { status: response.status, headers });
}

/**
 * The compression settings, with the codings this runtime can produce probed
 * when first read: the probe loads the runtime's compression code, which a
 * start does not otherwise need before its first answer (docs/bench.md, start-up).
 */
function probedOnFirstUse(
  given: { threshold?: number; encodings?: Encoding[] } | undefined,
): { threshold: number; encodings: Encoding[] } {
  let encodings: Encoding[] | undefined;
  return {
    threshold: given?.threshold ?? 1024,
    get encodings() {
      return encodings ??= (given?.encodings ?? ["br", "gzip", "deflate"]).filter(canEncode);
    },
  };
}

/** JSON strings of methods and route patterns (a small, fixed set), made once each. */
const quotedText = new Map<string, string>();

function quoted(text: string): string {
  let q = quotedText.get(text);
  if (q === undefined) {
    q = JSON.stringify(text);
    if (quotedText.size < 1024) quotedText.set(text, q);
  }
  return q;
}

/** What the stack decided as a request came in (see {@linkcode OpsCore.begin}). */
export interface OpsStart {
  /** When it came in (ISO text; empty without a log). */
  time: string;
  /** `performance.now()` when it came in. */
  start: number;
  /** Its request id (empty without a log). */
  requestId: string;
  /**
   * The client key, when a budget needed it (`undefined`: none did; it is
   * worked out if a failed authentication later needs it).
   */
  client: string | undefined;
  /** The decision whose headers the response carries. */
  result: RateLimitResult | undefined;
  /** The limiter of `result`. */
  limiter: RateLimiter | undefined;
  /** The 429 decided before the request ran, if any. */
  refused: { limiter: RateLimiter; result: RateLimitResult } | undefined;
  /**
   * Whether the anonymous `/metrics` view counts it: no credentials, or a
   * surface marked it public (`publicActivity`) before it was recorded.
   */
  public: boolean;
}

/**
 * The operations stack as plain functions, shared by the Hono middleware and
 * by the prepared-read path that answers without Hono (`../shared/_prepared_reads.ts`):
 * what happens before a request runs, the headers its response gets, and what
 * is recorded once it is answered.
 */
export interface OpsCore {
  /**
   * Request id, start time, the general hit and the failed-auth peek. `client`
   * is the client key, or a function working it out: called only when a
   * budget needs it (no budget applies, or nobody has failed to
   * authenticate: the address is not looked up). `path` is the request's
   * path when the caller has it already.
   */
  begin(req: Request, client: string | (() => string), path?: string): OpsStart;
  /**
   * Set the rate-limit headers and the request id (throws on immutable
   * headers). `fresh`: the response has none of them yet (they are appended).
   */
  decorate(headers: Headers, start: OpsStart, fresh?: boolean): void;
  /** The latency histogram, bytes served and the log line of an answered request. */
  record(
    start: OpsStart,
    method: string,
    route: string,
    status: number,
    length: string | null,
    subject?: unknown,
  ): void;
  /** Count bytes served under a route (for bodies whose length is known only once sent). */
  served(start: OpsStart, route: string, bytes: number): void;
  /**
   * Let the middleware finish a request begun elsewhere (a fast path that
   * declined it): it reuses `start` instead of counting the request again.
   */
  handOff(req: Request, start: OpsStart): void;
  /** Compression settings (`null`: off). */
  compression: { threshold: number; encodings: Encoding[] } | null;
  /** Whether any budget applies (else the client key need not be worked out). */
  limits: boolean;
  /** Whether the request log is on (responses then carry `x-request-id`). */
  logging: boolean;
  /** The fused middleware. Mount it first. */
  middleware: MiddlewareHandler;
}

/**
 * The fused operations middleware. Mount it first.
 *
 * @example
 * ```ts ignore
 * app.use(opsStack({ key: (c) => clientIp(c, false), general, authFailures, onLimited }));
 * ```
 */
export function opsStack(options: OpsStackOptions): MiddlewareHandler {
  return createOpsCore(options).middleware;
}

/**
 * The operations stack's parts (see {@linkcode OpsCore}); `middleware` is
 * what {@linkcode opsStack} answers.
 *
 * @example
 * ```ts ignore
 * const ops = createOpsCore({ key, general, authFailures, onLimited });
 * app.use(ops.middleware);
 * ```
 */
export function createOpsCore(options: OpsStackOptions): OpsCore {
  const { general, authFailures, log, costLimits } = options;
  const classLimiters = Object.values(costLimits?.limiters ?? {}).filter((l) => l !== undefined);
  if ([general, authFailures, ...classLimiters].some((l) => l?.mode === "shared")) {
    throw new TypeError("opsStack takes local-mode limiters; mount shared ones with rateLimit()");
  }
  const settings: OpsSettings = {
    options,
    // Whether any budget needs the client key.
    limits: general !== undefined || authFailures !== undefined || classLimiters.length > 0,
    limiterOf: costLimits
      ? (req, path) =>
        costLimits.limiters[costLimits.classify(req.method, path ?? pathOfUrl(req.url), req.url)]
      : () => general,
    compression: options.compress === false ? null : probedOnFirstUse(options.compress),
    handoffs: new WeakMap<Request, OpsStart>(),
  };
  return {
    begin: (req, client, path) => beginRequest(settings, req, client, path),
    decorate: (headers, s, fresh) => decorateHeaders(log !== undefined, headers, s, fresh),
    record: (s, method, route, status, length, subject) =>
      recordRequest(log, s, { method, route, status, length, subject }),
    served: countServed,
    handOff: (req, s) => void settings.handoffs.set(req, s),
    compression: settings.compression,
    limits: settings.limits,
    logging: log !== undefined,
    middleware: opsMiddleware(settings),
  };
}

/** What {@linkcode createOpsCore} works out once from its options. */
interface OpsSettings {
  options: OpsStackOptions;
  /** Whether any budget applies (else the client key need not be worked out). */
  limits: boolean;
  /** The budget a request spends (its cost class's, or the general one). */
  limiterOf: (req: Request, path?: string) => RateLimiter | undefined;
  compression: OpsCore["compression"];
  /** Requests begun by a fast path that declined them, for the middleware to finish. */
  handoffs: WeakMap<Request, OpsStart>;
}

/** Request id, start time, client key, the general hit and the failed-auth peek. */
function beginRequest(
  settings: OpsSettings,
  req: Request,
  clientOf: string | (() => string),
  path?: string,
): OpsStart {
  const { log, authFailures } = settings.options;
  const time = log ? isoNow() : "";
  const start = performance.now();
  let requestId = "";
  if (log) {
    const incoming = requestHeader(req, "x-request-id");
    requestId = incoming !== null && REQUEST_ID_RE.test(incoming) ? incoming : crypto.randomUUID();
  }
  let result: RateLimitResult | undefined;
  let refused: OpsStart["refused"];
  let client = typeof clientOf === "string" ? clientOf : undefined;
  const limiter = settings.limiterOf(req, path);
  if (limiter) {
    client ??= (clientOf as () => string)();
    result = limiter.hitNow(client);
    if (!result.allowed) refused = { limiter, result };
  }
  // Nobody tracked, nobody refused: the peek would admit anyone.
  if (!refused && authFailures && authFailures.trackedClients > 0) {
    client ??= (clientOf as () => string)();
    const failures = authFailures.peekNow(client);
    if (!failures.allowed) refused = { limiter: authFailures, result: failures };
  }
  const open = !requestHasCredentials(req);
  return { time, start, requestId, client, result, limiter, refused, public: open };
}

/** Set the rate-limit headers and the request id (see {@linkcode OpsCore.decorate}). */
function decorateHeaders(logging: boolean, headers: Headers, s: OpsStart, fresh = false): void {
  const result = s.result;
  // Appending skips the search for an existing value: only for responses known to have none.
  if (fresh) {
    if (result && s.limiter) {
      headers.append("x-ratelimit-limit", String(result.limit));
      headers.append("x-ratelimit-remaining", String(result.remaining));
      headers.append("x-ratelimit-reset", String(result.resetAt));
    }
    if (logging) headers.append("x-request-id", s.requestId);
    return;
  }
  // An inner limiter (the upload budget) already labelled the response:
  // its headers, the stricter budget's, stay.
  if (result && s.limiter && !headers.has("x-ratelimit-limit")) {
    headers.set("x-ratelimit-limit", String(result.limit));
    headers.set("x-ratelimit-remaining", String(result.remaining));
    headers.set("x-ratelimit-reset", String(result.resetAt));
  }
  if (logging) headers.set("x-request-id", s.requestId);
}

/** Count bytes served under a route. */
function countServed(s: OpsStart, route: string, n: number): void {
  if (n <= 0) return;
  const labels = seriesOf(route).bytes;
  httpResponseBytes.inc(labels, n);
  if (s.public) publicMetrics.httpResponseBytes.inc(labels, n);
}

/** What {@linkcode recordRequest} records of an answered request. */
interface Answered {
  method: string;
  route: string;
  status: number;
  length: string | null;
  subject?: unknown;
}

/** The labels of one route's series: its bytes and its latency by method and status. */
interface RouteSeries {
  bytes: Readonly<{ route: string }>;
  byStatus: Map<number, Readonly<{ method: string; route: string; status_code: string }>>;
}

/** Frozen labels by route (metrics keep the ids of frozen labels: see core/metrics.ts). */
const routeSeries = new Map<string, RouteSeries>();
/** Most routes whose labels are kept (patterns are few; this bounds a misuse). */
const MAX_ROUTE_SERIES = 1024;

function seriesOf(route: string): RouteSeries {
  let series = routeSeries.get(route);
  if (series === undefined) {
    if (routeSeries.size >= MAX_ROUTE_SERIES) routeSeries.clear();
    series = { bytes: Object.freeze({ route }), byStatus: new Map() };
    routeSeries.set(route, series);
  }
  return series;
}

/** The latency labels of a request (one frozen object per method, route and status). */
function durationLabels(method: string, route: string, status: number) {
  const label = METHODS.has(method) ? method : "OTHER";
  const byStatus = seriesOf(route).byStatus;
  // Statuses are 100–599 and methods few: one number names the pair.
  const id = status * 8 + METHOD_INDEX.indexOf(label);
  let labels = byStatus.get(id);
  if (labels === undefined) {
    labels = Object.freeze({ method: label, route, status_code: String(status) });
    byStatus.set(id, labels);
  }
  return labels;
}

const METHOD_INDEX = [...METHODS, "OTHER"];

/** The latency histogram, bytes served and the log line of an answered request. */
function recordRequest(log: OpsStackOptions["log"], s: OpsStart, a: Answered): void {
  const seconds = (performance.now() - s.start) / 1000;
  const labels = durationLabels(a.method, a.route, a.status);
  httpRequestDuration.observe(labels, seconds);
  if (s.public) publicMetrics.httpRequestDuration.observe(labels, seconds);
  if (a.length !== null) countServed(s, a.route, Number(a.length));
  if (!log) return;
  try {
    log(logLine(s, a, seconds));
  } catch {
    // A broken log sink must never break a response.
  }
}

/** One request log line, built by hand (a hot path). */
function logLine(s: OpsStart, a: Answered, seconds: number): string {
  const { length, subject } = a;
  // Request ids are JSON-safe as they are (a UUID, or REQUEST_ID_RE's characters).
  return `{"time":"${s.time}","level":"${
    a.status >= 500 ? "error" : "info"
  }","requestId":"${s.requestId}","method":${quoted(a.method)},"route":${
    quoted(a.route)
  },"status":${a.status},"durationMs":${Math.round(seconds * 1e6) / 1000}${
    length && /^\d+$/.test(length) ? `,"bytes":${length}` : ""
  }${typeof subject === "string" ? `,"subject":${JSON.stringify(subject)}` : ""}}`;
}

/** The fused middleware: begin (or take over), answer, then record. */
function opsMiddleware(settings: OpsSettings): MiddlewareHandler {
  const { options } = settings;
  const { key, log } = options;
  return async function ops(c: Context, next: () => Promise<void>): Promise<void> {
    const raw = c.req.raw;
    let s = settings.handoffs.get(raw);
    if (s) settings.handoffs.delete(raw);
    else s = beginRequest(settings, raw, settings.limits ? () => key(c) : "");
    if (log) c.set("requestId" as never, s.requestId as never);
    let status = 500;
    try {
      await answer(settings, c, { start: s, next });
      status = c.res.status;
      options.after?.(c);
    } finally {
      const route = routePattern(c);
      const length = c.req.method === "HEAD" ? null : c.res.headers.get("content-length");
      // A body compressed as it flows has no length yet: count it as it goes out.
      if (length === null && c.req.method !== "HEAD" && c.res.headers.has("content-encoding")) {
        const started = s;
        replaceResponse(c, countedBody(c.res, (n) => countServed(started, route, n)));
      }
      if (c.get("publicActivity" as never) === true) s.public = true;
      const subject = c.get("subject" as never);
      recordRequest(log, s, { method: c.req.method, route, status, length, subject });
    }
  };
}

/** Refuse a request over budget, or run it and label (and compress) its response. */
async function answer(
  settings: OpsSettings,
  c: Context,
  run: { start: OpsStart; next: () => Promise<void> },
): Promise<void> {
  const { authFailures, onLimited, log } = settings.options;
  const s = run.start;
  if (s.refused) {
    c.res = limitedResponse(c, s, onLimited);
    if (log) c.res.headers.set("x-request-id", s.requestId);
    return;
  }
  await run.next();
  if (authFailures && (c.res.status === 401 || c.get("authFailed" as never))) {
    s.client ??= settings.options.key(c);
    s.result = authFailures.hitNow(s.client);
    s.limiter = authFailures;
  }
  try {
    decorateHeaders(log !== undefined, c.res.headers, s);
  } catch {
    // Immutable headers (a fetched response): copy once.
    const copy = new Response(c.res.body, c.res);
    decorateHeaders(log !== undefined, copy.headers, s);
    c.res = undefined;
    c.res = copy;
  }
  const { compression } = settings;
  if (compression) await compressResponse(c, compression.threshold, compression.encodings);
  // A HEAD carries its GET's length (compression measures it otherwise).
  else if (c.req.method === "HEAD") await settleDocumentLength(c);
}
