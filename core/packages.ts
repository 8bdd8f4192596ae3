/**
 * The package row and how a commit moves it: one reducer for every surface,
 * so "latest" and the public search entry follow the same rule everywhere.
 *
 * - `latest`: the highest non-yanked release, else the highest non-yanked prerelease.
 * - `publicSummary`: the search entry of the best PUBLIC non-yanked version by
 *   the same rule, so a private 2.0.0 never hides a public 1.x.
 *
 * @module
 */
import { RegistryError } from "../base/errors.ts";
import { packageId, type PackageRef } from "../base/names.ts";
import type { Format, PackageRow, VersionState } from "./rows.ts";
import { pickLatest } from "./semver.ts";
import type { JsonValue } from "../storage/types.ts";

/**
 * The reducer for {@linkcode putVersionIfAbsent}: the package row after
 * committing `state`. Refuses with `format_conflict` when the package already
 * has another format.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nextPackageRow } from "./packages.ts";
 * const state = { version: "1.0.0", format: "rack.registry", visibility: "public", publishedAt: "t", publishedBy: "ci", yanked: false } as const;
 * const row = nextPackageRow(null, state, { ref: { namespace: "@rack", name: "quality/husky" }, summary: { description: "Husky" } });
 * assert.ok(row.latest === "1.0.0" && row.versionCount === 1);
 * ```
 */
export function nextPackageRow(
  current: PackageRow | null,
  state: VersionState,
  options: { ref: PackageRef; summary?: Record<string, JsonValue> },
): PackageRow {
  if (current && current.format !== state.format) {
    throw formatConflict(options.ref, current.format, state.format);
  }
  const base: PackageRow = current ?? {
    namespace: options.ref.namespace,
    name: options.ref.name,
    format: state.format,
    createdAt: state.publishedAt,
    createdBy: state.publishedBy,
    updatedAt: state.publishedAt,
    versionCount: 0,
    tags: {},
  };
  const next: PackageRow = {
    ...base,
    updatedAt: state.publishedAt,
    versionCount: base.versionCount + 1,
  };
  const latest = pickLatest([...(base.latest ? [base.latest] : []), state.version]);
  if (latest !== undefined) next.latest = latest;
  if (state.yanked) return next;
  // Every format's entry says when its version was published (search sorts by it).
  const entry = {
    publishedAt: state.publishedAt,
    ...(options.summary ?? {}),
    version: state.version,
  };
  const readerBest = pickLatest(
    [base.privateSummary?.version, base.publicSummary?.version, state.version]
      .filter((v): v is string => typeof v === "string"),
  );
  if (state.visibility === "public") {
    const best = base.publicSummary?.version;
    const winner = pickLatest([...(typeof best === "string" ? [best] : []), state.version]);
    if (winner === state.version) next.publicSummary = entry;
    // A public version that readers see first leaves no private entry.
    if (readerBest === state.version) delete next.privateSummary;
  } else if (readerBest === state.version) {
    next.privateSummary = entry;
  }
  return next;
}

/**
 * Recompute a package row from all its version states (after a yank, unyank,
 * delete or visibility change): `summaries` gives the search entry of a version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recomputePackageRow } from "./packages.ts";
 * const at = new Date().toISOString();
 * const pkg = { namespace: "@acme", name: "widget", format: "jsr" as const, createdAt: at, createdBy: "ci", updatedAt: at, versionCount: 2, latest: "2.0.0", tags: {} };
 * const state = { format: "jsr" as const, visibility: "public" as const, publishedAt: at, publishedBy: "ci" };
 * const states = [{ ...state, version: "2.0.0", yanked: true }, { ...state, version: "1.0.0", yanked: false }];
 * const next = recomputePackageRow(pkg, states, () => ({ description: "A widget" }), at);
 * assert(next.latest === "1.0.0" && next.publicSummary?.version === "1.0.0");
 * ```
 */
export function recomputePackageRow(
  current: PackageRow,
  states: readonly VersionState[],
  summaries: (version: string) => Record<string, JsonValue> | undefined,
  now: string,
): PackageRow {
  const live = states.filter((s) => !s.yanked);
  const next: PackageRow = { ...current, updatedAt: now, versionCount: states.length };
  delete next.latest;
  delete next.publicSummary;
  const latest = pickLatest(live.map((s) => s.version));
  if (latest !== undefined) next.latest = latest;
  const bestPublic = pickLatest(
    live.filter((s) => s.visibility === "public").map((s) => s.version),
  );
  if (bestPublic !== undefined) {
    next.publicSummary = { ...(summaries(bestPublic) ?? {}), version: bestPublic };
  }
  delete next.privateSummary;
  const best = live.find((s) => s.version === latest);
  if (best !== undefined && best.visibility !== "public") {
    next.privateSummary = { ...(summaries(best.version) ?? {}), version: best.version };
  }
  return next;
}

/** The error for publishing one format under a package of another. */
export function formatConflict(
  ref: PackageRef,
  existing: Format,
  attempted: Format,
): RegistryError {
  return new RegistryError(
    "format_conflict",
    `Package '${packageId(ref)}' is a ${existing} package and cannot take a ${attempted} version`,
    { detail: { existing, attempted } },
  );
}
