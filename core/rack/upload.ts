/**
 * The Rack upload as core operations over streams (spec §6.2 order plus the
 * §13 fixes): {@linkcode storeArchive} streams the archive into bundle storage
 * under a byte cap, then {@linkcode publishRackArchive} verifies, extracts,
 * validates, authorizes and commits the version in ONE atomic step with its
 * package row, audit record and webhook outbox rows.
 *
 * Nothing is visible before that commit; blobs of refused uploads are
 * harmless orphans for GC.
 *
 * @module
 */
import { type RegistryContext, timeOrderedId } from "../context.ts";
import { isRegistryError } from "../errors.ts";
import { fileListFields } from "../files.ts";
import { formatConflict, nextPackageRow } from "../packages.ts";
import type { AuditRow, FileMap, VersionRow } from "../rows.ts";
import { getPackageRow, putVersionIfAbsent } from "../store.ts";
import { readGcGuard } from "../_gc_guard.ts";
import * as keys from "../../storage/keys.ts";
import type { BlobInfo, JsonValue, Mutation } from "../../storage/types.ts";
import { actorLabel, authorizeUpload, type RackAuth, type RackCaller } from "./auth.ts";
import { rackError } from "./errors.ts";
import {
  DEFAULT_EXTRACT_LIMITS,
  extractArchive,
  type ExtractedArchive,
  type ExtractLimits,
} from "./extract.ts";
import { itemSegments, normalizeRackFilePath } from "./paths.ts";
import { validateRegistryItem } from "./schema.ts";
import { uploadOutboxRows, type WebhookSubscription } from "./webhooks.ts";

/** The package format of Rack registry items. */
export const RACK_FORMAT = "rack.registry";
/** The default archive size limit: 100 MiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 104_857_600;

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

function checkTree(archive: ExtractedArchive, declared: string[]): void {
  const allowed = new Set<string>(["registry.json"]);
  for (const raw of declared) {
    const path = normalizeRackFilePath(raw);
    if (path === null || !archive.files.has(path)) {
      throw rackError(
        "FILE_NOT_FOUND",
        `File referenced in registry.json is missing or not a regular file: ${raw}`,
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
    ...[...archive.files.keys()].filter((p) => !allowed.has(p)),
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
  const extracted = await extractArchive(
    ctx,
    archive.sha256,
    options.limits ?? DEFAULT_EXTRACT_LIMITS,
  );
  if (!extracted.registryJson) throw uploadFailed("registry.json not found in package");
  let item: Record<string, unknown>;
  try {
    item = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(extracted.registryJson));
  } catch {
    throw uploadFailed("registry.json is not valid JSON");
  }
  if (typeof item !== "object" || item === null || Array.isArray(item)) item = {};
  for (const field of ["namespace", "name", "version"] as const) {
    if (!nonEmpty(item[field])) throw uploadFailed(`${field} is required in registry.json`);
  }
  const namespace = item.namespace as string;
  const leaf = item.name as string;
  const version = item.version as string;
  if (nonEmpty(item.path) && item.path.split("/").at(-1) !== leaf) {
    throw uploadFailed(`path "${item.path}" must end with name "${leaf}"`);
  }
  const now = ctx.clock();
  const grant = authorizeUpload(options.auth, namespace, { caller: options.caller, now });
  const problems = validateRegistryItem(item);
  if (problems.length > 0) {
    throw rackError(
      "SCHEMA_VALIDATION_FAILED",
      `Schema validation failed: ${JSON.stringify(problems)}`,
    );
  }
  for (const file of fileEntries(item)) {
    if (typeof file.target === "string" && !isSafeTarget(file.target)) {
      throw uploadFailed(
        `file target "${file.target}" must stay inside the project: a relative path (or ~/…) without "..", a leading "/", "\\", a drive letter or control characters`,
      );
    }
  }
  checkTree(extracted, declaredPaths(item));

  const segments = itemSegments({ name: leaf, type: item.type, path: item.path });
  const name = segments.join("/");
  const ref = { namespace, name, version };
  // A name held by another format is a conflict whatever the version (checked
  // again atomically by the commit's package-row reducer).
  const existing = await getPackageRow(ctx.storage, ref);
  if (existing && existing.format !== RACK_FORMAT) {
    throw formatConflict(ref, existing.format, RACK_FORMAT);
  }
  const files: FileMap = Object.fromEntries(extracted.files);
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
  const path = `${namespace}/${name}/${version}`;
  const summary: Record<string, JsonValue> = { name: leaf, type: item.type as string };
  if (typeof item.description === "string") summary.description = item.description;
  const result = await putVersionIfAbsent(ctx.storage, {
    row,
    gc: { guard: gcGuard, ctx },
    updatePackage: (current, state) => nextPackageRow(current, state, { ref, summary }),
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
      return mutations;
    },
  });
  if (result.result !== "created") {
    throw rackError("VERSION_EXISTS", `Registry ${namespace}/${name}@${version} already exists`);
  }
  return { name: leaf, version, namespace, message: "Registry uploaded successfully", path };
}
