/**
 * Streaming, capped reading of a stored tar.gz in two passes, so that nothing
 * but the archive itself is written before an upload has passed every check.
 *
 * 1. {@linkcode scanArchive} reads the archive blob back through
 *    `DecompressionStream("gzip")` and modern-tar's streaming decoder and
 *    stores NOTHING: it keeps the root `registry.json` bytes (capped), the
 *    paths of the regular files and the entries no package may hold. Hard
 *    caps (decompressed bytes, entries, per-file size, path depth) stop a zip
 *    bomb at the first byte over the line, and entries that would land on the
 *    same path (exact, case-only, or a file where another needs a folder) are
 *    refused, so no later copy can silently replace an earlier one.
 * 2. {@linkcode storeArchiveFiles}, called once the upload has been
 *    authorized and validated, reads the same content-addressed blob again
 *    and stores the files it is given, streaming.
 *
 * Memory stays bounded whatever the archive claims; the price of the second
 * pass is inflating the archive twice.
 *
 * @module
 */
import type { RegistryContext } from "../context.ts";
import { RegistryError } from "../../base/errors.ts";
import { readTarGz } from "../tar_gz.ts";
import { collectBytes } from "../../storage/_common.ts";
import { storeFile } from "../files.ts";
import type { FileEntry } from "../rows.ts";
import { rackError } from "./errors.ts";
import { rackMimeType } from "./mime.ts";
import { normalizeRackFilePath } from "./paths.ts";

/** Hard caps of one extraction. */
export interface ExtractLimits {
  /** Most decompressed tar bytes (headers included). */
  maxUnpackedBytes: number;
  /** Most tar entries (directories included). */
  maxEntries: number;
  /** Largest single file. */
  maxFileBytes: number;
  /** Deepest path (segments). */
  maxPathDepth: number;
  /** Largest `registry.json`. */
  maxRegistryJsonBytes: number;
}

/** The default caps: generous for templates, tiny next to a bomb. */
export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxUnpackedBytes: 256 * 1024 * 1024,
  maxEntries: 10_000,
  maxFileBytes: 64 * 1024 * 1024,
  maxPathDepth: 32,
  maxRegistryJsonBytes: 1024 * 1024,
};

/** What an archive holds, as read by {@linkcode scanArchive} (nothing stored yet). */
export interface ScannedArchive {
  /** Regular files with Rack-valid paths (normalized), `registry.json` included. */
  files: Set<string>;
  /** The bytes of the root `registry.json`, when present. */
  registryJson?: Uint8Array;
  /** Entries that are neither regular files nor directories, by path, with their type. */
  unsafe: Map<string, string>;
  /** Regular files whose names no registry.json could declare. */
  undeclarable: string[];
  /**
   * `<folder>/` when the archive holds exactly one top-level folder with
   * `registry.json` in it (`tar -C registries my-registry/`): stripped from
   * every path in {@linkcode files}, and passed on to `storeArchiveFiles`.
   */
  prefix?: string;
}

/** Options of {@linkcode scanArchive} and {@linkcode storeArchiveFiles}. */
export interface ArchiveReadOptions {
  /** The digest of the stored archive blob. */
  archiveSha256: string;
  /** Extraction caps (default {@linkcode DEFAULT_EXTRACT_LIMITS}). */
  limits?: ExtractLimits;
}

function archiveError(cause: unknown): RegistryError {
  return rackError("INVALID_ARCHIVE", "Uploaded file is not a valid tar.gz archive", { cause });
}

function tooLarge(message: string): RegistryError {
  return rackError("ARCHIVE_TOO_LARGE", message);
}

const FAULTS = { invalid: archiveError, tooLarge };

/**
 * Read a body to its end, keeping nothing: the tar decoder moves on only once
 * an entry's bytes are consumed (cancelling a body that spans several chunks
 * stalls it), and the read still counts against the caps.
 */
async function drain(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  while (!(await reader.read()).done) { /* discard */ }
}

