/**
 * Import a Rack `STORAGE_ROOT` (spec `rack-wire.md` §11): every version
 * directory becomes one immutable version holding every file in it (undeclared
 * ones included, as the original serves them), written through
 * {@linkcode putVersionIfAbsent} like an upload: blobs first, then one atomic
 * commit. The version list is what was imported; `versions.json` is only
 * compared. Presets come along as stored presets; schemas, `auth.json` and
 * `webhooks.json` are validated and kept as files or imported.
 *
 * @module
 */
import type { RegistryContext } from "../context.ts";
import { sha256Hex } from "../../base/digest.ts";
import { isRegistryError } from "../../base/errors.ts";
import { fileListFields, storeFile } from "../files.ts";
import { SEMVER_RE } from "../../base/names.ts";
import type { FileEntry, FileMap, Grant, VersionRow } from "../rows.ts";
import { createToken, listTokens } from "../tokens.ts";
import { getVersionRow, putVersionIfAbsent } from "../store.ts";
import { readGcGuard } from "../_gc_guard.ts";
import { auditMutation } from "../ggui/_common.ts";
import { parseAuthConfig, type RackAuth } from "../rack/auth.ts";
import { DEFAULT_EXTRACT_LIMITS } from "../rack/extract.ts";
import { rackMimeType } from "../rack/mime.ts";
import {
  isRackNamespace,
  isRackSegment,
  itemSegments,
  MAX_REGISTRY_SEGMENTS,
  normalizeRackFilePath,
} from "../rack/paths.ts";
import { PRESET_KIND, type PresetRow } from "../rack/read.ts";
import { isRackSchemaFile } from "../rack/schema.ts";
import { parseWebhookConfig } from "../rack/webhooks.ts";
import { declaredPaths } from "../rack/upload.ts";
import { createWebhookSubscription, listWebhookSubscriptions } from "../webhook_subscriptions.ts";
import * as keys from "../../storage/keys.ts";
import type { JsonValue } from "../../storage/types.ts";
import {
  isProblem,
  migratedPackageRow,
  type MigrationProgress,
  type MigrationReport,
  type MigrationSource,
  newReport,
  parseJson,
  type Problem,
  type ProblemKind,
  putRowIfAbsent,
  record,
  recordDone,
  type Recorder,
  sameJson,
  type SourceEntry,
  SourceError,
  SourceHasher,
  sourceStream,
} from "./_common.ts";

const RACK_FORMAT = "rack.registry" as const;
/** The largest preset.json imported (what this server accepts over HTTP, and fits one row). */
const MAX_PRESET_FILE_BYTES = 60 * 1024;
/** Files up to this size are stored from one whole read; larger ones are streamed. */
const WHOLE_READ_MAX_BYTES = 1024 * 1024;
/** Who the migrated versions, presets and tokens are recorded as published by. */
export const MIGRATE_ACTOR = "migrate";

/** A config file given on the command line. */
export interface ConfigFile {
  /** Its path (named in messages). */
  path: string;
  /** Its text. */
  text: string;
}

/** Options of {@linkcode migrateRack}. */
export interface RackMigrateOptions {
  /** Plan and verify only; write nothing. */
  dryRun?: boolean;
  /** The original's AUTH_CONFIG_PATH file (decides each namespace's visibility). */
  authConfig?: ConfigFile;
  /** The original's WEBHOOK_CONFIG_PATH file. */
  webhookConfig?: ConfigFile;
  /** `keep-file` (default): serve with the same files; `import`: store tokens and subscriptions. */
  tokens?: "keep-file" | "import";
  /** The largest file accepted (default: the upload limit, 64 MiB). */
  maxFileBytes?: number;
  /** Called after each version. */
  onProgress?: (progress: MigrationProgress) => void;
  /** Called with each outcome line. */
  onEvent?: (line: string) => void;
}

/** One version directory found in the source. */
interface VersionDir {
  namespace: string;
  segments: string[];
  version: string;
  dir: string;
}

