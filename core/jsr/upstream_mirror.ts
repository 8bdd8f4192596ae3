/**
 * Fill the JSR upstream cache ahead of time (`main.ts mirror`), so an offline
 * network can be seeded from a connected one: for each target, the matching
 * version's metadata and every file it lists go into our stores through the
 * same checked path as a read, and the `jsr:` packages its files import are
 * mirrored too. A `deno.lock` names exact versions and their checksums, which
 * are compared with what was cached.
 *
 * @module
 */
import type { RegistryContext } from "../context.ts";
import { isRegistryError } from "../../base/errors.ts";
import { isVersion } from "../../base/names.ts";
import { pickLatest } from "../semver.ts";
import { satisfies } from "../semver_range.ts";
import * as keys from "../../storage/keys.ts";
import { jsrRef } from "./publish.ts";
import {
  type JsrUpstream,
  mayProxyNamespace,
  upstreamFile,
  upstreamPackageMeta,
  upstreamVersion,
} from "./upstream.ts";

/** One package to mirror: a range (or latest), or an exact version with a lockfile checksum. */
export interface MirrorTarget {
  /** `@scope/name`. */
  name: string;
  /** A semver range (`^1`); absent: the latest version. */
  range?: string;
  /** The SHA-256 `deno.lock` pins for this exact version's metadata. */
  integrity?: string;
}

/** What a mirror run did. */
export interface MirrorReport {
  /** Versions now in the cache (`@std/assert@1.0.13`). */
  versions: string[];
  /** Files checked, and how many of them were fetched now. */
  files: number;
  /** Files fetched now. */
  fetched: number;
  /** Targets not mirrored: a namespace this registry owns or fences off. */
  skipped: { target: string; reason: string }[];
  /** Targets that failed, with why. */
  failed: { target: string; error: string }[];
}

