/**
 * Import a ggui `registry-data/` directory (spec `ggui-wire.md` §12): author
 * keys, scope owners, then every version row with its blobs. Each version is
 * verified in full before any of its bytes is written (SRI, SHA-384, the
 * Ed25519 signature against the registered key it names, the compiled
 * blueprint's digest), its blobs are stored, and then it lands in ONE atomic
 * commit through {@linkcode putVersionIfAbsent}, the same rows a publish
 * writes. So a run killed anywhere leaves whole versions or none, and running
 * again imports what is missing and finds the rest identical.
 *
 * @module
 */
import type { RegistryContext } from "../context.ts";
import { fromBase64, sha256Hex, sri384 } from "../../base/digest.ts";
import { isRegistryError } from "../../base/errors.ts";
import { storeFile } from "../files.ts";
import { SEMVER_RE } from "../../base/names.ts";
import type { AuthorKeyRow, FileMap, ScopeRow, VersionRow } from "../rows.ts";
import { AuthorKeyRowSchema, ScopeRowSchema } from "../row_schemas.ts";
import { ownerIndexMutation } from "../search_index.ts";
import { getPackageRow, getVersionRow, putVersionIfAbsent } from "../store.ts";
import { readGcGuard } from "../_gc_guard.ts";
import * as keys from "../../storage/keys.ts";
import type { JsonValue, RowKey } from "../../storage/types.ts";
import {
  auditMutation,
  type GguiFacts,
  KIND_FORMAT,
  MAX_BUNDLE_BYTES,
  publicSummaryOf,
} from "../ggui/_common.ts";
import { withCompiledRef } from "../ggui/compile.ts";
import { canonicalJson, parseManifest, searchFactsOf } from "../ggui/manifest.ts";
import {
  isSignatureEnvelope,
  keyIdOf,
  sha384Base64,
  type SignatureEnvelope,
  verifyEd25519,
} from "../ggui/signing.ts";
import {
  isProblem,
  migratedPackageRow,
  type MigrationProgress,
  type MigrationReport,
  type MigrationSource,
  newReport,
  parseJson,
  type Problem,
  putRowIfAbsent,
  record,
  recordDone,
  type Recorder,
  safeSegment,
  sameJson,
  SourceError,
} from "./_common.ts";
import { withLifecycle } from "./_lifecycle.ts";

/** Options of {@linkcode migrateGgui}. */
export interface GguiMigrateOptions {
  /** Plan and verify only; write nothing. */
  dryRun?: boolean;
  /** The bundle host the original's rows embed (inferred from the first row when absent). */
  oldBundleHost?: string;
  /** Called after each version. */
  onProgress?: (progress: MigrationProgress) => void;
  /** Called with each outcome line as it happens. */
  onEvent?: (line: string) => void;
}

/** One verified version, ready to write. */
interface Prepared {
  target: string;
  path: string;
  row: VersionRow;
  yanked: boolean;
  blobs: { name: string; bytes: Uint8Array; type: string }[];
  compiled?: { digest: string; size: number; createdAt: string };
}

const JS = "application/javascript; charset=utf-8";
const HEX64 = /^[0-9a-f]{64}$/;

/** Throw a {@linkcode SourceError} unless `source` looks like a ggui registry-data directory. */
export async function checkGguiSource(source: MigrationSource): Promise<void> {
  const root = await source.list("");
  if (root === null) throw new SourceError(".", "does not exist or is not a directory");
  const state = root.find((e) => e.name === "state");
  if (state?.kind === "dir" && (await source.stat("state/versions"))?.kind === "dir") return;
  if (root.length === 0) {
    throw new SourceError(".", "is empty (a ggui registry-data directory has state/ and bundles/)");
  }
  if (root.some((e) => e.name.startsWith("@") || e.name === ".healthcheck")) {
    throw new SourceError(
      ".",
      "looks like a Rack STORAGE_ROOT, not a ggui registry-data directory (use 'migrate rack')",
    );
  }
  throw new SourceError(
    ".",
    "is not a ggui registry-data directory (no state/versions/ folder)",
  );
}

