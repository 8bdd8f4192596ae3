/**
 * Rate limiting as Hono middleware over {@linkcode RateLimiter}, and the
 * client IP it is keyed by.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import type { RateLimiter, RateLimitResult } from "../../core/rate_limit.ts";
import { type Counter, publicMetrics, rateLimitedTotal } from "../../core/metrics.ts";
import { hasCredentials, setResponseHeaders } from "./_common.ts";

/** Options of {@linkcode rateLimit}. */
export interface RateLimitMiddlewareOptions {
  /** The limiter (its name, limit and window make the policy headers). */
  limiter: RateLimiter;
  /** The client key of a request, usually `(c) => clientIp(c, trustProxy)`. */
  key: (c: Context) => string;
  /**
   * The 429 in the surface's own error format. The middleware adds
   * `Retry-After` and the rate-limit headers to whatever it returns.
   */
  onLimited: (
    c: Context,
    retryAfter: number,
    result: RateLimitResult,
  ) => Response | Promise<Response>;
  /**
   * Count only some outcomes (e.g. failed authentications): when given, a
   * request is refused if the budget is already spent, otherwise it runs and
   * is counted afterwards only when this answers `true` for the response.
   * Without it every request counts before it runs.
   */
  countIf?: (c: Context) => boolean;
  /** Requests that bypass this limiter entirely (no headers either). */
  skip?: (c: Context) => boolean;
  /** Counts refusals by limiter name (default: `registry_rate_limited_total`). */
  limitedCounter?: Counter<"limiter">;
}

/** The rate-limit headers of a decision: the Rack ones and the IETF draft's. */
export function rateLimitHeaders(
  limiter: Pick<RateLimiter, "name">,
  r: RateLimitResult,
): Record<string, string> {
  return {
    "x-ratelimit-limit": String(r.limit),
    "x-ratelimit-remaining": String(r.remaining),
    // Unix seconds at which the window resets (the common X-RateLimit-Reset convention).
    "x-ratelimit-reset": String(r.resetAt),
    "ratelimit-policy": `"${limiter.name}";q=${r.limit};w=${r.windowSeconds}`,
    "ratelimit": `"${limiter.name}";r=${r.remaining};t=${r.resetSeconds}`,
  };
}

/**
 * Middleware that refuses requests over the limiter's budget with the
 * surface's 429, and labels every response with the rate-limit headers.
 * Stacked limiters (a general one outside, a stricter one inside) leave the
 * inner one's headers, which are the binding ones.
 *
 * @example
 * ```ts ignore
 * app.use(rateLimit({
 *   limiter: generalLimiter,
 *   key: (c) => clientIp(c, config.trustProxy),
 *   onLimited: (c, retryAfter) =>
 *     c.json({ code: "RATE_LIMIT_EXCEEDED", message: `Rate limit exceeded. Try again in ${retryAfter}s` }, 429, {
 *       "cache-control": "no-store",
 *     }),
 * }));
 * ```
 */
export function rateLimit(options: RateLimitMiddlewareOptions): MiddlewareHandler {
  const { limiter, key, onLimited, countIf, skip } = options;
  const limited = options.limitedCounter ?? rateLimitedTotal;
  return async function rateLimitMiddleware(c, next) {
    if (skip?.(c)) return await next();
    const client = key(c);
    let result = countIf ? await limiter.peek(client) : await limiter.hit(client);
    if (!result.allowed) {
      limited.inc({ limiter: limiter.name });
      // The anonymous /metrics view counts refusals of requests without credentials.
      if (limited === rateLimitedTotal && !hasCredentials(c.req.raw.headers)) {
        publicMetrics.rateLimitedTotal.inc({ limiter: limiter.name });
      }
      const response = await onLimited(c, result.resetSeconds, result);
      const headers = new Headers(response.headers);
      for (const [k, v] of Object.entries(rateLimitHeaders(limiter, result))) headers.set(k, v);
      headers.set("retry-after", String(result.resetSeconds));
      return new Response(response.body, {
        status: response.status,
        statusText: response.statusText,
        headers,
      });
    }
    await next();
    if (countIf?.(c)) result = await limiter.hit(client);
    setResponseHeaders(c, rateLimitHeaders(limiter, result));
  };
}

/** How a request reached us, as Deno.serve hands it to `app.fetch(req, info)`. */
interface ConnEnv {
  remoteAddr?: { hostname?: string };
}

const IPV4_RE = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const IPV6_RE = /^[0-9a-f:]+(?:%[0-9a-z_.-]+)?$|^[0-9a-f:]+:(?:\d{1,3}\.){3}\d{1,3}$/i;

/**
 * Normalize one address as found in a socket or a forwarded header: strips
 * brackets and ports, lowercases IPv6, unwraps IPv4-mapped IPv6. `null` when
 * it is not an IP address.
 */
export function normalizeIp(text: string): string | null {
  let s = text.trim();
  if (s.startsWith("[")) {
    const end = s.indexOf("]");
    if (end < 0) return null;
    s = s.slice(1, end);
  } else if (/^[\d.]+:\d+$/.test(s)) {
    s = s.slice(0, s.lastIndexOf(":"));
  }
  if (IPV4_RE.test(s)) return s;
  if (s.includes(":") && IPV6_RE.test(s)) {
    s = s.toLowerCase();
    const mapped = /^::ffff:((?:\d{1,3}\.){3}\d{1,3})$/.exec(s);
    if (mapped && IPV4_RE.test(mapped[1]!)) return mapped[1]!;
    return s;
  }
  return null;
}

/**
 * The client's IP address.
 *
 * - `trustProxy` false: the connection's peer (`unknown` when the request did
 *   not come through a socket, as with `app.request()` in tests).
 * - `true`: every proxy is trusted, so the leftmost `X-Forwarded-For` entry.
 * - a hop count `n`: that many proxies in front of us are trusted, so the
 *   n-th address counting from the right (the peer is hop 0, the rightmost
 *   forwarded entry hop 1…); the leftmost one when the chain is shorter. An
 *   entry that is not an IP address gives `unknown`.
 */
export function clientIp(c: Context, trustProxy: boolean | number = false): string {
  return clientIpOf(c.req.raw, c.env, trustProxy);
}

/** Peer addresses already normalized (a busy client sends many requests from one address). */
const peers = new Map<string, string | null>();

function normalizedPeer(hostname: string): string | null {
  let ip = peers.get(hostname);
  if (ip === undefined) {
    if (peers.size >= 4096) peers.clear();
    ip = normalizeIp(hostname);
    peers.set(hostname, ip);
  }
  return ip;
}

/** {@linkcode clientIp} of a request and the connection info `Deno.serve` passed with it. */
export function clientIpOf(
  req: Request,
  connection: unknown,
  trustProxy: boolean | number = false,
): string {
  const env = connection as ConnEnv | undefined;
  const hostname = env?.remoteAddr?.hostname;
  const peer = (hostname && normalizedPeer(hostname)) || "unknown";
  if (trustProxy === false || trustProxy === 0) return peer;
  const header = req.headers.get("x-forwarded-for");
  if (!header) return peer;
  const chain = header.split(",").map((p) => p.trim()).filter((p) => p.length > 0);
  if (chain.length === 0) return peer;
  const pick = trustProxy === true
    ? chain[0]!
    : chain[Math.max(0, chain.length - Math.floor(trustProxy))]!;
  return normalizeIp(pick) ?? "unknown";
}
