/**
 * Rack reads over the shared store: the derived `versions.json`, latest,
 * versioned `registry.json` and template files, registry discovery, and
 * presets (kept as config rows `["config", "rack.preset", <name>]`).
 *
 * A package of another format under the same name (a ggui gadget
 * `@acme/widget`) is invisible here: every read answers 404.
 *
 * @module
 */
import { cachedGet, peekCachedMany } from "../read_cache.ts";
import type { RegistryContext } from "../context.ts";
import { auditMutation, auditRow } from "../audit.ts";
import { sha256Hex } from "../../base/digest.ts";
import { openVersionFile, versionFiles, versionFilesNow } from "../files.ts";
import type { FileEntry, PackageRow, VersionRow } from "../rows.ts";
import { listAll, listVersionStates, updateRow } from "../store.ts";
import * as keys from "../../storage/keys.ts";
import type { BlobBody, JsonValue } from "../../storage/types.ts";
import { rackError } from "./errors.ts";
import { rackMimeType } from "./mime.ts";
import { isRackSegment } from "./paths.ts";
import { validatePreset } from "./schema.ts";
import { RACK_FORMAT } from "./upload.ts";
import { rackMirrorMutation } from "./mirror_queue.ts";

/** A package of a namespace, by its registry path segments. */
export interface RackPackageRef {
  /** The namespace with `@`. */
  namespace: string;
  /** Registry path segments. */
  segments: readonly string[];
}

/** An in-memory document to serve. */
export interface RackDocument {
  /** The bytes. */
  bytes: Uint8Array;
  /** Their SHA-256 (the strong ETag). */
  sha256: string;
}

/** A stored file located but not opened. */
export interface RackFileRef {
  /** Digest, size and stored type. */
  entry: FileEntry;
  /** Content-Type by the §5.2 table. */
  contentType: string;
  /** The version it belongs to. */
  version: string;
  /** When that version was published. */
  publishedAt: string;
}

/** A stored file to serve. */
export interface RackFile {
  /** Content-Type by the §5.2 table. */
  contentType: string;
  /** Blob stream, size and digest. */
  body: BlobBody;
}

function notFound(message = "Resource not found"): Error {
  return rackError("NOT_FOUND", message);
}

/** Encode JSON the way the original writes its files: 2-space indent plus newline. */
export function jsonDocument(value: unknown): RackDocument {
  const bytes = new TextEncoder().encode(JSON.stringify(value, null, 2) + "\n");
  return { bytes, sha256: sha256Hex(bytes) };
}

async function rackPackage(
  ctx: RegistryContext,
  ref: RackPackageRef,
): Promise<{ row: PackageRow; stamp: string }> {
  const entry = await cachedGet<PackageRow>(
    ctx.storage,
    keys.packageKey({ namespace: ref.namespace, name: ref.segments.join("/") }),
  );
  if (!entry || entry.value.format !== RACK_FORMAT) throw notFound();
  return { row: entry.value, stamp: entry.stamp };
}

/** The package row of a Rack package from the read cache without waiting (`undefined`: not there, or no Rack package). */
function rackPackageNow(ctx: RegistryContext, ref: RackPackageRef) {
  const rows = peekCachedMany<PackageRow>(ctx.storage, [
    keys.packageKey({ namespace: ref.namespace, name: ref.segments.join("/") }),
  ]);
  const entry = rows?.[0];
  return entry && entry.value.format === RACK_FORMAT ? entry : undefined;
}

/** Rendered `versions.json` documents by package, valid while the package row's stamp holds. */
const versionDocs = new WeakMap<object, Map<string, { stamp: string; doc: RackDocument }>>();
const VERSION_DOCS = 4096;

/**
 * `versions.json`, derived from the version records: every version (yanked
 * ones included, as they stay downloadable), newest first by SemVer.
 */
export async function readVersionsJson(
  ctx: RegistryContext,
  ref: RackPackageRef,
): Promise<RackDocument> {
  const { doc } = await versionsJsonAt(ctx, ref);
  if (doc === null) throw notFound();
  return doc;
}

/**
 * {@linkcode readVersionsJson} without waiting: the document kept for the
 * package row's stamp, when that row is in the read cache; `undefined`
 * otherwise (a miss included: only `readVersionsJson` answers those).
 */
export function readVersionsJsonNow(
  ctx: RegistryContext,
  ref: RackPackageRef,
): RackDocument | undefined {
  const entry = rackPackageNow(ctx, ref);
  if (entry === undefined) return undefined;
  const hit = versionDocs.get(ctx.storage)?.get(`${ref.namespace}/${ref.segments.join("/")}`);
  return hit && hit.stamp === entry.stamp ? hit.doc : undefined;
}