/** The JSON files of one `state/` family, one at a time as they lie on disk. */
async function* rowFiles(source: MigrationSource, family: string): AsyncGenerator<string> {
  for await (const e of source.entries(`state/${family}`)) {
    if (e.name.endsWith(".json")) yield `state/${family}/${e.name}`;
  }
}

/**
 * The largest `state/` file read: a compiled-blob row holds its bytes in
 * base64 (a third more) beside the signature; every other row is far smaller.
 * Every file is read whole, one version's at a time, so a run's memory is
 * bounded by this and {@linkcode MAX_BUNDLE_BYTES}, not by the source.
 */
const MAX_STATE_FILE_BYTES = 3 * MAX_BUNDLE_BYTES;

/** Read and parse one row file (refusing symlinks and oversized files), or a problem. */
async function readRow(
  source: MigrationSource,
  path: string,
): Promise<{ value: unknown } | Problem> {
  const stat = await source.stat(path);
  if (stat === null) return { path, message: "is missing" };
  if (stat.kind !== "file") return { path, message: `is a ${stat.kind}, not a file` };
  if (stat.size > MAX_STATE_FILE_BYTES) {
    return { path, message: `is ${stat.size} bytes, over the ${MAX_STATE_FILE_BYTES}-byte limit` };
  }
  const bytes = await source.read(path);
  if (bytes === null) return { path, message: "is missing" };
  return parseJson(path, bytes);
}

/** Read one blob file: a plain file no larger than `max`. */
async function readBlob(
  source: MigrationSource,
  path: string,
  max: number,
): Promise<Uint8Array | Problem> {
  const stat = await source.stat(path);
  if (stat === null) return { path, message: "is missing (the row points to it)" };
  if (stat.kind !== "file") return { path, message: `is a ${stat.kind}, not a file` };
  if (stat.size > max) {
    return { path, message: `is ${stat.size} bytes, over the ${max}-byte limit` };
  }
  const bytes = await source.read(path);
  return bytes ?? { path, message: "is missing (the row points to it)" };
}

/** Author keys of the source by `subject\0keyId`; bad files are refused. */
async function loadKeys(
  source: MigrationSource,
  r: Recorder,
): Promise<Map<string, { row: AuthorKeyRow; path: string }>> {
  const out = new Map<string, { row: AuthorKeyRow; path: string }>();
  for await (const path of rowFiles(source, "author-keys")) {
    const parsed = await readRow(source, path);
    if (isProblem(parsed)) {
      record(r, "refused", parsed);
      continue;
    }
    const row = AuthorKeyRowSchema.safeParse(parsed.value);
    if (!row.success) {
      record(r, "refused", { path, message: "is not an author-key row" });
      continue;
    }
    const raw = fromBase64(row.data.publicKeyBase64);
    if (raw === null || raw.byteLength !== 32 || keyIdOf(raw) !== row.data.keyId) {
      record(r, "refused", {
        path,
        message: `key id '${row.data.keyId}' does not match its public key`,
      });
      continue;
    }
    out.set(`${row.data.subject}\0${row.data.keyId}`, { row: row.data, path });
  }
  return out;
}

/** `http://host:port` of a stored URL, given its expected path. */
function hostOf(url: string, suffix: string): string | undefined {
  return url.endsWith(suffix) ? url.slice(0, -suffix.length) : undefined;
}

