/**
 * The Rack surface's wire error codes and the domain code each one refines.
 *
 * A Rack failure is a {@linkcode RegistryError} with a generic domain code
 * (so every surface can still map it) and `detail.rackCode` naming the exact
 * Rack wire code; `routes/rack/mod.ts` owns the one table from codes to statuses.
 *
 * @module
 */
import { type ErrorCode, RegistryError } from "../../base/errors.ts";

/** Every Rack wire code this server emits beyond the generic ones, with its domain code. */
export const RACK_CODES = {
  INVALID_PATH: "invalid_path",
  INVALID_PRESET: "invalid_name",
  INVALID_NAMESPACE: "invalid_name",
  FORBIDDEN_NAMESPACE: "forbidden",
  NAMESPACE_NOT_FOUND: "not_found",
  NOT_FOUND: "not_found",
  UNAUTHORIZED: "unauthorized",
  INVALID_TOKEN: "unauthorized",
  TOKEN_EXPIRED: "unauthorized",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "invalid_input",
  FST_INVALID_MULTIPART_CONTENT_TYPE: "invalid_input",
  MISSING_FILE: "invalid_input",
  INVALID_FILE_TYPE: "invalid_input",
  FST_REQ_FILE_TOO_LARGE: "too_large",
  ARCHIVE_TOO_LARGE: "too_large",
  MISSING_CHECKSUM: "invalid_input",
  CHECKSUM_MISMATCH: "digest_mismatch",
  INVALID_ARCHIVE: "invalid_input",
  UPLOAD_FAILED: "invalid_input",
  NAMESPACE_NOT_ALLOWED: "forbidden",
  ANONYMOUS_UPLOAD_FORBIDDEN: "forbidden",
  INSUFFICIENT_PERMISSIONS: "forbidden",
  SCHEMA_VALIDATION_FAILED: "invalid_input",
  FILE_NOT_FOUND: "invalid_input",
  UNSAFE_FILE: "invalid_input",
  UNDECLARED_FILE: "invalid_input",
  VERSION_EXISTS: "version_exists",
  FORMAT_CONFLICT: "format_conflict",
} as const satisfies Record<string, ErrorCode>;

/** A Rack wire error code. */
export type RackCode = keyof typeof RACK_CODES;

/** Structured detail of a Rack error: the wire code plus additive, client-safe fields. */
export interface RackErrorDetail {
  /** The exact Rack wire code. */
  rackCode: RackCode;
  /** Extra fields merged into the `{code, message}` body (e.g. `expected`/`actual`). */
  extra?: Record<string, string>;
}

/**
 * Build a Rack failure: a {@linkcode RegistryError} whose domain code refines to `rackCode`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rackError, rackCodeOf } from "./errors.ts";
 * const err = rackError("MISSING_FILE", "No file uploaded");
 * assert.ok(err.code === "invalid_input" && rackCodeOf(err) === "MISSING_FILE");
 * ```
 */
export function rackError(
  rackCode: RackCode,
  message: string,
  options: { extra?: Record<string, string>; cause?: unknown } = {},
): RegistryError {
  const detail: RackErrorDetail = { rackCode };
  if (options.extra) detail.extra = options.extra;
  return new RegistryError(RACK_CODES[rackCode], message, { detail, cause: options.cause });
}

/** The Rack wire code carried by an error, if any. */
export function rackCodeOf(err: RegistryError): RackCode | undefined {
  const detail = err.detail as Partial<RackErrorDetail> | undefined;
  const code = detail?.rackCode;
  return typeof code === "string" && Object.hasOwn(RACK_CODES, code) ? code : undefined;
}

/** The additive fields carried by a Rack error. */
export function rackExtraOf(err: RegistryError): Record<string, string> {
  const detail = err.detail as Partial<RackErrorDetail> | undefined;
  return detail?.extra ?? {};
}
