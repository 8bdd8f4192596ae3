// HTTP helpers of the Rack surface: the one error table, cache tiers with
// private variants for gated namespaces, strong ETags and 304s, and a small
// request-duration histogram for /metrics.
import {
  CONFLICT_RETRY_AFTER_SECONDS,
  type ErrorCode,
  isRegistryError,
  STORAGE_FULL_MESSAGE,
  storeFault,
} from "../../base/errors.ts";
import { type RackCode, rackCodeOf, rackExtraOf } from "../../core/rack/errors.ts";
import { jsonResponse, makeResponse, NO_STORE_JSON, notModifiedResponse } from "../ops/_common.ts";

/** Status and wire code of every domain error code on the Rack surface. */
export const RACK_ERROR_TABLE = {
  invalid_input: { status: 400, code: "BAD_REQUEST" },
  invalid_name: { status: 400, code: "INVALID_NAME" },
  invalid_version: { status: 400, code: "INVALID_VERSION" },
  invalid_path: { status: 400, code: "INVALID_PATH" },
  invalid_digest: { status: 400, code: "INVALID_DIGEST" },
  not_found: { status: 404, code: "NOT_FOUND" },
  version_exists: { status: 409, code: "VERSION_EXISTS" },
  format_conflict: { status: 409, code: "FORMAT_CONFLICT" },
  scope_forbidden: { status: 403, code: "FORBIDDEN" },
  unauthorized: { status: 401, code: "UNAUTHORIZED" },
  forbidden: { status: 403, code: "FORBIDDEN" },
  too_large: { status: 413, code: "PAYLOAD_TOO_LARGE" },
  digest_mismatch: { status: 400, code: "CHECKSUM_MISMATCH" },
  blob_corrupt: { status: 500, code: "INTERNAL_SERVER_ERROR" },
  conflict: { status: 409, code: "CONFLICT" },
  rate_limited: { status: 429, code: "RATE_LIMIT_EXCEEDED" },
  timeout: { status: 408, code: "REQUEST_TIMEOUT" },
  storage_failure: { status: 500, code: "INTERNAL_SERVER_ERROR" },
  storage_full: { status: 507, code: "INSUFFICIENT_STORAGE" },
  upstream_unavailable: { status: 502, code: "BAD_GATEWAY" },
  upstream_timeout: { status: 504, code: "GATEWAY_TIMEOUT" },
  unavailable: { status: 503, code: "SERVICE_UNAVAILABLE" },
} as const satisfies Record<ErrorCode, { status: number; code: string }>;

/** Status of every refined Rack wire code. */
export const RACK_CODE_STATUS = {
  INVALID_PATH: 400,
  INVALID_PRESET: 400,
  INVALID_NAMESPACE: 400,
  FORBIDDEN_NAMESPACE: 403,
  NAMESPACE_NOT_FOUND: 404,
  NOT_FOUND: 404,
  UNAUTHORIZED: 401,
  INVALID_TOKEN: 401,
  TOKEN_EXPIRED: 401,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 415,
  FST_INVALID_MULTIPART_CONTENT_TYPE: 406,
  MISSING_FILE: 400,
  INVALID_FILE_TYPE: 400,
  FST_REQ_FILE_TOO_LARGE: 413,
  ARCHIVE_TOO_LARGE: 413,
  MISSING_CHECKSUM: 400,
  CHECKSUM_MISMATCH: 400,
  INVALID_ARCHIVE: 400,
  UPLOAD_FAILED: 400,
  NAMESPACE_NOT_ALLOWED: 403,
  ANONYMOUS_UPLOAD_FORBIDDEN: 403,
  INSUFFICIENT_PERMISSIONS: 403,
  SCHEMA_VALIDATION_FAILED: 400,
  FILE_NOT_FOUND: 400,
  UNSAFE_FILE: 400,
  UNDECLARED_FILE: 400,
  VERSION_EXISTS: 409,
  FORMAT_CONFLICT: 409,
} as const satisfies Record<RackCode, number>;

/** A logger: level, message, structured fields (never token values). */
export type RackLog = (
  level: "debug" | "info" | "warn" | "error",
  message: string,
  fields?: Record<string, unknown>,
) => void;

/** A `{code, message}` JSON response with `no-store`. */
export function rackJsonError(
  status: number,
  body: Record<string, string>,
  headers: Readonly<Record<string, string>> = {},
): Response {
  return jsonResponse(body, status, { ...NO_STORE_JSON, ...headers });
}