/** Verify one version row and read its blobs; a problem names the file at fault. */
async function prepareVersion(
  source: MigrationSource,
  path: string,
  env: { keys: Map<string, { row: AuthorKeyRow }>; host: { value?: string } },
): Promise<Prepared | Problem> {
  const parsed = await readRow(source, path);
  if (isProblem(parsed)) return parsed;
  const r = parsed.value as Record<string, unknown>;
  if (typeof r !== "object" || r === null || Array.isArray(r)) {
    return { path, message: "is not a version row (not an object)" };
  }
  const artifactId = String(r.artifactId ?? "");
  const version = String(r.version ?? "");
  const [scope, name, more] = artifactId.split("/");
  if (
    scope === undefined || name === undefined || more !== undefined || !safeSegment(scope) ||
    !safeSegment(name) || !safeSegment(version) || !SEMVER_RE.test(version)
  ) {
    return { path, message: `names an invalid artifact '${artifactId}@${version}'` };
  }
  const target = `${artifactId}@${version}`;
  const expectedName = `state/versions/${encodeURIComponent(artifactId)}__${
    encodeURIComponent(version)
  }.json`;
  if (expectedName !== path) return { path, message: `holds ${target}, not what its name says` };
  if (r.kind !== "gadget" && r.kind !== "blueprint") {
    return { path, message: `has an unknown kind '${String(r.kind)}'` };
  }
  if (r.visibility !== "public" && r.visibility !== "private") {
    return { path, message: `has an unknown visibility '${String(r.visibility)}'` };
  }
  if (typeof r.publishedAt !== "string" || typeof r.publishedBy !== "string" || !r.publishedBy) {
    return { path, message: "lacks publishedAt or publishedBy" };
  }
  const manifest = parseManifest(r.manifest);
  if (!manifest.ok) {
    return {
      path,
      message: `has an invalid manifest (${
        manifest.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")
      })`,
    };
  }
  const m = manifest.manifest;
  if (
    `${m.scope}/${m.name}` !== artifactId || m.version !== version || m.kind !== r.kind ||
    m.visibility !== r.visibility
  ) {
    return { path, message: "has a manifest that contradicts the row" };
  }
  const dir = `bundles/${r.visibility}/${scope}/${name}/${version}`;
  const blobs: Prepared["blobs"] = [];
  const manifestBytes = await readBlob(source, `${dir}/manifest.json`, MAX_BUNDLE_BYTES);
  if (isProblem(manifestBytes)) return manifestBytes;
  const onDisk = parseJson(`${dir}/manifest.json`, manifestBytes);
  if (isProblem(onDisk)) return onDisk;
  if (!sameJson(onDisk.value, r.manifest)) {
    return { path: `${dir}/manifest.json`, message: `differs from the manifest in ${path}` };
  }
  let signature: SignatureEnvelope;
  let payload: Uint8Array;
  let compiled: Prepared["compiled"];
  const facts: GguiFacts = {
    search: searchFactsOf(m),
    authorPublicKey: String(r.authorPublicKey ?? ""),
    signatureAlgorithm: "ed25519",
  };
  if (r.kind === "gadget") {
    const bundle = await readBlob(source, `${dir}/bundle.js`, MAX_BUNDLE_BYTES);
    if (isProblem(bundle)) return bundle;
    const sri = sri384(bundle);
    if (sri !== r.bundleSri) {
      return {
        path: `${dir}/bundle.js`,
        message: `does not match the bundleSri of ${path} (${sri} != ${String(r.bundleSri)})`,
      };
    }
    for (const [field, file] of [["bundleUrl", "bundle.js"], ["signatureUrl", "bundle.js.sig"]]) {
      const url = String(r[field!] ?? "");
      const host = hostOf(url, `/${dir}/${file}`);
      if (host === undefined) return { path, message: `has a ${field} '${url}' for another file` };
      env.host.value ??= host;
      if (host !== env.host.value) {
        return {
          path,
          message: `has a ${field} on '${host}', not the old bundle host '${env.host.value}'`,
        };
      }
    }
    const sigBytes = await readBlob(source, `${dir}/bundle.js.sig`, MAX_BUNDLE_BYTES);
    if (isProblem(sigBytes)) return sigBytes;
    const sig = parseJson(`${dir}/bundle.js.sig`, sigBytes);
    if (isProblem(sig)) return sig;
    if (!isSignatureEnvelope(sig.value)) {
      return { path: `${dir}/bundle.js.sig`, message: "is not a signature envelope" };
    }
    signature = sig.value;
    payload = bundle;
    facts.bundleSri = sri;
    blobs.push({ name: "bundle.js", bytes: bundle, type: JS });
    blobs.push({ name: "bundle.js.sig", bytes: sigBytes, type: "application/json" });
  } else {
    const digest = String(r.compiledDigest ?? "");
    if (!HEX64.test(digest)) return { path, message: `has an invalid compiledDigest '${digest}'` };
    const cPath = `state/compiled-blobs/${digest}.json`;
    const cRow = await readRow(source, cPath);
    if (isProblem(cRow)) return cRow;
    const c = cRow.value as Record<string, unknown>;
    const bytes = typeof c?.compiledBytes === "string" ? fromBase64(c.compiledBytes) : null;
    if (bytes === null) return { path: cPath, message: "has no compiledBytes" };
    if (sha256Hex(bytes) !== digest) {
      return { path: cPath, message: `holds bytes whose SHA-256 is not ${digest}` };
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(String(c.manifestSig));
    } catch {
      envelope = undefined;
    }
    if (!isSignatureEnvelope(envelope)) {
      return { path: cPath, message: "has no valid manifestSig envelope" };
    }
    signature = envelope;
    payload = new TextEncoder().encode(canonicalJson(m));
    compiled = {
      digest,
      size: bytes.byteLength,
      createdAt: typeof c.createdAt === "string" ? c.createdAt : String(r.publishedAt),
    };
    facts.compiledDigest = digest;
    blobs.push({ name: "compiled.js", bytes, type: JS });
    blobs.push({
      name: "manifest.sig",
      bytes: new TextEncoder().encode(JSON.stringify(envelope)),
      type: "application/json",
    });
  }
  const sigPath = r.kind === "gadget"
    ? `${dir}/bundle.js.sig`
    : `state/compiled-blobs/${String(r.compiledDigest)}.json`;
  if (signature.bundleSha384 !== sha384Base64(payload)) {
    return { path: sigPath, message: "signs other bytes (bundleSha384 does not match)" };
  }
  if (signature.algorithm === "ed25519") {
    const key = env.keys.get(`${r.publishedBy}\0${signature.publicKeyId}`);
    if (!key) {
      return {
        path: sigPath,
        message: `names key '${signature.publicKeyId}', which ${r.publishedBy} never registered`,
      };
    }
    const verified = await verifyEd25519(payload, {
      envelope: signature,
      publicKey: fromBase64(key.row.publicKeyBase64)!,
    });
    if (!verified.valid) return { path: sigPath, message: verified.reason };
    if (facts.authorPublicKey !== key.row.publicKeyBase64) {
      return { path, message: "has an authorPublicKey other than the key that signed it" };
    }
  } else {
    // Sigstore (public) versions: the digest is checked above; the certificate chain
    // needs the public sigstore services and was checked by the original at publish.
    facts.signatureAlgorithm = "sigstore-cosign";
  }
  blobs.push({ name: "manifest.json", bytes: manifestBytes, type: "application/json" });
  const files: FileMap = {};
  for (const b of blobs) {
    files[b.name] = { sha256: sha256Hex(b.bytes), size: b.bytes.byteLength, type: b.type };
  }
  const row: VersionRow = {
    namespace: scope,
    name,
    version,
    format: KIND_FORMAT[r.kind],
    visibility: r.visibility,
    files,
    facts: facts as unknown as Record<string, JsonValue>,
    publishedAt: r.publishedAt,
    publishedBy: r.publishedBy,
  };
  return {
    target,
    path,
    row,
    yanked: r.yanked === true,
    blobs,
    ...(compiled ? { compiled } : {}),
  };
}

