/**
 * The Rack upload as core operations over streams (spec §6.2 order plus the
 * §13 fixes): {@linkcode storeArchive} streams the archive into bundle storage
 * under a byte cap, then {@linkcode publishRackArchive} verifies the checksum,
 * reads the archive once without storing anything (caps, colliding paths),
 * validates registry.json, authorizes the real namespace, checks the tree,
 * and only then stores the files (a second read) and commits the version in
 * ONE atomic step with its package row, audit record and webhook outbox rows.
 *
 * Nothing is visible before that commit. A refused upload leaves only its
 * archive blob, a harmless orphan for GC (so do the files of an upload that
 * loses a race for its version).
 *
 * @module
 */
import { type RegistryContext, timeOrderedId } from "../context.ts";
import { echo, isRegistryError } from "../../base/errors.ts";
import { fileListFields } from "../files.ts";
import { formatConflict, nextPackageRow } from "../packages.ts";
import type { AuditRow, FileMap, VersionRow } from "../rows.ts";
import { assertVersionRef, MAX_VERSION_LENGTH } from "../../base/names.ts";
import { getPackageRow, putVersionIfAbsent, versionHolder } from "../store.ts";
import { readGcGuard } from "../_gc_guard.ts";
import { utf8Length } from "../../storage/_common.ts";
import * as keys from "../../storage/keys.ts";
import { type BlobInfo, type JsonValue, LIMITS, type Mutation } from "../../storage/types.ts";
import { actorLabel, authorizeUpload, type RackAuth, type RackCaller } from "./auth.ts";
import { rackError } from "./errors.ts";
import {
  DEFAULT_EXTRACT_LIMITS,
  type ExtractLimits,
  scanArchive,
  type ScannedArchive,
  storeArchiveFiles,
} from "./extract.ts";
import { itemSegments, MAX_REGISTRY_SEGMENTS, normalizeRackFilePath } from "./paths.ts";
import { MAX_FULLY_REPORTED_VALUES, reportRegistryItem } from "./schema.ts";
import { uploadOutboxRows, type WebhookSubscription } from "./webhooks.ts";
import { rackMirrorMutation } from "./mirror_queue.ts";

/** The package format of Rack registry items. */
export const RACK_FORMAT = "rack.registry";
/** The default archive size limit: 100 MiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 104_857_600;
/**
 * Longest `description` (characters) of an uploaded registry.json: it is
 * copied into the version row and the package's search entry, which the store
 * bounds (a row holds at most 60 KiB).
 */
export const MAX_RACK_DESCRIPTION_LENGTH = 2048;
/** Longest fields of registry.json that become keys and names (characters). */
const MAX_FIELD_LENGTH = { namespace: 65, name: 64, version: MAX_VERSION_LENGTH } as const;

/**
 * Stream an uploaded archive into bundle storage, hashing as it goes. Over
 * `maxBytes` → 413 `FST_REQ_FILE_TOO_LARGE` (nothing stored).
 */
export async function storeArchive(
  ctx: RegistryContext,
  body: ReadableStream<Uint8Array>,
  options: { maxBytes?: number } = {},
): Promise<BlobInfo> {
  try {
    return await ctx.bundles.put(body, { maxBytes: options.maxBytes ?? DEFAULT_MAX_UPLOAD_BYTES });
  } catch (err) {
    if (isRegistryError(err, "too_large")) {
      throw rackError("FST_REQ_FILE_TOO_LARGE", "request file too large", { cause: err });
    }
    throw err;
  }
}

/** Options of {@linkcode publishRackArchive}. */
export interface PublishRackOptions {
  /** The stored archive (from {@linkcode storeArchive}). */
  archive: Pick<BlobInfo, "sha256" | "size">;
  /** The `checksum` form field. */
  checksum: string | undefined;
  /** The auth configuration in force. */
  auth: RackAuth;
  /** Who uploads. */
  caller: RackCaller;
  /** Webhook subscriptions to write outbox rows for. */
  subscriptions?: readonly WebhookSubscription[];
  /** Client IP for the audit record. */
  ip?: string;
  /** Extraction caps. */
  limits?: ExtractLimits;
  /** The operator's `registry-item.json` (SCHEMA_DIR) instead of the built-in one. */
  registryItemSchema?: object;
}

/** The 201 body of a successful upload. */
export interface RackUploadResult {
  /** Leaf name from registry.json. */
  name: string;
  /** The version. */
  version: string;
  /** The namespace. */
  namespace: string;
  /** Always "Registry uploaded successfully". */
  message: string;
  /** `<ns>/<segs>/<version>`. */
  path: string;
}

