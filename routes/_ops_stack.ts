/**
 * The whole operations stack as ONE middleware: request id and log line,
 * latency histogram and bytes served, the general and failed-authentication
 * rate limits (local mode: decided without awaiting the store), their headers,
 * and compression. Each layer of Hono middleware costs an async frame per
 * request; fused, the stack keeps most of a bare route's throughput (see
 * docs/bench.md). The separate middlewares in `_ops.ts` remain for embedders
 * who want only some of them.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { httpRequestDuration, httpResponseBytes, rateLimitedTotal } from "../core/metrics.ts";
import type { RateLimiter, RateLimitResult } from "../core/rate_limit.ts";
import { canEncode, compressResponse, type Encoding } from "./_ops_compress.ts";
import { routePattern } from "./_ops_common.ts";
import { REQUEST_ID_RE } from "./_ops_log.ts";
import { rateLimitHeaders } from "./_ops_rate_limit.ts";

/** Options of {@linkcode opsStack}. */
export interface OpsStackOptions {
  /** The client key of a request (its IP). */
  key: (c: Context) => string;
  /** The per-client budget of every request (local mode). */
  general?: RateLimiter;
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

function isoNow(): string {
  return new Date().toISOString();
}

function limitedResponse(
  c: Context,
  limiter: RateLimiter,
  result: RateLimitResult,
  onLimited: OpsStackOptions["onLimited"],
): Response {
  rateLimitedTotal.inc({ limiter: limiter.name });
  const response = onLimited(c, result.resetSeconds);
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(rateLimitHeaders(limiter, result))) headers.set(k, v);
  headers.set("retry-after", String(result.resetSeconds));
  return new Response(response.body, { status: response.status, headers });
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
  const { key, general, authFailures, onLimited, log } = options;
  if (general?.mode === "shared" || authFailures?.mode === "shared") {
    throw new TypeError("opsStack takes local-mode limiters; mount shared ones with rateLimit()");
  }
  const compression = options.compress === false ? null : {
    threshold: options.compress?.threshold ?? 1024,
    encodings: (options.compress?.encodings ?? ["br", "gzip", "deflate"]).filter(canEncode),
  };
  return async function ops(c, next) {
    const time = log ? isoNow() : "";
    const start = performance.now();
    let requestId = "";
    if (log) {
      const incoming = c.req.raw.headers.get("x-request-id");
      requestId = incoming !== null && REQUEST_ID_RE.test(incoming)
        ? incoming
        : crypto.randomUUID();
      c.set("requestId" as never, requestId as never);
    }
    const client = general || authFailures ? key(c) : "";
    let result: RateLimitResult | undefined;
    let refused: Response | undefined;
    if (general) {
      result = general.hitNow(client);
      if (!result.allowed) refused = limitedResponse(c, general, result, onLimited);
    }
    let limiter = general;
    if (!refused && authFailures) {
      const failures = authFailures.peekNow(client);
      if (!failures.allowed) {
        refused = limitedResponse(c, authFailures, failures, onLimited);
      }
    }
    let status = 500;
    try {
      if (refused) {
        c.res = refused;
      } else {
        await next();
        if (authFailures && c.res.status === 401) {
          result = authFailures.hitNow(client);
          limiter = authFailures;
        }
        const headers = c.res.headers;
        try {
          if (result && limiter) {
            headers.set("x-ratelimit-limit", String(result.limit));
            headers.set("x-ratelimit-remaining", String(result.remaining));
            headers.set("x-ratelimit-reset", String(result.resetAt));
          }
          if (log) headers.set("x-request-id", requestId);
        } catch {
          // Immutable headers (a fetched response): copy once.
          const copy = new Response(c.res.body, c.res);
          if (result) {
            copy.headers.set("x-ratelimit-limit", String(result.limit));
            copy.headers.set("x-ratelimit-remaining", String(result.remaining));
            copy.headers.set("x-ratelimit-reset", String(result.resetAt));
          }
          if (log) copy.headers.set("x-request-id", requestId);
          c.res = undefined;
          c.res = copy;
        }
        if (compression) await compressResponse(c, compression.threshold, compression.encodings);
      }
      status = c.res.status;
      options.after?.(c);
    } finally {
      const route = routePattern(c);
      const method = METHODS.has(c.req.method) ? c.req.method : "OTHER";
      const seconds = (performance.now() - start) / 1000;
      httpRequestDuration.observe({ method, route, status_code: String(status) }, seconds);
      const length = c.req.method === "HEAD" ? null : c.res.headers.get("content-length");
      if (length !== null) {
        const n = Number(length);
        if (n > 0) httpResponseBytes.inc({ route }, n);
      }
      if (log) {
        const subject = c.get("subject" as never) as unknown;
        const line = `{"time":"${time}","level":"${status >= 500 ? "error" : "info"}","requestId":${
          JSON.stringify(requestId)
        },"method":${JSON.stringify(c.req.method)},"route":${
          JSON.stringify(route)
        },"status":${status},"durationMs":${Math.round(seconds * 1e6) / 1000}${
          length && /^\d+$/.test(length) ? `,"bytes":${length}` : ""
        }${typeof subject === "string" ? `,"subject":${JSON.stringify(subject)}` : ""}}`;
        try {
          log(line);
        } catch {
          // A broken log sink must never break a response.
        }
      }
    }
  };
}