/** Whether the target's row is the one the source describes. */
function sameVersion(a: VersionRow, b: VersionRow): boolean {
  return sameJson(
    { ...a, files: a.files ?? null, filesSha256: a.filesSha256 ?? null },
    { ...b, files: b.files ?? null, filesSha256: b.filesSha256 ?? null },
  );
}

/** Write one verified version: blobs, then one atomic commit. */
async function writeVersion(
  ctx: RegistryContext,
  p: Prepared,
  dryRun: boolean,
): Promise<"imported" | "identical" | Problem> {
  const existing = await getVersionRow(ctx.storage, p.row);
  if (existing) {
    return sameVersion(existing, p.row)
      ? "identical"
      : { path: p.path, message: `${p.target} is already in the target with other content` };
  }
  if (dryRun) return "imported";
  const gcGuard = await readGcGuard(ctx);
  for (const b of p.blobs) await storeFile(ctx, b.bytes, b.type);
  const now = ctx.clock();
  let storage = withLifecycle(ctx.storage, p.row, { yanked: p.yanked });
  if (p.compiled) {
    storage = withCompiledRef(storage, {
      digest: p.compiled.digest,
      size: p.compiled.size,
      now: new Date(p.compiled.createdAt),
    });
  }
  const ref = { namespace: p.row.namespace, name: p.row.name };
  const result = await putVersionIfAbsent(storage, {
    row: p.row,
    gc: { guard: gcGuard, ctx },
    updatePackage: (current, state) =>
      migratedPackageRow(current, { ...state, yanked: p.yanked }, {
        ref,
        summary: publicSummaryOf(p.row),
      }),
    extra: () => [
      auditMutation(now, {
        actor: "migrate",
        action: "ggui.migrate",
        target: p.target,
        detail: { from: p.path, kind: p.row.format, visibility: p.row.visibility },
      }),
    ],
  });
  if (result.result === "created") return "imported";
  const again = await getVersionRow(ctx.storage, p.row);
  if (again && sameVersion(again, p.row)) return "identical";
  return {
    path: p.path,
    message: result.result === "exists"
      ? `${p.target} is held in the target by ${result.existing} with other content`
      : `scope ${p.row.namespace} is owned by another subject in the target`,
  };
}