function uploadFailed(message: string): Error {
  return rackError("UPLOAD_FAILED", message);
}

function versionExists(
  ref: { namespace: string; name: string; version: string },
  existing: string,
): Error {
  const id = `${ref.namespace}/${ref.name}`;
  return rackError(
    "VERSION_EXISTS",
    existing === ref.version
      ? `Registry ${id}@${ref.version} already exists`
      : `Registry ${id}@${ref.version} has the same precedence as ${id}@${existing}, which already exists (versions that differ only in build metadata are one version)`,
  );
}

/** Code points of a string (what a user counts as characters). */
function characters(value: string): number {
  let n = 0;
  for (const _ of value) n++;
  return n;
}

/**
 * Refuse a value the store could not hold in one row (60 KiB of JSON) with a
 * 400 naming it, instead of the storage's `RangeError` (a 500). A backstop:
 * the field limits keep uploads far below it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertFitsInRow } from "./upload.ts";
 * assertFitsInRow({ description: "short" }, "The version record");
 * assert.throws(() => assertFitsInRow({ description: "x".repeat(70_000) }, "The version record"));
 * ```
 */
export function assertFitsInRow(value: unknown, what: string): void {
  const bytes = utf8Length(JSON.stringify(value));
  if (bytes > LIMITS.valueBytes) {
    throw uploadFailed(
      `${what} would take ${bytes} bytes, over the store's limit of ${LIMITS.valueBytes} bytes per record; shorten registry.json`,
    );
  }
}

/** The lengths of registry.json fields that become keys, names and stored facts. */
function checkFieldLengths(item: Record<string, unknown>): void {
  for (const [field, max] of Object.entries(MAX_FIELD_LENGTH)) {
    const value = item[field] as string;
    if (value.length > max) {
      throw uploadFailed(`${field} in registry.json is longer than ${max} characters`);
    }
  }
  if (typeof item.path === "string") {
    const segments = item.path.split("/");
    if (segments.length > MAX_REGISTRY_SEGMENTS) {
      throw uploadFailed(`path in registry.json has more than ${MAX_REGISTRY_SEGMENTS} segments`);
    }
    if (segments.some((s) => s.length > MAX_FIELD_LENGTH.name)) {
      throw uploadFailed(
        `path in registry.json has a segment longer than ${MAX_FIELD_LENGTH.name} characters`,
      );
    }
  }
}

/** The free-form facts copied into rows: only `description` (the rest stays in registry.json). */
function checkStoredFacts(item: Record<string, unknown>): void {
  if (typeof item.description !== "string") return;
  if (item.description.length <= MAX_RACK_DESCRIPTION_LENGTH) return;
  const length = characters(item.description);
  if (length > MAX_RACK_DESCRIPTION_LENGTH) {
    throw uploadFailed(
      `description in registry.json is ${length} characters long; the limit is ${MAX_RACK_DESCRIPTION_LENGTH}`,
    );
  }
}

/** The `SCHEMA_VALIDATION_FAILED` message: the spec's JSON array, bounded, plus what was left out. */
async function schemaMessage(item: unknown, schema?: object): Promise<string | undefined> {
  const { problems, omitted } = await reportRegistryItem(item, schema ? { schema } : {});
  if (problems.length === 0) return undefined;
  let message = `Schema validation failed: ${JSON.stringify(problems)}`;
  if (omitted === undefined) {
    message +=
      ` (only the first problem is listed: registry.json holds more than ${MAX_FULLY_REPORTED_VALUES} values)`;
  } else if (omitted > 0) {
    message += ` (and ${omitted} more problem${omitted === 1 ? "" : "s"})`;
  }
  return message;
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

/** Every file entry of a registry item: its `files` and each language's `files`. */
function fileEntries(item: Record<string, unknown>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const visit = (files: unknown) => {
    if (!Array.isArray(files)) return;
    for (const f of files) {
      if (typeof f === "object" && f !== null) out.push(f as Record<string, unknown>);
    }
  };
  visit(item.files);
  const languages = item.languages;
  if (typeof languages === "object" && languages !== null) {
    for (const lang of Object.values(languages)) visit((lang as Record<string, unknown>)?.files);
  }
  return out;
}

/** Every path a registry item declares (files, language files, custom merge scripts). */
export function declaredPaths(item: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const file of fileEntries(item)) {
    if (typeof file.path === "string") out.push(file.path);
    const merge = file.mergeStrategy as Record<string, unknown> | undefined;
    if (merge?.type === "custom" && typeof merge.script === "string") out.push(merge.script);
  }
  return out;
}