/** What checking a version needs besides the source. */
interface VersionEnv {
  /** The namespaces' visibility. */
  auth: RackAuth;
  /** The largest file accepted. */
  maxFileBytes: number;
  /** Hashes files through one buffer. */
  hasher: SourceHasher;
}

/** A verified version, ready to write (bytes are read again when written). */
interface Prepared {
  target: string;
  dir: string;
  paths: string[];
  files: FileMap;
  row: Omit<VersionRow, "files" | "filesSha256">;
  summary: Record<string, JsonValue>;
}

/** The namespace folders of a Rack STORAGE_ROOT; a {@linkcode SourceError} when it is not one. */
export async function checkRackSource(source: MigrationSource): Promise<string[]> {
  const root = await source.list("");
  if (root === null) throw new SourceError(".", "does not exist or is not a directory");
  const namespaces = root.filter((e) => e.kind === "dir" && e.name.startsWith("@"));
  if (namespaces.length > 0 || root.some((e) => e.name === ".healthcheck")) {
    return namespaces.map((e) => e.name);
  }
  if (root.length === 0) {
    throw new SourceError(".", "is empty (a Rack STORAGE_ROOT has @namespace folders)");
  }
  if (root.some((e) => e.name === "state")) {
    throw new SourceError(
      ".",
      "looks like a ggui registry-data directory, not a Rack STORAGE_ROOT (use 'migrate ggui')",
    );
  }
  throw new SourceError(".", "is not a Rack STORAGE_ROOT (no @namespace folders, no .healthcheck)");
}

/** The version directories of one package folder (what one package holds, not the whole source). */
interface PackageDir {
  /** `@ns/seg/…`, relative to the root. */
  dir: string;
  versions: VersionDir[];
}

/**
 * The packages under a namespace, one folder at a time as they lie on disk: a
 * package is a folder holding SemVer-named folders with a `registry.json`.
 * Only the folders on the current path are open, so memory follows the
 * tree's depth and one package's versions, never the size of the source.
 */
async function* walkPackages(
  source: MigrationSource,
  namespace: string,
  problem: (kind: ProblemKind, p: Problem) => void,
  segments: string[] = [],
): AsyncGenerator<PackageDir> {
  const dir = [namespace, ...segments].join("/");
  const versions: VersionDir[] = [];
  for await (const e of source.entries(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.kind === "symlink" || e.kind === "other") {
      problem("refused", { path, message: `is a ${e.kind}; only folders and files are imported` });
      continue;
    }
    if (e.kind !== "dir") continue;
    if (
      segments.length > 0 && SEMVER_RE.test(e.name) &&
      (await source.stat(`${path}/registry.json`))
    ) {
      versions.push({ namespace, segments, version: e.name, dir: path });
    } else if (isRackSegment(e.name) && segments.length < MAX_REGISTRY_SEGMENTS) {
      yield* walkPackages(source, namespace, problem, [...segments, e.name]);
    } else {
      problem("skipped", { path, message: "is neither a package folder nor a version folder" });
    }
  }
  if (versions.length > 0) yield { dir, versions };
}

/** Every package of the source, namespace by namespace (invalid namespace names are skipped). */
async function* sourcePackages(
  source: MigrationSource,
  namespaces: string[],
  problem: (kind: ProblemKind, p: Problem) => void,
): AsyncGenerator<PackageDir> {
  for (const ns of namespaces) {
    if (!isRackNamespace(ns)) {
      problem("skipped", { path: ns, message: "is not a valid namespace name" });
      continue;
    }
    yield* walkPackages(source, ns, problem);
  }
}

