/**
 * Publishing a JSR package version from the gzipped tarball `deno publish`
 * uploads: the checks JSR makes that matter to a private registry (config
 * file, name and version, exports, file paths, sizes, entry types), then ONE
 * atomic commit of the version row, its lifecycle row, the package row, an
 * optional scope claim, the publishing task, the audit record and webhook
 * outbox rows. Nothing is visible before that commit; blobs of refused
 * publishes are orphans for GC.
 *
 * The version metadata document (`<version>_meta.json`) is built once here
 * and stored as a blob: Deno's lockfile pins the SHA-256 of its exact bytes,
 * so they must never change.
 *
 * @module
 */
import type { Principal } from "../auth.ts";
import { decideGguiPublish } from "../access.ts";
import { servedFromUpstream } from "./upstream_claims.ts";
import { auditMutation, auditRow } from "../audit.ts";
import type { RegistryContext } from "../context.ts";
import { echo, isRegistryError, RegistryError } from "../../base/errors.ts";
import { utf8Length } from "../../storage/_common.ts";
import { fileListFields, storeFile } from "../files.ts";
import { readGcGuard } from "../_gc_guard.ts";
import { isNamespace, isPackageName, isVersion, type VersionRef } from "../../base/names.ts";
import { formatConflict, nextPackageRow } from "../packages.ts";
import type { FileEntry, FileMap, ScopeRow, VersionRow, Visibility } from "../rows.ts";
import { getPackageRow, putVersionIfAbsent, versionHolder } from "../store.ts";
import { readTarGz } from "../tar_gz.ts";
import { collectBytes } from "../../storage/_common.ts";
import { eventMutations, publishedEventMutations } from "../webhooks.ts";
import * as keys from "../../storage/keys.ts";
import type { JsonValue, Mutation } from "../../storage/types.ts";
import { jsrError, type JsrErrorBody, type JsrErrorDetail } from "./errors.ts";

/** The package format of JSR packages. */
export const JSR_FORMAT = "jsr";

/** Caps of one JSR publish (JSR's own: 20 MB per file and per package). */
export interface JsrLimits {
  /** Largest gzipped tarball accepted (`tarballSizeLimitExceeded`). */
  maxTarballBytes: number;
  /** Largest single file (`fileTooLarge`). */
  maxFileBytes: number;
  /** Largest sum of file sizes (`packageTooLarge`). */
  maxPackageBytes: number;
  /** Most files. */
  maxFiles: number;
}

/** The default caps: JSR's 20 MB limits. */
export const DEFAULT_JSR_LIMITS: JsrLimits = {
  maxTarballBytes: 20 * 1024 * 1024,
  maxFileBytes: 20 * 1024 * 1024,
  maxPackageBytes: 20 * 1024 * 1024,
  maxFiles: 10_000,
};

/** What the JSR surface needs beyond storage and clock. */
export interface JsrContext extends RegistryContext {
  /** Scopes nobody can claim by publishing. */
  reservedScopes: readonly string[];
  /**
   * How a namespace is configured in Rack `auth.json`: `undefined` when it is
   * not declared; `anonymous` when anyone may read it.
   */
  declaredNamespace: (namespace: string) => Promise<{ anonymous: boolean } | undefined>;
  /** Visibility of versions published into undeclared namespaces. */
  defaultVisibility: Visibility;
  /** Webhook subscriptions (`package.published`). */
  subscriptions?: readonly { id: string; url: string; events: string[]; enabled: boolean }[];
  /** Caps (default {@linkcode DEFAULT_JSR_LIMITS}). */
  limits?: JsrLimits;
}

/** A publishing task, as `deno publish` polls it (`GET /api/publish_status/:id`). */
export interface JsrTaskRow {
  /** The task id (a random UUID: the capability to read it). */
  id: string;
  /** `success` or `failure` (tasks are decided before the upload is answered). */
  status: "success" | "failure";
  /** The failure, when `status` is `failure`. */
  error: { code: string; message: string } | null;
  /** Scope without `@`. */
  packageScope: string;
  /** Package name. */
  packageName: string;
  /** Version. */
  packageVersion: string;
  /** When the upload arrived. */
  createdAt: string;
  /** When the task ended. */
  updatedAt: string;
}