/**
 * Whether a file's `target` (where an installing client writes it) stays
 * inside the project: a relative path, optionally `~/`-prefixed (the project
 * root), with no `..` segment, leading `/`, backslash, drive letter or control
 * character. Anything else would let a package write outside the project of
 * whoever installs it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isSafeTarget } from "./upload.ts";
 *
 * assert.equal(isSafeTarget(".husky/commit-msg"), true);
 * assert.equal(isSafeTarget("~/components/ui/button.tsx"), true);
 * assert.equal(isSafeTarget("../../.bashrc"), false);
 * assert.equal(isSafeTarget("/etc/passwd"), false);
 * ```
 */
export function isSafeTarget(target: string): boolean {
  if (target.length === 0 || target.length > 1024) return false;
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(target) || /^[A-Za-z]:/.test(target)) return false;
  const rel = target.startsWith("~/") ? target.slice(2) : target;
  return !rel.startsWith("/") && rel.split("/").every((segment) => segment !== "..");
}

function checkTree(archive: ScannedArchive, declared: string[]): void {
  const allowed = new Set<string>(["registry.json"]);
  for (const raw of declared) {
    const path = normalizeRackFilePath(raw);
    if (path === null || !archive.files.has(path)) {
      throw rackError(
        "FILE_NOT_FOUND",
        `File referenced in registry.json is missing or not a regular file: ${echo(raw)}`,
      );
    }
    allowed.add(path);
  }
  for (const [rel] of [...archive.unsafe].sort(([a], [b]) => a < b ? -1 : 1)) {
    throw rackError(
      "UNSAFE_FILE",
      `Package contains an unsupported entry type at ${rel} (only regular files and directories are allowed)`,
    );
  }
  const undeclared = [
    ...archive.undeclarable,
    ...[...archive.files].filter((p) => !allowed.has(p)),
  ].sort();
  if (undeclared.length > 0) {
    throw rackError(
      "UNDECLARED_FILE",
      `Package contains a file not declared in registry.json: ${undeclared[0]}`,
    );
  }
}

/**
 * Verify, extract, validate, authorize and atomically publish a stored
 * archive. Exactly one of several concurrent uploads of a version wins; the
 * others get 409 `VERSION_EXISTS`.
 *
 * @example
 * ```ts ignore
 * const archive = await storeArchive(ctx, body);
 * const result = await publishRackArchive(ctx, { archive, checksum, auth, caller });
 * console.log(result.path); // "@company/features/my-tool/1.0.0"
 * ```
 */
