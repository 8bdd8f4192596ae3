/**
 * Deno KV backends: {@linkcode KvRegistryStorage} for rows and
 * {@linkcode KvBundleStorage} for blobs. Several processes may share one KV
 * file (or one remote KV database): every multi-key write is one
 * `kv.atomic()` with checks, and SQLite's transient `database is locked`
 * faults are retried here with jittered backoff, never surfaced.
 *
 * Rows are stored as the UTF-8 bytes of their JSON, so a row that fits
 * {@linkcode LIMITS.valueBytes} always fits KV's 64 KiB value limit (a
 * structured clone of the same value can be twice as large) and reads back
 * exactly as the memory backend would return it.
 *
 * Blobs are chunks of raw bytes under an upload id, each prefixed with a CRC-32
 * of its index and bytes, and a metadata record `["blob", sha256]` committed
 * last; see {@linkcode KvBundleStorage}.
 *
 * @example Open a KV file and use both seams on it
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvBundleStorage, KvRegistryStorage } from "./kv.ts";
 *
 * const kv = await Deno.openKv(":memory:");
 * const rows = new KvRegistryStorage(kv);
 * const blobs = new KvBundleStorage(kv);
 * await rows.commit({ checks: [], mutations: [{ type: "set", key: ["a"], value: 1 }] });
 * const info = await blobs.put(new TextEncoder().encode("hi"));
 * assert.ok((await rows.get(["a"]))?.value === 1);
 * assert.ok((await blobs.stat(info.sha256))?.size === 2);
 * kv.close();
 * ```
 *
 * @module
 */
import { crc32 } from "node:zlib";
import { RegistryError } from "../base/errors.ts";
import { incrementalHash } from "../base/digest.ts";
import { assertSha256, isSha256 } from "../base/names.ts";
import {
  afterKey,
  assertCommit,
  assertKey,
  compareKeys,
  encodeCursor,
  encodeValue,
  hasPrefix,
  pageLimit,
} from "./_common.ts";
import * as keys from "./keys.ts";
import { assertRange, blobCorrupt, digestMismatch, tooLarge } from "./memory.ts";
import type {
  BlobBody,
  BlobInfo,
  BundleStorage,
  ByteRange,
  Commit,
  CommitResult,
  Entry,
  ListOptions,
  Page,
  PutBlobOptions,
  PutBlobResult,
  RegistryStorage,
  RowKey,
} from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** How long transient SQLite faults are retried before the operation fails. */
const RETRY_WINDOW_MS = 60_000;
/** Messages of transient faults: another process holds SQLite's write lock. */
const TRANSIENT_RE =
  /database is locked|database table is locked|database is busy|SQLITE_BUSY|SQLITE_LOCKED/i;
/** A KV versionstamp; any other stamp can match no row. */
const VERSIONSTAMP_RE = /^[0-9a-f]{20}$/;

/** Whether an error is a transient SQLite lock fault worth retrying. */
function isTransient(err: unknown): boolean {
  return err instanceof Error && TRANSIENT_RE.test(err.message);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Run a KV operation, retrying transient lock faults with jittered, growing
 * backoff; after {@linkcode RETRY_WINDOW_MS} the fault becomes `storage_failure`.
 */
async function retrying<T>(action: string, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RETRY_WINDOW_MS;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err)) throw err;
      if (Date.now() > deadline) {
        throw new RegistryError(
          "storage_failure",
          `Could not ${action}: the KV database stayed locked`,
          {
            cause: err,
          },
        );
      }
      const ceiling = Math.min(250, 2 ** Math.min(attempt, 8));
      await sleep(ceiling * (0.5 + Math.random() / 2));
    }
  }
}

/**
 * `Deno.openKv`, retrying the transient `database is locked` that opening a
 * file can meet while another process holds SQLite's write lock (several
 * servers starting at once on one KV file).
 *
 * @example
 * ```ts
 * import { openKvRetrying } from "./kv.ts";
 * const kv = await openKvRetrying(":memory:");
 * kv.close();
 * ```
 */
export function openKvRetrying(path?: string): Promise<Deno.Kv> {
  return retrying("open the KV database", () => Deno.openKv(path));
}

