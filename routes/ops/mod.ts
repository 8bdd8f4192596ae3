/**
 * The shared HTTP operations layer every wire surface mounts: request ids and
 * logs, metrics, rate limits, compression, and the `/metrics` handler. Blob and
 * conditional JSON responses are in `../shared/_blob_response.ts`.
 *
 * A typical stack, outermost first:
 *
 * ```ts ignore
 * app.use(requestLog({ sink: (line) => console.log(line) }));
 * app.use(httpMetrics());
 * app.use(rateLimit({ limiter, key: (c) => clientIp(c, trustProxy), onLimited }));
 * app.use(compress());
 * app.get("/metrics", metricsHandler({ token }));
 * ```
 *
 * @module
 */
export {
  appendVary,
  type OpsEnv,
  type OpsVariables,
  replaceResponse,
  routePattern,
  setResponseHeaders,
  UNMATCHED_ROUTE,
} from "./_common.ts";
export {
  clientIp,
  normalizeIp,
  rateLimit,
  rateLimitHeaders,
  type RateLimitMiddlewareOptions,
} from "./_rate_limit.ts";
export { REQUEST_ID_RE, requestLog, type RequestLogLine, type RequestLogOptions } from "./_log.ts";
export {
  httpMetrics,
  type HttpMetricsOptions,
  metricsHandler,
  type MetricsHandlerOptions,
  registerProcessMetrics,
} from "./_metrics.ts";
export {
  canEncode,
  compress,
  type CompressOptions,
  type Encoding,
  isCompressible,
  negotiateEncoding,
} from "./_compress.ts";