export async function publishRackArchive(
  ctx: RegistryContext,
  options: PublishRackOptions,
): Promise<RackUploadResult> {
  const { archive, checksum } = options;
  if (!nonEmpty(checksum)) {
    throw rackError("MISSING_CHECKSUM", "SHA256 checksum is required for upload verification");
  }
  if (checksum !== archive.sha256) {
    throw rackError("CHECKSUM_MISMATCH", "Checksum verification failed", {
      extra: { expected: checksum, actual: archive.sha256 },
    });
  }
  // Before the archive is read back: the commit then knows whether a GC ran in between.
  const gcGuard = await readGcGuard(ctx);
  const limits = options.limits ?? DEFAULT_EXTRACT_LIMITS;
  // First pass: read the archive and store nothing, so a refused upload
  // (unauthorized namespace included) leaves only the archive blob behind.
  const scanned = await scanArchive(ctx, { archiveSha256: archive.sha256, limits });
  if (!scanned.registryJson) throw uploadFailed("registry.json not found in package");
  let item: Record<string, unknown>;
  try {
    item = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(scanned.registryJson));
  } catch {
    throw uploadFailed("registry.json is not valid JSON");
  }
  if (typeof item !== "object" || item === null || Array.isArray(item)) item = {};
  for (const field of ["namespace", "name", "version"] as const) {
    if (!nonEmpty(item[field])) throw uploadFailed(`${field} is required in registry.json`);
  }
  checkFieldLengths(item);
  const namespace = item.namespace as string;
  const leaf = item.name as string;
  const version = item.version as string;
  if (nonEmpty(item.path) && item.path.split("/").at(-1) !== leaf) {
    throw uploadFailed(`path "${item.path}" must end with name "${leaf}"`);
  }
  const now = ctx.clock();
  const grant = authorizeUpload(options.auth, namespace, { caller: options.caller, now });
  const schemaProblems = await schemaMessage(item, options.registryItemSchema);
  if (schemaProblems !== undefined) throw rackError("SCHEMA_VALIDATION_FAILED", schemaProblems);
  for (const file of fileEntries(item)) {
    if (typeof file.target === "string" && !isSafeTarget(file.target)) {
      throw uploadFailed(
        `file target "${
          echo(file.target)
        }" must stay inside the project: a relative path (or ~/…) without "..", a leading "/", "\\", a drive letter or control characters`,
      );
    }
  }
  checkStoredFacts(item);
  checkTree(scanned, declaredPaths(item));

  const segments = itemSegments({ name: leaf, type: item.type, path: item.path });
  const name = segments.join("/");
  const ref = { namespace, name, version };
  assertVersionRef(ref);
  // A name held by another format is a conflict whatever the version (checked
  // again atomically by the commit's package-row reducer).
  const [existing, holder] = await Promise.all([
    getPackageRow(ctx.storage, ref),
    versionHolder(ctx.storage, ref),
  ]);
  if (existing && existing.format !== RACK_FORMAT) {
    throw formatConflict(ref, existing.format, RACK_FORMAT);
  }
  // An early answer for the common retry; the commit still decides races.
  if (holder !== null) throw versionExists(ref, holder);
  // Second pass: every check has passed, store the files.
  const files: FileMap = Object.fromEntries(
    await storeArchiveFiles(ctx, {
      archiveSha256: archive.sha256,
      limits,
      paths: scanned.files,
      registryJson: scanned.registryJson,
      ...(scanned.prefix === undefined ? {} : { prefix: scanned.prefix }),
    }),
  );
  const policy = options.auth.namespaces.get(namespace);
  const actor = actorLabel(grant);
  const publishedAt = now.toISOString();
  const row: VersionRow = {
    namespace,
    name,
    version,
    format: RACK_FORMAT,
    visibility: policy?.anonymous ? "public" : "private",
    ...(await fileListFields(ctx, files)),
    facts: {
      name: leaf,
      type: item.type as string,
      checksum: archive.sha256,
      archiveSize: archive.size,
      // Kept so a lifecycle change can recompute the package's search entry.
      ...(typeof item.description === "string" ? { description: item.description } : {}),
    },
    publishedAt,
    publishedBy: actor,
  };
  assertFitsInRow(row, "The version record");
  const path = `${namespace}/${name}/${version}`;
  const summary: Record<string, JsonValue> = { name: leaf, type: item.type as string };
  if (typeof item.description === "string") summary.description = item.description;
  const result = await putVersionIfAbsent(ctx.storage, {
    row,
    gc: { guard: gcGuard, ctx },
    updatePackage: (current, state) => {
      const next = nextPackageRow(current, state, { ref, summary });
      assertFitsInRow(next, "The package record");
      return next;
    },
    extra: () => {
      const audit: AuditRow = {
        id: timeOrderedId(now),
        at: publishedAt,
        actor,
        action: "rack.upload",
        target: `${namespace}/${name}@${version}`,
        outcome: "ok",
        ...(options.ip ? { ip: options.ip } : {}),
        detail: {
          checksum: archive.sha256,
          size: archive.size,
          ...(grant.entry?.mark ? { mark: grant.entry.mark } : {}),
          ...(grant.principal?.tokenId ? { tokenId: grant.principal.tokenId } : {}),
        },
      };
      const mutations: Mutation[] = [
        { type: "set", key: keys.auditKey(audit.id), value: audit as unknown as JsonValue },
      ];
      const outbox = uploadOutboxRows(options.subscriptions ?? [], {
        name: leaf,
        version,
        namespace,
        path,
      }, now);
      for (const o of outbox) {
        mutations.push({
          type: "set",
          key: keys.outboxKey(o.id),
          value: o as unknown as JsonValue,
        });
      }
      // The bucket copy for Rack's Worker: written after this commit, from this item.
      if (ctx.rackMirror) {
        mutations.push(rackMirrorMutation({ kind: "version", namespace, name, version }, now));
      }
      return mutations;
    },
  });
  if (result.result === "exists") throw versionExists(ref, result.existing);
  if (result.result !== "created") throw versionExists(ref, version);
  return { name: leaf, version, namespace, message: "Registry uploaded successfully", path };
}