/** Options shared by the KV backends. */
export interface KvStorageOptions {
  /** Close the `Deno.Kv` when the backend is closed (default `false`: the opener closes it). */
  closeKv?: boolean;
  /** Called once after the backend is closed (e.g. to remove a temporary directory). */
  onClose?: () => void | Promise<void>;
}

/** The selector and options that list one page of rows under `prefix`. */
interface PagePlan {
  selector: Deno.KvListSelector;
  /** The cursor's own key, to skip when the listing starts at it. */
  skip?: RowKey;
}

/**
 * Plan a page listing: KV's `prefix` selector excludes the prefix key itself,
 * as the seam does; a cursor becomes an inclusive `start` (its key skipped) going
 * forward, or an exclusive `end` going back. `null` when the page is empty.
 */
function planPage(
  prefix: RowKey,
  options: ListOptions | undefined,
  reverse: boolean,
): PagePlan | null {
  const kvPrefix = prefix as Deno.KvKey;
  const after = afterKey(options);
  if (after === undefined) return { selector: { prefix: kvPrefix } };
  try {
    assertKey(after); // KV refuses oversized keys: a forged cursor is bad input, not a fault
  } catch {
    throw new RegistryError("invalid_input", `Invalid cursor '${options?.cursor ?? "(after)"}'`);
  }
  if (hasPrefix(after, prefix)) {
    return reverse
      ? { selector: { prefix: kvPrefix, end: after as Deno.KvKey } }
      : { selector: { prefix: kvPrefix, start: after as Deno.KvKey }, skip: after };
  }
  // A cursor outside the prefix's block of keys: everything or nothing lies beyond it.
  const before = compareKeys(after, prefix) <= 0;
  return before === reverse ? null : { selector: { prefix: kvPrefix } };
}

/** List one exact page: a cursor is returned only when at least one more row follows. */
async function listPage(
  kv: Deno.Kv,
  prefix: RowKey,
  options: ListOptions | undefined,
): Promise<{ entries: Deno.KvEntry<unknown>[]; cursor?: string }> {
  const limit = pageLimit(options);
  prefix.forEach((p) => {
    if (typeof p !== "string") throw new TypeError(`Cannot use key part '${String(p)}'`);
  });
  const reverse = options?.reverse ?? false;
  const plan = planPage(prefix, options, reverse);
  if (plan === null) return { entries: [] };
  // One row more than the page tells whether another page follows, one more
  // again covers the cursor's own row when the listing starts at it.
  const want = limit + 1 + (plan.skip ? 1 : 0);
  const rows = await retrying("list rows", async () => {
    const out: Deno.KvEntry<unknown>[] = [];
    const iter = kv.list(plan.selector, { limit: want, batchSize: Math.min(want, 1000), reverse });
    for await (const e of iter) {
      if (plan.skip && out.length === 0 && compareKeys(e.key as RowKey, plan.skip) === 0) continue;
      out.push(e);
    }
    return out;
  });
  if (rows.length <= limit) return { entries: rows };
  const entries = rows.slice(0, limit);
  return { entries, cursor: encodeCursor(entries[entries.length - 1]!.key as RowKey) };
}

/** Decode a stored row: the UTF-8 bytes of its JSON (a plain value is read as-is). */
function decodeRow<T>(value: unknown): T {
  return (value instanceof Uint8Array ? JSON.parse(decoder.decode(value)) : value) as T;
}

function toEntry<T>(e: Deno.KvEntryMaybe<unknown>): Entry<T> | null {
  if (e.versionstamp === null) return null;
  return { key: e.key as RowKey, value: decodeRow<T>(e.value), stamp: e.versionstamp };
}

/**
 * Rows in Deno KV: row keys map 1:1 to KV keys, stamps are KV versionstamps, a
 * commit is one `kv.atomic()`. Safe to share one KV file between processes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvRegistryStorage } from "./kv.ts";
 *
 * const rows = await KvRegistryStorage.open(":memory:");
 * const r = await rows.commit({ checks: [{ key: ["a"], stamp: null }], mutations: [{ type: "set", key: ["a"], value: 1 }] });
 * assert.ok(r.ok);
 * assert.ok((await rows.get(["a"]))?.value === 1);
 * await rows.close();
 * ```
 */
export class KvRegistryStorage implements RegistryStorage {
  #kv: Deno.Kv;
  #options: KvStorageOptions;
  #closed = false;