/** Every file under a version directory, relative to it; a symlink or device is a problem. */
async function listFiles(
  source: MigrationSource,
  dir: string,
  maxFileBytes: number,
): Promise<string[] | Problem> {
  const out: string[] = [];
  const stack = [""];
  while (stack.length > 0) {
    const rel = stack.pop()!;
    const entries = (await source.list(rel === "" ? dir : `${dir}/${rel}`)) ?? [];
    for (const e of entries) {
      const path = rel === "" ? e.name : `${rel}/${e.name}`;
      if (e.kind === "dir") stack.push(path);
      else if (e.kind === "file") {
        if (e.size > maxFileBytes) {
          return {
            path: `${dir}/${path}`,
            message: `is ${e.size} bytes, over the ${maxFileBytes}-byte file limit`,
          };
        }
        if (normalizeRackFilePath(path) === null) {
          return { path: `${dir}/${path}`, message: "has a name the registry cannot serve" };
        }
        out.push(path);
      } else {
        return {
          path: `${dir}/${path}`,
          message: `is a ${e.kind}; a version holds only regular files`,
        };
      }
    }
  }
  return out.sort();
}

/** Verify one version directory; nothing is kept in memory but digests. */
async function prepareVersion(
  source: MigrationSource,
  v: VersionDir,
  env: VersionEnv,
): Promise<Prepared | Problem> {
  const regPath = `${v.dir}/registry.json`;
  const paths = await listFiles(source, v.dir, env.maxFileBytes);
  if (isProblem(paths)) return paths;
  const regBytes = await source.read(regPath);
  if (regBytes === null) return { path: regPath, message: "is missing" };
  const parsed = parseJson(regPath, regBytes);
  if (isProblem(parsed)) return parsed;
  const item = parsed.value as Record<string, unknown>;
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    return { path: regPath, message: "is not a JSON object" };
  }
  if (typeof item.name !== "string" || typeof item.namespace !== "string") {
    return { path: regPath, message: "lacks name or namespace" };
  }
  const segments = itemSegments({ name: item.name, type: item.type, path: item.path });
  const stored = `${v.namespace}/${v.segments.join("/")}/${v.version}`;
  const says = `${item.namespace}/${segments.join("/")}/${String(item.version)}`;
  if (says !== stored) {
    return { path: regPath, message: `describes ${says} but is stored at ${stored}` };
  }
  for (const declared of declaredPaths(item)) {
    const normal = normalizeRackFilePath(declared);
    if (normal === null) {
      return { path: regPath, message: `declares an unsafe file path '${declared}'` };
    }
    if (!paths.includes(normal)) {
      return { path: `${v.dir}/${normal}`, message: "is declared in registry.json but missing" };
    }
  }
  const files: FileMap = {};
  let bytes = 0;
  for (const path of paths) {
    // Hashed as a stream (one chunk in memory), and streamed again when stored.
    const file = path === "registry.json"
      ? { sha256: sha256Hex(regBytes), size: regBytes.byteLength }
      : await env.hasher.hash(source, `${v.dir}/${path}`);
    if (file === null) return { path: `${v.dir}/${path}`, message: "vanished while reading" };
    files[path] = { ...file, type: rackMimeType(path) };
    bytes += file.size;
  }
  // No archive exists any more: the checksum is recomputed over the files (path and digest).
  const checksum = sha256Hex(paths.map((p) => `${p}\0${files[p]!.sha256}\n`).join(""));
  const name = v.segments.join("/");
  const stat = await source.stat(regPath);
  const summary: Record<string, JsonValue> = { name: item.name, type: String(item.type ?? "") };
  if (typeof item.description === "string") summary.description = item.description;
  return {
    target: `${v.namespace}/${name}@${v.version}`,
    dir: v.dir,
    paths,
    files,
    summary,
    row: {
      namespace: v.namespace,
      name,
      version: v.version,
      format: RACK_FORMAT,
      visibility: env.auth.namespaces.get(v.namespace)?.anonymous ? "public" : "private",
      facts: {
        name: item.name,
        type: String(item.type ?? ""),
        checksum,
        archiveSize: bytes,
        ...(typeof item.description === "string" ? { description: item.description } : {}),
      },
      // The original keeps no publish time: registry.json's modification time is the upload's.
      publishedAt: stat?.mtime ?? new Date(0).toISOString(),
      publishedBy: MIGRATE_ACTOR,
    },
  };
}