/** Facts kept on a JSR version row. */
export interface JsrFacts {
  /** SHA-256 of the stored `<version>_meta.json` bytes. */
  versionMetaSha256: string;
  /** Their size. */
  versionMetaSize: number;
  /** The exports map (`{".": "./mod.ts"}`). */
  exports: Record<string, string>;
  /** The publishing task that created the version. */
  taskId: string;
  /** The config file's path in the package (`/deno.json`). */
  configPath: string;
}

/**
 * The version a JSR URL names: `@scope` as the namespace shared with every
 * surface. Throws `malformedRequest` when a part cannot name one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsrRef } from "./publish.ts";
 * assert.deepEqual(jsrRef("acme", "util", "1.0.0"), { namespace: "@acme", name: "util", version: "1.0.0" });
 * assert.throws(() => jsrRef("acme", "../x", "1.0.0"));
 * ```
 */
export function jsrRef(scope: string, name: string, version: string): VersionRef;
/** The package a JSR URL names. */
export function jsrRef(scope: string, name: string): { namespace: string; name: string };
export function jsrRef(
  scope: string,
  name: string,
  version?: string,
): { namespace: string; name: string; version?: string } {
  const namespace = `@${scope}`;
  if (!isNamespace(namespace)) {
    throw jsrError("malformedRequest", `Malformed request: invalid scope name '${scope}'`);
  }
  if (!isPackageName(name) || name.includes("/")) {
    throw jsrError("malformedRequest", `Malformed request: invalid package name '${name}'`);
  }
  if (version === undefined) return { namespace, name };
  if (!isVersion(version)) {
    throw jsrError("malformedRequest", `Malformed request: invalid version '${version}'`);
  }
  return { namespace, name, version };
}

/** The visibility of new versions in a namespace under the one policy (docs/jsr.md). */
export async function jsrVisibility(ctx: JsrContext, namespace: string): Promise<Visibility> {
  const declared = await ctx.declaredNamespace(namespace);
  if (declared) return declared.anonymous ? "public" : "private";
  return ctx.defaultVisibility;
}

/**
 * Whether `principal` may publish into the package's namespace, and whether
 * that publish claims the namespace. Throws `actorNotScopeMember`.
 */
export async function authorizeJsrPublish(
  ctx: JsrContext,
  principal: Principal,
  namespace: string,
): Promise<{ claim: boolean }> {
  const [declared, owner] = await Promise.all([
    ctx.declaredNamespace(namespace),
    ctx.storage.get<ScopeRow>(keys.scopeKey(namespace)),
  ]);
  // A namespace served from the upstream is not claimed by a first publish
  // (docs/jsr.md: dependency confusion); an admin claims it explicitly.
  if (declared === undefined && owner === null && await servedFromUpstream(ctx, namespace)) {
    throw jsrError(
      "actorNotScopeMember",
      `Actor is not a member of the scope: scope '${namespace}' is served from an upstream registry; an admin must claim it here before anything is published into it`,
    );
  }
  const decision = decideGguiPublish({
    principal,
    namespace,
    declared: declared !== undefined,
    owner: owner?.value ?? null,
    reserved: ctx.reservedScopes,
  });
  if (decision.allowed) return { claim: decision.claim };
  const why = decision.reason === "owned"
    ? `scope '${namespace}' belongs to another publisher`
    : decision.reason === "reserved"
    ? `scope '${namespace}' is reserved`
    : `the token may not publish to scope '${namespace}'`;
  throw jsrError("actorNotScopeMember", `Actor is not a member of the scope: ${why}`);
}

/**
 * The stored task of an existing JSR version, for `duplicateVersionPublish`;
 * `null` when there is no such version (a version of another format has no
 * JSR task, and is never reported as one: Deno would print it as published).
 */
export async function taskOfVersion(
  ctx: RegistryContext,
  ref: VersionRef,
): Promise<JsrTaskRow | null> {
  const row = await ctx.storage.get<VersionRow>(keys.versionKey(ref));
  if (!row || row.value.format !== JSR_FORMAT) return null;
  const taskId = (row.value.facts as Partial<JsrFacts>).taskId;
  const task = taskId ? await ctx.storage.get<JsrTaskRow>(keys.jsrTaskKey(taskId)) : null;
  if (task) return task.value;
  // A version published another way (or whose task is gone): a finished task says so.
  return {
    id: taskId ?? `version-${row.value.publishedAt}`,
    status: "success",
    error: null,
    packageScope: ref.namespace.slice(1),
    packageName: ref.name,
    packageVersion: ref.version,
    createdAt: row.value.publishedAt,
    updatedAt: row.value.publishedAt,
  };
}

