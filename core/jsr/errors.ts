/**
 * The JSR wire errors: `{code, message}` with JSR's own camelCase codes, so
 * `deno publish` prints them the way it prints JSR's (`message (code)`).
 * Each code carries the domain code it means and the HTTP status of an API
 * answer; codes that JSR reports as a failed publishing task say so.
 *
 * @module
 */
import {
  type ErrorCode,
  isRegistryError,
  RegistryError,
  serverFaultMessage,
  storeFault,
} from "../../base/errors.ts";

/** Every JSR code this server emits: its domain code, HTTP status, and whether it ends a task. */
export const JSR_CODES = {
  malformedRequest: { domain: "invalid_input", status: 400 },
  missingGzipContentEncoding: { domain: "invalid_input", status: 400 },
  missingAuthentication: { domain: "unauthorized", status: 401 },
  invalidBearerToken: { domain: "unauthorized", status: 401 },
  actorNotScopeMember: { domain: "forbidden", status: 403 },
  missingPermission: { domain: "forbidden", status: 403 },
  scopeNotFound: { domain: "not_found", status: 404 },
  packageNotFound: { domain: "not_found", status: 404 },
  packageVersionNotFound: { domain: "not_found", status: 404 },
  publishingTaskNotFound: { domain: "not_found", status: 404 },
  notFound: { domain: "not_found", status: 404 },
  duplicateVersionPublish: { domain: "version_exists", status: 400 },
  // Ours, not jsr.io's: a version whose precedence another (or a deleted) version
  // holds. Not `duplicateVersionPublish`, which Deno prints as already published.
  versionPrecedenceTaken: { domain: "version_exists", status: 409 },
  packageFormatConflict: { domain: "format_conflict", status: 409 },
  tarballSizeLimitExceeded: { domain: "too_large", status: 413 },
  rateLimited: { domain: "rate_limited", status: 429 },
  requestTimeout: { domain: "timeout", status: 408 },
  conflict: { domain: "conflict", status: 409 },
  internalServerError: { domain: "storage_failure", status: 500 },
  upstreamUnavailable: { domain: "upstream_unavailable", status: 502 },
  upstreamTimeout: { domain: "upstream_timeout", status: 504 },
  serviceUnavailable: { domain: "unavailable", status: 503 },
  // Ours: the store's disk is full (nothing was stored).
  insufficientStorage: { domain: "storage_full", status: 507 },
  // Publishing task failures (the task ends in `failure` with this error).
  invalidTarball: { domain: "invalid_input", status: 400 },
  missingConfigFile: { domain: "invalid_input", status: 400 },
  invalidConfigFile: { domain: "invalid_input", status: 400 },
  configFileNameMismatch: { domain: "invalid_input", status: 400 },
  configFileVersionMismatch: { domain: "invalid_input", status: 400 },
  configFileExportsInvalid: { domain: "invalid_input", status: 400 },
  invalidPath: { domain: "invalid_path", status: 400 },
  invalidGitPath: { domain: "invalid_path", status: 400 },
  caseInsensitiveDuplicatePath: { domain: "invalid_path", status: 400 },
  linkInTarball: { domain: "invalid_input", status: 400 },
  invalidEntryType: { domain: "invalid_input", status: 400 },
  fileTooLarge: { domain: "too_large", status: 400 },
  packageTooLarge: { domain: "too_large", status: 400 },
} as const satisfies Record<string, { domain: ErrorCode; status: number }>;

/** A JSR wire code. */
export type JsrCode = keyof typeof JSR_CODES;

/** What a JSR error carries beyond its message. */
export interface JsrErrorDetail {
  /** The exact JSR code. */
  jsrCode: JsrCode;
  /** Extra client-safe fields of the body (`task` on a duplicate, `size`/`maxSize`). */
  extra?: Record<string, unknown>;
}

/**
 * A domain error that answers on the JSR surface with `code`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsrError, jsrWireError } from "./errors.ts";
 * const err = jsrError("invalidPath", "path '/a\\b' has an invalid character");
 * assert.deepEqual(jsrWireError(err), {
 *   status: 400,
 *   body: { code: "invalidPath", message: "path '/a\\b' has an invalid character" },
 * });
 * ```
 */
export function jsrError(
  code: JsrCode,
  message: string,
  options: { extra?: Record<string, unknown>; cause?: unknown } = {},
): RegistryError {
  const detail: JsrErrorDetail = { jsrCode: code };
  if (options.extra) detail.extra = options.extra;
  return new RegistryError(JSR_CODES[code].domain, message, { detail, cause: options.cause });
}

/** The JSR code of a domain error raised elsewhere (a shared core operation). */
const FROM_DOMAIN: Record<ErrorCode, JsrCode> = {
  invalid_input: "malformedRequest",
  invalid_name: "malformedRequest",
  invalid_version: "malformedRequest",
  invalid_path: "invalidPath",
  invalid_digest: "malformedRequest",
  not_found: "notFound",
  version_exists: "duplicateVersionPublish",
  format_conflict: "packageFormatConflict",
  scope_forbidden: "actorNotScopeMember",
  unauthorized: "invalidBearerToken",
  forbidden: "missingPermission",
  too_large: "tarballSizeLimitExceeded",
  digest_mismatch: "malformedRequest",
  blob_corrupt: "internalServerError",
  conflict: "conflict",
  rate_limited: "rateLimited",
  timeout: "requestTimeout",
  storage_failure: "internalServerError",
  storage_full: "insufficientStorage",
  upstream_unavailable: "upstreamUnavailable",
  upstream_timeout: "upstreamTimeout",
  unavailable: "serviceUnavailable",
};

/** Domain codes whose 5xx message is written for the client (an upstream that failed). */
const UPSTREAM_DOMAINS: ReadonlySet<ErrorCode> = new Set([
  "upstream_unavailable",
  "upstream_timeout",
]);

/** The JSR body of an error: `{code, message, …extra}`. */
export interface JsrErrorBody {
  /** The JSR code. */
  code: string;
  /** What went wrong, in a sentence. */
  message: string;
  /** Additive fields (`task` on a duplicate, `size`/`maxSize` on an oversize tarball). */
  [extra: string]: unknown;
}

/**
 * Map any thrown value to a JSR `{status, body}`. 5xx and unknown errors
 * carry a generic message only.
 */
export function jsrWireError(thrown: unknown): { status: number; body: JsrErrorBody } {
  const err = storeFault(thrown);
  if (!isRegistryError(err)) {
    return { status: 500, body: { code: "internalServerError", message: "Internal server error" } };
  }
  const detail = err.detail as Partial<JsrErrorDetail> | undefined;
  const code = detail?.jsrCode ?? FROM_DOMAIN[err.code];
  const status = JSR_CODES[code].status;
  // An upstream's failure is told as it is (the message names the upstream
  // and what it did, never an internal detail): the client can act on it.
  if (status >= 500 && !UPSTREAM_DOMAINS.has(err.code)) {
    const message = serverFaultMessage(err.code) ?? "Internal server error";
    return { status, body: { code, message } };
  }
  return { status, body: { ...detail?.extra, code, message: err.message } };
}