const JSR_SPEC_RE = /^jsr:(@[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9_-]*)(?:@([^/\s]+))?(?:\/.*)?$/;
const IMPORT_RE = /jsr:\/?(@[a-z0-9][a-z0-9-]*\/[a-z0-9][a-z0-9_-]*)(?:@([^\s"'`/]+))?/g;
const TEXT_RE = /\.(?:[cm]?[jt]sx?|json|jsonc)$/;

/**
 * Parse a `jsr:@scope/name[@range]` specifier; `null` when it is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMirrorSpec } from "./upstream_mirror.ts";
 * assert.deepEqual(parseMirrorSpec("jsr:@std/assert@^1"), { name: "@std/assert", range: "^1" });
 * assert.equal(parseMirrorSpec("npm:react"), null);
 * ```
 */
export function parseMirrorSpec(text: string): MirrorTarget | null {
  const m = JSR_SPEC_RE.exec(text.trim());
  if (!m) return null;
  return m[2] ? { name: m[1]!, range: m[2] } : { name: m[1]! };
}

/** The jsr packages of a `deno.lock` (versions 3 to 5): exact versions with their checksums. */
export function lockTargets(text: string): MirrorTarget[] | null {
  let lock: unknown;
  try {
    lock = JSON.parse(text);
  } catch {
    return null;
  }
  const jsr = (lock as { jsr?: unknown; packages?: { jsr?: unknown } } | null)?.jsr ??
    (lock as { packages?: { jsr?: unknown } } | null)?.packages?.jsr;
  if (typeof jsr !== "object" || jsr === null) return null;
  const out: MirrorTarget[] = [];
  for (const [id, entry] of Object.entries(jsr as Record<string, { integrity?: unknown }>)) {
    const at = id.lastIndexOf("@");
    if (at <= 0) continue;
    const integrity = typeof entry?.integrity === "string" ? entry.integrity : undefined;
    out.push({
      name: id.slice(0, at),
      range: id.slice(at + 1),
      ...(integrity ? { integrity } : {}),
    });
  }
  return out;
}

/** Options of {@linkcode mirrorJsr}. */
export interface MirrorOptions {
  /** Also mirror the `jsr:` packages the mirrored files import (default true). */
  dependencies?: boolean;
  /** Told of each version as it is done. */
  onProgress?: (line: string) => void;
}

/**
 * Mirror `targets` into the upstream cache. Namespaces the dependency-confusion
 * rules keep from the upstream are skipped, never fetched.
 */
export async function mirrorJsr(
  ctx: RegistryContext,
  up: JsrUpstream,
  targets: readonly MirrorTarget[],
  options: MirrorOptions = {},
): Promise<MirrorReport> {
  const report: MirrorReport = { versions: [], files: 0, fetched: 0, skipped: [], failed: [] };
  const queue = [...targets];
  const done = new Set<string>();
  while (queue.length > 0) {
    const target = queue.shift()!;
    const label = `jsr:${target.name}${target.range ? `@${target.range}` : ""}`;
    if (done.has(label)) continue;
    done.add(label);
    try {
      const [scope, name] = target.name.slice(1).split("/") as [string, string];
      const pkg = jsrRef(scope, name);
      if (!(await mayProxyNamespace(up, pkg.namespace))) {
        report.skipped.push({ target: label, reason: `${pkg.namespace} is not read upstream` });
        continue;
      }
      const version = await chooseVersion(ctx, up, pkg, target.range);
      if (version === null) {
        report.failed.push({ target: label, error: "no matching version upstream" });
        continue;
      }
      const id = `${target.name}@${version}`;
      if (report.versions.includes(id)) continue;
      const ref = jsrRef(scope, name, version);
      const row = await upstreamVersion(ctx, up, ref);
      if (!row) {
        report.failed.push({ target: label, error: `${id} is not on the upstream` });
        continue;
      }
      if (target.integrity !== undefined && target.integrity !== row.sha256) {
        report.failed.push({
          target: label,
          error:
            `${id}: the cached version metadata has SHA-256 ${row.sha256}, deno.lock pins ${target.integrity}`,
        });
        continue;
      }
      const { files, fetched, imports } = await mirrorFiles(ctx, up, ref, row.sha256);
      report.files += files;
      report.fetched += fetched;
      report.versions.push(id);
      options.onProgress?.(`mirrored ${id} (${files} files, ${fetched} fetched)`);
      if (options.dependencies !== false) queue.push(...imports);
    } catch (err) {
      report.failed.push({
        target: label,
        error: isRegistryError(err) || err instanceof Error ? err.message : String(err),
      });
      options.onProgress?.(`failed ${label}`);
    }
  }
  return report;
}

async function chooseVersion(
  ctx: RegistryContext,
  up: JsrUpstream,
  pkg: { namespace: string; name: string },
  range: string | undefined,
): Promise<string | null> {
  if (range !== undefined && isVersion(range)) return range;
  const meta = await upstreamPackageMeta(ctx, up, pkg);
  if (!meta) return null;
  const body = await ctx.bundles.get(meta.sha256);
  if (!body) return null;
  const doc = JSON.parse(await new Response(body.stream).text()) as {
    latest?: string | null;
    versions?: Record<string, { yanked?: boolean }>;
  };
  const usable = Object.entries(doc.versions ?? {}).filter(([, v]) => !v?.yanked).map(([v]) => v);
  if (range === undefined) return doc.latest ?? pickLatest(usable) ?? null;
  return pickLatest(usable.filter((v) => satisfies(v, range))) ?? null;
}

/** Fetch every file of a cached version; answers counts and the `jsr:` imports found. */
async function mirrorFiles(
  ctx: RegistryContext,
  up: JsrUpstream,
  ref: { namespace: string; name: string; version: string },
  metaSha256: string,
): Promise<{ files: number; fetched: number; imports: MirrorTarget[] }> {
  const body = await ctx.bundles.get(metaSha256);
  const meta = JSON.parse(await new Response(body!.stream).text()) as {
    manifest: Record<string, { checksum: string }>;
  };
  let fetched = 0;
  const imports: MirrorTarget[] = [];
  const paths = Object.keys(meta.manifest);
  for (const path of paths) {
    const digest = meta.manifest[path]!.checksum.slice("sha256-".length);
    const had = (await ctx.bundles.stat(digest)) !== null;
    const file = await upstreamFile(ctx, up, ref, path);
    if (!file) throw new Error(`${path} of ${ref.namespace}/${ref.name}@${ref.version} is missing`);
    if (!had) fetched++;
    if (!TEXT_RE.test(path)) continue;
    const blob = await ctx.bundles.get(file.sha256);
    const text = blob ? await new Response(blob.stream).text() : "";
    for (const m of text.matchAll(IMPORT_RE)) {
      imports.push(m[2] ? { name: m[1]!, range: decodeURIComponent(m[2]) } : { name: m[1]! });
    }
  }
  return { files: paths.length, fetched, imports };
}

/** Whether a version is in the upstream cache (for reports and tests). */
export async function isMirrored(
  ctx: RegistryContext,
  ref: { namespace: string; name: string; version: string },
): Promise<boolean> {
  return (await ctx.storage.get(keys.upstreamJsrVersionKey(ref))) !== null;
}