/**
 * `versions.json` as {@linkcode readVersionsJson} renders it (`null`: the
 * package has no Rack version) with the stamp of the package row it was
 * derived from (`null`: no package row), so a writer can tell whether the
 * list changed since.
 */
export async function versionsJsonAt(
  ctx: RegistryContext,
  ref: RackPackageRef,
): Promise<{ doc: RackDocument | null; stamp: string | null }> {
  const entry = await cachedGet<PackageRow>(
    ctx.storage,
    keys.packageKey({ namespace: ref.namespace, name: ref.segments.join("/") }),
  );
  if (!entry || entry.value.format !== RACK_FORMAT) {
    return { doc: null, stamp: entry?.stamp ?? null };
  }
  const stamp = entry.stamp;
  // Every change of a version list (publish, yank, delete) rewrites the
  // package row in the same commit, so its stamp keys the rendered document.
  const id = `${ref.namespace}/${ref.segments.join("/")}`;
  let docs = versionDocs.get(ctx.storage);
  const hit = docs?.get(id);
  if (hit && hit.stamp === stamp) return { doc: hit.doc, stamp };
  const states = await listVersionStates(ctx.storage, {
    namespace: ref.namespace,
    name: ref.segments.join("/"),
  });
  const versions = states.filter((s) => s.format === RACK_FORMAT).map((s) => s.version);
  if (versions.length === 0) return { doc: null, stamp };
  const doc = jsonDocument({ versions });
  if (!docs) versionDocs.set(ctx.storage, docs = new Map());
  docs.delete(id);
  if (docs.size >= VERSION_DOCS) docs.delete(docs.keys().next().value!);
  docs.set(id, { stamp, doc });
  return { doc, stamp };
}

async function rackVersion(
  ctx: RegistryContext,
  ref: RackPackageRef,
  version: string,
): Promise<VersionRow> {
  // Through the read cache: a hard delete (which removes the row) made by
  // another process is seen here within the cache's TTL.
  const row = (await cachedGet<VersionRow>(
    ctx.storage,
    keys.versionKey({ namespace: ref.namespace, name: ref.segments.join("/"), version }),
  ))?.value;
  // A version row carries its package's format (fixed at first publish), so
  // it alone decides whether this is a Rack version.
  if (!row || row.format !== RACK_FORMAT) throw notFound();
  return row;
}

/** Find one stored file of a version (`registry.json` or a template file) without opening it. */
export async function resolveRackFile(
  ctx: RegistryContext,
  ref: RackPackageRef & { version: string; path: string },
): Promise<RackFileRef> {
  const row = await rackVersion(ctx, ref, ref.version);
  const found = fileRefOf(row, ref, await versionFiles(ctx, row));
  if (!found) throw notFound();
  return found;
}

/**
 * {@linkcode resolveRackFile} without waiting, when the version row is in the
 * read cache and its file map in memory; `undefined` otherwise (a miss
 * included: only `resolveRackFile` answers those).
 */
export function resolveRackFileNow(
  ctx: RegistryContext,
  ref: RackPackageRef & { version: string; path: string },
): RackFileRef | undefined {
  const rows = peekCachedMany<VersionRow>(ctx.storage, [
    keys.versionKey({
      namespace: ref.namespace,
      name: ref.segments.join("/"),
      version: ref.version,
    }),
  ]);
  const row = rows?.[0]?.value;
  if (!row || row.format !== RACK_FORMAT) return undefined;
  const files = versionFilesNow(row);
  return files === undefined ? undefined : fileRefOf(row, ref, files) ?? undefined;
}

function fileRefOf(
  row: VersionRow,
  ref: { version: string; path: string },
  files: Readonly<Record<string, FileEntry>>,
): RackFileRef | null {
  const entry = Object.hasOwn(files, ref.path) ? files[ref.path] : undefined;
  if (!entry) return null;
  return {
    entry,
    contentType: rackMimeType(ref.path),
    version: ref.version,
    publishedAt: row.publishedAt,
  };
}

/** Open one stored file of a version (`registry.json` or a template file). */
export async function openRackFile(
  ctx: RegistryContext,
  ref: RackPackageRef & { version: string; path: string },
): Promise<RackFile> {
  const row = await rackVersion(ctx, ref, ref.version);
  const opened = await openVersionFile(ctx, row, ref.path);
  if (!opened) throw notFound();
  return { contentType: rackMimeType(ref.path), body: opened.body };
}

/**
 * The `registry.json` of the latest version: the highest non-yanked release,
 * else the highest prerelease (so `versions[0]` may differ from latest).
 */
export async function resolveLatest(
  ctx: RegistryContext,
  ref: RackPackageRef,
): Promise<RackFileRef> {
  const { row } = await rackPackage(ctx, ref);
  if (row.latest === undefined) throw notFound("No versions available");
  return await resolveRackFile(ctx, { ...ref, version: row.latest, path: "registry.json" });
}

