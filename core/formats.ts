/**
 * Per-format facts the shared core needs without knowing the format: the
 * package row's public search entry of a version. One small registry, so a
 * lifecycle change (yank, delete…) recomputes any package of any surface.
 *
 * @module
 */
import { publicSummaryOf } from "./ggui/_common.ts";
import type { Format, VersionRow } from "./rows.ts";
import type { JsonValue } from "../storage/types.ts";

/** The public search entry of a version, from its immutable row. */
export type SummaryOf = (row: VersionRow) => Record<string, JsonValue> | undefined;

/** The Rack summary: `name`, `type` and `description` kept in the version's facts. */
function rackSummary(row: VersionRow): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const field of ["name", "type", "description"] as const) {
    const value = row.facts[field];
    if (typeof value === "string") out[field] = value;
  }
  return out;
}

/** Every format's summary function (`undefined`: the format keeps no search entry). */
export const FORMAT_SUMMARIES = {
  "ggui.gadget": publicSummaryOf,
  "ggui.blueprint": publicSummaryOf,
  "rack.registry": rackSummary,
  "rack.preset": () => undefined,
  "jsr": () => undefined,
} as const satisfies Record<Format, SummaryOf>;

/**
 * The public search entry of a version by its format.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { summaryOf } from "./formats.ts";
 * const summary = summaryOf({
 *   namespace: "@rack", name: "quality/husky", version: "1.0.0", format: "rack.registry",
 *   visibility: "public", files: {}, facts: { name: "husky", type: "registry:tool" },
 *   publishedAt: "2026-01-01T00:00:00.000Z", publishedBy: "rack:admin",
 * });
 * assert.ok(summary?.name === "husky");
 * ```
 */
export function summaryOf(row: VersionRow): Record<string, JsonValue> | undefined {
  return FORMAT_SUMMARIES[row.format](row);
}