/**
 * Stream one verified file into bundle storage, which stores nothing unless
 * the bytes are still the ones hashed (size and digest); whether it did.
 */
async function storeSourceFile(
  ctx: RegistryContext,
  source: MigrationSource,
  file: { path: string; entry: FileEntry },
): Promise<boolean> {
  // A small file is read whole (one exact buffer); a larger one is streamed.
  let body: Uint8Array | ReadableStream<Uint8Array> | null;
  if (file.entry.size <= WHOLE_READ_MAX_BYTES) body = await source.read(file.path);
  else {
    const opened = await source.open(file.path);
    body = opened && sourceStream(opened);
  }
  if (body === null) return false;
  try {
    await storeFile(ctx, body, file.entry.type, {
      maxBytes: file.entry.size,
      expectedSha256: file.entry.sha256,
    });
    return true;
  } catch (err) {
    // Changed between the check and the write: refuse rather than store other bytes.
    if (isRegistryError(err) && (err.code === "too_large" || err.code === "digest_mismatch")) {
      return false;
    }
    throw err;
  }
}

function sameRackVersion(existing: VersionRow, files: FileMap, row: Prepared["row"]): boolean {
  return existing.format === row.format && existing.visibility === row.visibility &&
    sameJson(existing.facts, row.facts) && existing.publishedAt === row.publishedAt &&
    (existing.files === undefined || sameJson(existing.files, files));
}

async function writeVersion(
  ctx: RegistryContext,
  source: MigrationSource,
  p: Prepared,
  dryRun: boolean,
): Promise<"imported" | "identical" | Problem> {
  const existing = await getVersionRow(ctx.storage, p.row);
  if (existing) {
    return sameRackVersion(existing, p.files, p.row)
      ? "identical"
      : { path: p.dir, message: `${p.target} is already in the target with other content` };
  }
  if (dryRun) return "imported";
  const gcGuard = await readGcGuard(ctx);
  for (const path of p.paths) {
    if (
      !(await storeSourceFile(ctx, source, { path: `${p.dir}/${path}`, entry: p.files[path]! }))
    ) {
      return { path: `${p.dir}/${path}`, message: "changed while it was being imported" };
    }
  }
  const row: VersionRow = { ...p.row, ...(await fileListFields(ctx, p.files)) };
  const now = ctx.clock();
  const ref = { namespace: row.namespace, name: row.name };
  const result = await putVersionIfAbsent(ctx.storage, {
    row,
    gc: { guard: gcGuard, ctx },
    updatePackage: (current, state) =>
      migratedPackageRow(current, state, { ref, summary: p.summary }),
    extra: () => [
      auditMutation(now, {
        actor: MIGRATE_ACTOR,
        action: "rack.migrate",
        target: p.target,
        detail: { from: p.dir, files: p.paths.length },
      }),
    ],
  });
  if (result.result === "created") return "imported";
  const again = await getVersionRow(ctx.storage, row);
  if (again && sameRackVersion(again, p.files, p.row)) return "identical";
  return { path: p.dir, message: `${p.target} is held in the target with other content` };
}

/** Compare one package's versions.json with the versions found in its folder. */
async function compareVersionsJson(
  source: MigrationSource,
  pkg: { dir: string; versions: string[] },
  r: Recorder,
): Promise<void> {
  const path = `${pkg.dir}/versions.json`;
  const bytes = await source.read(path);
  if (bytes === null) {
    record(r, "notes", {
      path,
      message: "is missing; the version list is derived from the folders",
    });
    return;
  }
  const parsed = parseJson(path, bytes);
  const listed = isProblem(parsed) ? null : (parsed.value as { versions?: unknown })?.versions;
  if (!Array.isArray(listed)) {
    record(r, "notes", {
      path,
      message: "is unreadable; the version list is derived from the folders",
    });
    return;
  }
  const missing = pkg.versions.filter((v) => !listed.includes(v)).sort();
  const stale = listed.filter((v) => !pkg.versions.includes(String(v)));
  if (missing.length > 0 || stale.length > 0) {
    record(r, "notes", {
      path,
      message: `differs from the imported versions (not listed: ${
        missing.join(", ") || "none"
      }; listed without a folder: ${stale.join(", ") || "none"})`,
    });
  }
}