/** {@linkcode resolveLatest} without waiting (see {@linkcode resolveRackFileNow}). */
export function resolveLatestNow(
  ctx: RegistryContext,
  ref: RackPackageRef,
): RackFileRef | undefined {
  const latest = rackPackageNow(ctx, ref)?.value.latest;
  return latest === undefined
    ? undefined
    : resolveRackFileNow(ctx, { ...ref, version: latest, path: "registry.json" });
}

/** The Rack registry paths of a namespace, sorted (`[]` when it has none). */
export async function listRackRegistries(
  ctx: RegistryContext,
  namespace: string,
): Promise<string[]> {
  const names: string[] = [];
  for await (const e of listAll<PackageRow>(ctx.storage, keys.packagesInNamespace(namespace))) {
    if (e.value.format === RACK_FORMAT && e.value.versionCount > 0) names.push(e.value.name);
  }
  return names.sort();
}

/** Whether a namespace holds at least one Rack registry. */
export async function hasRackRegistries(ctx: RegistryContext, namespace: string): Promise<boolean> {
  for await (const e of listAll<PackageRow>(ctx.storage, keys.packagesInNamespace(namespace))) {
    if (e.value.format === RACK_FORMAT && e.value.versionCount > 0) return true;
  }
  return false;
}

/** The config-row kind presets are stored under. */
export const PRESET_KIND = "rack.preset";

/**
 * A stored preset row: the document published over HTTP (`preset`), or the
 * text of a `preset.json` migrated from the original (`text`), served byte for
 * byte as the original served its file, whatever fields it has (the
 * original's own presets carry no `version`).
 */
export interface PresetRow {
  /** The document (presets published here). */
  preset?: JsonValue;
  /** The file's text as the original served it (migrated presets). */
  text?: string;
  /** When it was written (a migrated file's modification time). */
  updatedAt: string;
  /** Who wrote it. */
  updatedBy: string;
}

/**
 * The document a preset row serves: a migrated file's text as it is, else the
 * document as 2-space JSON plus a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { presetDocument } from "./read.ts";
 * const at = { updatedAt: "2026-01-01T00:00:00.000Z", updatedBy: "migrate" };
 * const text = '{"name":"web","registries":["@rack/quality/husky"]}';
 * assert.equal(new TextDecoder().decode(presetDocument({ text, ...at }).bytes), text);
 * ```
 */
export function presetDocument(row: PresetRow): RackDocument {
  if (row.text === undefined) return jsonDocument(row.preset ?? null);
  const bytes = new TextEncoder().encode(row.text);
  return { bytes, sha256: sha256Hex(bytes) };
}

/** Check a preset name (kebab-case), throwing `INVALID_PRESET`. */
export function assertPresetName(name: string): void {
  if (!isRackSegment(name)) {
    throw rackError("INVALID_PRESET", `Preset name must match ${/^[a-z0-9]+(?:-[a-z0-9]+)*$/}`);
  }
}

/** The `preset.json` document of a preset. */
export async function readPreset(ctx: RegistryContext, name: string): Promise<RackDocument> {
  assertPresetName(name);
  const row = await ctx.storage.get<PresetRow>(keys.configKey(PRESET_KIND, name));
  if (!row) throw notFound();
  return presetDocument(row.value);
}

/**
 * Publish (create or replace) a preset after validating it against
 * `preset.json`; its `name` must equal the URL name.
 */
export async function putPreset(
  ctx: RegistryContext,
  name: string,
  options: { preset: unknown; actor: string },
): Promise<{ created: boolean }> {
  assertPresetName(name);
  const problems = await validatePreset(options.preset);
  if (problems.length > 0) {
    throw rackError(
      "SCHEMA_VALIDATION_FAILED",
      `Schema validation failed: ${JSON.stringify(problems)}`,
    );
  }
  const preset = options.preset as Record<string, JsonValue>;
  if (preset.name !== name) {
    throw rackError("INVALID_PRESET", `Preset name "${String(preset.name)}" must equal "${name}"`);
  }
  let created = false;
  await updateRow<PresetRow>(ctx.storage, keys.configKey(PRESET_KIND, name), (current) => {
    created = current === null;
    return { preset, updatedAt: ctx.clock().toISOString(), updatedBy: options.actor };
  }, {
    // One audit record per change, in the same commit.
    extra: () => [
      auditMutation(auditRow(ctx, {
        actor: options.actor,
        action: "rack.preset",
        target: `preset:${name}`,
        detail: { created },
      })),
      ...(ctx.rackMirror
        ? [rackMirrorMutation({ kind: "preset", preset: name }, ctx.clock())]
        : []),
    ],
  });
  return { created };
}
