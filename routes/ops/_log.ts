/**
 * Request ids and one JSON log line per request.
 *
 * The line holds only what is listed in {@linkcode RequestLogLine}: no header,
 * no raw path and no query string is ever logged, so `Authorization`,
 * `X-Registry-Token`, cookies and `?token=` query parameters cannot leak into
 * logs. The route is the matched pattern.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { routePattern } from "./_common.ts";

/** One request's log record (written as one JSON line). */
export interface RequestLogLine {
  /** When the request arrived (ISO-8601). */
  time: string;
  /** Always `info`; 5xx answers are `error`. */
  level: "info" | "error";
  /** The request id echoed in the response header. */
  requestId: string;
  /** The HTTP method. */
  method: string;
  /** The matched route pattern, or `unmatched`. */
  route: string;
  /** The response status. */
  status: number;
  /** Milliseconds until the response headers were ready. */
  durationMs: number;
  /** Body bytes, when the response declares its length. */
  bytes?: number;
  /** Who the request acted for, when the surface set `subject`. */
  subject?: string;
}

/** Options of {@linkcode requestLog}. */
export interface RequestLogOptions {
  /** Receives one JSON text per request (no trailing line feed). */
  sink: (line: string) => void;
  /** The request/response header carrying the id (default `x-request-id`). */
  header?: string;
  /** The wall clock for `time` (default `() => new Date()`). */
  clock?: () => Date;
  /** Makes a fresh id (default `crypto.randomUUID()`). */
  generateId?: () => string;
}

let lastMs = 0;
let lastIso = "";

/** The current time as ISO-8601, formatted once per millisecond. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** A request id worth keeping: 1–128 characters of `[A-Za-z0-9._-]`. */
export const REQUEST_ID_RE = /^[A-Za-z0-9._-]{1,128}$/;

/**
 * Middleware that adopts a sane incoming request id or makes one, exposes it
 * as `c.get("requestId")`, echoes it in the response and writes one JSON line
 * per request to `sink` once the response headers are ready. Mount it first,
 * so it sees the final status of everything inside (429s included).
 *
 * @example
 * ```ts ignore
 * app.use(requestLog({ sink: (line) => console.log(line) }));
 * ```
 */
export function requestLog(options: RequestLogOptions): MiddlewareHandler {
  const header = options.header ?? "x-request-id";
  const clock = options.clock;
  const generateId = options.generateId ?? (() => crypto.randomUUID());
  const sink = options.sink;
  return async function requestLogMiddleware(c, next) {
    const time = clock ? clock().toISOString() : isoNow();
    const start = performance.now();
    const incoming = c.req.raw.headers.get(header);
    const requestId = incoming !== null && REQUEST_ID_RE.test(incoming) ? incoming : generateId();
    c.set("requestId", requestId);
    let status = 500;
    try {
      await next();
      status = c.res.status;
      try {
        c.res.headers.set(header, requestId);
      } catch {
        c.header(header, requestId);
      }
    } finally {
      const method = c.req.method;
      const length = method === "HEAD" ? null : c.res.headers.get("content-length");
      const subject = c.get("subject" as never) as unknown;
      // Written by hand in RequestLogLine's key order: several times cheaper
      // than JSON.stringify of an object; every free-form string is quoted
      // by JSON.stringify. The id matched REQUEST_ID_RE or was generated.
      const line = `{"time":"${time}","level":"${status >= 500 ? "error" : "info"}","requestId":${
        JSON.stringify(requestId)
      },"method":${JSON.stringify(method)},"route":${
        JSON.stringify(routePattern(c))
      },"status":${status},"durationMs":${Math.round((performance.now() - start) * 1000) / 1000}${
        length && /^\d+$/.test(length) ? `,"bytes":${length}` : ""
      }${typeof subject === "string" ? `,"subject":${JSON.stringify(subject)}` : ""}}`;
      try {
        sink(line);
      } catch {
        // A broken log sink must never break a response.
      }
    }
  };
}
