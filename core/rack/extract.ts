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
import { createTarDecoder } from "modern-tar";
import type { RegistryContext } from "../context.ts";
import { isRegistryError, RegistryError } from "../errors.ts";
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

/** Compressed bytes handed to the inflater at a time (deflate expands at most ~1032×). */
const INFLATE_SLICE_BYTES = 4096;

/** Re-slice a stream into chunks of at most `size` bytes, pulled one at a time. */
function rechunk(source: ReadableStream<Uint8Array>, size: number): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let pending: Uint8Array | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!pending || pending.byteLength === 0) {
        const r = await reader.read();
        if (r.done) return controller.close();
        pending = r.value;
      }
      controller.enqueue(pending.slice(0, size));
      pending = pending.subarray(size);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

function archiveError(cause: unknown): RegistryError {
  return rackError("INVALID_ARCHIVE", "Uploaded file is not a valid tar.gz archive", { cause });
}

function tooLarge(message: string): RegistryError {
  return rackError("ARCHIVE_TOO_LARGE", message);
}

/**
 * Wrap a stream so any read failure becomes `INVALID_ARCHIVE` (domain errors
 * pass through), optionally counting bytes against a cap.
 */
function guard(
  source: ReadableStream<Uint8Array>,
  options: { maxBytes?: number; onLimit?: () => RegistryError } = {},
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (err) {
        controller.error(isRegistryError(err) ? err : archiveError(err));
        return;
      }
      if (result.done) return controller.close();
      seen += result.value.byteLength;
      if (options.maxBytes !== undefined && seen > options.maxBytes) {
        const err = options.onLimit?.() ?? tooLarge("Archive exceeds the unpacked size limit");
        controller.error(err);
        await reader.cancel(err).catch(() => {});
        return;
      }
      controller.enqueue(result.value);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/** Split an entry name into safe segments, or throw `INVALID_ARCHIVE` for absolute/`..` paths. */
function entrySegments(name: string): string[] {
  if (name.startsWith("/") || /[\0\r\n]/.test(name)) {
    throw archiveError(new Error(`Unsafe entry path '${name}'`));
  }
  const segments = name.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw archiveError(new Error(`Unsafe entry path '${name}'`));
  return segments;
}

async function readAll(stream: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += chunk.byteLength;
    if (size > max) throw tooLarge(`registry.json exceeds ${max} bytes`);
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

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
  let gunzipped: ReadableStream<Uint8Array>;
  try {
    // Feed the inflater small slices: it inflates each input chunk eagerly, so a
    // whole stored blob in one chunk would inflate a bomb in one go.
    gunzipped = rechunk(blob.stream, INFLATE_SLICE_BYTES).pipeThrough(
      new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>,
    );
  } catch (err) {
    throw archiveError(err);
  }
  const tar = guard(gunzipped, { maxBytes: limits.maxUnpackedBytes });
  const entries = tar.pipeThrough(createTarDecoder({ strict: true }));
  const reader = entries.getReader();
  let count = 0;
  try {
    while (true) {
      let next: ReadableStreamReadResult<
        { header: { name: string; size: number; type?: string }; body: ReadableStream<Uint8Array> }
      >;
      try {
        next = await reader.read();
      } catch (err) {
        throw isRegistryError(err) ? err : archiveError(err);
      }
      if (next.done) break;
      const { header, body } = next.value;
      count++;
      if (count > limits.maxEntries) {
        await body.cancel().catch(() => {});
        throw tooLarge(`Archive has more than ${limits.maxEntries} entries`);
      }
      const segments = entrySegments(header.name);
      if (segments.length > limits.maxPathDepth) {
        await body.cancel().catch(() => {});
        throw tooLarge(`Archive entry nesting exceeds ${limits.maxPathDepth} levels`);
      }
      const rel = segments.join("/");
      const type = header.type ?? "file";
      if (type === "directory" || (type === "file" && rel === "")) {
        await body.cancel().catch(() => {});
        continue;
      }
      if (type !== "file") {
        await body.cancel().catch(() => {});
        out.unsafe.set(rel, type);
        continue;
      }
      if (header.size > limits.maxFileBytes) {
        await body.cancel().catch(() => {});
        throw tooLarge(`Archive file '${rel}' exceeds ${limits.maxFileBytes} bytes`);
      }
      const path = normalizeRackFilePath(rel);
      if (path === null) {
        await body.cancel().catch(() => {});
        out.undeclarable.push(rel);
        continue;
      }
      const guarded = guard(body, { maxBytes: limits.maxFileBytes });
      if (path === "registry.json") {
        const bytes = await readAll(guarded, limits.maxRegistryJsonBytes);
        out.registryJson = bytes;
        out.files.set(path, await storeFile(ctx, bytes, "application/json"));
      } else {
        out.files.set(
          path,
          await storeFile(ctx, guarded, rackMimeType(path), { maxBytes: limits.maxFileBytes }),
        );
      }
    }
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    throw err;
  }
  return out;
}