/**
 * Refuse early a publish that cannot land, the format first: 409
 * `packageFormatConflict` when the package has another format, 400
 * `duplicateVersionPublish` with the existing task when the version exists,
 * 409 `versionPrecedenceTaken` when the version was deleted or a version
 * differing only in build metadata holds its place. The commit decides races.
 */
export async function refuseTakenVersion(ctx: RegistryContext, ref: VersionRef): Promise<void> {
  const [pkg, holder] = await Promise.all([
    getPackageRow(ctx.storage, ref),
    versionHolder(ctx.storage, ref),
  ]);
  if (pkg && pkg.format !== JSR_FORMAT) throw formatConflict(ref, pkg.format, JSR_FORMAT);
  if (holder !== null) throw await versionTaken(ctx, ref, holder);
}

/** The error for a publish whose place `holder` holds (see {@linkcode refuseTakenVersion}). */
async function versionTaken(
  ctx: RegistryContext,
  ref: VersionRef,
  holder: string,
): Promise<Error> {
  const id = `@${ref.namespace.slice(1)}/${ref.name}`;
  if (holder !== ref.version) {
    return jsrError(
      "versionPrecedenceTaken",
      `The version ${ref.version} of ${id} has the same precedence as ${holder}, which already exists or was deleted: versions that differ only in build metadata are one version`,
    );
  }
  const task = await taskOfVersion(ctx, ref);
  if (task) return duplicateVersion(ref, task);
  // Deleted: no task to show, and Deno must not print it as published.
  return jsrError(
    "versionPrecedenceTaken",
    `The version ${ref.version} of ${id} was deleted and cannot be published again`,
  );
}

/** The `duplicateVersionPublish` error, carrying the existing task as Deno expects. */
export function duplicateVersion(ref: VersionRef, task: JsrTaskRow): Error {
  return jsrError(
    "duplicateVersionPublish",
    `The version ${ref.version} of @${ref.namespace.slice(1)}/${ref.name} already exists`,
    { extra: { task } },
  );
}

