/**
 * Streaming, capped extraction of a stored tar.gz into bundle storage.
 *
 * The archive blob is read back as a stream through `DecompressionStream("gzip")`
 * and modern-tar's streaming decoder; each regular file is stored
 * content-addressed as it streams, so memory stays bounded whatever the
 * archive claims. Hard caps (decompressed bytes, entries, per-file size, path
 * depth) stop a zip bomb at the first byte over the line.
 *
 * @module
 */
import type { RegistryContext } from "../context.ts";
import { RegistryError } from "../errors.ts";
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

/** What an archive held. */
export interface ExtractedArchive {
  /** Regular files with Rack-valid paths, stored in bundle storage. */
  files: Map<string, FileEntry>;
  /** The bytes of the root `registry.json`, when present. */
  registryJson?: Uint8Array;
  /** Entries that are neither regular files nor directories, by path, with their type. */
  unsafe: Map<string, string>;
  /** Regular files whose names no registry.json could declare (kept out of storage). */
  undeclarable: string[];
}

function archiveError(cause: unknown): RegistryError {
  return rackError("INVALID_ARCHIVE", "Uploaded file is not a valid tar.gz archive", { cause });
}

function tooLarge(message: string): RegistryError {
  return rackError("ARCHIVE_TOO_LARGE", message);
}

const FAULTS = { invalid: archiveError, tooLarge };

/**
 * Extract a stored tar.gz blob: store every regular file, record unsafe and
 * undeclarable entries, and return the root `registry.json` bytes. Throws
 * `INVALID_ARCHIVE` (gzip/tar faults, absolute or `..` paths) or
 * `ARCHIVE_TOO_LARGE` (a cap) at the first violation; blobs already stored are
 * harmless orphans.
 *
 * @example
 * ```ts ignore
 * const archive = await extractArchive(ctx, sha256, DEFAULT_EXTRACT_LIMITS);
 * console.log([...archive.files.keys()]);
 * ```
 */
export async function extractArchive(
  ctx: RegistryContext,
  archiveSha256: string,
  limits: ExtractLimits = DEFAULT_EXTRACT_LIMITS,
): Promise<ExtractedArchive> {
  const blob = await ctx.bundles.get(archiveSha256);
  if (!blob) throw new RegistryError("storage_failure", "Uploaded archive is missing from storage");
  const out: ExtractedArchive = { files: new Map(), unsafe: new Map(), undeclarable: [] };
  for await (const entry of readTarGz(blob.stream, limits, FAULTS)) {
    const { path: rel, type, body } = entry;
    if (type !== "file") {
      out.unsafe.set(rel, type);
      continue;
    }
    const path = normalizeRackFilePath(rel);
    if (path === null) {
      out.undeclarable.push(rel);
      continue;
    }
    if (path === "registry.json") {
      const bytes = await collectBytes(
        body,
        limits.maxRegistryJsonBytes,
        () => tooLarge(`registry.json exceeds ${limits.maxRegistryJsonBytes} bytes`),
      );
      out.registryJson = bytes;
      out.files.set(path, await storeFile(ctx, bytes, "application/json"));
    } else {
      out.files.set(
        path,
        await storeFile(ctx, body, rackMimeType(path), { maxBytes: limits.maxFileBytes }),
      );
    }
  }
  return out;
}
