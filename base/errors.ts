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
  "storage_full",
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

/**
 * Whether an error means the store's disk is full: SQLite's "database or disk
 * is full", a file write's ENOSPC (`os error 28`), here or in a cause.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isDiskFull } from "./errors.ts";
 * assert.ok(isDiskFull(new TypeError("database or disk is full")));
 * assert.ok(!isDiskFull(new Error("connection refused")));
 * ```
 */
export function isDiskFull(err: unknown): boolean {
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 5; depth++) {
    if (/database or disk is full|No space left on device|os error 28|ENOSPC/i.test(String(e))) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * A thrown value as the surfaces map it: a full disk, wherever it surfaced
 * (a blob write, a KV commit, wrapped as `storage_failure` or not), becomes
 * `storage_full` (507 on every surface, a message the client can act on);
 * anything else is returned as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRegistryError, storeFault } from "./errors.ts";
 * const err = storeFault(new Error("No space left on device (os error 28)"));
 * assert.ok(isRegistryError(err, "storage_full"));
 * ```
 */
export function storeFault(err: unknown): unknown {
  if (isRegistryError(err) && err.code !== "storage_failure") return err;
  if (!isDiskFull(err)) return err;
  return new RegistryError("storage_full", STORAGE_FULL_MESSAGE, { cause: err });
}

/** What every surface says for `storage_full`: nothing was stored, and what to do. */
export const STORAGE_FULL_MESSAGE =
  "The registry's storage is full: nothing was stored. Try again once an operator has freed space (gc, a larger volume)";

/**
 * The client-safe message of a 5xx answer for a domain code, or `null` when
 * the surface must send its generic "internal error" text.
 */
export function serverFaultMessage(code: ErrorCode): string | null {
  if (code === "unavailable") return "Storage is unavailable: try again later";
  if (code === "storage_full") return STORAGE_FULL_MESSAGE;
  return null;
}