/** Presets: `presets/<name>/preset.json`, stored as the original serves them. */
async function importPresets(
  ctx: RegistryContext,
  source: MigrationSource,
  r: Recorder,
): Promise<void> {
  for await (const e of source.entries("presets")) {
    const path = `presets/${e.name}/preset.json`;
    if (e.kind !== "dir" || !isRackSegment(e.name)) {
      record(r, "skipped", { path: `presets/${e.name}`, message: "is not a preset folder" });
      continue;
    }
    const stat = await source.stat(path);
    if (stat?.kind !== "file") {
      record(r, "refused", {
        path,
        message: stat ? `is a ${stat.kind}, not a file` : "is missing",
      });
      continue;
    }
    const problem = await importPreset(ctx, { source, name: e.name, path, stat }, r);
    if (problem) {
      const { kind, ...rest } = problem;
      record(r, kind, rest);
    }
  }
}

/** One preset: kept as the file's text, served byte for byte (as the original serves the file). */
async function importPreset(
  ctx: RegistryContext,
  file: { source: MigrationSource; name: string; path: string; stat: SourceEntry },
  r: Recorder,
): Promise<(Problem & { kind: "refused" | "conflicts" }) | null> {
  const { path, stat } = file;
  if (stat.size > MAX_PRESET_FILE_BYTES) {
    return {
      kind: "refused",
      path,
      message: `is ${stat.size} bytes, over the ${MAX_PRESET_FILE_BYTES}-byte preset limit`,
    };
  }
  const bytes = await file.source.read(path);
  if (bytes === null) return { kind: "refused", path, message: "is missing" };
  const parsed = parseJson(path, bytes);
  if (isProblem(parsed)) return { kind: "refused", ...parsed };
  const preset = parsed.value as Record<string, JsonValue>;
  if (typeof preset !== "object" || preset === null || Array.isArray(preset)) {
    return { kind: "refused", path, message: "is not a JSON object" };
  }
  if (preset.name !== undefined && preset.name !== file.name) {
    return { kind: "refused", path, message: `names itself '${String(preset.name)}'` };
  }
  // No schema check: the original serves whatever the file holds (its own presets have no version).
  const text = new TextDecoder().decode(bytes);
  const key = keys.configKey(PRESET_KIND, file.name);
  const current = await ctx.storage.get<PresetRow>(key);
  if (current) {
    const same = current.value.text !== undefined
      ? current.value.text === text
      : sameJson(current.value.preset, preset);
    if (!same) {
      return { kind: "conflicts", path, message: `preset ${file.name} differs in the target` };
    }
    recordDone(r, "identical", `preset:${file.name}`);
    return null;
  }
  const row: PresetRow = {
    text,
    updatedAt: stat.mtime ?? new Date(0).toISOString(),
    updatedBy: MIGRATE_ACTOR,
  };
  if (!r.report.dryRun) {
    await putRowIfAbsent(ctx.storage, key, row as unknown as JsonValue, false);
  }
  r.report.rows++;
  recordDone(r, "imported", `preset:${file.name}`);
  return null;
}

/** Schemas: checked; this server serves them from --schema-dir. */
async function checkSchemas(source: MigrationSource, r: Recorder): Promise<void> {
  const entries = await source.list("schema");
  if (entries === null) return;
  for (const e of entries) {
    const path = `schema/${e.name}`;
    if (e.kind !== "file" || !isRackSchemaFile(e.name)) {
      record(r, "skipped", {
        path,
        message: "is not one of rack.json, preset.json, registry-item.json",
      });
      continue;
    }
    const parsed = parseJson(path, (await source.read(path))!);
    if (isProblem(parsed)) record(r, "refused", parsed);
  }
  record(r, "notes", {
    path: "schema",
    message:
      "serve these schemas by starting the server with --schema-dir pointing at a copy of this folder",
  });
}

