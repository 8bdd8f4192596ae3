/**
 * The ggui conformance wire contract: every error code and the shape of one
 * failure. Its own file so that the gate sequence (`conformance.ts`) and the
 * parser gates (`parse.ts`) both stand on it without importing each other.
 *
 * @module
 */

/**
 * Every conformance error code (wire contract).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONFORMANCE_CODES } from "./conformance_codes.ts";
 * import { checkConformance } from "./conformance.ts";
 * const r = checkConformance({ manifest: { kind: "gadget" } });
 * assert(r.errors.every((e) => CONFORMANCE_CODES.includes(e.code)));
 * assert(CONFORMANCE_CODES.includes("disallowed_import"));
 * ```
 */
export const CONFORMANCE_CODES = [
  "manifest_invalid",
  "bundle_parse_error",
  "disallowed_import",
  "missing_default_export",
  "blueprint_source_too_large",
  "blueprint_compile_error",
  "blueprint_disallowed_import",
  "blueprint_missing_default_export",
  "fixture_props_shape_mismatch",
  "blueprint_runtime_probe_failed",
] as const;
/** A conformance error code. */
export type ConformanceCode = typeof CONFORMANCE_CODES[number];

/** One conformance failure. */
export interface ConformanceError {
  /** The failure code. */
  code: ConformanceCode;
  /** Human-readable text. */
  message: string;
  /** Manifest path (schema failures). */
  path?: (string | number)[];
  /** Per-code structured detail. */
  detail?: unknown;
}
