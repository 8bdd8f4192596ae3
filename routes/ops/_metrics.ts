/**
 * HTTP metrics middleware, process gauges and the `/metrics` handler.
 *
 * @module
 */
import type { Context, Handler, MiddlewareHandler } from "hono";
import {
  type Counter,
  defaultRegistry,
  type Histogram,
  httpRequestDuration,
  httpResponseBytes,
  type MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
  publicRegistry,
} from "../../core/metrics.ts";
import { timingSafeEqual } from "../../base/digest.ts";
import { replaceResponse, routePattern, settleDocumentLength } from "./_common.ts";

/** Options of {@linkcode httpMetrics}. */
export interface HttpMetricsOptions {
  /** Latency histogram (default `http_request_duration_seconds`). */
  duration?: Histogram<"method" | "route" | "status_code">;
  /** Bytes counter (default `http_response_bytes_total`). */
  bytes?: Counter<"route">;
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/**
 * Middleware recording `http_request_duration_seconds{method,route,status_code}`
 * (route = matched pattern, `unmatched` otherwise; unusual methods as `OTHER`)
 * and body bytes served by route. Bytes come from `Content-Length`, or are
 * counted as a body of unknown length streams out. Mount it outside
 * compression so it counts what goes on the wire.
 */
export function httpMetrics(options: HttpMetricsOptions = {}): MiddlewareHandler {
  const duration = options.duration ?? httpRequestDuration;
  const bytes = options.bytes ?? httpResponseBytes;
  return async function httpMetricsMiddleware(c, next) {
    const start = performance.now();
    let status = 500;
    let finished = false;
    try {
      await next();
      status = c.res.status;
      finished = true;
    } finally {
      const route = routePattern(c);
      const method = METHODS.has(c.req.method) ? c.req.method : "OTHER";
      duration.observe(
        { method, route, status_code: String(status) },
        (performance.now() - start) / 1000,
      );
      if (finished) await countBytes(c, route, bytes);
    }
  };
}

async function countBytes(c: Context, route: string, bytes: Counter<"route">): Promise<void> {
  if (c.req.method === "HEAD") return;
  const length = await settleDocumentLength(c);
  if (length !== null) {
    if (Number.isFinite(length) && length > 0) bytes.inc({ route }, length);
    return;
  }
  const res = c.res;
  if (!res.body) return;
  // A stream by nature (octets, NDJSON, compressed output): count as it flows.
  let sent = 0;
  const counted = res.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        sent += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush() {
        bytes.inc({ route }, sent);
      },
    }),
  );
  replaceResponse(
    c,
    new Response(counted, { status: res.status, statusText: res.statusText, headers: res.headers }),
  );
}

/**
 * Register the process gauges in `registry` (once): resident memory, V8 heap
 * used and total, external memory, start time and uptime. Read fresh at each
 * exposition.
 */
export function registerProcessMetrics(registry: MetricsRegistry = defaultRegistry): void {
  if (registry.get("process_resident_memory_bytes")) return;
  const startSeconds = performance.timeOrigin / 1000;
  let memory: Deno.MemoryUsage | undefined;
  const read = () => (memory ??= Deno.memoryUsage());
  registry.gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes",
    collect: (g) => {
      memory = undefined; // the first gauge of an exposition reads, the others reuse
      g.set(undefined, read().rss);
    },
  });
  registry.gauge({
    name: "deno_heap_used_bytes",
    help: "V8 heap used in bytes",
    collect: (g) => g.set(undefined, read().heapUsed),
  });
  registry.gauge({
    name: "deno_heap_total_bytes",
    help: "V8 heap size in bytes",
    collect: (g) => g.set(undefined, read().heapTotal),
  });
  registry.gauge({
    name: "deno_external_memory_bytes",
    help: "Memory of objects outside the V8 heap in bytes",
    collect: (g) => g.set(undefined, read().external),
  });
  registry.gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since the Unix epoch in seconds",
    collect: (g) => g.set(undefined, Math.round(startSeconds * 1000) / 1000),
  });
  registry.gauge({
    name: "process_uptime_seconds",
    help: "Seconds since the process started",
    collect: (g) => g.set(undefined, Math.round(performance.now()) / 1000),
  });
}

/** Options of {@linkcode metricsHandler}. */
export interface MetricsHandlerOptions {
  /** The full registry, shown to a scrape with the token (default: the operator metrics'). */
  registry?: MetricsRegistry;
  /**
   * What is shown when no token is configured (default: the public-activity
   * view of the operator metrics when `registry` is the default, else `registry`).
   */
  openRegistry?: MetricsRegistry;
  /** When set, requests must carry `Authorization: Bearer <token>` and see `registry`. */
  token?: string;
  /** Add the process gauges (default true). */
  processMetrics?: boolean;
  /** The 401 (default: plain text with `WWW-Authenticate: Bearer`). */
  onUnauthorized?: (c: Context) => Response | Promise<Response>;
}

/**
 * The `/metrics` handler: Prometheus text 0.0.4, `no-store`. With a token
 * configured, it requires `Authorization: Bearer <token>` (compared in
 * constant time) and shows the full registry; without one it is open and
 * shows the open registry, which for the operator metrics counts only public
 * activity (docs/operations.md, Metrics).
 *
 * @example
 * ```ts ignore
 * app.get("/metrics", metricsHandler({ token: config.metricsToken }));
 * ```
 */
export function metricsHandler(options: MetricsHandlerOptions = {}): Handler {
  const registry = options.registry ?? defaultRegistry;
  const token = options.token;
  const open = options.openRegistry ??
    (options.registry === undefined ? publicRegistry : options.registry);
  if (options.processMetrics ?? true) {
    registerProcessMetrics(registry);
    registerProcessMetrics(open);
  }
  return async function metrics(c: Context) {
    if (token === undefined) return exposition(open);
    const auth = c.req.header("authorization") ?? "";
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(auth);
    if (!m || !timingSafeEqual(m[1]!, token)) {
      if (options.onUnauthorized) return await options.onUnauthorized(c);
      return new Response("Unauthorized\n", {
        status: 401,
        headers: {
          "content-type": "text/plain; charset=utf-8",
          "cache-control": "no-store",
          "www-authenticate": 'Bearer realm="metrics"',
        },
      });
    }
    return exposition(registry);
  };
}

function exposition(registry: MetricsRegistry): Response {
  return new Response(registry.expose(), {
    headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" },
  });
}