/** Turn any thrown value into the Rack error envelope; 5xx carry generic text only. */
export function rackErrorResponse(thrown: unknown, log: RackLog): Response {
  const err = storeFault(thrown);
  if (isRegistryError(err)) {
    const rackCode = rackCodeOf(err);
    const generic = RACK_ERROR_TABLE[err.code];
    const status = rackCode ? RACK_CODE_STATUS[rackCode] : generic.status;
    if (status >= 500) {
      log("error", "Rack request failed", {
        code: err.code,
        error: String(err),
        cause: String(err.cause),
      });
      return rackJsonError(
        status,
        status === 503
          ? { code: "SERVICE_UNAVAILABLE", message: "Storage is unavailable: try again later" }
          : err.code === "storage_full"
          ? { code: generic.code, message: STORAGE_FULL_MESSAGE }
          : { code: "INTERNAL_SERVER_ERROR", message: "Internal server error" },
      );
    }
    if (err.cause !== undefined) {
      log("info", "Rack request refused", { code: rackCode ?? err.code, cause: String(err.cause) });
    }
    // A lost race or a GC run under way: retry shortly.
    const retry: Record<string, string> = err.code === "conflict"
      ? { "retry-after": String(CONFLICT_RETRY_AFTER_SECONDS) }
      : {};
    return rackJsonError(status, {
      code: rackCode ?? generic.code,
      message: err.message,
      ...rackExtraOf(err),
    }, retry);
  }
  log("error", "Rack request failed", {
    error: err instanceof Error ? err.stack ?? err.message : String(err),
  });
  return rackJsonError(500, { code: "INTERNAL_SERVER_ERROR", message: "Internal server error" });
}

/** Cache tiers of spec §9. */
export type CacheTier = "short" | "day" | "immutable";

const TIER: Record<CacheTier, string> = {
  short: "max-age=60",
  day: "max-age=86400",
  immutable: "max-age=31536000, immutable",
};

/** The headers varied on by token-dependent responses. */
export const VARY_TOKEN = "Authorization, X-Registry-Token";

/** Cache headers of a tier: `public`, or `private` + `Vary` for token-dependent answers. */
export function cacheHeaders(
  tier: CacheTier,
  options: { private: boolean; vary?: boolean },
): Record<string, string> {
  const headers: Record<string, string> = {
    "cache-control": `${options.private ? "private" : "public"}, ${TIER[tier]}`,
  };
  if (options.private || options.vary) headers["vary"] = VARY_TOKEN;
  return headers;
}

/** Whether `If-None-Match` matches a strong ETag. */
export function ifNoneMatch(header: string | null, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => {
    const tag = t.trim().replace(/^W\//, "");
    return tag === "*" || tag === etag;
  });
}

/** Serve bytes or a stream with Content-Type, Content-Length, ETag, cache headers, 304 and HEAD. */
export function serveContent(
  request: Request,
  options: {
    body: Uint8Array | ReadableStream<Uint8Array>;
    size: number;
    sha256: string;
    contentType: string;
    cache: Record<string, string>;
    status?: number;
  },
): Response {
  const etag = `"${options.sha256}"`;
  const headers: Record<string, string> = { etag, ...options.cache };
  const skipBody = request.method === "HEAD" ||
    ifNoneMatch(request.headers.get("if-none-match"), etag);
  if (ifNoneMatch(request.headers.get("if-none-match"), etag)) {
    if (options.body instanceof ReadableStream) void options.body.cancel().catch(() => {});
    return notModifiedResponse(headers, { type: options.contentType, size: options.size });
  }
  headers["content-type"] = options.contentType;
  headers["content-length"] = String(options.size);
  if (skipBody) {
    if (options.body instanceof ReadableStream) void options.body.cancel().catch(() => {});
    return makeResponse(null, options.status ?? 200, headers);
  }
  return makeResponse(options.body as BodyInit, options.status ?? 200, headers);
}

/** Buckets of `http_request_duration_seconds` (spec §5.8). */
const BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

/** A Prometheus histogram of request durations by method, route and status. */
export class DurationHistogram {
  #series = new Map<string, { labels: string; counts: number[]; sum: number; count: number }>();

  /** Record one request. */
  observe(labels: { method: string; route: string; status: number }, seconds: number): void {
    const text = `method="${esc(labels.method)}",route="${
      esc(labels.route)
    }",status_code="${labels.status}"`;
    let s = this.#series.get(text);
    if (!s) {
      s = { labels: text, counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.#series.set(text, s);
    }
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) s.counts[i]!++;
    });
    s.sum += seconds;
    s.count++;
  }

  /** The Prometheus text exposition. */
  render(): string {
    const lines = [
      "# HELP http_request_duration_seconds Duration of HTTP requests in seconds",
      "# TYPE http_request_duration_seconds histogram",
    ];
    for (const s of this.#series.values()) {
      BUCKETS.forEach((b, i) => {
        lines.push(`http_request_duration_seconds_bucket{${s.labels},le="${b}"} ${s.counts[i]}`);
      });
      lines.push(`http_request_duration_seconds_bucket{${s.labels},le="+Inf"} ${s.count}`);
      lines.push(`http_request_duration_seconds_sum{${s.labels}} ${s.sum}`);
      lines.push(`http_request_duration_seconds_count{${s.labels}} ${s.count}`);
    }
    return lines.join("\n") + "\n";
  }
}

function esc(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}