  /** Use an opened `Deno.Kv`; it stays open on {@linkcode close} unless `closeKv` is set. */
  constructor(kv: Deno.Kv, options: KvStorageOptions = {}) {
    this.#kv = kv;
    this.#options = options;
  }

  /** Open a KV file (or `":memory:"`, the default) owned by the backend: closing it closes the file. */
  static async open(
    path = ":memory:",
    options: Omit<KvStorageOptions, "closeKv"> = {},
  ): Promise<KvRegistryStorage> {
    return new KvRegistryStorage(await openKvRetrying(path), { ...options, closeKv: true });
  }

  #open(): void {
    if (this.#closed) throw new TypeError("Cannot use a closed KvRegistryStorage");
  }

  /** Read one row, or `null`. */
  async get<T = unknown>(key: RowKey): Promise<Entry<T> | null> {
    this.#open();
    assertKey(key);
    const e = await retrying("read a row", () => this.#kv.get(key as Deno.KvKey));
    return toEntry<T>(e);
  }

  /** Read up to 10 rows in one snapshot, `null` for each miss. */
  async getMany<T = unknown>(keyList: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    this.#open();
    if (keyList.length > 10) throw new RangeError("Cannot read more than 10 keys at once");
    keyList.forEach(assertKey);
    if (keyList.length === 0) return [];
    const found = await retrying("read rows", () => this.#kv.getMany(keyList as Deno.KvKey[]));
    return found.map((e) => toEntry<T>(e));
  }

  /** List rows under `prefix` (whole parts, the prefix key itself excluded), one page at a time. */
  async list<T = unknown>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> {
    this.#open();
    const page = await listPage(this.#kv, prefix, options);
    const items = page.entries.map((e) => toEntry<T>(e)!);
    return page.cursor === undefined ? { items } : { items, cursor: page.cursor };
  }

  /** Apply a commit as one `kv.atomic()`; a failed check answers `{ok: false}`. */
  async commit(commit: Commit): Promise<CommitResult> {
    this.#open();
    assertCommit(commit);
    // A stamp KV never issues can match no row: answer as a failed check, as memory does.
    if (commit.checks.some((c) => c.stamp !== null && !VERSIONSTAMP_RE.test(c.stamp))) {
      return { ok: false };
    }
    const values = commit.mutations.map((m) =>
      m.type === "set" ? encoder.encode(encodeValue(m.value)) : null
    );
    const res = await retrying("commit rows", () => {
      const op = this.#kv.atomic();
      for (const c of commit.checks) op.check({ key: c.key as Deno.KvKey, versionstamp: c.stamp });
      commit.mutations.forEach((m, i) => {
        if (m.type === "set") op.set(m.key as Deno.KvKey, values[i]!);
        else op.delete(m.key as Deno.KvKey);
      });
      return op.commit();
    });
    return res.ok ? { ok: true, stamp: res.versionstamp } : { ok: false };
  }

  /** Mark closed; closes the KV only when it owns it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#options.closeKv) this.#kv.close();
    await this.#options.onClose?.();
  }
}

/** Bytes of the per-chunk header: CRC-32 of the chunk's index and data. */
const CHUNK_HEADER = 4;
/** Data bytes per chunk: header and data together are exactly KV's 64 KiB value limit. */
export const KV_CHUNK_SIZE: number = 65_536 - CHUNK_HEADER;
/** Chunks per write commit: 12 × 64 KiB plus keys stays under KV's 800 KiB commit limit. */
const CHUNKS_PER_COMMIT = 12;
/** Chunks per read: enough to amortise a KV round trip, small enough to stream. */
const CHUNKS_PER_READ = 16;
/** Keys deleted per commit when dropping chunks. */
const DELETES_PER_COMMIT = 500;

/** The metadata record of a blob, committed after its chunks. */
interface BlobMeta {
  uploadId: string;
  size: number;
  chunks: number;
  chunkSize: number;
  touchedAt: string;
}

/** The journal row of an upload whose chunks no blob owns yet (or any more). */
interface UploadRow {
  startedAt: string;
  state: "uploading" | "deleting" | "sweeping";
}

/** CRC-32 of a chunk's index (4 bytes, big-endian) followed by its data. */
function chunkCrc(index: number, data: Uint8Array): number {
  const idx = new Uint8Array(4);
  new DataView(idx.buffer).setUint32(0, index);
  return crc32(data, crc32(idx));
}

/** A chunk value: the header followed by `data`. */
function chunkValue(index: number, data: Uint8Array): Uint8Array {
  const value = new Uint8Array(CHUNK_HEADER + data.byteLength);
  value.set(data, CHUNK_HEADER);
  new DataView(value.buffer).setUint32(0, chunkCrc(index, data));
  return value;
}

/** The data of a chunk value, or `null` when its checksum fails. */
function chunkData(index: number, value: unknown): Uint8Array | null {
  if (!(value instanceof Uint8Array) || value.byteLength < CHUNK_HEADER) return null;
  const data = value.subarray(CHUNK_HEADER);
  const stored = new DataView(value.buffer, value.byteOffset, CHUNK_HEADER).getUint32(0);
  return stored === chunkCrc(index, data) ? data : null;
}

type KvMutation = { key: Deno.KvKey; value: Uint8Array | UploadRow };

/**
 * Cuts an incoming byte stream into chunks and writes them in batched commits,
 * keeping one commit in flight while the next batch fills. The first batch also
 * writes the upload's journal row; a blob small enough for one batch is never
 * written here at all (its chunks travel with the metadata record).
 */
class ChunkWriter {
  #kv: Deno.Kv;
  #uploadId: string;
  #startedAt: string;
  /** The chunk value being filled: header, then data from offset `CHUNK_HEADER`. */
  #buf: Uint8Array;
  #fill = 0;
  /** Value buffers whose commit has landed, reused so a long upload makes no garbage. */
  #pool: Uint8Array[] = [];
  #batch: KvMutation[] = [];
  #inflight: Promise<void> | null = null;
  #error: unknown = undefined;
  /** Chunks cut so far. */
  chunks = 0;
  /** Chunks written to KV (the rest are in the pending batch). */
  flushed = 0;
  /** The journal row's versionstamp once written. */
  journalStamp: string | null = null;

  constructor(kv: Deno.Kv, uploadId: string, startedAt: string) {
    this.#kv = kv;
    this.#uploadId = uploadId;
    this.#startedAt = startedAt;
    this.#buf = new Uint8Array(CHUNK_HEADER + KV_CHUNK_SIZE);
  }

  async write(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) {
      const n = Math.min(KV_CHUNK_SIZE - this.#fill, bytes.byteLength - offset);
      this.#buf.set(bytes.subarray(offset, offset + n), CHUNK_HEADER + this.#fill);
      this.#fill += n;
      offset += n;
      if (this.#fill === KV_CHUNK_SIZE) {
        this.#cut();
        if (this.#batch.length === CHUNKS_PER_COMMIT) await this.#flush();
      }
    }
  }

  #cut(): void {
    const index = this.chunks++;
    const key = keys.blobChunkKey(this.#uploadId, index) as Deno.KvKey;
    const value = this.#buf.subarray(0, CHUNK_HEADER + this.#fill);
    new DataView(value.buffer).setUint32(0, chunkCrc(index, value.subarray(CHUNK_HEADER)));
    this.#batch.push({ key, value });
    this.#buf = this.#pool.pop() ?? new Uint8Array(CHUNK_HEADER + KV_CHUNK_SIZE);
    this.#fill = 0;
  }

  /** Start committing the pending batch once the previous commit has landed. */
  async #flush(): Promise<void> {
    await this.#settle();
    const batch = this.#batch;
    this.#batch = [];
    const first = this.journalStamp === null && this.flushed === 0;
    this.flushed += batch.length;
    const journal: UploadRow = { startedAt: this.#startedAt, state: "uploading" };
    this.#inflight = retrying("write blob chunks", () => {
      const op = this.#kv.atomic();
      if (first) op.set(keys.blobUploadKey(this.#uploadId) as Deno.KvKey, journal);
      for (const m of batch) op.set(m.key, m.value);
      return op.commit();
    }).then(
      (res) => {
        if (first && res.ok) this.journalStamp = res.versionstamp;
        // KV copied the values when the commit was issued: the buffers are free again.
        for (const m of batch) {
          if (m.value instanceof Uint8Array) this.#pool.push(new Uint8Array(m.value.buffer));
        }
      },
      (err) => {
        this.#error = err;
      },
    );
  }

  /** Wait for the commit in flight; rethrow its failure. */
  async #settle(): Promise<void> {
    if (this.#inflight) await this.#inflight;
    this.#inflight = null;
    if (this.#error !== undefined) throw this.#error;
  }

  /**
   * End of input: cut the last partial chunk. Returns the chunks still pending
   * when nothing was written yet (they fit one commit with the metadata), else
   * flushes them and returns `[]`.
   */
  async finish(): Promise<KvMutation[]> {
    if (this.#fill > 0) this.#cut();
    if (this.flushed === 0 && this.#batch.length < CHUNKS_PER_COMMIT) {
      const pending = this.#batch;
      this.#batch = [];
      return pending;
    }
    if (this.#batch.length > 0) await this.#flush();
    await this.#settle();
    return [];
  }

  /** Wait for any commit in flight, ignoring its outcome. */
  async quiesce(): Promise<void> {
    if (this.#inflight) await this.#inflight;
    this.#inflight = null;
  }
}

/** Uploads (`sha256:uploadId`) whose whole-blob digest one full read in this process has checked. */
const verifiedReads = new Set<string>();
const MAX_VERIFIED = 10_000;

function rememberVerified(id: string): void {
  if (verifiedReads.size >= MAX_VERIFIED) {
    verifiedReads.delete(verifiedReads.values().next().value!);
  }
  verifiedReads.add(id);
}

/**
 * Blobs in Deno KV, content-addressed by SHA-256.
 *
 * `put` streams the body into chunks of {@linkcode KV_CHUNK_SIZE} bytes under a
 * fresh upload id (batched commits, hashing as it goes, `maxBytes` enforced
 * while streaming), then commits the metadata record `["blob", sha256]` last,
 * with a check that it is absent. Re-putting existing bytes drops the new
 * chunks and refreshes `touchedAt` (compare-and-set). A crashed upload leaves a
 * journal row `["blob_upload", id]` that {@linkcode KvBundleStorage.sweepUploads}
 * removes with its chunks.
 *
 * `get` streams chunks in batches (one batch read ahead), checks each chunk's
 * CRC-32 before its bytes go out, and on a full read also hashes the whole
 * stream, erroring it with `blob_corrupt` at the end if the SHA-256 differs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KvBundleStorage } from "./kv.ts";
 *
 * const blobs = await KvBundleStorage.open(":memory:");
 * const info = await blobs.put(new TextEncoder().encode("hello"));
 * const body = await blobs.get(info.sha256, { start: 1, end: 3 });
 * assert.ok((await new Response(body!.stream).text()) === "el");
 * await blobs.close();
 * ```
 */
export class KvBundleStorage implements BundleStorage {
  #kv: Deno.Kv;
  #options: KvStorageOptions;
  #now: () => Date;
  #closed = false;

  /** Use an opened `Deno.Kv`; `now` dates `touchedAt` (injected for GC tests). */
  constructor(kv: Deno.Kv, options: KvStorageOptions & { now?: () => Date } = {}) {
    this.#kv = kv;
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  /** Open a KV file (or `":memory:"`, the default) owned by the backend: closing it closes the file. */
  static async open(
    path = ":memory:",
    options: Omit<KvStorageOptions, "closeKv"> & { now?: () => Date } = {},
  ): Promise<KvBundleStorage> {
    return new KvBundleStorage(await openKvRetrying(path), { ...options, closeKv: true });
  }

  #open(): void {
    if (this.#closed) throw new TypeError("Cannot use a closed KvBundleStorage");
  }

  async #meta(sha256: string): Promise<Deno.KvEntryMaybe<BlobMeta>> {
    return await retrying(
      "read blob metadata",
      () => this.#kv.get<BlobMeta>(keys.blobKey(sha256) as Deno.KvKey),
    );
  }

  /** Store bytes; answers their digest and size. Nothing is stored on a failed check. */
  async put(
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: PutBlobOptions = {},
  ): Promise<PutBlobResult> {
    this.#open();
    const maxBytes = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
    if (body instanceof Uint8Array && body.byteLength > maxBytes) throw tooLarge(maxBytes);
    const uploadId = crypto.randomUUID();
    const writer = new ChunkWriter(this.#kv, uploadId, this.#now().toISOString());
    const hash = incrementalHash();
    let size = 0;
    try {
      if (body instanceof Uint8Array) {
        hash.update(body);
        size = body.byteLength;
        await writer.write(body);
      } else {
        // Leaving the loop by a throw cancels the body stream.
        for await (const piece of body) {
          size += piece.byteLength;
          if (size > maxBytes) throw tooLarge(maxBytes);
          hash.update(piece);
          await writer.write(piece);
        }
      }
      const pending = await writer.finish();
      const sha256 = hash.hex();
      if (options.expectedSha256 !== undefined && options.expectedSha256 !== sha256) {
        throw digestMismatch(options.expectedSha256, sha256);
      }
      return await this.#seal(sha256, size, writer, uploadId, pending);
    } catch (err) {
      await writer.quiesce();
      // Best effort: whatever is left keeps its journal row for sweepUploads.
      await this.#dropChunks(uploadId, writer.flushed).catch(() => {});
      throw err;
    }
  }

  /** Commit the metadata record last, or refresh an existing blob's `touchedAt`. */
  async #seal(
    sha256: string,
    size: number,
    writer: ChunkWriter,
    uploadId: string,
    pending: KvMutation[],
  ): Promise<PutBlobResult> {
    const metaKey = keys.blobKey(sha256) as Deno.KvKey;
    const journalKey = keys.blobUploadKey(uploadId) as Deno.KvKey;
    for (let attempt = 0; attempt < 64; attempt++) {
      const touchedAt = this.#now().toISOString();
      const existing = await this.#meta(sha256);
      if (existing.versionstamp === null) {
        const meta: BlobMeta = {
          uploadId,
          size,
          chunks: writer.chunks,
          chunkSize: KV_CHUNK_SIZE,
          touchedAt,
        };
        const res = await retrying("commit blob metadata", () => {
          const op = this.#kv.atomic().check({ key: metaKey, versionstamp: null });
          // The journal row must be ours still: a sweep that claimed it is deleting our chunks.
          if (writer.flushed > 0) {
            op.check({ key: journalKey, versionstamp: writer.journalStamp }).delete(journalKey);
          }
          for (const m of pending) op.set(m.key, m.value);
          return op.set(metaKey, meta).commit();
        });
        if (res.ok) return { sha256, size, touchedAt, created: true };
        if (writer.flushed > 0) {
          const journal = await retrying("read an upload", () => this.#kv.get(journalKey));
          if (journal.versionstamp !== writer.journalStamp) {
            throw new RegistryError(
              "storage_failure",
              `Upload '${uploadId}' was swept before it completed`,
            );
          }
        }
      } else {
        const res = await retrying("refresh blob metadata", () =>
          this.#kv.atomic()
            .check({ key: metaKey, versionstamp: existing.versionstamp })
            .set(metaKey, { ...existing.value, touchedAt })
            .commit());
        if (res.ok) {
          await this.#dropChunks(uploadId, writer.flushed).catch(() => {});
          return { sha256, size: existing.value.size, touchedAt, created: false };
        }
      }
      await sleep(Math.min(50, attempt * 2) * Math.random());
    }
    throw new RegistryError("conflict", `Could not store blob '${sha256}' under contention; retry`);
  }

  /** Delete an upload's chunks `0..count-1` and then its journal row. */
  async #dropChunks(uploadId: string, count: number): Promise<void> {
    for (let from = 0; from < count; from += DELETES_PER_COMMIT) {
      const to = Math.min(count, from + DELETES_PER_COMMIT);
      await retrying("delete blob chunks", () => {
        const op = this.#kv.atomic();
        for (let i = from; i < to; i++) op.delete(keys.blobChunkKey(uploadId, i) as Deno.KvKey);
        return op.commit();
      });
    }
    if (count > 0) {
      await retrying(
        "delete an upload",
        () => this.#kv.delete(keys.blobUploadKey(uploadId) as Deno.KvKey),
      );
    }
  }

  /** Stream a blob (or a range of it), or `null` when absent. */
  async get(sha256: string, range?: ByteRange): Promise<BlobBody | null> {
    this.#open();
    if (!isSha256(sha256)) return null;
    const entry = await this.#meta(sha256);
    if (entry.versionstamp === null) return null;
    const meta = entry.value;
    assertRange(range, meta.size);
    const start = range?.start ?? 0;
    const end = range?.end ?? meta.size;
    const whole = start === 0 && end === meta.size;
    const first = Math.floor(start / meta.chunkSize);
    const last = meta.size === 0 ? -1 : Math.floor((end - 1) / meta.chunkSize);
    // Per-chunk CRCs are checked on every read. The whole-blob SHA-256 is checked
    // until one full read of this exact upload has passed it in this process:
    // the chunks are immutable, and SHA-256 on CPUs without SHA instructions is
    // slower than the rest of the read path (see docs/bench.md).
    const verifiedId = `${sha256}:${meta.uploadId}`;
    const hash = whole && !verifiedReads.has(verifiedId) ? incrementalHash() : null;
    const kv = this.#kv;

    type Batch = { values: Uint8Array[] } | { error: unknown };
    // Never rejects, so a batch read ahead of a cancelled stream cannot go unhandled.
    const fetchBatch = (from: number): Promise<Batch> => {
      const to = Math.min(last + 1, from + CHUNKS_PER_READ);
      return retrying("read blob chunks", async () => {
        const values: Uint8Array[] = [];
        const iter = kv.list<Uint8Array>({
          start: keys.blobChunkKey(meta.uploadId, from) as Deno.KvKey,
          end: keys.blobChunkKey(meta.uploadId, to) as Deno.KvKey,
        }, { limit: to - from, batchSize: to - from });
        for await (const e of iter) {
          const index = from + values.length;
          if (e.key[2] !== keys.blobChunkKey(meta.uploadId, index)[2]) break; // a chunk is missing
          const data = chunkData(index, e.value);
          if (data === null) break;
          values.push(data);
        }
        return { values };
      }).catch((error) => ({ error }));
    };

    let next = first;
    let ahead: Promise<Batch> | null = next <= last ? fetchBatch(next) : null;
    // Raised on the pull after the good chunks before a bad one have been read:
    // erroring at once would discard them from the queue.
    let failure: unknown = undefined;
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (failure !== undefined) return controller.error(failure);
        if (ahead === null) {
          if (hash && hash.hex() !== sha256) return controller.error(blobCorrupt(sha256));
          if (hash) rememberVerified(verifiedId);
          controller.close();
          return;
        }
        const batch = await ahead;
        const from = next;
        const to = Math.min(last + 1, from + CHUNKS_PER_READ);
        next = to;
        ahead = next <= last ? fetchBatch(next) : null;
        if ("error" in batch) return controller.error(batch.error);
        for (let i = from; i < to; i++) {
          const data = batch.values[i - from];
          const expected = i === meta.chunks - 1 ? meta.size - i * meta.chunkSize : meta.chunkSize;
          // A missing, truncated or rotten chunk fails before any of its bytes go out.
          if (data === undefined || data.byteLength !== expected) {
            ahead = null;
            failure = blobCorrupt(sha256);
            return i === from ? controller.error(failure) : undefined;
          }
          hash?.update(data);
          const offset = i * meta.chunkSize;
          const lo = Math.max(0, start - offset);
          const hi = Math.min(data.byteLength, end - offset);
          controller.enqueue(lo === 0 && hi === data.byteLength ? data : data.subarray(lo, hi));
        }
      },
      cancel() {
        ahead = null; // a batch still in flight settles unobserved: fetchBatch never rejects
      },
    }, { highWaterMark: 0 });
    return { size: meta.size, sha256, stream };
  }

  /** Metadata of a blob, or `null` when absent. */
  async stat(sha256: string): Promise<BlobInfo | null> {
    this.#open();
    if (!isSha256(sha256)) return null;
    const e = await this.#meta(sha256);
    return e.versionstamp === null
      ? null
      : { sha256, size: e.value.size, touchedAt: e.value.touchedAt };
  }

  /** Remove a blob: its metadata first (its chunks then belong to a journal row), then its chunks. */
  async delete(sha256: string): Promise<boolean> {
    this.#open();
    assertSha256(sha256);
    const metaKey = keys.blobKey(sha256) as Deno.KvKey;
    while (true) {
      const e = await this.#meta(sha256);
      if (e.versionstamp === null) return false;
      const journal: UploadRow = { startedAt: new Date(0).toISOString(), state: "deleting" };
      const res = await retrying("delete blob metadata", () => {
        const op = this.#kv.atomic().check({ key: metaKey, versionstamp: e.versionstamp }).delete(
          metaKey,
        );
        if (e.value.chunks > 0) op.set(keys.blobUploadKey(e.value.uploadId) as Deno.KvKey, journal);
        return op.commit();
      });
      if (!res.ok) continue; // touched meanwhile: read again
      await this.#dropChunks(e.value.uploadId, e.value.chunks);
      return true;
    }
  }

  /** Every stored blob, in digest order, one page at a time. */
  async list(options?: ListOptions): Promise<Page<BlobInfo>> {
    this.#open();
    const page = await listPage(this.#kv, keys.blobsPrefix(), options);
    const items = page.entries.map((e) => {
      const meta = e.value as BlobMeta;
      return { sha256: e.key[1] as string, size: meta.size, touchedAt: meta.touchedAt };
    });
    return page.cursor === undefined ? { items } : { items, cursor: page.cursor };
  }

  /**
   * Remove uploads that never completed (their process died) or whose deletion
   * was interrupted, started before `olderThan`, with their chunks. Pick a
   * cut-off older than any upload can take. Answers how many were removed.
   */
  async sweepUploads(olderThan: Date): Promise<number> {
    this.#open();
    let swept = 0;
    let cursor: string | undefined;
    do {
      const page = await listPage(this.#kv, keys.blobUploadsPrefix(), {
        limit: 100,
        ...(cursor === undefined ? {} : { cursor }),
      });
      cursor = page.cursor;
      for (const e of page.entries) {
        const row = e.value as UploadRow;
        if (!(Date.parse(row.startedAt) < olderThan.getTime())) continue;
        // Claim the row first: an upload that completes now fails its seal instead of losing chunks.
        const claimed = await retrying("claim an upload", () =>
          this.#kv.atomic()
            .check({ key: e.key, versionstamp: e.versionstamp })
            .set(e.key, { ...row, state: "sweeping" } satisfies UploadRow)
            .commit());
        if (!claimed.ok) continue;
        await this.#sweepChunks(e.key[1] as string);
        await retrying("delete an upload", () => this.#kv.delete(e.key));
        swept++;
      }
    } while (cursor !== undefined);
    return swept;
  }

  /** Delete every chunk of an upload without knowing how many there are. */
  async #sweepChunks(uploadId: string): Promise<void> {
    const prefix = keys.blobChunksPrefix(uploadId) as Deno.KvKey;
    while (true) {
      const found = await retrying(
        "list blob chunks",
        () =>
          Array.fromAsync(this.#kv.list({ prefix }, { limit: 64, batchSize: 64 }), (e) => e.key),
      );
      if (found.length === 0) return;
      await retrying("delete blob chunks", () => {
        const op = this.#kv.atomic();
        for (const key of found) op.delete(key);
        return op.commit();
      });
    }
  }

  /**
   * Test hook: corrupt one chunk of a stored blob behind the backend's back.
   * By default the chunk's checksum no longer matches (as disk rot would); with
   * `consistent` the checksum is recomputed, so only the whole-blob SHA-256 can
   * tell (as deliberate tampering would).
   */
  async tamperForTest(
    sha256: string,
    options: { index?: number; consistent?: boolean } = {},
  ): Promise<void> {
    const meta = (await this.#meta(sha256)).value;
    if (meta === null) throw new TypeError(`Cannot tamper with missing blob '${sha256}'`);
    const index = options.index ?? 0;
    const key = keys.blobChunkKey(meta.uploadId, index) as Deno.KvKey;
    const value = (await this.#kv.get<Uint8Array>(key)).value;
    if (value === null) {
      throw new TypeError(`Cannot tamper with missing chunk ${index} of '${sha256}'`);
    }
    const data = value.slice(CHUNK_HEADER);
    data[0] = data[0]! ^ 0xff;
    const rotten = options.consistent ? chunkValue(index, data) : value.slice();
    if (!options.consistent) rotten.set(data, CHUNK_HEADER);
    await this.#kv.set(key, rotten);
  }

  /** Mark closed; closes the KV only when it owns it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#options.closeKv) this.#kv.close();
    await this.#options.onClose?.();
  }
}
