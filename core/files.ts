/**
 * A version's files: stored content-addressed in bundle storage before the row
 * that points to them, listed inline in the version row while small and as a
 * JSON blob otherwise (a KV row holds at most 64 KiB).
 *
 * @module
 */
import type { RegistryContext } from "./context.ts";
import { RegistryError } from "../base/errors.ts";
import type { FileEntry, FileMap, VersionRow } from "./rows.ts";
import type { BlobBody, ByteRange, PutBlobOptions } from "../storage/types.ts";
import { lazily } from "../base/lazy.ts";

/** The rows' zod schemas, loaded with the first check (not at start-up). */
const rowSchemas = lazily(() => import("./row_schemas.ts"));

/** File lists whose JSON is larger than this go to a blob. */
const INLINE_FILES_BYTES = 16 * 1024;

/** Immutable file maps resolved from blobs, cached per digest. */
const fileMapCache = new Map<string, FileMap>();

/** Store one file's bytes; answers its entry. */
export async function storeFile(
  ctx: RegistryContext,
  bytes: Uint8Array | ReadableStream<Uint8Array>,
  type: string,
  options: PutBlobOptions = {},
): Promise<FileEntry> {
  const info = await ctx.bundles.put(bytes, options);
  return { sha256: info.sha256, size: info.size, type };
}

/**
 * The `files`/`filesSha256` part of a version row for a file map: inline when
 * small, else written as a blob first.
 */
export async function fileListFields(
  ctx: RegistryContext,
  files: FileMap,
): Promise<Pick<VersionRow, "files" | "filesSha256">> {
  const json = JSON.stringify(files);
  if (json.length <= INLINE_FILES_BYTES) return { files };
  const info = await ctx.bundles.put(new TextEncoder().encode(json));
  fileMapCache.set(info.sha256, files);
  return { filesSha256: info.sha256 };
}

/** The file map of a version, reading its blob when it is not inline. */
export async function versionFiles(ctx: RegistryContext, row: VersionRow): Promise<FileMap> {
  if (row.files) return row.files;
  const digest = row.filesSha256;
  if (digest === undefined) return {};
  const cached = fileMapCache.get(digest);
  if (cached) return cached;
  const body = await ctx.bundles.get(digest);
  if (!body) throw new RegistryError("storage_failure", `File list blob '${digest}' is missing`);
  const text = await new Response(body.stream).text();
  const files = (await rowSchemas()).FileMapSchema.parse(JSON.parse(text));
  fileMapCache.set(digest, files);
  return files;
}

/**
 * {@linkcode versionFiles} without waiting: the file map when it is inline or
 * its blob was already read; `undefined` when only `versionFiles` can tell.
 */
export function versionFilesNow(row: VersionRow): FileMap | undefined {
  if (row.files) return row.files;
  const digest = row.filesSha256;
  return digest === undefined ? {} : fileMapCache.get(digest);
}

/** Open one file of a version (or a range of it); `null` when the path is not in the version. */
export async function openVersionFile(
  ctx: RegistryContext,
  row: VersionRow,
  path: string,
  range?: ByteRange,
): Promise<{ entry: FileEntry; body: BlobBody } | null> {
  const files = await versionFiles(ctx, row);
  const entry = Object.hasOwn(files, path) ? files[path] : undefined;
  if (!entry) return null;
  const body = await ctx.bundles.get(entry.sha256, range);
  if (!body) {
    throw new RegistryError("storage_failure", `Blob of '${path}' is missing from bundle storage`);
  }
  return { entry, body };
}

/** Read a whole small file of a version into memory (manifests, registry.json). */
export async function readVersionFile(
  ctx: RegistryContext,
  row: VersionRow,
  path: string,
): Promise<Uint8Array | null> {
  const opened = await openVersionFile(ctx, row, path);
  if (!opened) return null;
  return new Uint8Array(await new Response(opened.body.stream).arrayBuffer());
}