async function openArchive(
  ctx: RegistryContext,
  archiveSha256: string,
): Promise<ReadableStream<Uint8Array>> {
  const blob = await ctx.bundles.get(archiveSha256);
  // Only a GC run can have taken it (one that started before the upload's hold
  // and met a blob stored before it): the upload can simply be sent again.
  if (!blob) {
    throw new RegistryError("conflict", "Uploaded archive was garbage-collected meanwhile; retry");
  }
  return blob.stream;
}

/**
 * Refuses regular files that would land on one path: the same normalized path
 * twice (`a/b.ts` and `./a//b.ts`), paths that differ only in case (one file
 * on case-insensitive file systems, where packages are installed and mirrored)
 * and a file where another file needs a folder (`a` and `a/b`). Rack file
 * segments are ASCII (`[A-Za-z0-9._@+-]`), so lowercasing compares them exactly.
 */
class PathCollisions {
  /** Lowercased file path → the path as stored. */
  #files = new Map<string, string>();
  /** Lowercased folder path → a file below it. */
  #folders = new Map<string, string>();

  add(path: string): void {
    const key = path.toLowerCase();
    const same = this.#files.get(key);
    if (same === path) throw collision(`The archive holds ${path} twice`);
    if (same !== undefined) {
      throw collision(`The archive holds ${same} and ${path}, which differ only in case`);
    }
    const below = this.#folders.get(key);
    if (below !== undefined) {
      throw collision(`The archive holds ${path} both as a file and as a folder (${below})`);
    }
    const segments = key.split("/");
    for (let i = 1; i < segments.length; i++) {
      const folder = segments.slice(0, i).join("/");
      const file = this.#files.get(folder);
      if (file !== undefined) {
        throw collision(`The archive holds ${file} both as a file and as a folder (${path})`);
      }
      if (!this.#folders.has(folder)) this.#folders.set(folder, path);
    }
    this.#files.set(key, path);
  }
}

function collision(message: string): RegistryError {
  return rackError("INVALID_ARCHIVE", message);
}

/**
 * Read a stored tar.gz without storing anything: the root `registry.json`
 * bytes, the normalized paths of the regular files, and the unsafe and
 * undeclarable entries. Throws `INVALID_ARCHIVE` (gzip/tar faults, absolute
 * or `..` paths, two files on one path) or `ARCHIVE_TOO_LARGE` (a cap) at the
 * first violation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTarPacker } from "modern-tar";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { scanArchive } from "./extract.ts";
 *
 * const { readable, controller } = createTarPacker();
 * const packed = new Response(readable.pipeThrough(new CompressionStream("gzip"))).bytes();
 * const entries: [string, string][] = [["registry.json", "{}"], ["./templates//a.ts", "a"]];
 * for (const [name, text] of entries) {
 *   const body = new TextEncoder().encode(text);
 *   const writer = controller.add({ name, size: body.byteLength }).getWriter();
 *   await writer.write(body);
 *   await writer.close();
 * }
 * controller.finalize();
 * const bundles = new MemoryBundleStorage();
 * const ctx = { storage: new MemoryRegistryStorage(), bundles, clock: () => new Date() };
 * const { sha256 } = await bundles.put(await packed);
 * const scan = await scanArchive(ctx, { archiveSha256: sha256 });
 * assert.deepEqual([...scan.files], ["registry.json", "templates/a.ts"]);
 * assert.equal((await bundles.list()).items.length, 1); // only the archive
 * ```
 */
export async function scanArchive(
  ctx: RegistryContext,
  options: ArchiveReadOptions,
): Promise<ScannedArchive> {
  const limits = options.limits ?? DEFAULT_EXTRACT_LIMITS;
  const stream = await openArchive(ctx, options.archiveSha256);
  const out: ScannedArchive = { files: new Set(), unsafe: new Map(), undeclarable: [] };
  const collisions = new PathCollisions();
  let nested: Uint8Array | undefined;
  for await (const entry of readTarGz(stream, limits, FAULTS)) {
    const { path: rel, type, body } = entry;
    if (type !== "file") {
      out.unsafe.set(rel, type);
      await drain(body);
      continue;
    }
    const path = normalizeRackFilePath(rel);
    if (path === null) {
      out.undeclarable.push(rel);
      await drain(body);
      continue;
    }
    collisions.add(path);
    out.files.add(path);
    const folderItem = nested === undefined && /^[^/]+\/registry\.json$/.test(path);
    if (path === "registry.json" || folderItem) {
      const bytes = await collectBytes(
        body,
        limits.maxRegistryJsonBytes,
        () => tooLarge(`registry.json exceeds ${limits.maxRegistryJsonBytes} bytes`),
      );
      if (path === "registry.json") out.registryJson = bytes;
      else nested = bytes;
    } else await drain(body);
  }
  return nested && !out.registryJson ? unwrapFolder(out, nested) : out;
}

/**
 * An archive of one top-level folder holding `registry.json` (the Rack docs'
 * CI recipe packs the folder itself): its paths without the folder. Anything
 * outside that folder leaves the archive as it is (then refused for lacking
 * a root `registry.json`).
 */
function unwrapFolder(scan: ScannedArchive, registryJson: Uint8Array): ScannedArchive {
  const files = [...scan.files];
  const prefix = files.find((p) => p.endsWith("/registry.json"))!.slice(0, -"registry.json".length);
  const outside = (p: string) => !p.replace(/^\.\//, "").startsWith(prefix);
  if (
    files.some(outside) || scan.undeclarable.some(outside) || [...scan.unsafe.keys()].some(outside)
  ) {
    return scan;
  }
  return {
    ...scan,
    files: new Set(files.map((p) => p.slice(prefix.length))),
    registryJson,
    prefix,
  };
}

/**
 * Store the files at `paths` of a stored tar.gz (already read by
 * {@linkcode scanArchive}) in bundle storage, streaming, and answer their
 * entries. `registry.json` is stored from the bytes the scan kept, the very
 * bytes that were validated.
 *
 * @example
 * ```ts ignore
 * const scan = await scanArchive(ctx, { archiveSha256 });
 * // … authorize and validate …
 * const files = await storeArchiveFiles(ctx, { archiveSha256, paths: scan.files, registryJson });
 * ```
 */
export async function storeArchiveFiles(
  ctx: RegistryContext,
  options: ArchiveReadOptions & {
    paths: ReadonlySet<string>;
    registryJson?: Uint8Array;
    /** The scan's {@linkcode ScannedArchive.prefix}. */
    prefix?: string;
  },
): Promise<Map<string, FileEntry>> {
  const limits = options.limits ?? DEFAULT_EXTRACT_LIMITS;
  const out = new Map<string, FileEntry>();
  const wanted = new Set(options.paths);
  if (wanted.delete("registry.json")) {
    if (!options.registryJson) throw new TypeError("Cannot store registry.json without its bytes");
    out.set("registry.json", await storeFile(ctx, options.registryJson, "application/json"));
  }
  if (wanted.size > 0) {
    const stream = await openArchive(ctx, options.archiveSha256);
    for await (const { path: rel, type, body } of readTarGz(stream, limits, FAULTS)) {
      let path = type === "file" ? normalizeRackFilePath(rel) : null;
      if (path !== null && options.prefix !== undefined) {
        path = path.startsWith(options.prefix) ? path.slice(options.prefix.length) : null;
      }
      if (path === null || !wanted.delete(path)) {
        await drain(body);
        continue;
      }
      out.set(
        path,
        await storeFile(ctx, body, rackMimeType(path), { maxBytes: limits.maxFileBytes }),
      );
    }
  }
  if (wanted.size > 0) {
    // The blob is content-addressed: the same digest cannot hold other entries.
    throw new RegistryError(
      "storage_failure",
      `Uploaded archive no longer holds ${[...wanted][0]} on its second read`,
    );
  }
  return out;
}
