/**
 * Streaming, capped reading of a tar.gz: the archive flows through
 * `DecompressionStream("gzip")` and modern-tar's streaming decoder, fed in
 * small slices, with hard caps (decompressed bytes, entries, per-file size,
 * path depth) that stop a zip bomb at the first byte over the line. Memory
 * stays bounded whatever the archive claims. Each surface (Rack templates,
 * JSR packages) maps the faults to its own error format.
 *
 * @module
 */
import { isRegistryError } from "../base/errors.ts";
import { lazily } from "../base/lazy.ts";

/** The tar parser loads with the first archive read (a publish or upload), not at start-up. */
const tarParser = lazily(() => import("modern-tar"));

/** Hard caps of one archive read. */
export interface TarGzLimits {
  /** Most decompressed tar bytes (headers included). */
  maxUnpackedBytes: number;
  /** Most tar entries (directories included). */
  maxEntries: number;
  /** Largest single file. */
  maxFileBytes: number;
  /** Deepest path (segments). */
  maxPathDepth: number;
}

/** How a surface words the two kinds of fault. */
export interface TarGzFaults {
  /** Not gzip, not tar, or an unsafe entry name (absolute, `..`, control characters). */
  invalid(cause: unknown): Error;
  /** An unsafe entry name (absolute, `..`, control characters); `invalid` when absent. */
  unsafePath?(name: string): Error;
  /** A cap was crossed; the message says which. */
  tooLarge(message: string, cap: "unpacked" | "entries" | "file" | "depth"): Error;
}

/** One entry that is not a directory. */
export interface TarGzEntry {
  /** The entry's path: safe segments joined with `/`, no leading slash. */
  path: string;
  /** `file`, `symlink`, `link`, … (modern-tar's header type). */
  type: string;
  /** The size the header declares. */
  size: number;
  /**
   * The bytes (files only), capped at `maxFileBytes`. Read or ignore it before
   * asking for the next entry; an unread body is cancelled then.
   */
  body: ReadableStream<Uint8Array>;
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
      controller.enqueue(pending.subarray(0, size));
      pending = pending.subarray(size);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}

/**
 * Wrap a stream so any read failure becomes the surface's `invalid` fault
 * (domain errors pass through), counting bytes against a cap.
 */
function guard(
  source: ReadableStream<Uint8Array>,
  maxBytes: number,
  faults: TarGzFaults,
  onLimit: () => Error,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await reader.read();
      } catch (err) {
        controller.error(isRegistryError(err) ? err : faults.invalid(err));
        return;
      }
      if (result.done) return controller.close();
      seen += result.value.byteLength;
      if (seen > maxBytes) {
        const err = onLimit();
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

/** Split an entry name into safe segments, or throw for absolute, `..` and control-character paths. */
function entrySegments(name: string, faults: TarGzFaults): string[] {
  const unsafe = () =>
    faults.unsafePath?.(name) ?? faults.invalid(new Error(`Unsafe entry path '${name}'`));
  if (name.startsWith("/") || /[\0\r\n]/.test(name)) throw unsafe();
  const segments = name.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw unsafe();
  return segments;
}

/**
 * Read a tar.gz stream entry by entry under hard caps. Directories are
 * skipped; every other entry is yielded with its safe path and type, so the
 * caller decides what a symlink or a device means on its surface. Throws the
 * surface's faults at the first violation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTarPacker } from "modern-tar";
 * import { readTarGz } from "./tar_gz.ts";
 * const { readable, controller } = createTarPacker();
 * const body = new TextEncoder().encode("hi");
 * const entry = controller.add({ name: "a/b.txt", size: body.byteLength });
 * const packed = new Response(readable.pipeThrough(new CompressionStream("gzip"))).bytes();
 * const writer = entry.getWriter();
 * await writer.write(body);
 * await writer.close();
 * controller.finalize();
 * const limits = { maxUnpackedBytes: 1 << 20, maxEntries: 10, maxFileBytes: 1 << 20, maxPathDepth: 8 };
 * const faults = { invalid: () => new Error("invalid"), tooLarge: (m: string) => new Error(m) };
 * const seen: string[] = [];
 * for await (const e of readTarGz(new Blob([await packed]).stream(), limits, faults)) {
 *   seen.push(`${e.path}=${await new Response(e.body).text()}`);
 * }
 * assert.deepEqual(seen, ["a/b.txt=hi"]);
 * ```
 */
export async function* readTarGz(
  stream: ReadableStream<Uint8Array>,
  limits: TarGzLimits,
  faults: TarGzFaults,
): AsyncGenerator<TarGzEntry> {
  const { createTarDecoder } = await tarParser();
  let gunzipped: ReadableStream<Uint8Array>;
  try {
    // Feed the inflater small slices: it inflates each input chunk eagerly, so a
    // whole stored blob in one chunk would inflate a bomb in one go.
    gunzipped = rechunk(stream, INFLATE_SLICE_BYTES).pipeThrough(
      new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>,
    );
  } catch (err) {
    throw faults.invalid(err);
  }
  const tar = guard(
    gunzipped,
    limits.maxUnpackedBytes,
    faults,
    () => faults.tooLarge("Archive exceeds the unpacked size limit", "unpacked"),
  );
  const reader = tar.pipeThrough(createTarDecoder({ strict: true })).getReader();
  let count = 0;
  let finished = false;
  try {
    while (true) {
      let next: ReadableStreamReadResult<
        { header: { name: string; size: number; type?: string }; body: ReadableStream<Uint8Array> }
      >;
      try {
        next = await reader.read();
      } catch (err) {
        throw isRegistryError(err) ? err : faults.invalid(err);
      }
      if (next.done) break;
      const { header, body } = next.value;
      count++;
      if (count > limits.maxEntries) {
        await body.cancel().catch(() => {});
        throw faults.tooLarge(`Archive has more than ${limits.maxEntries} entries`, "entries");
      }
      let segments: string[];
      try {
        segments = entrySegments(header.name, faults);
      } catch (err) {
        await body.cancel().catch(() => {});
        throw err;
      }
      if (segments.length > limits.maxPathDepth) {
        await body.cancel().catch(() => {});
        throw faults.tooLarge(
          `Archive entry nesting exceeds ${limits.maxPathDepth} levels`,
          "depth",
        );
      }
      const path = segments.join("/");
      const type = header.type ?? "file";
      if (type === "directory" || (type === "file" && path === "")) {
        await body.cancel().catch(() => {});
        continue;
      }
      if (type === "file" && header.size > limits.maxFileBytes) {
        await body.cancel().catch(() => {});
        throw faults.tooLarge(
          `Archive file '${path}' exceeds ${limits.maxFileBytes} bytes`,
          "file",
        );
      }
      const guarded = guard(
        body,
        limits.maxFileBytes,
        faults,
        () =>
          faults.tooLarge(`Archive file '${path}' exceeds ${limits.maxFileBytes} bytes`, "file"),
      );
      yield { path, type, size: header.size, body: guarded };
      // Whatever the caller left unread is skipped (a no-op once read).
      await guarded.cancel().catch(() => {});
    }
    finished = true;
  } finally {
    // A fault, or a caller that stopped early: release the decoder and the source.
    if (!finished) await reader.cancel().catch(() => {});
  }
}