/** Characters no JSR file path may hold (Windows-unsafe, URL-unsafe, control). */
// deno-lint-ignore no-control-regex
const BAD_PATH_CHARS = /[\\:*?"<>|#%\x00-\x1f\x7f]/;

/** Check one tarball path the way JSR does; answers the manifest key (`/mod.ts`). */
function checkPath(path: string): string {
  const key = `/${path}`;
  if (key.length > 512) {
    throw jsrError("invalidPath", `Path '${echo(key)}' is longer than 512 characters`);
  }
  if (BAD_PATH_CHARS.test(path)) {
    throw jsrError("invalidPath", `Path '${key}' contains a character JSR does not allow`);
  }
  for (const segment of path.split("/")) {
    if (segment.endsWith(".") || segment.endsWith(" ")) {
      throw jsrError("invalidPath", `Path '${key}' has a segment ending in a dot or a space`);
    }
    if (segment === ".git") {
      throw jsrError("invalidGitPath", `Path '${key}' is inside a .git directory`);
    }
  }
  return key;
}

/** What a tarball held, stored in bundle storage. */
interface ReadPackage {
  /** Files by path without leading slash. */
  files: Map<string, FileEntry>;
  /** The config file's bytes. */
  config: Uint8Array;
}

const CONFIG_NAMES = /(^|\/)(deno\.jsonc?|jsr\.jsonc?)$/;
/** Longest export name (as long as a path may be). */
const MAX_EXPORT_NAME = 512;
/** Largest export map (JSON bytes): it is kept in the version's row. */
const MAX_EXPORTS_BYTES = 16 * 1024;
const MAX_CONFIG_BYTES = 1024 * 1024;

/** Read the tarball into bundle storage under JSR's caps; keep the config file's bytes. */
async function readPackage(
  ctx: JsrContext,
  tarball: ReadableStream<Uint8Array>,
  configPath: string,
  limits: JsrLimits,
): Promise<ReadPackage> {
  const files = new Map<string, FileEntry>();
  const lowerPaths = new Map<string, string>();
  let config: Uint8Array | undefined;
  let total = 0;
  const faults = {
    invalid: (cause: unknown) =>
      jsrError("invalidTarball", "The tarball is not a valid gzipped tar archive", { cause }),
    unsafePath: (name: string) =>
      jsrError(
        "invalidPath",
        `Path '${echo(name)}' in the tarball is absolute or leaves the package`,
      ),
    tooLarge: (message: string, cap: string) =>
      cap === "file"
        ? jsrError("fileTooLarge", message.replace(/^Archive file/, "File"))
        : cap === "entries"
        ? jsrError("packageTooLarge", `The package has more than ${limits.maxFiles} files`)
        : cap === "depth"
        ? jsrError("invalidPath", message.replace(/^Archive entry/, "A path's"))
        : jsrError(
          "packageTooLarge",
          `The package unpacks to more than ${limits.maxPackageBytes} bytes`,
        ),
  };
  const tarLimits = {
    // Headers and padding ride on top of the file bytes.
    maxUnpackedBytes: limits.maxPackageBytes + (limits.maxFiles + 2) * 1024,
    maxEntries: limits.maxFiles,
    maxFileBytes: limits.maxFileBytes,
    maxPathDepth: 64,
  };
  for await (const entry of readTarGz(tarball, tarLimits, faults)) {
    const key = checkPath(entry.path);
    if (entry.type === "symlink" || entry.type === "link") {
      throw jsrError("linkInTarball", `Path '${key}' is a link; JSR packages hold regular files`);
    }
    if (entry.type !== "file") {
      throw jsrError("invalidEntryType", `Path '${key}' is a ${entry.type}, not a regular file`);
    }
    // Paths one file system could not keep apart collide: case (σ/ς and ß
    // fold too) and Unicode normalization (NFC é against NFD e + U+0301).
    const lower = entry.path.normalize("NFC").toUpperCase().toLowerCase();
    const clash = lowerPaths.get(lower);
    if (clash !== undefined) {
      throw jsrError(
        clash === entry.path ? "invalidPath" : "caseInsensitiveDuplicatePath",
        clash === entry.path
          ? `Path '${key}' appears twice in the tarball`
          : `Paths '/${clash}' and '${key}' differ only in case or Unicode normalization`,
      );
    }
    lowerPaths.set(lower, entry.path);
    total += entry.size;
    if (total > limits.maxPackageBytes) {
      throw jsrError(
        "packageTooLarge",
        `The package's files add up to more than ${limits.maxPackageBytes} bytes`,
      );
    }
    if (key === configPath) {
      config = await collectBytes(
        entry.body,
        MAX_CONFIG_BYTES,
        () => jsrError("invalidConfigFile", `The config file is over ${MAX_CONFIG_BYTES} bytes`),
      );
      files.set(entry.path, await storeFile(ctx, config, mediaTypeOf(entry.path)));
    } else {
      files.set(
        entry.path,
        await storeFile(ctx, entry.body, mediaTypeOf(entry.path), {
          maxBytes: limits.maxFileBytes,
        }),
      );
    }
    if (files.get(entry.path)!.size !== entry.size) {
      throw jsrError("invalidTarball", `Path '${key}' is shorter than its tar header says`);
    }
  }
  if (config === undefined) {
    throw jsrError("missingConfigFile", `The config file '${configPath}' is not in the tarball`);
  }
  return { files, config };
}

/**
 * The `Content-Type` a JSR file is served with: Deno takes the media type
 * from it (a `.ts` file sent as JavaScript would not parse).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mediaTypeOf } from "./publish.ts";
 * assert.equal(mediaTypeOf("mod.ts"), "text/typescript");
 * assert.equal(mediaTypeOf("README.md"), "text/markdown");
 * ```
 */
export function mediaTypeOf(path: string): string {
  const dot = path.lastIndexOf(".");
  const ext = dot < 0 ? "" : path.slice(dot + 1).toLowerCase();
  if (path.endsWith(".d.ts") || path.endsWith(".d.mts") || path.endsWith(".d.cts")) {
    return "text/typescript";
  }
  switch (ext) {
    case "ts":
    case "mts":
    case "cts":
      return "text/typescript";
    case "tsx":
      return "text/tsx";
    case "jsx":
      return "text/jsx";
    case "js":
    case "mjs":
    case "cjs":
      return "text/javascript";
    case "json":
    case "jsonc":
      return "application/json";
    case "wasm":
      return "application/wasm";
    case "md":
      return "text/markdown";
    case "txt":
      return "text/plain";
    case "css":
      return "text/css";
    case "html":
      return "text/html";
    case "svg":
      return "image/svg+xml";
    default:
      return "application/octet-stream";
  }
}

/** Strip line and block comments (outside strings) and trailing commas: JSONC to JSON. */
function stripJsonc(text: string): string {
  let out = "";
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (ch === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (ch === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      i = end < 0 ? text.length : end + 2;
    } else if (ch === "," && /^\s*[}\]]/.test(text.slice(i + 1, i + 257))) {
      i++; // a trailing comma
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/** Check the config file against the URL and normalize its exports to an object. */
function checkConfig(
  bytes: Uint8Array,
  ref: VersionRef,
  files: Map<string, FileEntry>,
): Record<string, string> {
  let config: unknown;
  try {
    config = JSON.parse(stripJsonc(new TextDecoder("utf-8", { fatal: true }).decode(bytes)));
  } catch {
    throw jsrError("invalidConfigFile", "The config file is not valid JSON");
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw jsrError("invalidConfigFile", "The config file must hold a JSON object");
  }
  const { name, version, exports } = config as Record<string, unknown>;
  const wanted = `${ref.namespace}/${ref.name}`;
  if (name !== wanted) {
    throw jsrError(
      "configFileNameMismatch",
      `The config file's name ${
        echo(JSON.stringify(name ?? null))
      } does not match the package '${wanted}'`,
    );
  }
  if (version !== ref.version) {
    throw jsrError(
      "configFileVersionMismatch",
      `The config file's version ${
        echo(JSON.stringify(version ?? null))
      } does not match the version '${ref.version}'`,
    );
  }
  const map: Record<string, unknown> = typeof exports === "string"
    ? { ".": exports }
    : typeof exports === "object" && exports !== null && !Array.isArray(exports)
    ? exports as Record<string, unknown>
    : {};
  const entries = Object.entries(map);
  if (entries.length === 0) {
    throw jsrError(
      "configFileExportsInvalid",
      "The config file's exports must name at least one module",
    );
  }
  const out: Record<string, string> = {};
  for (const [key, target] of entries) {
    if (key.length > MAX_EXPORT_NAME) {
      throw jsrError(
        "configFileExportsInvalid",
        `Export '${echo(key)}' is longer than ${MAX_EXPORT_NAME} characters`,
      );
    }
    if (key !== "." && !/^\.\/[^\s\\]+$/.test(key)) {
      throw jsrError(
        "configFileExportsInvalid",
        `Export '${echo(key)}' must be "." or start with "./"`,
      );
    }
    if (typeof target !== "string" || !target.startsWith("./")) {
      throw jsrError(
        "configFileExportsInvalid",
        `Export '${echo(key)}' must point to a relative path starting with "./"`,
      );
    }
    const path = target.slice(2).split("/").filter((s) => s !== "" && s !== ".").join("/");
    if (!files.has(path)) {
      throw jsrError(
        "configFileExportsInvalid",
        `Export '${echo(key)}' points to '${echo(target)}', which is not in the package`,
      );
    }
    out[key] = `./${path}`;
  }
  // The export map is kept in the version's row, which the store bounds.
  const size = utf8Length(JSON.stringify(out));
  if (size > MAX_EXPORTS_BYTES) {
    throw jsrError(
      "configFileExportsInvalid",
      `The config file's exports take ${size} bytes; the limit is ${MAX_EXPORTS_BYTES}`,
    );
  }
  return out;
}

/**
 * The exact bytes of `<version>_meta.json`: every file with its size and
 * `sha256-` checksum (keys with a leading slash, sorted), and the exports.
 * No module graph: Deno then reads the files itself, which is always right.
 */
function versionMetaBytes(files: Map<string, FileEntry>, exports: Record<string, string>) {
  const manifest: Record<string, { size: number; checksum: string }> = {};
  for (const path of [...files.keys()].sort()) {
    const entry = files.get(path)!;
    manifest[`/${path}`] = { size: entry.size, checksum: `sha256-${entry.sha256}` };
  }
  return new TextEncoder().encode(JSON.stringify({ manifest, exports }));
}

/** What {@linkcode publishJsrTarball} takes. */
export interface JsrPublishInput {
  /** Who publishes (already authorized by {@linkcode authorizeJsrPublish}). */
  principal: Principal;
  /** Whether the publish claims the namespace. */
  claim: boolean;
  /** The version named by the URL. */
  ref: VersionRef;
  /** The config file path from the `config` query (`/deno.json`). */
  configPath: string;
  /** The gzipped tarball, as stored by the surface. */
  tarball: { sha256: string; size: number };
  /** The task id the answer will carry. */
  taskId: string;
  /** Client IP for the audit record. */
  ip?: string;
}

/**
 * Check the stored tarball and publish the version in one atomic commit with
 * its successful task. Throws a JSR error: task failures (`invalidConfigFile`,
 * `invalidPath`, …), `duplicateVersionPublish` with the existing task when the
 * version exists (also when a concurrent publish won), `packageFormatConflict`.
 *
 * @example
 * ```ts ignore
 * const task = await publishJsrTarball(ctx, { principal, claim, ref, configPath: "/deno.json", tarball, taskId });
 * console.log(task.status); // "success"
 * ```
 */
export async function publishJsrTarball(
  ctx: JsrContext,
  input: JsrPublishInput,
): Promise<JsrTaskRow> {
  const { ref, principal } = input;
  const limits = ctx.limits ?? DEFAULT_JSR_LIMITS;
  const configPath = `/${input.configPath.replace(/^\/+/, "")}`;
  if (!CONFIG_NAMES.test(configPath)) {
    throw jsrError(
      "invalidConfigFile",
      `The config file '${configPath}' must be a deno.json, deno.jsonc, jsr.json or jsr.jsonc`,
    );
  }
  const existing = await getPackageRow(ctx.storage, ref);
  if (existing && existing.format !== JSR_FORMAT) {
    throw formatConflict(ref, existing.format, JSR_FORMAT);
  }
  const gcGuard = await readGcGuard(ctx);
  const blob = await ctx.bundles.get(input.tarball.sha256);
  // Only a GC run can have taken it (see core/_blob_hold.ts): send it again.
  if (!blob) {
    throw new RegistryError(
      "conflict",
      "The uploaded tarball was garbage-collected meanwhile; retry",
    );
  }
  const pkg = await readPackage(ctx, blob.stream, configPath, limits);
  const exports = checkConfig(pkg.config, ref, pkg.files);
  const meta = await ctx.bundles.put(versionMetaBytes(pkg.files, exports));
  const visibility = await jsrVisibility(ctx, ref.namespace);
  const now = ctx.clock();
  const at = now.toISOString();
  const files: FileMap = Object.fromEntries(pkg.files);
  const facts: JsrFacts = {
    versionMetaSha256: meta.sha256,
    versionMetaSize: meta.size,
    exports,
    taskId: input.taskId,
    configPath,
  };
  const row: VersionRow = {
    ...ref,
    format: JSR_FORMAT,
    visibility,
    ...(await fileListFields(ctx, files)),
    facts: facts as unknown as Record<string, JsonValue>,
    publishedAt: at,
    publishedBy: principal.subject,
  };
  const task: JsrTaskRow = {
    id: input.taskId,
    status: "success",
    error: null,
    packageScope: ref.namespace.slice(1),
    packageName: ref.name,
    packageVersion: ref.version,
    createdAt: at,
    updatedAt: at,
  };
  const result = await putVersionIfAbsent(ctx.storage, {
    row,
    gc: { guard: gcGuard, ctx },
    updatePackage: (current, state) =>
      nextPackageRow(current, state, {
        ref,
        summary: { exports: Object.keys(exports).join(" ") },
      }),
    ...(input.claim
      ? {
        claimScope: {
          scope: ref.namespace,
          ownerSubject: principal.subject,
          claimedAt: at,
          verification: "unverified" as const,
        },
      }
      : {}),
    extra: ({ packageCreated }): Mutation[] => [
      { type: "set", key: keys.jsrTaskKey(task.id), value: task as unknown as JsonValue },
      ...(input.claim
        ? eventMutations(ctx.subscriptions ?? [], "scope.claimed", {
          scope: ref.namespace,
          owner: principal.subject,
          surface: "jsr",
        }, now)
        : []),
      ...publishedEventMutations(ctx.subscriptions ?? [], {
        namespace: ref.namespace,
        name: ref.name,
        version: ref.version,
        format: JSR_FORMAT,
        visibility,
        publishedBy: principal.subject,
      }, now),
      auditMutation(auditRow(ctx, {
        actor: principal.subject,
        action: "jsr.publish",
        target: `${ref.namespace}/${ref.name}@${ref.version}`,
        outcome: "ok",
        ...(input.ip ? { ip: input.ip } : {}),
        detail: {
          visibility,
          packageCreated,
          scopeClaimed: input.claim,
          tarballSha256: input.tarball.sha256,
          tarballSize: input.tarball.size,
          ...(principal.tokenId ? { tokenId: principal.tokenId } : {}),
          ...(principal.label ? { label: principal.label } : {}),
        },
      })),
    ],
  });
  if (result.result === "exists") throw await versionTaken(ctx, ref, result.existing);
  if (result.result === "scope_taken") {
    throw jsrError(
      "actorNotScopeMember",
      `Actor is not a member of the scope: scope '${ref.namespace}' belongs to another publisher`,
    );
  }
  return task;
}

/**
 * Record a publish that failed its checks as a finished `failure` task, so
 * `deno publish` polling it prints the reason. Answers the task.
 */
export async function recordFailedTask(
  ctx: RegistryContext,
  input: { taskId: string; ref: VersionRef; error: JsrErrorBody },
): Promise<JsrTaskRow> {
  const at = ctx.clock().toISOString();
  const task: JsrTaskRow = {
    id: input.taskId,
    status: "failure",
    // Bounded whatever the message quotes: the task is a stored row.
    error: { code: input.error.code, message: echo(input.error.message, 2000) },
    packageScope: input.ref.namespace.slice(1),
    packageName: input.ref.name,
    packageVersion: input.ref.version,
    createdAt: at,
    updatedAt: at,
  };
  const res = await ctx.storage.commit({
    checks: [{ key: keys.jsrTaskKey(task.id), stamp: null }],
    mutations: [{
      type: "set",
      key: keys.jsrTaskKey(task.id),
      value: task as unknown as JsonValue,
    }],
  });
  if (!res.ok) throw jsrError("conflict", `Task '${task.id}' already exists`);
  return task;
}

/** Read a publishing task; `null` when there is none. */
export async function getJsrTask(ctx: RegistryContext, id: string): Promise<JsrTaskRow | null> {
  if (!/^[0-9a-f-]{36}$/.test(id)) return null;
  return (await ctx.storage.get<JsrTaskRow>(keys.jsrTaskKey(id)))?.value ?? null;
}

/** The codes JSR reports through a failed publishing task rather than on the upload. */
const TASK_CODES: ReadonlySet<string> = new Set([
  "invalidTarball",
  "missingConfigFile",
  "invalidConfigFile",
  "configFileNameMismatch",
  "configFileVersionMismatch",
  "configFileExportsInvalid",
  "invalidPath",
  "invalidGitPath",
  "caseInsensitiveDuplicatePath",
  "linkInTarball",
  "invalidEntryType",
  "fileTooLarge",
  "packageTooLarge",
]);

/** Whether an error is a publishing-task failure (reported through the task, not the upload). */
export function isTaskFailure(err: unknown): boolean {
  if (!isRegistryError(err)) return false;
  const code = (err.detail as Partial<JsrErrorDetail> | undefined)?.jsrCode;
  return code !== undefined && TASK_CODES.has(code);
}

/** A new task id: a random UUID, as JSR's (it is the capability to read the task). */
export function newTaskId(): string {
  return crypto.randomUUID();
}