/** auth.json: validated; kept as --auth-config, or imported as stored tokens. */
async function handleAuth(
  ctx: RegistryContext,
  file: ConfigFile,
  r: Recorder,
  options: { dryRun: boolean; tokens: "keep-file" | "import" },
): Promise<RackAuth> {
  let parsed;
  try {
    parsed = parseAuthConfig(file.text);
  } catch (err) {
    throw new SourceError(file.path, err instanceof Error ? err.message : String(err));
  }
  for (const bad of parsed.rejected) {
    record(r, "refused", { path: file.path, message: `namespace ${bad.namespace}: ${bad.reason}` });
  }
  if (options.tokens === "keep-file") {
    record(r, "notes", {
      path: file.path,
      message:
        "kept: start the server with --auth-config pointing at this file (tokens stay in it)",
    });
    return parsed.auth;
  }
  // One stored token per secret, with a grant per namespace it was listed under.
  const bySecret = new Map<string, { grants: Grant[]; mark?: string; expiresAt?: number }>();
  for (const [namespace, policy] of parsed.auth.namespaces) {
    for (const t of policy.tokens) {
      const slot = bySecret.get(t.sha256) ?? { grants: [] };
      slot.grants.push({ namespace, actions: t.publish ? ["read", "publish"] : ["read"] });
      if (t.mark) slot.mark ??= t.mark;
      if (t.expiresAt !== undefined) slot.expiresAt = t.expiresAt;
      bySecret.set(t.sha256, slot);
    }
  }
  // Stored tokens have their own secret format (hashed at rest, revocable):
  // each auth.json token becomes a NEW stored token with the same grants,
  // found again on a re-run by the digest of the old secret in its label.
  const stored = await listTokens(ctx);
  for (const [sha256, t] of bySecret) {
    const tag = `(auth.json ${sha256.slice(0, 12)})`;
    if (stored.some((s) => s.label.endsWith(tag) && !s.revokedAt)) {
      recordDone(r, "identical", `token:${tag}`);
      continue;
    }
    r.report.rows++;
    if (options.dryRun) continue;
    const created = await createToken(ctx, {
      subject: `rack/${sha256.slice(0, 12)}`,
      grants: t.grants,
      label: `${t.mark ?? "token"} ${tag}`,
      ...(t.expiresAt !== undefined ? { expiresAt: new Date(t.expiresAt).toISOString() } : {}),
    }, { subject: MIGRATE_ACTOR, admin: true });
    r.report.tokens.push({ label: created.token.label, grants: t.grants, secret: created.secret });
  }
  record(r, "notes", {
    path: file.path,
    message:
      `${bySecret.size} token(s) as stored tokens with NEW secrets (listed once under tokens): give each client its new secret, then start the server without --auth-config`,
  });
  return parsed.auth;
}

async function handleWebhooks(
  ctx: RegistryContext,
  file: ConfigFile,
  r: Recorder,
  options: { dryRun: boolean; tokens: "keep-file" | "import" },
): Promise<void> {
  let subs;
  try {
    subs = parseWebhookConfig(file.text);
  } catch (err) {
    throw new SourceError(file.path, err instanceof Error ? err.message : String(err));
  }
  if (options.tokens === "keep-file") {
    record(r, "notes", {
      path: file.path,
      message:
        `${subs.length} subscription(s) valid: start the server with --webhook-config pointing at this file`,
    });
    return;
  }
  const existing = await listWebhookSubscriptions(ctx);
  for (const s of subs) {
    if (existing.some((e) => e.url === s.url && sameJson(e.events, s.events))) {
      recordDone(r, "identical", `webhook:${new URL(s.url).host}`);
      continue;
    }
    if (options.dryRun) continue;
    try {
      await createWebhookSubscription(
        ctx,
        {
          url: s.url,
          events: [...s.events],
          ...(s.secret ? { secret: s.secret } : {}),
          ...(s.description ? { description: s.description } : {}),
          enabled: s.enabled !== false,
        } as Parameters<typeof createWebhookSubscription>[1],
        MIGRATE_ACTOR,
      );
      r.report.rows++;
    } catch (err) {
      record(r, "refused", {
        path: file.path,
        message: `subscription ${s.url}: ${err instanceof Error ? err.message : err}`,
      });
    }
  }
}

