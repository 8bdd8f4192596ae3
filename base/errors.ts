/**
 * One error model for the whole registry.
 *
 * Every failure that a caller can cause or observe is a {@linkcode RegistryError}
 * carrying one of the {@linkcode ERROR_CODES}. Each wire surface owns exactly one
 * exhaustive table from these codes to its own status and body, so adding a code
 * here fails `deno check` until every surface maps it.
 *
 * Programmer mistakes (calling an API with arguments its types forbid) throw
 * `TypeError` or `RangeError` instead.
 *
 * @module
 */

/**
 * Every domain error code, in one list.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERROR_CODES, RegistryError } from "./errors.ts";
 * assert(ERROR_CODES.includes("not_found"));
 * const err = new RegistryError("not_found", "Package '@acme/widget' not found");
 * assert(ERROR_CODES.includes(err.code));
 * ```
 */
export const ERROR_CODES = [
  "invalid_input",
  "invalid_name",
  "invalid_version",
  "invalid_path",
  "invalid_digest",
  "not_found",
  "version_exists",
  "format_conflict",
  "scope_forbidden",
  "unauthorized",
  "forbidden",
  "too_large",
  "digest_mismatch",
  "blob_corrupt",
  "conflict",
  "rate_limited",
  "timeout",
  "storage_failure",
  "upstream_unavailable",
  "upstream_timeout",
  "unavailable",
] as const;

/**
 * Seconds a client should wait before retrying after a `conflict` (a lost
 * race, a garbage collection under way): every surface sends it as
 * `Retry-After` on those answers.
 */
export const CONFLICT_RETRY_AFTER_SECONDS = 1;

/** A domain error code. */
export type ErrorCode = typeof ERROR_CODES[number];

/** Options for {@linkcode RegistryError}. */
export interface RegistryErrorOptions {
  /** Structured, client-safe detail (never internal messages or stacks). */
  detail?: unknown;
  /** The underlying error, kept for logs only. */
  cause?: unknown;
}

/**
 * A failure of a registry operation, with a stable {@linkcode ErrorCode}.
 *
 * @example Throw and recognise a domain error
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRegistryError, RegistryError } from "./errors.ts";
 *
 * const err = new RegistryError("not_found", "Package '@acme/map' not found");
 * assert.ok(isRegistryError(err, "not_found"));
 * ```
 */
export class RegistryError extends Error {
  /** The stable code that surfaces map to their wire format. */
  readonly code: ErrorCode;
  /** Client-safe structured detail. */
  readonly detail?: unknown;

  /** Create an error with a code, a sentence-case message and optional detail. */
  constructor(code: ErrorCode, message: string, options: RegistryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "RegistryError";
    this.code = code;
    if (options.detail !== undefined) this.detail = options.detail;
  }
}

/**
 * Whether `err` is a {@linkcode RegistryError}, optionally with a given code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRegistryError, RegistryError } from "./errors.ts";
 * assert.ok(!isRegistryError(new Error("x")));
 * assert.ok(isRegistryError(new RegistryError("conflict", "Lost a race"), "conflict"));
 * ```
 */
export function isRegistryError(err: unknown, code?: ErrorCode): err is RegistryError {
  return err instanceof RegistryError && (code === undefined || err.code === code);
}

/**
 * A value from a request as an error message quotes it: at most `max`
 * characters, cut with an ellipsis. Messages are stored (failed tasks, audit
 * records) and sent back, so an upload must not make them as large as itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { echo } from "./errors.ts";
 * assert.equal(echo("short"), "short");
 * assert.equal(echo("x".repeat(500)).length, 100);
 * ```
 */
export function echo(value: string, max = 100): string {
  return value.length > max ? `${value.slice(0, max - 1)}…` : value;
}