/**
 * Migrate a ggui registry-data directory into `ctx`'s store. Throws a
 * {@linkcode SourceError} when the directory is not one at all; every other
 * problem is in the report, and the versions it touches are not written.
 *
 * @example
 * ```ts ignore
 * const report = await migrateGgui(ctx, fsSource("./registry-data"), { dryRun: true });
 * console.log(report.counts.imported, report.refused);
 * ```
 */
export async function migrateGgui(
  ctx: RegistryContext,
  source: MigrationSource,
  options: GguiMigrateOptions = {},
): Promise<MigrationReport> {
  const dryRun = options.dryRun === true;
  const r: Recorder = { report: newReport("ggui", dryRun), event: options.onEvent ?? (() => {}) };
  await checkGguiSource(source);
  // Keys first: the versions' signatures name them (few rows: one per registered key).
  const authorKeys = await loadKeys(source, r);
  for (const { row, path } of authorKeys.values()) {
    await putOwnRow(ctx, r, {
      key: keys.authorKeyKey(row.subject, row.keyId),
      value: row as unknown as JsonValue,
      conflict: { path, message: `author key ${row.subject}/${row.keyId} differs in the target` },
    });
  }
  await importScopes(ctx, source, r);
  // Versions as they lie on disk (never listed or sorted in memory): each is
  // whole by itself, and the package rows do not depend on the order
  // (migratedPackageRow). A first pass only counts, for the progress.
  let total = 0;
  for await (const _ of rowFiles(source, "versions")) total++;
  const host: { value?: string } = options.oldBundleHost === undefined
    ? {}
    : { value: options.oldBundleHost.replace(/\/+$/, "") };
  const progress = { done: 0, total, bytes: 0 };
  for await (const path of rowFiles(source, "versions")) {
    const prepared = await prepareVersion(source, path, { keys: authorKeys, host });
    if (isProblem(prepared)) record(r, "refused", prepared);
    else {
      r.report.bytes += prepared.blobs.reduce((n, b) => n + b.bytes.byteLength, 0);
      const outcome = await writeVersion(ctx, prepared, dryRun);
      if (isProblem(outcome)) record(r, "conflicts", outcome);
      else recordDone(r, outcome, prepared.target);
    }
    progress.done++;
    progress.total = Math.max(total, progress.done); // the source may have grown since
    progress.bytes = r.report.bytes;
    options.onProgress?.({ ...progress });
  }
  if (host.value !== undefined) {
    record(r, "notes", {
      path: ".",
      message: `bundle URLs on '${host.value}' are served from this server's --bundle-host`,
    });
  }
  await comparePackages(ctx, source, r, dryRun);
  return r.report;
}