/**
 * Migrate a Rack STORAGE_ROOT into `ctx`'s store. Throws a
 * {@linkcode SourceError} when the directory or a config file is unusable as a
 * whole; every other problem is in the report and only its version is left out.
 *
 * @example
 * ```ts ignore
 * const report = await migrateRack(ctx, fsSource("./storage"), { dryRun: true });
 * ```
 */
export async function migrateRack(
  ctx: RegistryContext,
  source: MigrationSource,
  options: RackMigrateOptions = {},
): Promise<MigrationReport> {
  const dryRun = options.dryRun === true;
  const tokens = options.tokens ?? "keep-file";
  const r: Recorder = { report: newReport("rack", dryRun), event: options.onEvent ?? (() => {}) };
  const namespaces = await checkRackSource(source);
  const auth = options.authConfig
    ? await handleAuth(ctx, options.authConfig, r, { dryRun, tokens })
    : parseAuthConfig(null).auth;
  if (options.webhookConfig) {
    await handleWebhooks(ctx, options.webhookConfig, r, { dryRun, tokens });
  }
  // A first walk only counts (for the progress and its estimate); the second
  // imports package by package as it walks: no list of the source is kept.
  let total = 0;
  for await (const pkg of sourcePackages(source, namespaces, () => {})) {
    total += pkg.versions.length;
  }
  const env: VersionEnv = {
    auth,
    maxFileBytes: options.maxFileBytes ?? DEFAULT_EXTRACT_LIMITS.maxFileBytes,
    hasher: new SourceHasher(),
  };
  const progress = { done: 0, total, bytes: 0 };
  for await (const pkg of sourcePackages(source, namespaces, (k, p) => record(r, k, p))) {
    const found: string[] = [];
    for (const v of pkg.versions) {
      if (await migrateVersion(ctx, source, v, { env, r })) found.push(v.version);
      progress.done++;
      progress.total = Math.max(total, progress.done); // the source may have grown since

      progress.bytes = r.report.bytes;
      options.onProgress?.({ ...progress });
    }
    await compareVersionsJson(source, { dir: pkg.dir, versions: found }, r);
  }
  await importPresets(ctx, source, r);
  await checkSchemas(source, r);
  for (const e of (await source.list("")) ?? []) {
    if (e.name.startsWith("@") || ["presets", "schema", ".healthcheck", ".tmp"].includes(e.name)) {
      continue;
    }
    record(r, "skipped", { path: e.name, message: "is not part of a Rack STORAGE_ROOT" });
  }
  return r.report;
}

/** Verify and write one version directory; whether it is now in the target. */
async function migrateVersion(
  ctx: RegistryContext,
  source: MigrationSource,
  v: VersionDir,
  options: { env: VersionEnv; r: Recorder },
): Promise<boolean> {
  const { r } = options;
  const prepared = await prepareVersion(source, v, options.env);
  if (isProblem(prepared)) {
    record(r, "refused", prepared);
    return false;
  }
  r.report.bytes += Object.values(prepared.files).reduce((n, f) => n + f.size, 0);
  const outcome = await writeVersion(ctx, source, prepared, r.report.dryRun);
  if (isProblem(outcome)) {
    record(r, "conflicts", outcome);
    return false;
  }
  recordDone(r, outcome, prepared.target);
  return true;
}