/** Write one key or scope row when absent; a different row there is a conflict. */
async function putOwnRow(
  ctx: RegistryContext,
  r: Recorder,
  row: { key: RowKey; value: JsonValue; conflict: Problem },
): Promise<void> {
  const outcome = await putRowIfAbsent(ctx.storage, row.key, row.value, r.report.dryRun);
  if (outcome === "conflict") record(r, "conflicts", row.conflict);
  else r.report.rows++;
}

/** Scope owners, streamed: each row checked and written as it is read. */
async function importScopes(
  ctx: RegistryContext,
  source: MigrationSource,
  r: Recorder,
): Promise<void> {
  for await (const path of rowFiles(source, "scope-owners")) {
    const parsed = await readRow(source, path);
    if (isProblem(parsed)) {
      record(r, "refused", parsed);
      continue;
    }
    const row = ScopeRowSchema.safeParse(parsed.value);
    if (!row.success) {
      record(r, "refused", { path, message: "is not a scope-owner row" });
      continue;
    }
    await putOwnRow(ctx, r, {
      key: keys.scopeKey(row.data.scope),
      value: row.data as unknown as JsonValue,
      conflict: { path, message: `scope ${row.data.scope} has another owner in the target` },
    });
    if (!r.report.dryRun) await pointOwner(ctx, row.data.scope);
  }
}

/** The pointer that lets the scope's owner, whoever it is now, search its private packages. */
async function pointOwner(ctx: RegistryContext, scope: string): Promise<void> {
  const owner = await ctx.storage.get<ScopeRow>(keys.scopeKey(scope));
  if (owner) await ctx.storage.commit({ checks: [], mutations: [ownerIndexMutation(owner.value)] });
}

/** Report where the original's metadata rows disagree with the packages as imported. */
async function comparePackages(
  ctx: RegistryContext,
  source: MigrationSource,
  r: Recorder,
  dryRun: boolean,
): Promise<void> {
  for await (const path of rowFiles(source, "plugins")) {
    const parsed = await readRow(source, path);
    if (isProblem(parsed)) {
      record(r, "notes", parsed);
      continue;
    }
    const meta = parsed.value as { artifactId?: unknown; latestVersion?: unknown };
    const [namespace, name] = String(meta.artifactId ?? "").split("/");
    if (!namespace || !name || dryRun) continue;
    const pkg = await getPackageRow(ctx.storage, { namespace, name }).catch((err) => {
      if (isRegistryError(err)) return null;
      throw err;
    });
    if (pkg?.latest !== meta.latestVersion) {
      record(r, "notes", {
        path,
        message: `latestVersion ${String(meta.latestVersion)} in the original, ${
          pkg?.latest ?? "no version"
        } after the import`,
      });
    }
  }
}
